// One simulated training step: workload from the graph, plan and cost model,
// executed by the pipeline executor, compared with the analytic estimate.
//
// The comparison names each component (compute, exposed communication,
// pipeline idle, DP and optimizer) on the analytic estimate's slowest
// pipeline rank (the simulated GPU of replica 0 at that rank), with the
// simulator's and the analytic estimate's values and, where they differ by
// more than 1% of the step, why (the modelling rule that differs).
// Units: Seconds in the report; wall_seconds is host time (not deterministic).
#pragma once

#include <string>
#include <vector>

#include "analytic/step.h"
#include "sim/pipeline.h"
#include "sim/workload.h"

namespace trainsim::sim {

struct SimulateOptions {
  WorkloadOptions workload;
  bool trace = false;
  // One segment group, and so one DP gradient bucket, per layer (not per
  // merged block kind of a stage): frameworks bucket gradients by layer or by
  // size, so a stage's reduction starts under its remaining backward (with
  // merged groups its only bucket goes when the backward ends). What validate,
  // claim's cross-check and `simulate` run (`simulate --merge-layers` merges).
  static SimulateOptions per_layer() {
    SimulateOptions o;
    o.workload.merge_layers = false;
    return o;
  }
};

struct ComponentComparison {
  std::string component;  // "compute", "exposed_comm", "idle", "dp_and_optimizer", "step_time"
  Seconds simulated;
  Seconds analytic;
  std::string why;        // empty when they agree within 1% of the step
};

struct SimReport {
  SimOutput out;
  int devices = 0;            // GPUs per replica
  int replicas = 0;
  int gpus_per_simulated_rank = 1;
  int64_t micro_batches = 0;
  double wall_seconds = 0;    // host time of the event loop (not deterministic)
  Seconds step_time;
  analytic::StepEstimate analytic;
  std::vector<ComponentComparison> comparison;
  std::vector<std::string> notes;
};

SimReport simulate(const model::Model& m, const plan::Plan& p, const cost::CostModel& cost,
                   const SimulateOptions& options);

}  // namespace trainsim::sim
