// Physical quantities as types.
//
// A Quantity carries one double in SI base units (seconds, bytes, FLOP, US
// dollars, joules) and its dimension as exponents in the type, so only
// dimensionally valid arithmetic compiles: Flops / FlopsPerSecond -> Seconds,
// Bytes / Seconds -> BytesPerSecond, Watts * Seconds -> Joules (after ns-3's
// DataRate::CalculateBytesTxTime). Dividing two quantities of the same
// dimension gives a plain double.
//
// Values enter from unit-bearing strings ("989 TFLOP/s", "3.35 TB/s",
// "400 Gb/s", "80 GiB", "700 W", "2 USD/h") through parse_quantity(), which
// keeps SI (k, M, G, T, P) and IEC (Ki, Mi, Gi, Ti, Pi) prefixes apart and
// bits (b) apart from bytes (B). Code never multiplies by bare powers of ten:
// it uses the named constructors below.
#pragma once

#include <cmath>
#include <compare>
#include <stdexcept>
#include <string>
#include <string_view>

namespace trainsim {

// Exponents of time, bytes, floating-point operations, dollars and joules.
template <int T, int B, int F, int D, int E>
class Quantity {
 public:
  constexpr Quantity() = default;
  constexpr explicit Quantity(double base_units) : v_(base_units) {}

  // The value in SI base units (s, B, FLOP, USD, J and their quotients).
  constexpr double value() const { return v_; }

  constexpr Quantity operator+(Quantity o) const { return Quantity(v_ + o.v_); }
  constexpr Quantity operator-(Quantity o) const { return Quantity(v_ - o.v_); }
  constexpr Quantity operator-() const { return Quantity(-v_); }
  constexpr Quantity& operator+=(Quantity o) { v_ += o.v_; return *this; }
  constexpr Quantity& operator-=(Quantity o) { v_ -= o.v_; return *this; }
  constexpr Quantity operator*(double s) const { return Quantity(v_ * s); }
  constexpr Quantity operator/(double s) const { return Quantity(v_ / s); }
  constexpr Quantity& operator*=(double s) { v_ *= s; return *this; }
  constexpr Quantity& operator/=(double s) { v_ /= s; return *this; }
  constexpr auto operator<=>(const Quantity&) const = default;

  static constexpr Quantity zero() { return Quantity(0.0); }

 private:
  double v_ = 0.0;
};

template <int T, int B, int F, int D, int E>
constexpr Quantity<T, B, F, D, E> operator*(double s, Quantity<T, B, F, D, E> q) {
  return q * s;
}

template <int T1, int B1, int F1, int D1, int E1, int T2, int B2, int F2, int D2, int E2>
constexpr auto operator*(Quantity<T1, B1, F1, D1, E1> a, Quantity<T2, B2, F2, D2, E2> b) {
  if constexpr (T1 + T2 == 0 && B1 + B2 == 0 && F1 + F2 == 0 && D1 + D2 == 0 && E1 + E2 == 0) {
    return a.value() * b.value();
  } else {
    return Quantity<T1 + T2, B1 + B2, F1 + F2, D1 + D2, E1 + E2>(a.value() * b.value());
  }
}

template <int T1, int B1, int F1, int D1, int E1, int T2, int B2, int F2, int D2, int E2>
constexpr auto operator/(Quantity<T1, B1, F1, D1, E1> a, Quantity<T2, B2, F2, D2, E2> b) {
  if constexpr (T1 == T2 && B1 == B2 && F1 == F2 && D1 == D2 && E1 == E2) {
    return a.value() / b.value();
  } else {
    return Quantity<T1 - T2, B1 - B2, F1 - F2, D1 - D2, E1 - E2>(a.value() / b.value());
  }
}

template <int T, int B, int F, int D, int E>
constexpr auto operator/(double s, Quantity<T, B, F, D, E> q) {
  return Quantity<-T, -B, -F, -D, -E>(s / q.value());
}

template <int T, int B, int F, int D, int E>
constexpr Quantity<T, B, F, D, E> max(Quantity<T, B, F, D, E> a, Quantity<T, B, F, D, E> b) {
  return a < b ? b : a;
}
template <int T, int B, int F, int D, int E>
constexpr Quantity<T, B, F, D, E> min(Quantity<T, B, F, D, E> a, Quantity<T, B, F, D, E> b) {
  return b < a ? b : a;
}
template <int T, int B, int F, int D, int E>
bool isfinite(Quantity<T, B, F, D, E> q) {
  return std::isfinite(q.value());
}

using Seconds = Quantity<1, 0, 0, 0, 0>;
using Bytes = Quantity<0, 1, 0, 0, 0>;
using Flops = Quantity<0, 0, 1, 0, 0>;
using Dollars = Quantity<0, 0, 0, 1, 0>;
using Joules = Quantity<0, 0, 0, 0, 1>;
using BytesPerSecond = Quantity<-1, 1, 0, 0, 0>;
using FlopsPerSecond = Quantity<-1, 0, 1, 0, 0>;
using Watts = Quantity<-1, 0, 0, 0, 1>;
using DollarsPerSecond = Quantity<-1, 0, 0, 1, 0>;   // e.g. rental price per GPU
using DollarsPerJoule = Quantity<0, 0, 0, 1, -1>;    // electricity price
using FlopsPerByte = Quantity<0, -1, 1, 0, 0>;       // arithmetic intensity
using Hertz = Quantity<-1, 0, 0, 0, 0>;              // rates: failures per second

// Named prefixes and unit factors. The only place powers of ten appear.
namespace units {
inline constexpr double kKilo = 1e3;
inline constexpr double kMega = 1e6;
inline constexpr double kGiga = 1e9;
inline constexpr double kTera = 1e12;
inline constexpr double kPeta = 1e15;
inline constexpr double kExa = 1e18;
inline constexpr double kMilli = 1e-3;
inline constexpr double kMicro = 1e-6;
inline constexpr double kNano = 1e-9;
inline constexpr double kPico = 1e-12;
inline constexpr double kKibi = 1024.0;
inline constexpr double kMebi = kKibi * 1024.0;
inline constexpr double kGibi = kMebi * 1024.0;
inline constexpr double kTebi = kGibi * 1024.0;
inline constexpr double kBitsPerByte = 8.0;
inline constexpr double kSecondsPerMinute = 60.0;
inline constexpr double kSecondsPerHour = 3600.0;
inline constexpr double kSecondsPerDay = 86400.0;
inline constexpr double kSecondsPerYear = 365.25 * 86400.0;
inline constexpr double kJoulesPerKilowattHour = 3.6e6;
}  // namespace units

// Named constructors.
constexpr Seconds seconds(double v) { return Seconds(v); }
constexpr Seconds milliseconds(double v) { return Seconds(v * units::kMilli); }
constexpr Seconds microseconds(double v) { return Seconds(v * units::kMicro); }
constexpr Seconds nanoseconds(double v) { return Seconds(v * units::kNano); }
constexpr Seconds hours(double v) { return Seconds(v * units::kSecondsPerHour); }
constexpr Seconds days(double v) { return Seconds(v * units::kSecondsPerDay); }
constexpr Seconds years(double v) { return Seconds(v * units::kSecondsPerYear); }
constexpr Bytes bytes(double v) { return Bytes(v); }
constexpr Bytes gigabytes(double v) { return Bytes(v * units::kGiga); }
constexpr Bytes gibibytes(double v) { return Bytes(v * units::kGibi); }
constexpr Flops flops(double v) { return Flops(v); }
constexpr Flops gigaflops(double v) { return Flops(v * units::kGiga); }
constexpr FlopsPerSecond teraflops_per_second(double v) { return FlopsPerSecond(v * units::kTera); }
constexpr BytesPerSecond gigabytes_per_second(double v) { return BytesPerSecond(v * units::kGiga); }
constexpr BytesPerSecond gigabits_per_second(double v) {
  return BytesPerSecond(v * units::kGiga / units::kBitsPerByte);
}
constexpr Watts watts(double v) { return Watts(v); }
constexpr Dollars dollars(double v) { return Dollars(v); }
constexpr DollarsPerSecond dollars_per_hour(double v) {
  return DollarsPerSecond(v / units::kSecondsPerHour);
}
constexpr DollarsPerJoule dollars_per_kwh(double v) {
  return DollarsPerJoule(v / units::kJoulesPerKilowattHour);
}

// Readers in customary units, for output.
constexpr double in_milliseconds(Seconds s) { return s.value() / units::kMilli; }
constexpr double in_hours(Seconds s) { return s.value() / units::kSecondsPerHour; }
constexpr double in_days(Seconds s) { return s.value() / units::kSecondsPerDay; }
constexpr double in_gigabytes(Bytes b) { return b.value() / units::kGiga; }
constexpr double in_gibibytes(Bytes b) { return b.value() / units::kGibi; }
constexpr double in_gigaflops(Flops f) { return f.value() / units::kGiga; }
constexpr double in_tflops_per_second(FlopsPerSecond f) { return f.value() / units::kTera; }
constexpr double in_gigabytes_per_second(BytesPerSecond b) { return b.value() / units::kGiga; }
constexpr double in_megawatt_hours(Joules j) {
  return j.value() / (units::kJoulesPerKilowattHour * units::kKilo);
}
constexpr double in_dollars_per_hour(DollarsPerSecond d) {
  return d.value() * units::kSecondsPerHour;
}

// What a unit string measures.
enum class Dimension {
  kTime, kBytes, kFlops, kDollars, kEnergy, kBandwidth, kFlopRate, kPower,
  kPrice,            // dollars per second (written per hour)
  kEnergyPrice,      // dollars per joule (written per kWh)
  kArea,             // mm^2, for die areas; value() in mm^2
  kDimensionless,
};

// Thrown by parse_quantity(); the JSON boundary adds the file and JSON path.
class UnitError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Parses "<number> <unit>" for the given dimension and returns the value in
// base units. Errors say what was expected and what was found.
double parse_in_dimension(std::string_view text, Dimension expected);

// The dimension a unit string measures, if recognised at all (for messages).
std::string describe_dimension(Dimension d);

template <class Q> struct DimensionOf;
template <> struct DimensionOf<Seconds> { static constexpr Dimension value = Dimension::kTime; };
template <> struct DimensionOf<Bytes> { static constexpr Dimension value = Dimension::kBytes; };
template <> struct DimensionOf<Flops> { static constexpr Dimension value = Dimension::kFlops; };
template <> struct DimensionOf<Dollars> { static constexpr Dimension value = Dimension::kDollars; };
template <> struct DimensionOf<Joules> { static constexpr Dimension value = Dimension::kEnergy; };
template <> struct DimensionOf<BytesPerSecond> { static constexpr Dimension value = Dimension::kBandwidth; };
template <> struct DimensionOf<FlopsPerSecond> { static constexpr Dimension value = Dimension::kFlopRate; };
template <> struct DimensionOf<Watts> { static constexpr Dimension value = Dimension::kPower; };
template <> struct DimensionOf<DollarsPerSecond> { static constexpr Dimension value = Dimension::kPrice; };
template <> struct DimensionOf<DollarsPerJoule> { static constexpr Dimension value = Dimension::kEnergyPrice; };

template <class Q>
Q parse_quantity(std::string_view text) {
  return Q(parse_in_dimension(text, DimensionOf<Q>::value));
}

// Die area in mm^2 ("814 mm2", "814 mm^2", "814 mm²").
double parse_area_mm2(std::string_view text);

// Human-readable with an engineering prefix: "989 TFLOP/s", "3.35 TB/s",
// "80 GB", "1.2 ms", "$5.58M". Deterministic (fixed significant digits).
std::string to_string(Seconds v);
std::string to_string(Bytes v);
std::string to_string(Flops v);
std::string to_string(Dollars v);
std::string to_string(Joules v);
std::string to_string(BytesPerSecond v);
std::string to_string(FlopsPerSecond v);
std::string to_string(Watts v);
std::string to_string(DollarsPerSecond v);

}  // namespace trainsim
