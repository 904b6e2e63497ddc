#include "core/units.h"

#include <array>
#include <cctype>
#include <charconv>
#include <optional>

#include <fmt/format.h>

namespace trainsim {
namespace {

// Exponents of (time, bytes, flops, dollars, joules), as in Quantity.
struct Dims {
  int t = 0, b = 0, f = 0, d = 0, e = 0;
  bool operator==(const Dims&) const = default;
  Dims operator-(const Dims& o) const { return {t - o.t, b - o.b, f - o.f, d - o.d, e - o.e}; }
};

struct Unit {
  Dims dims;
  double factor;  // base units per one of this unit
};

struct Prefix {
  std::string_view text;
  double factor;
  bool iec;
  bool small;  // milli and below: only for seconds, watts, joules
};

constexpr std::array kPrefixes = {
    Prefix{"Ki", units::kKibi, true, false},  Prefix{"Mi", units::kMebi, true, false},
    Prefix{"Gi", units::kGibi, true, false},  Prefix{"Ti", units::kTebi, true, false},
    Prefix{"Pi", units::kTebi * units::kKibi, true, false},
    Prefix{"k", units::kKilo, false, false},  Prefix{"K", units::kKilo, false, false},
    Prefix{"M", units::kMega, false, false},  Prefix{"G", units::kGiga, false, false},
    Prefix{"T", units::kTera, false, false},  Prefix{"P", units::kPeta, false, false},
    Prefix{"E", units::kExa, false, false},   Prefix{"m", units::kMilli, false, true},
    Prefix{"u", units::kMicro, false, true},  Prefix{"\xC2\xB5", units::kMicro, false, true},
    Prefix{"n", units::kNano, false, true},   Prefix{"p", units::kPico, false, true},
    Prefix{"", 1.0, false, false},
};

struct Base {
  std::string_view text;
  Unit unit;
  bool byte_like;   // takes IEC prefixes
  bool takes_small; // takes milli..pico
  bool prefixable;
};

const Dims kTime{1, 0, 0, 0, 0};
const Dims kByte{0, 1, 0, 0, 0};
const Dims kFlop{0, 0, 1, 0, 0};
const Dims kDollar{0, 0, 0, 1, 0};
const Dims kJoule{0, 0, 0, 0, 1};
const Dims kWatt{-1, 0, 0, 0, 1};

const std::array kBases = {
    Base{"B", {kByte, 1.0}, true, false, true},
    Base{"byte", {kByte, 1.0}, true, false, true},
    Base{"bytes", {kByte, 1.0}, true, false, true},
    Base{"b", {kByte, 1.0 / units::kBitsPerByte}, true, false, true},
    Base{"bit", {kByte, 1.0 / units::kBitsPerByte}, true, false, true},
    Base{"bits", {kByte, 1.0 / units::kBitsPerByte}, true, false, true},
    Base{"FLOP", {kFlop, 1.0}, false, false, true},
    Base{"FLOPs", {kFlop, 1.0}, false, false, true},
    Base{"OP", {kFlop, 1.0}, false, false, true},
    Base{"OPs", {kFlop, 1.0}, false, false, true},
    Base{"s", {kTime, 1.0}, false, true, true},
    Base{"sec", {kTime, 1.0}, false, false, false},
    Base{"min", {kTime, units::kSecondsPerMinute}, false, false, false},
    Base{"h", {kTime, units::kSecondsPerHour}, false, false, false},
    Base{"hour", {kTime, units::kSecondsPerHour}, false, false, false},
    Base{"hours", {kTime, units::kSecondsPerHour}, false, false, false},
    Base{"GPU-hour", {kTime, units::kSecondsPerHour}, false, false, false},
    Base{"GPU-h", {kTime, units::kSecondsPerHour}, false, false, false},
    Base{"day", {kTime, units::kSecondsPerDay}, false, false, false},
    Base{"days", {kTime, units::kSecondsPerDay}, false, false, false},
    Base{"year", {kTime, units::kSecondsPerYear}, false, false, false},
    Base{"years", {kTime, units::kSecondsPerYear}, false, false, false},
    Base{"W", {kWatt, 1.0}, false, true, true},
    Base{"J", {kJoule, 1.0}, false, true, true},
    Base{"Wh", {kJoule, units::kSecondsPerHour}, false, false, true},
    Base{"USD", {kDollar, 1.0}, false, false, true},
    Base{"$", {kDollar, 1.0}, false, false, false},
};

std::optional<Unit> parse_simple_unit(std::string_view s) {
  for (const Prefix& p : kPrefixes) {
    if (s.size() < p.text.size() || s.substr(0, p.text.size()) != p.text) continue;
    std::string_view rest = s.substr(p.text.size());
    for (const Base& b : kBases) {
      if (rest != b.text) continue;
      if (!p.text.empty() && !b.prefixable) continue;
      if (p.iec && !b.byte_like) continue;
      if (p.small && !b.takes_small) continue;
      return Unit{b.unit.dims, b.unit.factor * p.factor};
    }
  }
  return std::nullopt;
}

// Shorthands that carry their own "per second": TFLOPS, TOPS, Gbps, GBps.
std::optional<Unit> parse_rate_shorthand(std::string_view s) {
  auto strip = [&](std::string_view suffix) -> std::optional<std::string_view> {
    if (s.size() > suffix.size() - 1 && s.substr(s.size() - suffix.size() + 0) == suffix) {
      return s.substr(0, s.size() - suffix.size());
    }
    return std::nullopt;
  };
  struct Short {
    std::string_view suffix;
    std::string_view base;
  };
  for (const Short& sh : {Short{"FLOPS", "FLOP"}, Short{"OPS", "OP"}, Short{"bps", "b"},
                          Short{"Bps", "B"}}) {
    if (auto head = strip(sh.suffix)) {
      std::string unit = std::string(*head) + std::string(sh.base);
      if (auto u = parse_simple_unit(unit)) {
        return Unit{u->dims - kTime, u->factor};
      }
    }
  }
  return std::nullopt;
}

std::optional<Unit> parse_unit(std::string_view s) {
  if (auto u = parse_rate_shorthand(s)) return u;
  const auto slash = s.find('/');
  if (slash == std::string_view::npos) return parse_simple_unit(s);
  auto num = parse_simple_unit(s.substr(0, slash));
  auto den = parse_simple_unit(s.substr(slash + 1));
  if (!num || !den) return std::nullopt;
  return Unit{num->dims - den->dims, num->factor / den->factor};
}

Dims dims_of(Dimension d) {
  switch (d) {
    case Dimension::kTime: return kTime;
    case Dimension::kBytes: return kByte;
    case Dimension::kFlops: return kFlop;
    case Dimension::kDollars: return kDollar;
    case Dimension::kEnergy: return kJoule;
    case Dimension::kBandwidth: return {-1, 1, 0, 0, 0};
    case Dimension::kFlopRate: return {-1, 0, 1, 0, 0};
    case Dimension::kPower: return kWatt;
    case Dimension::kPrice: return {-1, 0, 0, 1, 0};
    case Dimension::kEnergyPrice: return {0, 0, 0, 1, -1};
    case Dimension::kArea: return {};
    case Dimension::kDimensionless: return {};
  }
  return {};
}

std::string example_of(Dimension d) {
  switch (d) {
    case Dimension::kTime: return "\"1.5 s\", \"20 min\" or \"54 days\"";
    case Dimension::kBytes: return "\"80 GB\" or \"80 GiB\"";
    case Dimension::kFlops: return "\"250 GFLOP\"";
    case Dimension::kDollars: return "\"25000 USD\" or \"$25000\"";
    case Dimension::kEnergy: return "\"3.6 MJ\" or \"1 MWh\"";
    case Dimension::kBandwidth: return "\"3.35 TB/s\", \"400 Gb/s\" or \"1.6 TiB/s\"";
    case Dimension::kFlopRate: return "\"989 TFLOP/s\" or \"1979 TFLOPS\"";
    case Dimension::kPower: return "\"700 W\" or \"1.2 kW\"";
    case Dimension::kPrice: return "\"2 USD/h\" or \"$2/GPU-hour\"";
    case Dimension::kEnergyPrice: return "\"0.08 USD/kWh\"";
    case Dimension::kArea: return "\"814 mm2\"";
    case Dimension::kDimensionless: return "a plain number";
  }
  return "?";
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Splits "989 TFLOP/s" or "$2/h" into number and unit text.
bool split_number(std::string_view text, double& number, std::string& unit_text) {
  std::string_view s = trim(text);
  bool dollar = false;
  if (!s.empty() && s.front() == '$') {
    dollar = true;
    s.remove_prefix(1);
  }
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.' ||
                          s[i] == 'e' || s[i] == 'E' || s[i] == '-' || s[i] == '+' ||
                          s[i] == ',' || s[i] == '_')) {
    // 'e'/'E' only as an exponent: followed by a digit or sign.
    if ((s[i] == 'e' || s[i] == 'E') &&
        (i + 1 >= s.size() || !(std::isdigit(static_cast<unsigned char>(s[i + 1])) ||
                                s[i + 1] == '-' || s[i + 1] == '+'))) {
      break;
    }
    ++i;
  }
  std::string digits;
  for (char c : s.substr(0, i)) {
    if (c != ',' && c != '_') digits.push_back(c);
  }
  if (digits.empty()) return false;
  const char* first = digits.data();
  const char* last = digits.data() + digits.size();
  auto [ptr, ec] = std::from_chars(first, last, number);
  if (ec != std::errc() || ptr != last) return false;
  unit_text = std::string(trim(s.substr(i)));
  if (dollar) unit_text = unit_text.empty() ? "USD" : "USD" + unit_text;
  return true;
}

}  // namespace

std::string describe_dimension(Dimension d) {
  switch (d) {
    case Dimension::kTime: return "a duration";
    case Dimension::kBytes: return "a size in bytes";
    case Dimension::kFlops: return "an amount of floating-point work";
    case Dimension::kDollars: return "an amount of money";
    case Dimension::kEnergy: return "an energy";
    case Dimension::kBandwidth: return "a bandwidth";
    case Dimension::kFlopRate: return "a compute rate";
    case Dimension::kPower: return "a power";
    case Dimension::kPrice: return "a price per hour";
    case Dimension::kEnergyPrice: return "an energy price";
    case Dimension::kArea: return "an area";
    case Dimension::kDimensionless: return "a plain number";
  }
  return "?";
}

double parse_in_dimension(std::string_view text, Dimension expected) {
  double number = 0;
  std::string unit_text;
  if (!split_number(text, number, unit_text)) {
    throw UnitError(fmt::format("expected {} such as {}; found \"{}\" (no number)",
                                describe_dimension(expected), example_of(expected), text));
  }
  if (!std::isfinite(number)) {
    throw UnitError(fmt::format("expected a finite number; found \"{}\"", text));
  }
  if (expected == Dimension::kDimensionless) {
    if (!unit_text.empty()) {
      throw UnitError(fmt::format("expected a plain number; found \"{}\"", text));
    }
    return number;
  }
  if (unit_text.empty()) {
    throw UnitError(fmt::format("expected {} with its unit, such as {}; found \"{}\" (no unit)",
                                describe_dimension(expected), example_of(expected), text));
  }
  auto unit = parse_unit(unit_text);
  if (!unit) {
    throw UnitError(fmt::format("expected {} such as {}; found \"{}\" (unknown unit \"{}\")",
                                describe_dimension(expected), example_of(expected), text,
                                unit_text));
  }
  if (!(unit->dims == dims_of(expected))) {
    std::string found_what = "a quantity of another kind";
    for (Dimension d : {Dimension::kTime, Dimension::kBytes, Dimension::kFlops,
                        Dimension::kDollars, Dimension::kEnergy, Dimension::kBandwidth,
                        Dimension::kFlopRate, Dimension::kPower, Dimension::kPrice,
                        Dimension::kEnergyPrice}) {
      if (unit->dims == dims_of(d)) found_what = describe_dimension(d);
    }
    throw UnitError(fmt::format("expected {} such as {}; found \"{}\", which is {}",
                                describe_dimension(expected), example_of(expected), text,
                                found_what));
  }
  // A magnitude outside [1e-24, 1e40] base units is a typo ("1e-320 s",
  // "1e308 TB/s" overflows once scaled); downstream ratios of such values
  // would be infinite. Real values lie far inside: 1 ps = 1e-12 s, 1e26 FLOP.
  const double value = number * unit->factor;
  if (value != 0 && !(std::fabs(value) >= 1e-24 && std::fabs(value) <= 1e40)) {
    throw UnitError(fmt::format("expected {} such as {}; found \"{}\" (out of range)",
                                describe_dimension(expected), example_of(expected), text));
  }
  return value;
}

double parse_area_mm2(std::string_view text) {
  double number = 0;
  std::string unit_text;
  if (!split_number(text, number, unit_text) ||
      !(unit_text == "mm2" || unit_text == "mm^2" || unit_text == "mm\xC2\xB2")) {
    throw UnitError(fmt::format("expected an area such as \"814 mm2\"; found \"{}\"", text));
  }
  return number;
}

namespace {

std::string engineering(double v, std::string_view unit) {
  if (!std::isfinite(v)) return fmt::format("{} {}", v, unit);
  struct P {
    double f;
    const char* p;
  };
  static constexpr P kSteps[] = {{units::kExa, "E"},   {units::kPeta, "P"}, {units::kTera, "T"},
                                 {units::kGiga, "G"},  {units::kMega, "M"}, {units::kKilo, "k"},
                                 {1.0, ""},            {units::kMilli, "m"}, {units::kMicro, "u"},
                                 {units::kNano, "n"}};
  const double a = std::fabs(v);
  if (a == 0.0) return fmt::format("0 {}", unit);
  for (const P& s : kSteps) {
    if (a >= s.f * 0.9995) return fmt::format("{:.3g} {}{}", v / s.f, s.p, unit);
  }
  return fmt::format("{:.3g} {}", v, unit);
}

}  // namespace

std::string to_string(Seconds v) {
  const double s = v.value();
  if (std::fabs(s) >= units::kSecondsPerDay * 2) return fmt::format("{:.3g} days", in_days(v));
  if (std::fabs(s) >= units::kSecondsPerHour * 2) return fmt::format("{:.3g} h", in_hours(v));
  return engineering(s, "s");
}
std::string to_string(Bytes v) { return engineering(v.value(), "B"); }
std::string to_string(Flops v) { return engineering(v.value(), "FLOP"); }
std::string to_string(Dollars v) {
  const double d = v.value();
  if (std::fabs(d) >= units::kMega) return fmt::format("${:.4g}M", d / units::kMega);
  if (std::fabs(d) >= units::kKilo) return fmt::format("${:.4g}k", d / units::kKilo);
  return fmt::format("${:.2f}", d);
}
std::string to_string(Joules v) {
  return fmt::format("{:.4g} MWh", in_megawatt_hours(v));
}
std::string to_string(BytesPerSecond v) { return engineering(v.value(), "B/s"); }
std::string to_string(FlopsPerSecond v) { return engineering(v.value(), "FLOP/s"); }
std::string to_string(Watts v) { return engineering(v.value(), "W"); }
std::string to_string(DollarsPerSecond v) {
  return fmt::format("${:.2f}/h", in_dollars_per_hour(v));
}

}  // namespace trainsim
