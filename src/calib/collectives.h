// The latency model of the collective library: what a ring or tree collective
// pays per algorithm step beyond moving its bytes, read from
// calibrate/collectives/nccl.json (each value with its source).
//
// NCCL estimates a collective's time as latency + bytes / bandwidth, with the
// latency a base plus one term per algorithm step, by the link the step
// crosses (src/graph/tuning.cc, ncclTopoTuneModel). trainsim's bandwidth terms
// come from the calibration tables; its ring and tree latencies come from
// here. A point-to-point send keeps the tables' measured message latency.
#pragma once

#include <string>
#include <vector>

#include "core/units.h"

namespace trainsim::calib {

struct CollectiveLatency {
  // Ring (reduce-scatter, all-gather: n-1 steps; all-reduce: 2(n-1)).
  Seconds ring_base;
  Seconds ring_scale_up_step;   // a step between GPUs of one node over NVLink-class links
  Seconds ring_scale_up_pci_step;  // the same over the PCIe host link (PCIe-only cards)
  Seconds ring_scale_out_step;  // a step between nodes
  // Inside a ring that spans nodes, a step between GPUs of one node costs at
  // least this (the network proxy posts every step).
  Seconds ring_multi_node_step_floor;
  // Tree all-reduce: base + 2 x ((ranks per node - 1) scale-up steps + log2(nodes) scale-out steps).
  Seconds tree_base;
  Seconds tree_scale_up_step;
  Seconds tree_scale_out_step;
  std::string file;
  std::vector<std::string> sources;  // one line per value: "field: source"
};

// NCCL's latency of a ring collective over `ranks` GPUs on `nodes` nodes
// (ncclTopoTuneModel): the base; nInterSteps = nodes - 1 steps between nodes
// (2 x nodes for all-reduce, at most all steps) at the network step; the
// other steps at the scale-up step (the PCIe one where the part's scale-up
// path is its host link), at least the proxy floor when the ring spans nodes.
// Steps: n - 1 for reduce-scatter and all-gather, 2(n - 1) for all-reduce.
Seconds ring_latency(const CollectiveLatency& c, bool all_reduce, int ranks, int nodes, bool via_host_link);

// NCCL's tree all-reduce latency: base + 2 x ((ranks / nodes - 1) scale-up
// steps + log2(nodes) rounded down scale-out steps).
Seconds tree_latency(const CollectiveLatency& c, int ranks, int nodes);

// Reads a collective-latency file; ConfigError with the file and JSON path on
// anything malformed.
CollectiveLatency load_collective_latency(const std::string& path);

// calibrate/collectives/nccl.json, read once.
const CollectiveLatency& nccl_collective_latency();

// What a data-parallel collective running beside compute (another stream)
// costs the compute: its kernels hold SMs and share HBM, so compute kernels
// run at compute_rate() of their speed while it runs. Read from
// calibrate/collectives/overlap.json (a published measurement, with source).
struct CollectiveOverlap {
  double compute_slowdown = 0;  // compute time beside a collective / alone - 1; 0: no interference
  double compute_rate() const { return 1.0 / (1.0 + compute_slowdown); }
  std::string file;
  std::string source;
};

// Reads a collective-overlap file; ConfigError with the file and JSON path on
// anything malformed (a slowdown outside [0, 1]).
CollectiveOverlap load_collective_overlap(const std::string& path);

// calibrate/collectives/overlap.json, read once.
const CollectiveOverlap& collective_overlap();

}  // namespace trainsim::calib
