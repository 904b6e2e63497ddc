// Machine-readable forms (JSON) of run-layer results, shared by the
// `estimate`, `claim` and `simulate` commands. Numbers are rounded to 6
// significant digits so output is stable and readable; every number is
// finite (the producers guarantee it; to_json checks it).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analytic/step.h"
#include "plan/plan.h"
#include "run/scenario.h"
#include "run/training_run.h"
#include "run/uncertainty.h"

namespace trainsim::run {

// v rounded to `digits` significant digits (0 stays 0). Checks finiteness.
double sig(double v, int digits = 6);

nlohmann::ordered_json to_json(const analytic::StepEstimate& e);
nlohmann::ordered_json to_json(const plan::MemoryBreakdown& m, Bytes capacity);
nlohmann::ordered_json to_json(const PhaseResult& p);
nlohmann::ordered_json totals_json(const RunEstimate& r);
nlohmann::ordered_json assumptions_json(const std::vector<Assumption>& a);
nlohmann::ordered_json to_json(const std::vector<Sensitivity>& t);
nlohmann::ordered_json to_json(const calib::EfficiencyTables& t);  // provenance summary only

// The analytic step model for a scenario: its cluster's calibrated tables
// (calibrate/tables/<accelerator>.json, else stated defaults).
std::unique_ptr<AnalyticStepModel> analytic_step_model(const Scenario& s);

// The run's phase at main_phase_index() (run/scenario.h); has_step() says
// whether it has a step to show.
const PhaseResult& main_phase(const RunEstimate& r);
inline bool has_step(const PhaseResult& p) { return p.amount != PhaseAmount::kStatedGpuHours; }

}  // namespace trainsim::run
