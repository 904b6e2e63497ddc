#include "calib/tables.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string_view>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_io.h"
#include "core/json_reader.h"
#include "core/paths.h"
#include "hardware/hardware.h"

namespace trainsim::calib {

namespace {

using ojson = nlohmann::ordered_json;

// Four significant digits: tables are data a reader checks by hand.
double round4(double v) {
  if (v == 0 || !std::isfinite(v)) return v;
  return std::stod(fmt::format("{:.4g}", v));
}
std::string us(Seconds s) { return fmt::format("{:.4g} us", s.value() / units::kMicro); }

const char* precision_key(Precision p) { return to_string(p); }

Precision precision_from(const JsonView& v, const std::string& key) {
  if (key == "bf16") return Precision::kBF16;
  if (key == "fp16") return Precision::kFP16;
  if (key == "fp8") return Precision::kFP8;
  if (key == "fp32") return Precision::kFP32;
  v.fail(fmt::format("unknown precision \"{}\"; expected one of bf16, fp16, fp8, fp32", key));
}

double fraction_at(const JsonView& v, const std::string& key) {
  const double x = v.at(key).positive_number();
  if (x > 1.2) v.at(key).fail_expected("an efficiency in (0, 1.2]");
  return x;
}

ojson gemm_json(const GemmParams& g) {
  ojson j;
  j["eta_max"] = round4(g.eta_max);
  j["tile_m"] = g.tile_m;
  j["tile_n"] = g.tile_n;
  j["k_overhead"] = round4(g.k_overhead);
  j["launch_overhead"] = us(g.launch_overhead);
  if (g.sustained) j["sustained"] = round4(*g.sustained);  // absent = not measured
  j["basis"] = g.basis;
  if (g.sustained) j["sustained_basis"] = g.sustained_basis;
  return j;
}
// `dense`: a gemm.<precision> entry, which may carry "sustained".
GemmParams gemm_from(const JsonView& v, bool dense) {
  if (dense) {
    v.check_keys({"eta_max", "tile_m", "tile_n", "k_overhead", "launch_overhead", "sustained", "basis",
                  "sustained_basis"});
  } else {
    v.check_keys({"eta_max", "tile_m", "tile_n", "k_overhead", "launch_overhead", "basis"});
  }
  GemmParams g;
  g.eta_max = fraction_at(v, "eta_max");
  g.tile_m = v.at("tile_m").positive_integer();
  g.tile_n = v.at("tile_n").positive_integer();
  g.k_overhead = v.at("k_overhead").non_negative_number();
  g.launch_overhead = v.at("launch_overhead").quantity<Seconds>();
  g.basis = v.at("basis").string();
  // A factor carries its own basis, and a basis needs its factor.
  if (dense && v.find("sustained")) {
    g.sustained = fraction_at(v, "sustained");
    g.sustained_basis = v.at("sustained_basis").string();
  } else if (auto b = v.find("sustained_basis")) {
    b->fail("\"sustained_basis\" is only for an entry with \"sustained\"; expected no \"sustained_basis\" here");
  }
  return g;
}

ojson attention_json(const AttentionParams& a) {
  ojson j;
  j["eta_max"] = round4(a.eta_max);
  j["seq_half"] = round4(a.seq_half);
  j["head_dim_half"] = round4(a.head_dim_half);
  j["basis"] = a.basis;
  return j;
}
AttentionParams attention_from(const JsonView& v) {
  v.check_keys({"eta_max", "seq_half", "head_dim_half", "basis"});
  AttentionParams a;
  a.eta_max = fraction_at(v, "eta_max");
  a.seq_half = v.at("seq_half").non_negative_number();
  a.head_dim_half = v.at("head_dim_half").non_negative_number();
  a.basis = v.at("basis").string();
  return a;
}

ojson link_json(const LinkParams& l) {
  ojson j;
  j["alpha"] = us(l.alpha);
  j["eta"] = round4(l.eta);
  j["basis"] = l.basis;
  return j;
}
LinkParams link_from(const JsonView& v) {
  v.check_keys({"alpha", "eta", "basis"});
  LinkParams l;
  l.alpha = v.at("alpha").quantity<Seconds>();
  l.eta = fraction_at(v, "eta");
  l.basis = v.at("basis").string();
  return l;
}

ojson tier_json(const TierParams& t) {
  ojson j;
  j["collective"] = link_json(t.collective);
  j["all_to_all"] = link_json(t.all_to_all);
  return j;
}
TierParams tier_from(const JsonView& v) {
  v.check_keys({"collective", "all_to_all"});
  return TierParams{link_from(v.at("collective")), link_from(v.at("all_to_all"))};
}

std::vector<std::string> strings_from(const JsonView& v) {
  std::vector<std::string> out;
  if (!v.is_array()) v.fail_expected("an array of strings");
  for (const auto& e : v.elements()) out.push_back(e.string());
  return out;
}

}  // namespace

Seconds gemm_model_time(const GemmParams& g, int64_t m, int64_t n, int64_t k, int64_t groups,
                        FlopsPerSecond peak, int sm_count, int usable_sms, Bytes min_bytes,
                        BytesPerSecond hbm_bandwidth, double memory_eta, double sustained) {
  if (m <= 0 || n <= 0 || k <= 0 || groups <= 0) return Seconds::zero();
  auto ceil_div = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
  const int sms = std::max(1, sm_count);
  const int usable = std::clamp(usable_sms, 1, sms);
  const int64_t tiles = groups * ceil_div(m, g.tile_m) * ceil_div(n, g.tile_n);
  const int64_t waves = ceil_div(tiles, usable);
  const Flops tile_flops(2.0 * static_cast<double>(g.tile_m) * static_cast<double>(g.tile_n) *
                         (static_cast<double>(k) + g.k_overhead));
  // Dividing by 1.0 (no sustained measurement) is exact: times stay bit-identical.
  const Seconds t_compute = tile_flops / (peak * (g.eta_max / sms)) * static_cast<double>(waves) / sustained;
  const Seconds t_memory = min_bytes / (hbm_bandwidth * memory_eta);
  return g.launch_overhead + max(t_compute, t_memory);
}

double attention_efficiency(const AttentionParams& a, double seq_kv, double d) {
  const double l = std::max(1.0, seq_kv);
  const double fd = d > 0 ? d / (d + a.head_dim_half) : 1.0;
  return a.eta_max * l / (l + a.seq_half) * fd;
}

Seconds memory_model_time(const MemoryParams& m, Bytes bytes, BytesPerSecond hbm_bandwidth) {
  return m.latency + bytes / (hbm_bandwidth * m.eta);
}

double InterferenceParams::compute_fraction(double taken) const {
  if (points.empty()) return 1.0;
  taken = std::clamp(taken, 0.0, 1.0);
  if (taken <= points.front().sm_fraction_taken) return points.front().compute_fraction;
  for (size_t i = 1; i < points.size(); ++i) {
    const auto& a = points[i - 1];
    const auto& b = points[i];
    if (taken <= b.sm_fraction_taken) {
      const double span = b.sm_fraction_taken - a.sm_fraction_taken;
      if (span <= 0) return b.compute_fraction;
      const double w = (taken - a.sm_fraction_taken) / span;
      return a.compute_fraction + w * (b.compute_fraction - a.compute_fraction);
    }
  }
  return points.back().compute_fraction;
}

const GemmParams& EfficiencyTables::gemm_for(Precision p) const {
  if (auto it = gemm.find(p); it != gemm.end()) return it->second;
  auto it = gemm.find(Precision::kBF16);
  TRAINSIM_CHECK(it != gemm.end(), "efficiency tables for {} have no BF16 GEMM entry", profile);
  return it->second;
}

const GemmParams& EfficiencyTables::grouped_gemm_for(Precision p) const {
  if (auto it = grouped_gemm.find(p); it != grouped_gemm.end()) return it->second;
  if (auto it = grouped_gemm.find(Precision::kBF16); it != grouped_gemm.end()) return it->second;
  return gemm_for(p);
}

const char* to_string(AttentionKernel k) {
  switch (k) {
    case AttentionKernel::kFastest: return "fastest";
    case AttentionKernel::kFlash2: return "flash2";
  }
  return "?";
}

const AttentionParams& EfficiencyTables::attention_for(AttentionKernel k, bool backward) const {
  if (k == AttentionKernel::kFlash2) return backward ? flash2_bwd : flash2_fwd;
  return backward ? attention_bwd : attention_fwd;
}
AttentionParams& EfficiencyTables::attention_for(AttentionKernel k, bool backward) {
  return const_cast<AttentionParams&>(std::as_const(*this).attention_for(k, backward));
}

EfficiencyTables default_tables(const std::string& profile, const std::string& reason) {
  // Generic values for a part never measured. Each is a round figure inside
  // the range the published measurements in calibrate/measurements/ show for
  // Hopper/Ampere parts; the fitted tables replace them wherever data exist.
  EfficiencyTables t;
  t.profile = profile;
  t.provenance.is_default = true;
  t.provenance.default_reason = reason;
  t.provenance.gpu = profile;
  const std::string why = default_basis(reason);
  GemmParams bf16;
  bf16.eta_max = 0.75;  // cuBLAS BF16 large GEMMs reach ~70-80% of dense peak on A100/H100
  bf16.basis = why + ": BF16 large-GEMM efficiency 0.75 assumed";
  GemmParams fp8 = bf16;
  fp8.eta_max = 0.65;  // FP8 GEMMs reach a smaller fraction of their doubled peak (DeepGEMM: 0.5-0.72)
  fp8.basis = why + ": FP8 large-GEMM efficiency 0.65 assumed";
  t.gemm[Precision::kBF16] = bf16;
  t.gemm[Precision::kFP8] = fp8;
  GemmParams gbf16 = bf16;
  gbf16.eta_max = 0.70;
  gbf16.basis = why + ": grouped BF16 GEMM efficiency 0.70 assumed";
  GemmParams gfp8 = fp8;
  gfp8.eta_max = 0.62;
  gfp8.basis = why + ": grouped FP8 GEMM efficiency 0.62 assumed";
  t.grouped_gemm[Precision::kBF16] = gbf16;
  t.grouped_gemm[Precision::kFP8] = gfp8;
  t.attention_fwd.basis = why + ": flash-attention forward at 0.6 of BF16 peak at long sequences";
  t.attention_bwd.eta_max = 0.45;
  t.attention_bwd.basis = why + ": flash-attention backward at 0.45 of BF16 peak at long sequences";
  // No FlashAttention-2 figure either: the same round values (a part never
  // measured gets no kernel distinction).
  t.flash2_fwd = t.attention_fwd;
  t.flash2_fwd.basis = why + ": FlashAttention-2 forward at 0.6 of BF16 peak at long sequences (as any fused kernel)";
  t.flash2_bwd = t.attention_bwd;
  t.flash2_bwd.basis = why + ": FlashAttention-2 backward at 0.45 of BF16 peak at long sequences (as any fused kernel)";
  t.memory.basis = why + ": streaming kernels at 0.85 of datasheet HBM bandwidth, 4 us per kernel";
  t.scale_up.collective.basis = why + ": scale-up collectives at 0.8 of datasheet per-direction bandwidth, 5 us per point-to-point message";
  t.scale_up.all_to_all.eta = 0.7;
  t.scale_up.all_to_all.basis = why + ": scale-up all-to-all at 0.7 of datasheet bandwidth";
  t.scale_out.collective.alpha = microseconds(8);
  t.scale_out.collective.basis = why + ": scale-out collectives at 0.8 of NIC bandwidth, 8 us per point-to-point message";
  t.scale_out.all_to_all.alpha = microseconds(8);
  t.scale_out.all_to_all.eta = 0.7;
  t.scale_out.all_to_all.basis = why + ": scale-out all-to-all at 0.7 of NIC bandwidth";
  t.interference.basis = why + ": compute throughput proportional to the SMs left to it";
  return t;
}

std::string tables_to_json(const EfficiencyTables& t) {
  ojson j;
  j["format"] = kTablesFormat;
  j["profile"] = t.profile;
  ojson prov;
  prov["gpu"] = t.provenance.gpu;
  prov["driver"] = t.provenance.driver;
  prov["date"] = t.provenance.date;
  prov["fitted_from"] = t.provenance.fitted_from;
  prov["carried_from"] = t.provenance.carried_from;
  prov["adjustments"] = t.provenance.adjustments;
  prov["is_default"] = t.provenance.is_default;
  prov["default_reason"] = t.provenance.default_reason;
  prov["command"] = t.provenance.command;
  j["provenance"] = prov;
  ojson gemm = ojson::object();
  for (const auto& [p, g] : t.gemm) gemm[precision_key(p)] = gemm_json(g);
  j["gemm"] = gemm;
  ojson grouped = ojson::object();
  for (const auto& [p, g] : t.grouped_gemm) grouped[precision_key(p)] = gemm_json(g);
  j["grouped_gemm"] = grouped;
  j["attention"] = {{"fwd", attention_json(t.attention_fwd)}, {"bwd", attention_json(t.attention_bwd)}};
  j["attention_flash2"] = {{"fwd", attention_json(t.flash2_fwd)}, {"bwd", attention_json(t.flash2_bwd)}};
  j["memory"] = {{"eta", round4(t.memory.eta)}, {"latency", us(t.memory.latency)}, {"basis", t.memory.basis}};
  j["collectives"] = {{"scale_up", tier_json(t.scale_up)}, {"scale_out", tier_json(t.scale_out)}};
  ojson pts = ojson::array();
  for (const auto& p : t.interference.points) {
    pts.push_back({{"sm_fraction_taken", round4(p.sm_fraction_taken)},
                   {"compute_fraction", round4(p.compute_fraction)}});
  }
  j["interference"] = {{"points", pts}, {"basis", t.interference.basis}};
  ojson res = ojson::array();
  for (const auto& r : t.residuals) {
    res.push_back({{"kind", r.kind}, {"rows", r.rows}, {"rms_relative", round4(r.rms_relative)},
                   {"max_relative", round4(r.max_relative)}});
  }
  j["residuals"] = res;
  return j.dump(2) + "\n";
}

void save_tables(const EfficiencyTables& t, const std::string& path) {
  write_file_atomic(path, tables_to_json(t));
}

EfficiencyTables load_tables(const std::string& path) {
  const JsonDocument doc = JsonDocument::load(path);
  const JsonView root = doc.root();
  root.check_keys({"format", "profile", "provenance", "gemm", "grouped_gemm", "attention", "attention_flash2", "memory",
                   "collectives", "interference", "residuals"});
  if (root.at("format").string() != kTablesFormat) {
    root.at("format").fail_expected(fmt::format("\"{}\"", kTablesFormat));
  }
  EfficiencyTables t;
  t.profile = root.at("profile").string();
  {
    const JsonView p = root.at("provenance");
    p.check_keys({"gpu", "driver", "date", "fitted_from", "carried_from", "adjustments", "is_default",
                  "default_reason", "command"});
    t.provenance.gpu = p.at("gpu").string();
    t.provenance.driver = p.at("driver").string();
    t.provenance.date = p.at("date").string();
    t.provenance.fitted_from = strings_from(p.at("fitted_from"));
    t.provenance.carried_from = p.at("carried_from").string();
    t.provenance.adjustments = strings_from(p.at("adjustments"));
    t.provenance.is_default = p.at("is_default").boolean();
    t.provenance.default_reason = p.at("default_reason").string();
    if (auto c = p.find("command")) t.provenance.command = c->string();
  }
  for (const std::string section : {"gemm", "grouped_gemm"}) {
    const JsonView g = root.at(section);
    if (!g.is_object()) g.fail_expected("an object keyed by precision");
    auto& dst = section == "gemm" ? t.gemm : t.grouped_gemm;
    for (const auto& key : g.keys()) dst[precision_from(g.at(key), key)] = gemm_from(g.at(key), section == "gemm");
    if (!dst.count(Precision::kBF16)) g.fail("expected a \"bf16\" entry");
  }
  for (const AttentionKernel k : {AttentionKernel::kFastest, AttentionKernel::kFlash2}) {
    const JsonView a = root.at(k == AttentionKernel::kFlash2 ? "attention_flash2" : "attention");
    a.check_keys({"fwd", "bwd"});
    t.attention_for(k, false) = attention_from(a.at("fwd"));
    t.attention_for(k, true) = attention_from(a.at("bwd"));
  }
  {
    const JsonView m = root.at("memory");
    m.check_keys({"eta", "latency", "basis"});
    t.memory.eta = fraction_at(m, "eta");
    t.memory.latency = m.at("latency").quantity<Seconds>();
    t.memory.basis = m.at("basis").string();
  }
  {
    const JsonView c = root.at("collectives");
    c.check_keys({"scale_up", "scale_out"});
    t.scale_up = tier_from(c.at("scale_up"));
    t.scale_out = tier_from(c.at("scale_out"));
  }
  {
    const JsonView in = root.at("interference");
    in.check_keys({"points", "basis"});
    t.interference.basis = in.at("basis").string();
    t.interference.points.clear();
    const JsonView pts = in.at("points");
    if (!pts.is_array() || pts.size() == 0) pts.fail_expected("a non-empty array of points");
    double last = -1;
    for (const auto& p : pts.elements()) {
      p.check_keys({"sm_fraction_taken", "compute_fraction"});
      InterferencePoint ip;
      ip.sm_fraction_taken = p.at("sm_fraction_taken").non_negative_number();
      ip.compute_fraction = p.at("compute_fraction").non_negative_number();
      if (ip.sm_fraction_taken > 1 || ip.sm_fraction_taken <= last) {
        p.at("sm_fraction_taken").fail_expected("a fraction in [0, 1], increasing along the array");
      }
      if (ip.compute_fraction > 1) p.at("compute_fraction").fail_expected("a fraction in [0, 1]");
      last = ip.sm_fraction_taken;
      t.interference.points.push_back(ip);
    }
  }
  if (auto r = root.find("residuals")) {
    for (const auto& e : r->elements()) {
      e.check_keys({"kind", "rows", "rms_relative", "max_relative"});
      t.residuals.push_back(Residual{e.at("kind").string(), static_cast<int>(e.at("rows").non_negative_integer()),
                                     e.at("rms_relative").non_negative_number(),
                                     e.at("max_relative").non_negative_number()});
    }
  }
  return t;
}

std::string tables_path_for(const std::string& profile) {
  return paths::calibrate_dir() + "/tables/" + profile + ".json";
}

std::vector<std::string> list_tables() {
  std::vector<std::string> out;
  const std::filesystem::path dir = paths::calibrate_dir() + "/tables";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return out;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".json") out.push_back(e.path().stem().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

namespace {
constexpr std::string_view kDefaultPrefix = "default (";
constexpr std::string_view kCarriedPrefix = "carried from ";
}  // namespace

std::string default_basis(const std::string& reason) { return std::string(kDefaultPrefix) + reason + ")"; }

std::string carried_basis(const std::string& from, const std::string& basis) {
  return std::string(kCarriedPrefix) + from + ": " + basis;
}

std::vector<std::string> assumed_gemm_groups(const EfficiencyTables& t, const hardware::Accelerator& accelerator) {
  std::vector<std::string> out;
  for (const Precision p : {Precision::kBF16, Precision::kFP8}) {
    if (!hardware::tensor_peak(accelerator, p)) continue;  // the part does not run it
    // A group's own origin is what its basis begins with past any carried_basis()
    // prefixes (a carried measurement is still a measurement); a "kept from:
    // default (...)" further on describes only secondary parameters.
    std::string_view basis = t.gemm_for(p).basis;
    while (basis.substr(0, kCarriedPrefix.size()) == kCarriedPrefix) {
      const auto colon = basis.find(": ");
      if (colon == std::string_view::npos) break;
      basis.remove_prefix(colon + 2);
    }
    if (basis.substr(0, kDefaultPrefix.size()) == kDefaultPrefix) out.push_back(fmt::format("gemm/{}", to_string(p)));
  }
  return out;
}

EfficiencyTables load_tables_for(const hardware::Accelerator& accelerator) {
  const std::string path = tables_path_for(accelerator.name);
  if (file_exists(path)) return load_tables(path);
  const bool nvidia = accelerator.vendor.find("NVIDIA") != std::string::npos ||
                      accelerator.vendor.find("Nvidia") != std::string::npos ||
                      accelerator.vendor.find("nvidia") != std::string::npos;
  const std::string reason =
      nvidia ? "no measurement for this part; generic Hopper-class efficiencies assumed"
             : "no measurement for this part; generic efficiencies of a mature GPU software stack assumed, "
               "likely optimistic for this vendor";
  EfficiencyTables t = default_tables(accelerator.name, reason);
  t.provenance.gpu = accelerator.name;
  return t;
}

}  // namespace trainsim::calib
