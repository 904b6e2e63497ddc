// Mutation-fuzz smoke tests of every shipped input kind (rule 3: bad input
// gets a clear error, never a crash, an internal error or a NaN).
//
// Each test takes the shipped files of one kind, applies a few hundred
// deterministic mutations (fuzz/mutator.h, fixed seeds) and requires of the
// loader: it succeeds, or throws ConfigError / UsageError / PlanError /
// IoError. A ConfigError must name the file and either a JSON pointer
// ("/...") or, for a syntax error, a line. When loading succeeds, something
// cheap downstream is computed and every number must be finite.
//
// A failure prints the seed-determined description of the mutant
// ("case 17 of h800.json: set /hbm_bandwidth/value: ..."); regressions found
// this way are pinned at the bottom of this file.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "calib/collectives.h"
#include "calib/measurements.h"
#include "calib/power.h"
#include "calib/tables.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/paths.h"
#include "core/random.h"
#include "fuzz/mutator.h"
#include "graph/graph.h"
#include "hardware/export_control.h"
#include "hardware/hardware.h"
#include "model/model.h"
#include "report/csv.h"
#include "report/validation.h"
#include "run/claim.h"
#include "run/scenario.h"

using namespace trainsim;
namespace fs = std::filesystem;

namespace {

const std::string kSource = TRAINSIM_SOURCE_DIR;

// Collects what went wrong over many mutants; one CHECK at the end prints the
// first few so a failure is readable.
struct Findings {
  std::vector<std::string> problems;
  int ok = 0;
  int rejected = 0;

  void add(const std::string& what, const std::string& problem) {
    problems.push_back(what + "\n      -> " + problem);
  }
  std::string summary() const {
    std::string s = fmt::format("{} problems ({} loaded, {} rejected):\n", problems.size(), ok, rejected);
    for (size_t i = 0; i < problems.size() && i < 15; ++i) s += "  " + problems[i] + "\n";
    return s;
  }
};

bool is_finite(double x) { return std::isfinite(x); }

// Runs `load` (which computes its own downstream checks and reports them via
// the returned string: empty = fine) and classifies the outcome.
void exercise(Findings& f, const std::string& what, const std::string& file_label,
              const std::function<std::string()>& load) {
  try {
    const std::string bad = load();
    if (bad.empty()) {
      ++f.ok;
    } else {
      f.add(what, "loaded, but " + bad);
    }
  } catch (const ConfigError& e) {
    ++f.rejected;
    const std::string msg = e.what();
    if (msg.find(file_label) == std::string::npos) {
      f.add(what, "ConfigError does not name the file " + file_label + ": " + msg);
    }
    const bool has_pointer = !e.pointer().empty() && e.pointer()[0] == '/';
    const bool has_line = msg.find("line ") != std::string::npos;
    if (!has_pointer && !has_line) {
      f.add(what, "ConfigError names neither a JSON pointer nor a line: " + msg);
    }
    if (e.message().empty()) f.add(what, "ConfigError with an empty message");
  } catch (const UsageError&) {
    ++f.rejected;
  } catch (const PlanError&) {
    ++f.rejected;
  } catch (const IoError&) {
    ++f.rejected;
  } catch (const InternalError& e) {
    f.add(what, std::string("InternalError: ") + e.what());
  } catch (const std::exception& e) {
    f.add(what, std::string("foreign exception: ") + e.what());
  }
}

std::vector<std::string> json_files(const std::string& dir, const std::vector<std::string>& skip = {}) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file() || e.path().extension() != ".json") continue;
    if (std::find(skip.begin(), skip.end(), e.path().stem().string()) != skip.end()) continue;
    out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A private scratch directory for loaders that only take paths.
class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / fmt::format("trainsim-fuzz-{}", ::getpid())) {
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

// Downstream checks -------------------------------------------------------

std::string check_model(const model::Model& m) {
  const model::ParamCounts p = model::count_params(m);
  if (p.total <= 0 || p.activated <= 0 || p.activated > p.total || p.mtp < 0) {
    return fmt::format("parameter counts out of range: total {} activated {} mtp {}", p.total,
                       p.activated, p.mtp);
  }
  const int64_t seq = std::min<int64_t>(m.max_seq_len, 4096);
  const graph::Graph g = graph::build_graph(m, seq, 1);
  const double fwd = g.forward_flops().value();
  const double bwd = g.backward_flops().value();
  if (!is_finite(fwd) || !is_finite(bwd) || fwd <= 0 || bwd <= 0) {
    return fmt::format("graph FLOPs not finite and positive: fwd {} bwd {}", fwd, bwd);
  }
  for (const auto& b : g.blocks) {
    for (const auto& op : b.ops) {
      for (const graph::Work* w : {&op.fwd, &op.bwd_input, &op.bwd_weight}) {
        if (!is_finite(w->flops.value()) || !is_finite(w->bytes.value()) || w->flops.value() < 0 ||
            w->bytes.value() < 0) {
          return fmt::format("operator {} has work {} FLOP, {} B", op.name, w->flops.value(),
                             w->bytes.value());
        }
      }
    }
  }
  return "";
}

std::string check_accelerator(const hardware::Accelerator& a) {
  for (const auto& [fmt_, peak] : a.dense_peak) {
    if (!is_finite(peak.value()) || peak.value() < 0) {
      return fmt::format("dense peak {} = {}", hardware::to_string(fmt_), peak.value());
    }
  }
  for (double x : {a.hbm_capacity.value(), a.hbm_bandwidth.value(), a.tdp.value(), a.die_area_mm2,
                   a.scale_up.bandwidth_per_direction.value(), a.nic_per_accelerator.value()}) {
    if (!is_finite(x) || x < 0) return fmt::format("a datasheet value is {}", x);
  }
  const hardware::ExportMetrics e = hardware::export_metrics(a);
  for (double x : {e.tpp, e.performance_density, e.io_bidirectional.value(), e.dram_bandwidth.value()}) {
    if (!is_finite(x) || x < 0) return fmt::format("export metric is {}", x);
  }
  return "";
}

std::string check_cluster(const hardware::Cluster& c) {
  if (c.total_accelerators() < 1 || c.scale_up_domain() < 1) {
    return fmt::format("{} accelerators, scale-up domain {}", c.total_accelerators(), c.scale_up_domain());
  }
  for (double x : {c.pue, c.scale_out.oversubscription, c.scale_out.nic_bandwidth.value(),
                   c.scale_out.hop_latency.value(), c.scale_up_latency.value(),
                   c.node_overhead_power.value()}) {
    if (!is_finite(x) || x < 0) return fmt::format("a cluster value is {}", x);
  }
  return check_accelerator(c.accelerator);
}

std::string check_scenario(const run::Scenario& s) {
  for (const auto& ph : s.phases) {
    if (!is_finite(ph.tokens) || ph.tokens < 0 || ph.seq_len < 1 || ph.global_batch < 1 ||
        !is_finite(ph.compute_multiplier) || !is_finite(ph.stated_gpu_time.value())) {
      return fmt::format("phase {}: tokens {} seq {} batch {} multiplier {}", ph.name, ph.tokens,
                         ph.seq_len, ph.global_batch, ph.compute_multiplier);
    }
  }
  for (double x : {s.prices.rental_per_gpu.value(), s.prices.purchase_per_gpu.value(),
                   s.prices.electricity.value(), s.prices.amortisation_life.value(), s.power.pue,
                   s.goodput.failures_per_gpu.value(), s.goodput.restart.value()}) {
    if (!is_finite(x) || x < 0) return fmt::format("a price, power or goodput value is {}", x);
  }
  for (const run::Range* r : {&s.uncertainty.compute_efficiency_scale, &s.uncertainty.comm_efficiency_scale,
                              &s.uncertainty.failures_per_gpu_hour, &s.uncertainty.restart_s}) {
    if (!is_finite(r->low) || !is_finite(r->high) || !(r->low <= r->nominal && r->nominal <= r->high)) {
      return fmt::format("range ({}, {}, {})", r->low, r->nominal, r->high);
    }
  }
  return check_model(s.model);
}

std::string check_measurements(const calib::MeasurementFile& f) {
  for (const auto& m : f.measurements) {
    for (const auto& v : {m.time ? m.time->value() : 0.0, m.achieved_flops ? m.achieved_flops->value() : 0.0,
                          m.achieved_bandwidth ? m.achieved_bandwidth->value() : 0.0,
                          m.bus_bandwidth ? m.bus_bandwidth->value() : 0.0,
                          m.algo_bandwidth ? m.algo_bandwidth->value() : 0.0, m.bytes.value(),
                          m.message.value(), m.gemm_fraction}) {
      if (!is_finite(v) || v < 0) return fmt::format("{}: a value is {}", m.pointer, v);
    }
    if (m.sustained_ceiling && m.m == 0) {
      // A shapeless sustained ceiling is a rate only: it must carry a positive one.
      if (!m.achieved_flops || !(m.achieved_flops->value() > 0)) return fmt::format("{}: no rate", m.pointer);
      continue;
    }
    if (m.kind == calib::MeasurementKind::kGemm || m.kind == calib::MeasurementKind::kGroupedGemm ||
        m.kind == calib::MeasurementKind::kAttention) {
      const double fl = calib::measurement_flops(m).value();
      if (!is_finite(fl) || fl <= 0) return fmt::format("{}: FLOPs {}", m.pointer, fl);
      // What the fitter derives: achieved FLOP/s = FLOPs / time.
      if (m.time && !is_finite(fl / m.time->value())) return fmt::format("{}: FLOPs / time is inf", m.pointer);
      const double gb = calib::gemm_min_bytes(m).value();
      if (m.kind != calib::MeasurementKind::kAttention && (!is_finite(gb) || gb <= 0)) {
        return fmt::format("{}: bytes {}", m.pointer, gb);
      }
    }
  }
  return "";
}

// A few hundred mutants per kind keep the suite well under a second; set
// TRAINSIM_FUZZ_MUTANTS (and TRAINSIM_FUZZ_SEED) for a longer exploratory run.
int mutants_per_kind() {
  const char* env = std::getenv("TRAINSIM_FUZZ_MUTANTS");
  return env ? std::max(1, std::atoi(env)) : 400;
}
uint64_t seed_offset() {
  const char* env = std::getenv("TRAINSIM_FUZZ_SEED");
  return env ? std::strtoull(env, nullptr, 10) : 0;
}

// Spreads kMutantsPerKind mutants over the files of one kind.
template <class Fn>
void fuzz_files(const std::vector<std::string>& files, uint64_t seed, Fn&& one) {
  REQUIRE_FALSE(files.empty());
  seed += seed_offset();
  Rng rng(seed);
  for (int i = 0, n = mutants_per_kind(); i < n; ++i) {
    const std::string& path = files[rng.below(files.size())];
    const std::string original = read_file(path);
    const fuzz::Mutant m = fuzz::mutate_json(original, rng);
    const std::string what =
        fmt::format("seed {} case {} of {}: {}", seed, i, fs::path(path).filename().string(), m.what);
    one(path, m, what);
  }
}

}  // namespace

TEST_CASE("model configs", "[fuzz]") {
  Findings f;
  fuzz_files(json_files(paths::model_configs_dir()), 101,
             [&](const std::string& path, const fuzz::Mutant& m, const std::string& what) {
               const std::string label = fs::path(path).filename().string();
               exercise(f, what, label, [&] { return check_model(model::parse_model(m.text, label, "fuzz")); });
             });
  INFO(f.summary());
  CHECK(f.problems.empty());
  CHECK(f.rejected > 50);  // the mutations do break most configs
  CHECK(f.ok > 5);         // and some survive (a renamed optional field, a duplicate key of equal value)
}

TEST_CASE("accelerator profiles", "[fuzz]") {
  TempDir tmp;
  Findings f;
  fuzz_files(json_files(paths::hardware_profiles_dir(), {"export_rules", "generic_cluster"}), 202,
             [&](const std::string& path, const fuzz::Mutant& m, const std::string& what) {
               const std::string label = fs::path(path).filename().string();
               const std::string copy = tmp.file(label);
               write_file_atomic(copy, m.text);
               exercise(f, what, label, [&] { return check_accelerator(hardware::load_accelerator(copy)); });
             });
  INFO(f.summary());
  CHECK(f.problems.empty());
  CHECK(f.rejected > 50);
  CHECK(f.ok > 5);
}

TEST_CASE("cluster profiles", "[fuzz]") {
  TempDir tmp;
  Findings f;
  fuzz_files(json_files(paths::hardware_profiles_dir() + "/clusters"), 303,
             [&](const std::string& path, const fuzz::Mutant& m, const std::string& what) {
               const std::string label = fs::path(path).filename().string();
               const std::string copy = tmp.file(label);
               write_file_atomic(copy, m.text);
               exercise(f, what, label, [&] { return check_cluster(hardware::load_cluster(copy)); });
             });
  INFO(f.summary());
  CHECK(f.problems.empty());
  CHECK(f.rejected > 50);
  CHECK(f.ok > 5);
}

TEST_CASE("scenario", "[fuzz]") {
  Findings f;
  fuzz_files({paths::scenarios_dir() + "/deepseek-v3.json"}, 404,
             [&](const std::string&, const fuzz::Mutant& m, const std::string& what) {
               exercise(f, what, "deepseek-v3.json",
                        [&] { return check_scenario(run::parse_scenario(m.text, "deepseek-v3.json")); });
             });
  INFO(f.summary());
  CHECK(f.problems.empty());
  CHECK(f.rejected > 50);
  CHECK(f.ok > 5);
}

TEST_CASE("measurement files", "[fuzz]") {
  Findings f;
  fuzz_files(json_files(paths::measurements_dir()), 505,
             [&](const std::string& path, const fuzz::Mutant& m, const std::string& what) {
               const std::string label = fs::path(path).filename().string();
               exercise(f, what, label,
                        [&] { return check_measurements(calib::parse_measurements(m.text, label)); });
             });
  INFO(f.summary());
  CHECK(f.problems.empty());
  CHECK(f.rejected > 50);
  CHECK(f.ok > 5);
}

// Beyond the kinds above, the other JSON inputs trainsim reads: fitted
// efficiency tables, export-control rules and published claims.
namespace {

std::string check_tables(const calib::EfficiencyTables& t) {
  for (Precision p : {Precision::kBF16, Precision::kFP8}) {
    const double g = calib::gemm_model_time(t.gemm_for(p), 4096, 4096, 4096, 1, teraflops_per_second(989), 132,
                                            132, Bytes(100 * units::kMega), gigabytes_per_second(3350), t.memory.eta)
                         .value();
    if (!is_finite(g) || g <= 0) return fmt::format("GEMM time {}", g);
  }
  for (const calib::AttentionParams* a : {&t.attention_fwd, &t.attention_bwd}) {
    const double e = calib::attention_efficiency(*a, 4096, 128);
    if (!is_finite(e) || e <= 0) return fmt::format("attention efficiency {}", e);
  }
  const double mem = calib::memory_model_time(t.memory, Bytes(units::kGiga), gigabytes_per_second(3350)).value();
  if (!is_finite(mem) || mem <= 0) return fmt::format("memory time {}", mem);
  const double cf = t.interference.compute_fraction(0.1);
  if (!is_finite(cf) || cf < 0) return fmt::format("interference compute fraction {}", cf);
  return "";
}

}  // namespace

TEST_CASE("calibration tables", "[fuzz]") {
  TempDir tmp;
  Findings f;
  fuzz_files(json_files(kSource + "/calibrate/tables"), 707,
             [&](const std::string& path, const fuzz::Mutant& m, const std::string& what) {
               const std::string label = fs::path(path).filename().string();
               const std::string copy = tmp.file(label);
               write_file_atomic(copy, m.text);
               exercise(f, what, label, [&] { return check_tables(calib::load_tables(copy)); });
             });
  INFO(f.summary());
  CHECK(f.problems.empty());
  CHECK(f.rejected > 50);
  CHECK(f.ok > 5);
}

TEST_CASE("collective models and power elasticity", "[fuzz]") {
  // calibrate/collectives/ (NCCL's latency model, the overlap slowdown) and
  // calibrate/power/: each mutant loads with finite values in range or is
  // refused with a ConfigError.
  TempDir tmp;
  Findings f;
  fuzz_files({kSource + "/calibrate/collectives/nccl.json", kSource + "/calibrate/collectives/overlap.json",
              kSource + "/calibrate/power/gemm-power-elasticity.json"},
             1010, [&](const std::string& path, const fuzz::Mutant& m, const std::string& what) {
               const std::string label = fs::path(path).filename().string();
               const std::string copy = tmp.file(label);
               write_file_atomic(copy, m.text);
               exercise(f, what, label, [&]() -> std::string {
                 if (label == "overlap.json") {
                   const calib::CollectiveOverlap o = calib::load_collective_overlap(copy);
                   const double r = o.compute_rate();
                   if (!is_finite(r) || !(r > 0 && r <= 1)) return fmt::format("compute rate {}", r);
                   return "";
                 }
                 if (label == "nccl.json") {
                   const calib::CollectiveLatency c = calib::load_collective_latency(copy);
                   for (const Seconds x : {c.ring_base, c.ring_scale_up_step, c.ring_scale_up_pci_step,
                                           c.ring_scale_out_step, c.ring_multi_node_step_floor, c.tree_base,
                                           c.tree_scale_up_step, c.tree_scale_out_step}) {
                     if (!is_finite(x.value()) || x.value() < 0) return fmt::format("a latency is {}", x.value());
                   }
                   return "";
                 }
                 const calib::PowerElasticity e = calib::load_power_elasticity(copy);
                 if (!is_finite(e.elasticity) || e.elasticity < 0 || e.elasticity > 1) {
                   return fmt::format("elasticity {}", e.elasticity);
                 }
                 return "";
               });
             });
  INFO(f.summary());
  CHECK(f.problems.empty());
  CHECK(f.rejected > 50);
  CHECK(f.ok > 5);
}

TEST_CASE("export rules and claims", "[fuzz]") {
  TempDir tmp;
  Findings f;
  fuzz_files({paths::hardware_profiles_dir() + "/export_rules.json"}, 808,
             [&](const std::string&, const fuzz::Mutant& m, const std::string& what) {
               const std::string copy = tmp.file("export_rules.json");
               write_file_atomic(copy, m.text);
               exercise(f, what, "export_rules.json", [&]() -> std::string {
                 const hardware::ExportRules r = hardware::load_export_rules(copy);
                 for (const auto& rule : r.rules) {
                   for (const auto& [key, x] : rule.thresholds) {
                     if (!is_finite(x)) return fmt::format("{}/{} = {}", rule.id, key, x);
                   }
                 }
                 return "";
               });
             });
  fuzz_files({paths::scenarios_dir() + "/claims/deepseek-v3.json"}, 909,
             [&](const std::string&, const fuzz::Mutant& m, const std::string& what) {
               const std::string copy = tmp.file("deepseek-v3.json");
               write_file_atomic(copy, m.text);
               exercise(f, what, "deepseek-v3.json", [&]() -> std::string {
                 const run::Reported r = run::load_reported(copy);
                 for (double x : {r.pretraining.value(), r.context_extension.value(), r.post_training.value(),
                                  r.total.value(), r.rental_price.value(), r.total_cost.value()}) {
                   if (!is_finite(x) || x < 0) return fmt::format("a reported value is {}", x);
                 }
                 return "";
               });
             });
  INFO(f.summary());
  CHECK(f.problems.empty());
  CHECK(f.rejected > 100);
  CHECK(f.ok > 10);
}

namespace {

// A fixed predictor: the CSV handling is fuzzed, not the engines.
report::Prediction fixed_prediction(const report::RunSpec&) {
  report::Prediction p;
  p.step_time = seconds(2.0);
  p.tokens_per_s_per_gpu = 1000;
  p.mfu = 0.4;
  p.hfu = 0.5;
  p.peak_bf16 = teraflops_per_second(312);
  return p;
}

std::string check_report(const report::ValidationReport& r, size_t records) {
  if (r.rows.size() != records) return fmt::format("{} rows for {} records", r.rows.size(), records);
  for (const auto& row : r.rows) {
    if (row.status == report::RowStatus::kSkipped && row.reason.empty()) {
      return "row " + row.id + " skipped without a reason";
    }
    if (row.status == report::RowStatus::kOk) {
      if (!is_finite(row.predicted_value) || !is_finite(row.published_value) ||
          (row.error_pct && !is_finite(*row.error_pct)) ||
          (row.metric_error_pct && !is_finite(*row.metric_error_pct)) ||
          (row.implied_step_time_s && !is_finite(*row.implied_step_time_s))) {
        return fmt::format("row {}: predicted {} published {} error {} metric error {} implied step {}", row.id,
                           row.predicted_value, row.published_value, row.error_pct.value_or(0),
                           row.metric_error_pct.value_or(0), row.implied_step_time_s.value_or(0));
      }
    }
  }
  auto stats_ok = [](const report::ErrorStats& e) {
    return is_finite(e.mape_pct) && is_finite(e.median_ape_pct) && is_finite(e.max_ape_pct) &&
           is_finite(e.mean_error_pct) && is_finite(e.within_10pct);
  };
  if (!stats_ok(r.overall) || !stats_ok(r.overall_metric) || !stats_ok(r.gpu_hours)) return "summary statistics not finite";
  for (const auto* group : {&r.by_family, &r.by_hardware, &r.by_metric}) {
    for (const auto& [key, e] : *group) {
      if (!stats_ok(e)) return "summary statistics of " + key + " not finite";
    }
  }
  // The renderers must not throw on whatever bytes the cells hold (nlohmann
  // writes a NaN as null, so finiteness is checked on the values above).
  if (nlohmann::json::parse(report::to_json(r)).is_discarded()) return "to_json wrote invalid JSON";
  (void)report::to_text(r);
  (void)report::to_markdown(r);
  return "";
}

}  // namespace

TEST_CASE("validation CSV rows", "[fuzz]") {
  const std::string csv_path = kSource + "/tests/validation/public_runs.csv";
  const report::CsvTable full = report::read_csv(csv_path);
  const std::string text = read_file(csv_path);
  // Header line, then each record's text, to build small CSVs of a few rows.
  // The header's text, then each record's text, to build small CSVs of a few
  // rows. Record k spans physical lines [its line, the next record's line).
  std::vector<size_t> starts = {0};  // byte offset of each physical line
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') starts.push_back(i + 1);
  }
  auto offset_of_line = [&](int l) {
    return static_cast<size_t>(l - 1) < starts.size() ? starts[l - 1] : text.size();
  };
  std::vector<std::string> lines;
  lines.push_back(text.substr(0, offset_of_line(full.records().front().line)));
  for (size_t k = 0; k < full.records().size(); ++k) {
    const size_t b = offset_of_line(full.records()[k].line);
    const size_t e = k + 1 < full.records().size() ? offset_of_line(full.records()[k + 1].line) : text.size();
    lines.push_back(text.substr(b, e - b));
  }
  REQUIRE(lines.size() == full.records().size() + 1);

  Findings f;
  const uint64_t seed = 606 + seed_offset();
  Rng rng(seed);
  for (int i = 0, n = mutants_per_kind(); i < n; ++i) {
    std::string small = lines[0];
    for (int r = 0; r < 3; ++r) small += lines[1 + rng.below(lines.size() - 1)];
    const fuzz::Mutant m = fuzz::mutate_csv(small, rng);
    const std::string what = fmt::format("seed {} case {}: {}", seed, i, m.what);
    exercise(f, what, "fuzz.csv", [&] {
      const report::CsvTable t = report::parse_csv(m.text, "fuzz.csv");
      const report::ValidationReport r =
          report::validate_runs(t, fixed_prediction, report::Engine::kAnalytic, "fuzz");
      return check_report(r, t.records().size());
    });
  }
  INFO(f.summary());
  CHECK(f.problems.empty());
  CHECK(f.ok > 50);  // validate never throws for a bad row, only for a bad file
}

// ---------------------------------------------------------------------------
// Regressions: each input below once crashed a loader, escaped as a foreign
// exception (exit 70) or loaded with an infinite value; each now fails with a
// ConfigError naming the file and the JSON pointer (or line).

namespace {

// A shipped JSON file with one value replaced, as text.
std::string edited(const std::string& path, const std::string& pointer, const nlohmann::json& value) {
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(read_file(path));
  j[nlohmann::ordered_json::json_pointer(pointer)] = value;
  return j.dump(2);
}

template <class Fn>
ConfigError config_error_of(Fn&& fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e;
  }
  FAIL("expected a ConfigError");
  throw;  // unreachable
}

}  // namespace

TEST_CASE("regression: a number too large for a double is a syntax error with its line", "[fuzz]") {
  // nlohmann::json throws out_of_range 406 (not parse_error) for 1e999; it
  // escaped JsonDocument::parse as a foreign exception.
  const std::string text = "{\n  \"architectures\": [\"LlamaForCausalLM\"],\n  \"hidden_size\": 1e999\n}";
  const ConfigError e = config_error_of([&] { model::parse_model(text, "big.json", "big"); });
  // "1e999" is on the third physical line.
  CHECK_THAT(e.what(), Catch::Matchers::Contains("big.json") && Catch::Matchers::Contains("line 3") &&
                           Catch::Matchers::Contains("number overflow"));
}

TEST_CASE("regression: a quantity that overflows once scaled to base units", "[fuzz]") {
  // 1e308 TFLOP/s = 1e320 FLOP/s > DBL_MAX: it loaded as inf.
  TempDir tmp;
  const std::string copy = tmp.file("h800.json");
  write_file_atomic(copy, edited(paths::hardware_profiles_dir() + "/h800.json", "/dense_peak/bf16/value",
                                 "1e308 TFLOP/s"));
  const ConfigError e = config_error_of([&] { hardware::load_accelerator(copy); });
  CHECK(e.pointer() == "/dense_peak/bf16/value");
  CHECK_THAT(e.message(), Catch::Matchers::Contains("out of range"));
  // 1e308 GiB = 1.07e317 B, also inf before; a measurement file is read the same way.
  const std::string nccl = paths::measurements_dir() + "/nccl-a100.json";
  const ConfigError m = config_error_of(
      [&] { calib::parse_measurements(edited(nccl, "/measurements/0/message", "1e308 GiB"), "nccl-a100.json"); });
  CHECK(m.pointer() == "/measurements/0/message");
  // A vanishing time (1e-320 s) would make FLOPs / time infinite in the fitter.
  CHECK_THROWS_AS(parse_quantity<Seconds>("1e-320 s"), UnitError);
  CHECK(parse_quantity<Seconds>("1 ps").value() == Approx(1e-12));  // real small values still load
}

TEST_CASE("regression: a vanishing die area", "[fuzz]") {
  // PD = TPP / area: 1e-320 mm2 gave an infinite performance density.
  TempDir tmp;
  const std::string copy = tmp.file("ascend-910b.json");
  write_file_atomic(copy, edited(paths::hardware_profiles_dir() + "/ascend-910b.json", "/die_area/value",
                                 "1e-320 mm2"));
  const ConfigError e = config_error_of([&] { hardware::load_accelerator(copy); });
  CHECK(e.pointer() == "/die_area/value");
  CHECK_THAT(e.message(), Catch::Matchers::Contains("at least 1 mm2"));
}

TEST_CASE("regression: nodes x accelerators per node overflowing int", "[fuzz]") {
  // 256 nodes x 2^24 = 2^32 accelerators: total_accelerators() wrapped to 0.
  TempDir tmp;
  const std::string copy = tmp.file("h800-2048-deepseek.json");
  write_file_atomic(copy, edited(paths::hardware_profiles_dir() + "/clusters/h800-2048-deepseek.json",
                                 "/accelerators_per_node/value", int64_t{1} << 24));
  const ConfigError e = config_error_of([&] { hardware::load_cluster(copy); });
  CHECK(e.pointer() == "/accelerators_per_node/value");
  CHECK_THAT(e.message(), Catch::Matchers::Contains("at most 1000000000 accelerators"));
}

TEST_CASE("regression: a measurement shape too large for int64 products", "[fuzz]") {
  // qk_head_dim = INT64_MAX: qk_head_dim + v_head_dim overflowed, FLOPs came out negative.
  const std::string fa2 = paths::measurements_dir() + "/flashattention2-a100.json";
  const ConfigError e = config_error_of([&] {
    calib::parse_measurements(edited(fa2, "/measurements/0/qk_head_dim", INT64_MAX), "flashattention2-a100.json");
  });
  CHECK(e.pointer() == "/measurements/0/qk_head_dim");
  CHECK_THAT(e.what(), Catch::Matchers::Contains("flashattention2-a100.json"));
}

TEST_CASE("regression: validate with a vanishing published value and invalid UTF-8", "[fuzz]") {
  // out_iter_time_s = 1e-320 made the error (2 - 1e-320) / 1e-320 infinite;
  // the row is now skipped with its reason.
  // The first row of public_runs.csv with one cell replaced.
  const report::CsvTable runs = report::read_csv(kSource + "/tests/validation/public_runs.csv");
  auto one_row = [&](const std::string& column, const std::string& value) {
    std::vector<std::string> fields = runs.records().front().fields;
    fields.at(*runs.column(column)) = value;
    std::string text;
    for (const std::vector<std::string>* line : {&runs.header(), &std::as_const(fields)}) {
      for (size_t i = 0; i < line->size(); ++i) {
        std::string f = (*line)[i];
        for (size_t at = f.find('"'); at != std::string::npos; at = f.find('"', at + 2)) f.insert(at, "\"");
        text += (i ? ",\"" : "\"") + f + "\"";
      }
      text += "\n";
    }
    return report::parse_csv(text, "one_row.csv");
  };
  const report::CsvTable t = one_row("out_iter_time_s", "1e-320");
  const report::ValidationReport r = report::validate_runs(t, fixed_prediction, report::Engine::kAnalytic, "t");
  REQUIRE(r.rows.size() == 1);
  CHECK(r.rows[0].status == report::RowStatus::kSkipped);
  CHECK_THAT(r.rows[0].reason, Catch::Matchers::Contains("out_iter_time_s"));
  // A cell with invalid UTF-8 made to_json throw nlohmann's type_error 316.
  const report::CsvTable u = one_row("id", "r\xff\xfe");
  const report::ValidationReport ru = report::validate_runs(u, fixed_prediction, report::Engine::kAnalytic, "t");
  CHECK_NOTHROW(report::to_json(ru));
  CHECK_THAT(report::to_json(ru), Catch::Matchers::Contains("r\xef\xbf\xbd"));  // U+FFFD
}
