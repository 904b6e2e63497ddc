// Validation against published training runs (`trainsim validate`).
//
// Models the comparison of trainsim's step-time prediction with the outcome
// a published run reports. Input: any CSV with the columns of
// /work/shared/reference/training_runs.csv, read by header name (order free,
// extra columns ignored). For each row it builds the model (model_config name
// or the architecture columns), the cluster (generic_cluster(hw, gpu_count)),
// the parallel plan (layout, batch, recompute, schedule, zero, precision
// columns), asks a Predictor for the step, and compares with the row's
// published outcome in this order of preference:
//   1. out_iter_time_s                    -> step time (s)
//   2. out_tokens_per_s_per_gpu (or total / gpu_count) -> tokens/s/GPU
//   3. out_tflops_per_gpu, out_mfu_pct, out_hfu_pct, each recomputed with the
//      row's own FLOP convention (flops_convention column, classified below);
//      a utilisation figure whose convention cannot be reproduced is shown
//      but not compared.
//   4. Only whole-run GPU-hours (out_gpu_hours with tokens_trained, or
//      out_gpu_hours_per_T_tokens, or out_wall_clock_days x 24 x gpu_count
//      with tokens_trained): compared after the explicit goodput
//      assumption kAssumedGoodput, summarised separately from 1-3.
// Rows on hardware without a calibration table (the engine ran on stated
// default efficiencies) are compared the same way but summarised apart from
// both (RowGroup::kUncalibrated): their predictions are guesses, not
// calibrated ones.
// Two errors per row, signed, in percent:
//   metric error = (predicted - published) / published on the compared figure;
//   error (the step-time error) = predicted step / the step the published
//     figure implies - 1: the metric error itself for step time and GPU-hours,
//     1/(1 + e) - 1 for throughput and utilisation (same work per step, so the
//     figure is inversely proportional to the step time).
// The summary statistics are of the step-time error: trainsim predicts time
// and cost, and one scale for every row keeps a row's weight from depending on
// which figure its source printed (a step predicted 20% short is -20% on a
// time row but +25% on a throughput row). The metric errors are summarised
// beside them (overall_metric).
//
// Unstated inputs take ONE documented default for every row (kDefaultRules);
// each row lists the defaults it used. Nothing here is fitted to the rows:
// they are validation targets only.
//
// Units: times in Seconds; throughput in tokens per second per GPU; MFU/HFU
// as fractions of the accelerator's dense BF16 peak (0..1); errors in percent.
// Invariants of a ValidationReport: every CSV data record yields exactly one
// RowResult (never dropped); a row with status kOk has finite predicted values
// and, unless it has no comparable outcome, a finite error_pct.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/units.h"
#include "hardware/hardware.h"
#include "model/model.h"
#include "plan/plan.h"
#include "report/csv.h"

namespace trainsim::report {

// ---------------------------------------------------------------------------
// FLOP conventions of published utilisation figures (training_runs.md,
// "Caveats"). classify_flop_convention() maps the free-text flops_convention
// column onto this vocabulary by keywords listed in validation.cc.
enum class FlopConvention {
  kUnknown,
  // Narayanan et al. 2021 Eq. 3: F = 96 B s l h^2 (1 + s/6h + V/16lh) per step;
  // counts the recompute forward (4 passes): HFU-like when recompute is full.
  kMegatronRecompute4Pass,
  // Chowdhery et al. 2022 (PaLM) App. B, used by Korthikanti et al. 2022:
  // model FLOPs = 6 N + 12 l h s per token, no recompute; 3 passes.
  kPalmModelFlops,
  // MosaicML llm-foundry / torchtitan: 6 N + 12 l h s per token ("6N +
  // attention"); same form as PaLM for our purposes.
  kSixNPlusAttention,
  // Vendor tables that divide a stated per-sequence FLOP count (DGX Cloud:
  // "GBS*model_flops_per_seq/step/GPUs/peak", FP8 rows against the FP8 peak):
  // the per-sequence count is not a column, so it is not recomputed.
  kVendorStatedPerSequence,
  // Hardware FLOPs: the source counts the recompute forward pass too ("hardware
  // FLOP/s", "including recompute", HFU-like) without naming Eq. 3. Counted as
  // the 6 N + 12 l h s model FLOPs times the row's own hardware-to-model FLOP
  // ratio for its recompute policy (trainsim's HFU / MFU; 4/3 under full
  // recompute, the factor Megatron-DeepSpeed's and Eq. 3's counts carry).
  kHardwareFlops,
};
const char* to_string(FlopConvention c);
FlopConvention classify_flop_convention(const std::string& flops_convention_text);

// The convention used for a row whose flops_convention text is empty or names
// none of the conventions above: model FLOPs, 6 N + 12 l h s per token (the
// PaLM count, which MFU figures use when they say "model FLOPs" or nothing
// more; default_rules() "flops_convention").
inline constexpr FlopConvention kDefaultFlopConvention = FlopConvention::kPalmModelFlops;

// FLOPs per step that the convention counts, for a model at a batch; nullopt
// when the convention cannot be reproduced from the columns.
//   kMegatronRecompute4Pass: 96 B s l h^2 (1 + s/(6h) + V/(16 l h))   (Eq. 3)
//   kPalmModelFlops, kSixNPlusAttention: B s (6 N_matmul + 12 l h s)
//   kHardwareFlops: the same times hardware_over_model (the row's HFU / MFU)
// with N_matmul the parameters that enter matrix multiplies per token
// (activated parameters for MoE, the output head included, input embedding
// excluded).
std::optional<Flops> convention_flops_per_step(FlopConvention c, const model::Model& m,
                                               int64_t global_batch_seqs, int64_t seq_len,
                                               double hardware_over_model = 1.0);

// ---------------------------------------------------------------------------
// Documented defaults for unstated inputs: one value for all rows.
struct DefaultRule {
  const char* key;     // short name listed per row in defaults_used
  const char* column;  // CSV column(s) it fills
  const char* value;   // the value used
  const char* why;     // justification and source
};
const std::vector<DefaultRule>& default_rules();

// Fraction of allocated GPU time that is productive training, used only to
// compare whole-run GPU-hour totals: Llama 3 (Dubey et al. 2024, §3.3.4)
// reports "higher than 90% effective training time".
inline constexpr double kAssumedGoodput = 0.90;

// The largest relative change of a global batch that rounding an
// approximate token batch to whole steps may make (default_rules()
// "global_batch"); beyond it the row is skipped.
inline constexpr double kMaxBatchRounding = 0.25;

// The largest GPU count (and parallel degree or micro-batch) a row may
// state; larger is a typo.
inline constexpr int64_t kMaxGpuCount = 10'000'000;

// GPUs per node assumed when a row states neither tp nor pp and the
// model-parallel size must be split: DGX/HGX servers have 8 GPUs.
inline constexpr int kGpusPerServer = 8;

// ---------------------------------------------------------------------------
// What the predictor is given for one row and what it returns.
struct RunSpec {
  std::string id;
  model::Model model;
  plan::Plan plan;
  std::string hw;  // hardware profile name
  int gpus = 0;
};

struct Prediction {
  Seconds step_time;
  double tokens_per_s_per_gpu = 0;
  double mfu = 0;  // model FLOPs (non-causal attention, PaLM/Megatron count) / (step x GPUs x BF16 peak)
  double hfu = 0;  // hardware FLOPs incl. recompute / same denominator
  FlopsPerSecond peak_bf16;          // dense 16-bit peak per GPU the MFU is against (hardware::utilisation_peak)
  // The accelerator has no calibration table: the engine ran on stated
  // default efficiencies, so the prediction is not calibrated.
  bool default_tables = false;
  // Parts of the step as the engine reports them (name, seconds), for diagnosis.
  std::vector<std::pair<std::string, Seconds>> breakdown;
  std::vector<std::string> notes;    // about this row (e.g. memory-model overflow)
  std::vector<std::string> engine_notes;  // about the engine's inputs, reported once per report
};

// Predicts one row's step; throws ConfigError/PlanError/UsageError/IoError
// for a row that cannot be simulated (the message becomes the row's reason).
using Predictor = std::function<Prediction(const RunSpec&)>;

enum class Engine { kAnalytic, kDes };
const char* to_string(Engine e);
// The analytic engine: generic_cluster + calib::load_tables_for + cost::CostModel +
// plan::validate_plan + analytic::estimate_step, with clusters and tables cached.
Predictor analytic_predictor();
// The discrete-event engine; UsageError when trainsim was built without src/sim.
Predictor des_predictor();
bool des_available();

// ---------------------------------------------------------------------------
enum class RowStatus { kOk, kSkipped };

// Which published figure a row is compared on.
enum class Metric { kNone, kStepTime, kTokensPerSecPerGpu, kTflopsPerGpu, kMfu, kHfu, kGpuHours };
const char* to_string(Metric m);

struct Published {
  std::optional<double> step_time_s;
  std::optional<double> tokens_per_s_per_gpu;
  std::optional<double> tflops_per_gpu;
  std::optional<double> mfu;  // fraction
  std::optional<double> hfu;  // fraction
  std::optional<double> gpu_hours;
  std::optional<double> gpu_hours_per_trillion_tokens;
  std::optional<double> wall_clock_days;  // whole run; x 24 h x gpu_count = GPU-hours allocated
  FlopConvention convention = FlopConvention::kUnknown;
};

struct RowResult {
  std::string id;
  int line = 0;            // CSV line the row starts on
  std::string family;
  std::string hw;
  RowStatus status = RowStatus::kSkipped;
  std::string reason;      // why skipped; empty when ok
  std::vector<std::string> defaults_used;  // keys of default_rules() applied, with values
  std::vector<std::string> derived;        // layout values derived from gpu_count
  std::optional<plan::Plan> plan;          // when built
  std::optional<Prediction> predicted;     // when ok
  Published published;
  Metric metric = Metric::kNone;
  double predicted_value = 0;  // of `metric`, same convention as published
  double published_value = 0;
  std::optional<double> metric_error_pct;  // (predicted - published) / published * 100, on `metric`
  std::optional<double> error_pct;         // step-time error (step_error_pct), in percent
  std::optional<double> implied_step_time_s;  // the step the published figure implies (not GPU-hours rows)
  std::vector<std::string> notes;
  // False when predicted on stated default efficiencies (no calibration table
  // for the row's hardware): such rows are summarised apart (RowGroup).
  bool calibrated = true;
};

// Which summary a compared row belongs to: the headline (step time,
// throughput, utilisation on calibrated hardware), whole-run GPU-hours (after
// the goodput), or hardware without calibration data (default efficiencies,
// whatever the metric). Skipped rows belong to none.
enum class RowGroup { kMain, kGpuHours, kUncalibrated };
RowGroup group_of(const RowResult& r);
const char* to_string(RowGroup g);  // "main", "gpu_hours", "uncalibrated_hardware"

struct ErrorStats {
  int n = 0;
  double mape_pct = 0;
  double median_ape_pct = 0;
  double max_ape_pct = 0;
  double mean_error_pct = 0;  // signed mean: of step-time errors, > 0 is a step predicted too long (of
                              // metric errors, > 0 is too high: too slow for a time, too fast for a throughput)
  double within_10pct = 0;  // share of rows with |error| <= 10% (0..1)
  // The same rows' MAPE of their metric errors (on the published figures' own
  // scale); set by the validation's group statistics, 0 from error_stats().
  double metric_mape_pct = 0;
  std::string worst_id;
};
ErrorStats error_stats(const std::vector<std::pair<std::string, double>>& id_and_error_pct);

// The q-quantile of sorted values, interpolating linearly between order
// statistics at position (n - 1) q (q = 0.5: the median). Empty: 0.
double quantile(const std::vector<double>& sorted, double q);

struct ValidationReport {
  std::string file;
  std::string command;  // as it should be typed to reproduce
  Engine engine = Engine::kAnalytic;
  std::vector<RowResult> rows;
  ErrorStats overall;                         // rows compared on metrics 1-3, step-time errors
  ErrorStats overall_metric;                  // the same rows, errors on their published metrics
  std::map<std::string, ErrorStats> by_family;
  std::map<std::string, ErrorStats> by_hardware;
  std::map<std::string, ErrorStats> by_metric;
  ErrorStats gpu_hours;                       // rows compared only on whole-run GPU-hours
  ErrorStats uncalibrated;                    // rows on hardware without calibration data
  std::vector<std::string> engine_notes;      // distinct engine notes, in first-seen order
  int rows_ok() const;
  int rows_skipped() const;
};

// The step-time error (percent) of a prediction against a published figure
// of kind m: (predicted - published) / published for step time and GPU-hours
// (both grow with the time); published / predicted - 1 for throughput and
// utilisation (same work per step, so they fall as the time grows), computed
// from the values so it stays exact where the metric error nears -100%.
// < 0: trainsim's step is shorter than the published one. nullopt for kNone.
std::optional<double> step_error_pct(Metric m, double predicted, double published);

// How far trainsim's step times were off on a set of compared rows (the
// headline group: metrics 1-3 on calibrated hardware): the stats of their
// step-time errors and the signed median and percentiles of those errors.
struct TimeErrorSummary {
  ErrorStats stats;
  double median_time_error_pct = 0;
  // 10th and 90th percentiles of the signed step-time errors (linear
  // interpolation between order statistics, position (n - 1) p).
  double p10_time_error_pct = 0;
  double p90_time_error_pct = 0;
  std::vector<std::string> hardware;  // profiles of the rows, sorted, distinct
};
TimeErrorSummary time_error_summary(const ValidationReport& r,
                                    const std::function<bool(const RowResult&)>& include);

// What a predicted quantity that scales with the step time (GPU-hours, days,
// cost) would be, were trainsim's step off on it as on the summarised rows:
// predicted / (1 + step error / 100) at the errors' P90 (low), median and P10
// (high). A negative error is a step predicted too short, so the actual lies
// above the prediction. Step errors lie above -100%.
struct TrackRecordBand {
  double low = 0, median = 0, high = 0;
};
TrackRecordBand track_record_band(const TimeErrorSummary& t, double predicted);
// "step error P10 -23%, median -13%, P90 +1%".
std::string step_error_range(const TimeErrorSummary& t);
// A percentage rounded to whole percent with its sign: "+3%", "-13%", "0%" (never "-0%").
std::string signed_whole_percent(double pct);

// trainsim's own error on published runs, for statements of how sure a
// prediction is (claim's "how sure" and error band, plan's track record):
// the analytic engine over the reference rows `trainsim validate` checks
// (kValidationRuns under the data directory). No prediction uses them; they
// are reported beside it.
inline constexpr const char* kValidationRuns = "tests/validation/public_runs.csv";
// Fewest rows on one compute die for a band to read that die alone.
inline constexpr int kMinBandRuns = 10;

struct TrackRecord {
  std::string missing;  // why there is no figure; empty when there is
  TimeErrorSummary all;
  TimeErrorSummary die;  // rows on the accelerator's compute die (hardware::same_compute_die)
  // The rows a band reads: the die's when there are at least kMinBandRuns, else all.
  bool band_on_die() const { return die.stats.n >= kMinBandRuns; }
  const TimeErrorSummary& band_basis() const { return band_on_die() ? die : all; }
};
// The analytic engine's validation over kValidationRuns, run once; then the
// track record of any accelerator (by profile or by name). Never throws for a
// missing or unreadable file or an unknown accelerator: `missing` says why.
class TrackRecords {
 public:
  TrackRecords();
  TrackRecord of(const hardware::Accelerator& accelerator) const;
  TrackRecord of(const std::string& accelerator_name) const;

 private:
  std::string missing_;
  ValidationReport report_;
};

// Validates every data record of `table`. Never throws for a bad row: the row
// is reported skipped with its reason.
ValidationReport validate_runs(const CsvTable& table, const Predictor& predict, Engine engine,
                               const std::string& command);

// Renderers. JSON contract (other tools read it):
// {"rows": [{"id", "status": "ok"|"skipped", "reason", "predicted":
// {"step_time_s", "tokens_per_s_per_gpu", "mfu"}, "published": {...},
// "error_pct" (step-time error), "metric_error_pct", "defaults_used": [...],
// ...}], "summary": {"n", "mape_pct", "median_ape_pct", "max_ape_pct",
// "within_10pct" (all of the step-time errors), "error" (says so),
// "published_metric" (the same statistics of the metric errors),
// "by_family", "by_hardware", ...}}. published.implied_step_time_s is the step
// the published figure implies (null for GPU-hours rows). Until 2026-12-07
// error_pct and the summary were of the metric errors. Absent values are null.
std::string to_json(const ValidationReport& r);
std::string to_text(const ValidationReport& r);
std::string to_markdown(const ValidationReport& r);

}  // namespace trainsim::report
