// The same training run on several accelerators, with each chip's US
// export-control metrics and verdicts (`trainsim compare`), and the
// interconnect-cap question: the scenario's chip with its scale-up bandwidth
// capped at several values.
//
// Per chip: the scenario (model, tokens, phases, goodput, life, datacenter
// overhead) on a cluster of the same GPU count: the scenario's own cluster
// for its own chip, else hardware::generic_cluster(chip, GPUs). Prices from
// the chip's profile and the cluster (a missing price is reported, its cost
// left out). Each phase keeps its plan where validate_plan accepts it on the
// chip; else the pre-training plan found for the chip (with the phase's batch)
// where valid; else the fastest layout of the planner search (search.h) with
// the phase's sequence length, batch, context parallelism and micro-batch, and
// the phase's precision when the chip has it (else BF16). Every change is
// said ("plan changed: ...").
// Scale-up sweep: the scenario reloaded with the hardware override
// "<chip>.scale_up.bandwidth_per_direction=<value>" (so reports list it), the
// plan kept; GPU-hours and the exposed-communication share of the main step
// ((exposed TP/EP/PP/CP + exposed DP) / step time), and the us-2022-10 verdict
// of the capped chip (its I/O prong: aggregate bidirectional I/O against the
// rule's threshold).
// Units: Seconds (GPU-seconds), Dollars, BytesPerSecond. Invariants: rows in
// the requested order; every number finite.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "hardware/export_control.h"
#include "planner/planner.h"
#include "run/training_run.h"

namespace trainsim::planner {

// The default chips of `trainsim compare`.
std::vector<std::string> default_compare_hardware();

struct CompareRequest {
  std::string scenario;                   // name or path
  std::vector<std::string> hardware;      // empty: default_compare_hardware()
  std::vector<std::string> scale_up_sweep;  // bandwidths as typed ("400 GB/s"); empty: no sweep
};

struct ChipRow {
  std::string accelerator;
  std::string display_name;
  std::string cluster;
  std::string error;                      // no runnable layout / run refused: nothing else is set
  std::vector<std::string> plan_changes;  // one per changed phase; empty = scenario plan kept
  run::RunEstimate run;
  analytic::StepEstimate main_step;       // the main phase's step
  std::string main_layout;                // layout_string of the main phase's plan + schedule
  bool has_rent = false;
  std::vector<std::string> missing_prices;
  std::string tables;                     // calibration tables used
  std::vector<std::string> assumed_gemm;  // measured tables' GEMM groups still at stated defaults
  hardware::Classification classification;
};

struct SweepRow {
  std::string value;                      // as typed
  BytesPerSecond bandwidth_per_direction;
  std::string error;                      // run refused
  Seconds gpu_time;                       // total GPU-seconds with goodput
  Seconds step_time;                      // main phase
  double exposed_comm_share = 0;          // (exposed_comm + dp_exposed) / step time, main phase
  BytesPerSecond io_bidirectional;        // export-control I/O of the capped chip
  bool controlled_2022 = false;           // us-2022-10 verdict of the capped chip
  std::string reason_2022;
  std::vector<std::string> applied_overrides;
};

struct CompareReport {
  std::string scenario;
  std::string model;
  int gpus = 0;
  std::string scenario_chip;
  std::string rules_file;
  std::vector<ChipRow> chips;
  std::vector<SweepRow> sweep;
  double io_threshold_2022 = 0;           // bytes per second, us-2022-10
  std::vector<std::string> notes;
};

CompareReport make_compare(const CompareRequest& r);

}  // namespace trainsim::planner
