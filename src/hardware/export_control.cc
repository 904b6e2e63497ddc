#include "hardware/export_control.h"

#include <cmath>

#include <fmt/format.h>

#include "core/error.h"
#include "core/json_reader.h"
#include "core/paths.h"
#include "core/strings.h"

namespace trainsim::hardware {

ExportMetrics export_metrics(const Accelerator& a) {
  ExportMetrics m;
  // TPP = dense tera-ops per second x bit length, max over formats
  // (88 FR 73458, 3A090 Technical Note; hardware.md sec. 6).
  // Ties (A800: BF16 312 x 16 = INT8 624 x 8 = TF32 156 x 32) name the first
  // format in this order, the one datasheets and BIS examples usually quote.
  constexpr Format kOrder[] = {Format::kBF16, Format::kFP16, Format::kFP8, Format::kFP4,
                               Format::kINT8, Format::kTF32, Format::kFP32, Format::kFP64};
  constexpr double kTieTolerance = 1e-9;
  for (Format format : kOrder) {
    auto it = a.dense_peak.find(format);
    if (it == a.dense_peak.end()) continue;
    const double tpp = in_tflops_per_second(it->second) * bit_length(format);
    if (tpp > m.tpp * (1.0 + kTieTolerance)) {
      m.tpp = tpp;
      m.tpp_format = format;
    }
  }
  // PD = TPP / applicable die area (88 FR 73458, 3A090 Technical Note).
  TRAINSIM_CHECK(a.die_area_mm2 > 0, "{}: die area must be positive", a.name);
  m.performance_density = m.tpp / a.die_area_mm2;
  // Aggregate bidirectional I/O to chips other than memory (87 FR 62186,
  // 3A090.a): scale-up both directions plus the host link (hardware.md sec. 6:
  // H800 400 + 128 = 528 GB/s).
  m.io_bidirectional = a.scale_up.via_host_link
                           ? a.scale_up.host_link_bidirectional
                           : a.scale_up.bandwidth_per_direction * 2.0 +
                                 a.scale_up.host_link_bidirectional;
  m.dram_bandwidth = a.hbm_bandwidth;
  return m;
}

const ExportRule& ExportRules::at(const std::string& id) const {
  for (const auto& r : rules) {
    if (r.id == id) return r;
  }
  throw InternalError(fmt::format("export rule \"{}\" not loaded", id));
}

namespace {

struct RuleSpec {
  const char* id;
  std::vector<std::string> number_keys;     // plain numbers (TPP, PD)
  std::vector<std::string> bandwidth_keys;  // unit-bearing bandwidths
};

const std::vector<RuleSpec>& rule_specs() {
  static const std::vector<RuleSpec> kSpecs = {
      {"us-2022-10", {"tpp"}, {"io_bidirectional"}},
      {"us-2023-10",
       {"a1_tpp", "a2_tpp", "a2_pd", "b1_tpp_min", "b1_tpp_max", "b1_pd_min", "b1_pd_max",
        "b2_tpp", "b2_pd_min", "b2_pd_max"},
       {}},
      {"us-2025-04-letters", {}, {"dram_bandwidth", "io_bidirectional", "combined"}},
      {"us-2026-01", {"tpp_below"}, {"dram_bandwidth_below"}},
  };
  return kSpecs;
}

// Numbers in reasons: integers without decimals, others with what they need.
std::string num(double v) {
  if (std::fabs(v - std::round(v)) < 0.05) return fmt::format("{:.0f}", v);
  return fmt::format("{:.1f}", v);
}
std::string pd(double v) { return fmt::format("{:.2f}", v); }
std::string gbs(double bytes_per_second) {
  return num(in_gigabytes_per_second(BytesPerSecond(bytes_per_second))) + " GB/s";
}
std::string gbs(BytesPerSecond b) { return gbs(b.value()); }

// "TPP 2368 < 2400 threshold by 32" or "I/O 528 GB/s < 600 GB/s threshold by 72 GB/s".
std::string compare(const std::string& what, double v, double threshold,
                    std::string (*f)(double), const std::string& unit = "") {
  if (v >= threshold) {
    return fmt::format("{} {}{} >= {}{} threshold by {}{}", what, f(v), unit, f(threshold), unit,
                       f(v - threshold), unit);
  }
  return fmt::format("{} {}{} < {}{} threshold by {}{}", what, f(v), unit, f(threshold), unit,
                     f(threshold - v), unit);
}

std::string io_breakdown(const Accelerator& a, const ExportMetrics& m) {
  if (a.scale_up.via_host_link) {
    return fmt::format("I/O {} (host link only)", gbs(m.io_bidirectional));
  }
  return fmt::format("I/O {} (scale-up {} + host link {})", gbs(m.io_bidirectional),
                     gbs(a.scale_up.bandwidth_per_direction * 2.0),
                     gbs(a.scale_up.host_link_bidirectional));
}

Verdict rule_2022(const Accelerator& a, const ExportMetrics& m, const ExportRule& r) {
  const double t_tpp = r.thresholds.at("tpp");
  const double t_io = r.thresholds.at("io_bidirectional");
  const bool tpp_ok = m.tpp >= t_tpp;
  const bool io_ok = m.io_bidirectional.value() >= t_io;
  Verdict v{r.id, tpp_ok && io_ok, "", std::nullopt, std::nullopt};
  const std::string io_text = io_breakdown(a, m);
  const std::string io_cmp = compare("I/O", in_gigabytes_per_second(m.io_bidirectional),
                                     t_io / units::kGiga, num, " GB/s");
  const std::string tpp_cmp = compare("TPP", m.tpp, t_tpp, num);
  if (v.controlled) {
    v.reason = fmt::format("3A090 (2022), both prongs met: {} and {}; {}", tpp_cmp, io_cmp,
                           io_text);
  } else if (tpp_ok) {
    v.reason = fmt::format("not controlled: {} (both prongs required; {}); {}", io_cmp, tpp_cmp,
                           io_text);
  } else if (io_ok) {
    v.reason = fmt::format("not controlled: {} (both prongs required; {})", tpp_cmp, io_cmp);
  } else {
    v.reason = fmt::format("not controlled: {} and {}; {}", tpp_cmp, io_cmp, io_text);
  }
  return v;
}

Verdict rule_2023(const ExportMetrics& m, const ExportRule& r) {
  const auto& t = r.thresholds;
  Verdict v{r.id, false, "", std::nullopt, std::nullopt};
  const double tpp = m.tpp;
  const double d = m.performance_density;
  if (tpp >= t.at("a1_tpp")) {
    v.controlled = true;
    v.eccn = "3A090.a";
    v.reason = fmt::format("3A090.a.1: {}", compare("TPP", tpp, t.at("a1_tpp"), num));
  } else if (tpp >= t.at("a2_tpp") && d >= t.at("a2_pd")) {
    v.controlled = true;
    v.eccn = "3A090.a";
    v.reason = fmt::format("3A090.a.2: {} and {}", compare("TPP", tpp, t.at("a2_tpp"), num),
                           compare("PD", d, t.at("a2_pd"), pd));
  } else if (tpp >= t.at("b1_tpp_min") && tpp < t.at("b1_tpp_max") && d >= t.at("b1_pd_min") &&
             d < t.at("b1_pd_max")) {
    v.controlled = true;
    v.eccn = "3A090.b";
    v.reason = fmt::format("3A090.b.1: {} <= TPP {} < {} and {} <= PD {} < {}",
                           num(t.at("b1_tpp_min")), num(tpp), num(t.at("b1_tpp_max")),
                           pd(t.at("b1_pd_min")), pd(d), pd(t.at("b1_pd_max")));
  } else if (tpp >= t.at("b2_tpp") && d >= t.at("b2_pd_min") && d < t.at("b2_pd_max")) {
    v.controlled = true;
    v.eccn = "3A090.b";
    v.reason = fmt::format("3A090.b.2: TPP {} >= {} and {} <= PD {} < {}", num(tpp),
                           num(t.at("b2_tpp")), pd(t.at("b2_pd_min")), pd(d),
                           pd(t.at("b2_pd_max")));
  } else {
    // Outside 3A090: say where each prong fails first.
    std::vector<std::string> misses;
    misses.push_back("a.1 " + compare("TPP", tpp, t.at("a1_tpp"), num));
    misses.push_back("a.2 " + (tpp < t.at("a2_tpp") ? compare("TPP", tpp, t.at("a2_tpp"), num)
                                                     : compare("PD", d, t.at("a2_pd"), pd)));
    if (tpp < t.at("b1_tpp_min")) {
      misses.push_back("b.1 " + compare("TPP", tpp, t.at("b1_tpp_min"), num));
    } else {
      misses.push_back("b.1 " + compare("PD", d, t.at("b1_pd_min"), pd));
    }
    misses.push_back("b.2 " + (tpp < t.at("b2_tpp") ? compare("TPP", tpp, t.at("b2_tpp"), num)
                                                     : compare("PD", d, t.at("b2_pd_min"), pd)));
    v.reason = "outside 3A090, every prong missed: " + join(misses, "; ");
  }
  return v;
}

Verdict rule_2025_letters(const Accelerator& a, const ExportMetrics& m, const ExportRule& r) {
  const auto& t = r.thresholds;
  Verdict v{r.id, false, "", std::nullopt, std::nullopt};
  const double dram = in_gigabytes_per_second(m.dram_bandwidth);
  const double io = in_gigabytes_per_second(m.io_bidirectional);
  const double t_dram = t.at("dram_bandwidth") / units::kGiga;
  const double t_io = t.at("io_bidirectional") / units::kGiga;
  const double t_comb = t.at("combined") / units::kGiga;
  const std::string c_dram = compare("DRAM bandwidth", dram, t_dram, num, " GB/s");
  const std::string c_io = compare("I/O", io, t_io, num, " GB/s");
  const std::string c_comb = compare("DRAM + I/O", dram + io, t_comb, num, " GB/s");
  std::vector<std::string> met;
  if (dram >= t_dram) met.push_back(c_dram);
  if (io >= t_io) met.push_back(c_io);
  if (dram + io >= t_comb) met.push_back(c_comb);
  v.controlled = !met.empty();
  if (v.controlled) {
    v.reason = "license required: " + join(met, "; ");
  } else {
    v.reason = fmt::format("below every letter threshold: {}; {}; {} ({})", c_dram, c_io, c_comb,
                           io_breakdown(a, m));
  }
  return v;
}

Verdict rule_2026(const ExportMetrics& m, const ExportRule& r, const Verdict& v2023) {
  const auto& t = r.thresholds;
  Verdict v{r.id, false, "", std::nullopt, std::nullopt};
  if (!v2023.eccn) {
    v.reason = "not a 3A090 item under us-2023-10, so this license-review policy does not apply";
    return v;
  }
  v.controlled = true;  // a license is still required; the rule changes how it is reviewed
  const double dram = in_gigabytes_per_second(m.dram_bandwidth);
  const double t_tpp = t.at("tpp_below");
  const double t_dram = t.at("dram_bandwidth_below") / units::kGiga;
  const bool in_zone = m.tpp < t_tpp && dram < t_dram;
  const std::string c_tpp = compare("TPP", m.tpp, t_tpp, num);
  const std::string c_dram = compare("DRAM bandwidth", dram, t_dram, num, " GB/s");
  if (in_zone) {
    v.review = "case-by-case";
    v.reason = fmt::format(
        "license still required ({}); case-by-case review for China/Macau: {} and {}",
        *v2023.eccn, c_tpp, c_dram);
  } else {
    v.review = "presumption of denial";
    std::vector<std::string> over;
    if (m.tpp >= t_tpp) over.push_back(c_tpp);
    if (dram >= t_dram) over.push_back(c_dram);
    v.reason = fmt::format(
        "license still required ({}); presumption of denial for China/Macau, outside the "
        "case-by-case zone: {}",
        *v2023.eccn, join(over, "; "));
  }
  return v;
}

}  // namespace

ExportRules load_export_rules(const std::string& path_in) {
  const std::string path =
      path_in.empty() ? paths::hardware_profiles_dir() + "/export_rules.json" : path_in;
  JsonDocument doc = JsonDocument::load(path);
  JsonView root = doc.root();
  root.check_keys({"comment", "rules"});
  JsonView rules = root.at("rules");
  std::vector<std::string> ids;
  for (const auto& s : rule_specs()) ids.push_back(s.id);
  rules.check_keys(ids);
  ExportRules out;
  out.file = path;
  for (const auto& spec : rule_specs()) {
    JsonView r = rules.at(spec.id);
    r.check_keys({"title", "citation", "effective", "quote", "thresholds", "note"});
    ExportRule rule;
    rule.id = spec.id;
    rule.title = r.string_at("title");
    rule.citation = r.string_at("citation");
    if (rule.citation.empty()) r.at("citation").fail("expected a non-empty citation");
    rule.effective = r.string_at("effective");
    JsonView t = r.at("thresholds");
    std::vector<std::string> keys = spec.number_keys;
    keys.insert(keys.end(), spec.bandwidth_keys.begin(), spec.bandwidth_keys.end());
    t.check_keys(keys);
    for (const auto& k : spec.number_keys) {
      JsonView n = t.at(k);
      n.check_keys({"value", "source", "note"});
      if (n.at("source").string().empty()) n.at("source").fail("expected a non-empty source");
      rule.thresholds[k] = n.at("value").positive_number();
    }
    for (const auto& k : spec.bandwidth_keys) {
      JsonView n = t.at(k);
      n.check_keys({"value", "source", "note"});
      rule.thresholds[k] = n.sourced<BytesPerSecond>().value.value();
    }
    out.rules.push_back(rule);
  }
  return out;
}

const Verdict& Classification::verdict(const std::string& rule_id) const {
  for (const auto& v : verdicts) {
    if (v.rule_id == rule_id) return v;
  }
  throw InternalError(fmt::format("no verdict for rule \"{}\"", rule_id));
}

Classification classify(const Accelerator& a, const ExportRules& rules) {
  Classification c;
  c.name = a.name;
  c.display_name = a.display_name;
  c.metrics = export_metrics(a);
  c.die_area_mm2 = a.die_area_mm2;
  c.die_area_estimated = a.die_area_estimated;
  c.applied_overrides = a.applied_overrides;
  c.verdicts.push_back(rule_2022(a, c.metrics, rules.at("us-2022-10")));
  c.verdicts.push_back(rule_2023(c.metrics, rules.at("us-2023-10")));
  c.verdicts.push_back(rule_2025_letters(a, c.metrics, rules.at("us-2025-04-letters")));
  c.verdicts.push_back(rule_2026(c.metrics, rules.at("us-2026-01"), c.verdicts[1]));
  std::vector<std::string> notes;
  if (!a.export_note.empty()) notes.push_back(a.export_note);
  if (a.die_area_estimated) {
    notes.push_back(fmt::format("PD uses an estimated die area ({:.0f} mm2)", a.die_area_mm2));
  }
  c.note = join(notes, "; ");
  return c;
}

}  // namespace trainsim::hardware
