// A scenario: one file naming everything a training-run estimate needs.
//
// model (by name or path), cluster (by name, with optional overrides), the
// parallel plan, the phases of the run (pre-training with an optional batch
// ramp, context extension, post-training), prices, power, goodput inputs and
// the ranges of the uncertain inputs. Every value in the file is an object
// {"value": ..., "source": "..."}: a citation, or "assumption: <why>". The
// loader records each one as an Assumption so reports can list them.
//
// Files live in model_configs/scenarios/<name>.json (format
// "trainsim-scenario/1"); any path also works. Unknown or missing fields are
// ConfigError with the file and JSON pointer.
// Invariants after loading: every count >= 1, every price, time and power >= 0,
// every uncertainty range low <= nominal <= high, each phase has exactly one
// amount (tokens, steps or stated GPU-hours).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/units.h"
#include "hardware/hardware.h"
#include "model/model.h"
#include "plan/plan.h"
#include "run/economics.h"
#include "run/goodput.h"

namespace trainsim::run {

inline constexpr const char* kScenarioFormat = "trainsim-scenario/1";

// One input value with where it came from, as printed in reports.
struct Assumption {
  std::string name;    // JSON path without the leading slash, e.g. "plan/micro_batch"
  std::string value;   // as written in the file
  std::string source;  // citation or "assumption: ..."
};

enum class PhaseKind { kPretraining, kContextExtension, kPostTraining };
const char* to_string(PhaseKind k);  // "pretraining", "context_extension", "post_training"

// How the global batch grows over the ramp: linearly in tokens consumed, or
// linearly in optimizer steps taken.
enum class RampShape { kLinearInTokens, kLinearInSteps };
const char* to_string(RampShape s);  // "linear-in-tokens", "linear-in-steps"

// Batch ramp: from start_batch sequences to the phase's global_batch over the
// first `tokens` tokens; the step time is evaluated at `points` batch sizes.
struct BatchRamp {
  int64_t start_batch = 0;
  double tokens = 0;
  RampShape shape = RampShape::kLinearInTokens;
  int points = 5;
};

// A phase's changes to the scenario plan (unset fields keep the scenario's).
struct PlanPatch {
  std::optional<int> tp, pp, vpp, dp, ep, cp, zero_stage, comm_sms, max_nodes_per_token;
  std::optional<bool> sequence_parallel;
  std::optional<bool> overlap_grad_reduce;
  std::optional<bool> gradient_accumulation_fusion;
  std::optional<bool> overlap_p2p_comm;
  std::optional<int64_t> micro_batch;
  std::optional<plan::Schedule> schedule;
  std::optional<plan::Recompute> recompute;
  std::optional<std::string> precision;  // "bf16" | "deepseek-fp8"
  std::optional<double> expert_load_imbalance;
  std::optional<graph::AttentionImpl> attention;  // "flash" | "flash2" | "unfused"
  std::optional<graph::ElementwiseImpl> elementwise;  // "fused" | "eager"
  std::optional<graph::CpRing> cp_ring;               // "kv" | "latent"
  std::optional<std::string> zero3_framework;     // "fsdp" | a calibrate/frameworks/ file
};

enum class PhaseAmount { kTokens, kSteps, kStatedGpuHours };

struct PhaseSpec {
  std::string name;
  PhaseKind kind = PhaseKind::kPretraining;
  PhaseAmount amount = PhaseAmount::kTokens;
  double tokens = 0;           // when amount == kTokens
  int64_t steps = 0;           // when amount == kSteps
  Seconds stated_gpu_time;     // GPU-seconds, when amount == kStatedGpuHours
  int64_t seq_len = 0;
  int64_t global_batch = 0;    // sequences per step (the final batch when ramped)
  std::optional<BatchRamp> ramp;
  PlanPatch plan;
  // Work per token relative to a pre-training step (e.g. RL rollouts); 1 = the same.
  double compute_multiplier = 1.0;
};

// A continuous uncertain input: triangular distribution (low, nominal, high).
struct Range {
  double low = 0;
  double nominal = 0;
  double high = 0;
  std::string source;
};

struct UncertaintySpec {
  int samples = 0;
  Range compute_efficiency_scale;   // multiplies GEMM and attention eta (1 = tables as fitted)
  Range comm_efficiency_scale;      // multiplies collective and all-to-all eta
  Range expert_load_imbalance;      // nominal = the plan's value
  Range failures_per_gpu_hour;      // nominal = goodput's value
  Range checkpoint_write_s;         // seconds; nominal = goodput's value
  Range restart_s;                  // seconds; nominal = goodput's value
  std::vector<int64_t> micro_batches;  // values sampled uniformly; nominal = the plan's
  std::string micro_batch_source;
};

struct Scenario {
  std::string name;
  std::string file;
  std::string description;
  model::Model model;
  hardware::Cluster cluster;
  plan::Plan plan;                  // base plan (phases patch it)
  std::string precision_policy;     // "bf16" | "deepseek-fp8"
  std::vector<PhaseSpec> phases;
  GoodputInputs goodput;
  Prices prices;
  PowerModel power;
  UncertaintySpec uncertainty;
  std::vector<Assumption> assumptions;  // every sourced value, in file order
};

// Loads model_configs/scenarios/<name>.json or a path. Cluster overrides
// ("h800.scale_up.bandwidth_per_direction=450 GB/s") go to the hardware
// library; the plan is validated (PlanError with the reason) for every phase.
Scenario load_scenario(const std::string& name_or_path,
                       const std::vector<hardware::Override>& overrides = {});
// Parses a scenario already in memory (`file` is used in messages and to
// resolve nothing else; model and cluster are still loaded by name).
Scenario parse_scenario(const std::string& json_text, const std::string& file,
                        const std::vector<hardware::Override>& overrides = {},
                        bool validate_plans = true);

std::string scenario_path(const std::string& name_or_path);  // UsageError + did-you-mean
std::vector<std::string> list_scenarios();

// The plan of one phase: the scenario plan with the phase's patch, seq_len and
// global batch applied; `micro_batch` overrides the micro-batch unless the phase
// sets its own.
plan::Plan phase_plan(const Scenario& s, const PhaseSpec& phase,
                      std::optional<int64_t> micro_batch = std::nullopt);

// The phase whose step is shown as "the" step of a scenario (estimate, claim,
// simulate, compare): the first pre-training phase with a step, else the
// first phase of any kind with one, else the first phase (then every phase
// states its GPU-hours and there is no step). For PhaseSpec and PhaseResult
// lists alike (anything with .kind and .amount), which keep the scenario's
// phase order. The list is never empty (the loader requires a phase).
template <class Phase>
size_t main_phase_index(const std::vector<Phase>& phases) {
  for (size_t i = 0; i < phases.size(); ++i) {
    if (phases[i].kind == PhaseKind::kPretraining && phases[i].amount != PhaseAmount::kStatedGpuHours) return i;
  }
  for (size_t i = 0; i < phases.size(); ++i) {
    if (phases[i].amount != PhaseAmount::kStatedGpuHours) return i;
  }
  return 0;
}

// The precision policy by name: "bf16" or "deepseek-fp8".
plan::PrecisionPolicy precision_policy(const std::string& name);

}  // namespace trainsim::run
