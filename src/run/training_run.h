// A training run: phases of optimizer steps turned into wall time,
// GPU-hours, dollars and energy.
//
// Each phase: tokens -> steps (tokens / (global_batch x seq_len)) -> ideal wall
// time (steps x step time, or the integral over a batch ramp) -> goodput
// (failures, checkpoints, restarts; goodput.h) -> GPU-hours = wall x GPUs ->
// cost (rental and ownership; economics.h) and energy. A phase given as stated
// GPU-hours is taken as is (no step model, no goodput).
//
// The step time comes from a StepModel: in production analytic::estimate_step
// on a cost model built from the cluster and its calibrated efficiency tables
// (AnalyticStepModel); in tests a hand-made stand-in.
// Units: Seconds (wall and GPU-seconds), Dollars, Joules. Invariants: every
// result finite and >= 0; GPU-hours with goodput >= ideal GPU-hours.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "analytic/step.h"
#include "calib/tables.h"
#include "core/units.h"
#include "run/economics.h"
#include "run/goodput.h"
#include "run/scenario.h"

namespace trainsim::run {

// Efficiency tables with GEMM (dense and grouped) and attention eta_max
// multiplied by compute_scale, and every collective and all-to-all eta
// multiplied by comm_scale (the uncertainty hook into the cost model).
calib::EfficiencyTables scaled(const calib::EfficiencyTables& t, double compute_scale,
                               double comm_scale);

// One training step of a plan, under efficiency scales (1, 1 = as calibrated).
class StepModel {
 public:
  virtual ~StepModel() = default;
  virtual analytic::StepEstimate step(const plan::Plan& p, double compute_scale,
                                      double comm_scale) const = 0;
};

// analytic::estimate_step on cost::CostModel(cluster, scaled(tables)).
// Results are memoised by (plan, scales): sweeps that change only goodput or
// prices reuse the step estimates.
class AnalyticStepModel : public StepModel {
 public:
  AnalyticStepModel(model::Model m, hardware::Cluster c, calib::EfficiencyTables t);
  analytic::StepEstimate step(const plan::Plan& p, double compute_scale,
                              double comm_scale) const override;
  const calib::EfficiencyTables& tables() const { return tables_; }

 private:
  model::Model model_;
  hardware::Cluster cluster_;
  calib::EfficiencyTables tables_;
  mutable std::map<std::string, analytic::StepEstimate> cache_;
};

// Values of the uncertain inputs for one evaluation.
struct Perturbation {
  double compute_scale = 1.0;
  double comm_scale = 1.0;
  double expert_load_imbalance = 1.0;
  GoodputInputs goodput;
  int64_t micro_batch = 1;
};
// The scenario's own values (scales 1).
Perturbation nominal_perturbation(const Scenario& s);

// Batch-ramp integration (linear ramp from b0 to b1 sequences over `tokens`).
struct RampPoint {
  int64_t batch = 0;            // nominal batch on the ramp
  int64_t evaluated_batch = 0;  // rounded to a batch the plan can run
  Seconds step_time;            // at evaluated_batch
};
struct RampIntegral {
  double steps = 0;
  Seconds time;
  std::vector<RampPoint> points;
};
// The step time T(b) is evaluated at `points` evenly spaced batches b_i (each
// rounded to a multiple of `batch_quantum`, and raised to at least `min_batch`,
// the smallest batch the schedule can run, for the evaluation; then scaled
// back per sequence: T(b_i) = T(r_i) b_i / r_i) and interpolated linearly in b.
// Below min_batch this keeps the per-sequence time of the smallest runnable
// batch, so it understates a small batch's larger pipeline bubble.
// Linear in tokens: db/dtau = (b1 - b0) / R, steps = R ln(b1/b0) / ((b1 - b0) s),
//   time = sum over segments of R / ((b1 - b0) s) [alpha ln(bh/bl) + beta (bh - bl)]
//   where T = alpha + beta b on the segment.
// Linear in steps: S = 2R / ((b0 + b1) s) steps,
//   time = sum of S / (b1 - b0) [alpha (bh - bl) + beta (bh^2 - bl^2) / 2].
RampIntegral integrate_ramp(int64_t b0, int64_t b1, double tokens, int64_t seq_len,
                            RampShape shape, int points, int64_t batch_quantum,
                            const std::function<Seconds(int64_t batch)>& step_time_at,
                            int64_t min_batch = 1);

struct PhaseResult {
  std::string name;
  PhaseKind kind = PhaseKind::kPretraining;
  PhaseAmount amount = PhaseAmount::kTokens;
  int gpus = 0;
  double tokens = 0;
  double steps = 0;
  plan::Plan plan;                 // at the phase's final batch
  analytic::StepEstimate step;     // at the phase's final batch (empty for stated phases)
  std::vector<RampPoint> ramp;     // empty without a ramp
  double utilisation = 0;          // compute / step time at the final batch (power model)
  Seconds ideal_wall;              // failure-free
  GoodputResult goodput;
  Seconds wall;                    // with goodput
  Seconds ideal_gpu_time;          // GPU-seconds
  Seconds gpu_time;                // GPU-seconds with goodput
  Joules energy;
  CostBreakdown cost;
};

struct RunEstimate {
  std::vector<PhaseResult> phases;
  Seconds gpu_time(PhaseKind k) const;     // with goodput
  Seconds ideal_gpu_time(PhaseKind k) const;
  Seconds total_gpu_time() const;
  Seconds total_ideal_gpu_time() const;
  Seconds total_wall() const;
  Joules total_energy() const;
  CostBreakdown total_cost() const;
  Flops model_flops(PhaseKind k) const;    // causal model FLOPs over the phase tokens
};

RunEstimate evaluate_run(const Scenario& s, const Perturbation& p, const StepModel& steps);

}  // namespace trainsim::run
