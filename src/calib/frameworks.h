// Framework behaviour that changes what a step costs beyond its kernels,
// read from calibrate/frameworks/<name>.json (each value with its source).
//
// Today one kind: how a ZeRO stage-3 implementation moves parameters and
// gradients. The FSDP-style default needs no file (one collective per
// transformer layer, prefetched, flat buffers); other implementations
// describe their granularity and overheads here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/units.h"

namespace trainsim::calib {

struct Zero3Framework {
  std::string name;
  std::string file;
  // One collective per parameter tensor (DeepSpeed 2021) rather than one per layer.
  bool per_parameter = true;
  // Each gather blocks the compute stream until it completes (no prefetch overlap).
  bool blocking_gathers = true;
  // torch.distributed list-form collectives: one copy kernel per rank per call.
  bool list_form_copies = true;
  // Gradient reduce-scatters run asynchronously beside the rest of backward.
  bool reduce_scatter_overlaps_backward = true;
  Seconds host_overhead_per_gather;   // CPU time between consecutive blocking gathers
  int64_t param_persistence_threshold = 0;  // tensors below this many elements stay gathered
  // A gathered submodule stays gathered until its next use when fewer than
  // this many parameter elements are used in between (the trace's reuse
  // distance); otherwise it is released and gathered again. 0: always released.
  int64_t max_reuse_distance = 0;
  std::vector<std::string> sources;   // one line per value: "field: source"
};

// Names of the files in calibrate/frameworks/ (without .json), sorted.
std::vector<std::string> zero3_framework_names();

// Loads calibrate/frameworks/<name>.json; ConfigError with the file and JSON
// path on anything malformed, UsageError (with did-you-mean) on an unknown name.
Zero3Framework load_zero3_framework(const std::string& name);

}  // namespace trainsim::calib
