// Checking a published training-cost claim against trainsim's prediction.
//
// A claim file (model_configs/scenarios/claims/<name>.json, format
// "trainsim-claim/1") names the scenario that describes the run as published
// and holds the REPORTED outcome numbers with their source. The two are kept
// apart by construction: predict() reads only the Scenario; the Reported values
// enter only compare(), after the prediction is made.
//
// Implied MFU of the claim: the model FLOPs trainsim counts for the
// pre-training tokens (causal attention, MTP included, 6N-style forward +
// backward, no recompute) divided by (reported pre-training GPU-hours x
// 3600 s x the accelerator's dense BF16 peak).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/units.h"
#include "run/scenario.h"
#include "run/training_run.h"
#include "run/uncertainty.h"

namespace trainsim::run {

inline constexpr const char* kClaimFormat = "trainsim-claim/1";

// Published outcome numbers: validation targets only.
struct Reported {
  std::string claim;       // claim name ("deepseek-v3")
  std::string file;
  std::string scenario;    // scenario name or path it is checked with
  Seconds pretraining;     // GPU-seconds
  Seconds context_extension;
  Seconds post_training;
  Seconds total;
  DollarsPerSecond rental_price;  // the price the claim's dollars use
  Dollars total_cost;
  std::string source;
};

Reported load_reported(const std::string& claim_name_or_path);
// Only the name of the scenario a claim is checked with (reads no reported number).
std::string claim_scenario(const std::string& claim_name_or_path);
std::string claim_path(const std::string& name_or_path);
std::vector<std::string> list_claims();

// Everything predicted from the scenario alone.
struct Prediction {
  RunEstimate run;            // nominal inputs
  Interval interval;          // Monte Carlo of total GPU-hours (hours, not seconds)
  std::vector<Sensitivity> sensitivities;  // tornado of total GPU-hours
  double seconds_elapsed = 0; // not printed in deterministic outputs
};

// Runs the nominal estimate, the Monte Carlo and the tornado. Reads no claim.
Prediction predict(const Scenario& s, const StepModel& steps, uint64_t seed);

struct Comparison {
  double predicted_total_gpu_hours = 0;
  double reported_total_gpu_hours = 0;
  double ratio = 0;                  // reported / predicted
  double implied_mfu_of_claim = 0;   // see top of file
  double predicted_pretraining_mfu = 0;  // model FLOPs / (predicted pre-training GPU-time x peak)
  double fraction_of_samples_below_claim = 0;  // share of Monte Carlo totals <= the claim
  std::string verdict;               // one plain sentence
};

Comparison compare(const Scenario& s, const Prediction& p, const Reported& r);

}  // namespace trainsim::run
