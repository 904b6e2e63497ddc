// Accelerators and clusters, as read from hardware_profiles/.
//
// An Accelerator is one chip's datasheet: dense peak rates per precision
// (sparse figures never stand in for dense ones), memory, links, power, die
// area and prices, each read with its source. A Cluster is nodes x
// accelerators per node, a scale-up domain, a scale-out network, power
// overheads and prices; it names its accelerator profile.
//
// Invariants after loading: every rate, size and price is finite and >= 0;
// counts are >= 1; a precision absent from `dense_peak` is not supported.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/json_reader.h"
#include "core/units.h"
#include "core/precision.h"

namespace trainsim::hardware {

// Numeric formats for which a datasheet gives dense peak rates.
enum class Format { kFP64, kFP32, kTF32, kBF16, kFP16, kFP8, kFP4, kINT8 };
const char* to_string(Format f);
int bit_length(Format f);  // 64, 32, 32, 16, 16, 8, 4, 8

struct ScaleUp {
  std::string technology;           // "NVLink4 (capped)", "HCCS", "Infinity Fabric"
  BytesPerSecond bandwidth_per_direction;  // datasheet, per GPU into the fabric
  std::optional<BytesPerSecond> measured_per_direction;  // e.g. H800 ~160 GB/s (DeepSeek)
  int domain_size = 1;              // GPUs in one scale-up domain (8 for HGX, 72 for NVL72)
  BytesPerSecond host_link_bidirectional;  // PCIe to host, counted in export-control I/O
};

struct Accelerator {
  std::string name;    // profile name, e.g. "h800"
  std::string vendor;
  std::string file;    // profile path, for messages
  int launch_year = 0;
  std::map<Format, FlopsPerSecond> dense_peak;
  Bytes hbm_capacity;
  BytesPerSecond hbm_bandwidth;
  int sm_count = 0;    // SMs / compute units / cube cores
  ScaleUp scale_up;
  BytesPerSecond nic_per_accelerator;  // typical scale-out NIC
  Watts tdp;
  double die_area_mm2 = 0;     // applicable die area (export-control definition)
  bool die_area_estimated = false;
  std::optional<Dollars> purchase_price;
  std::optional<DollarsPerSecond> cloud_price;  // rental per GPU-hour

  // Peak for a graph precision (BF16/FP16/FP8/FP32->TF32 tensor); nullopt if unsupported.
  std::optional<FlopsPerSecond> peak(Precision p) const;
};

struct ScaleOut {
  std::string topology;        // "fat-tree", "multi-plane-fat-tree", "rail-optimized"
  int levels = 2;              // switch tiers
  int planes = 1;              // independent planes (DeepSeek MPFT: 8)
  double oversubscription = 1.0;  // >= 1; 1 = full bisection
  Seconds hop_latency;         // per switch hop
  Seconds endpoint_latency;    // NIC + software, per message
  BytesPerSecond nic_bandwidth;  // per accelerator, per direction
  int nics_per_node = 0;
};

struct Cluster {
  std::string name;
  std::string file;
  Accelerator accelerator;
  int nodes = 1;
  int accelerators_per_node = 8;
  ScaleOut scale_out;
  Seconds scale_up_latency;    // per message inside the scale-up domain
  double pue = 1.0;            // facility power / IT power
  Watts node_overhead_power;   // CPUs, NICs, fans per node beyond the accelerators
  std::optional<DollarsPerSecond> rental_price_per_gpu;  // overrides the accelerator's cloud price
  std::optional<DollarsPerJoule> electricity_price;
  std::optional<Dollars> network_cost_per_gpu;  // capital cost of the fabric per endpoint

  int total_accelerators() const { return nodes * accelerators_per_node; }
};

// A what-if override: "h800.scale_up.bandwidth_per_direction=450 GB/s".
struct Override {
  std::string path;   // dotted path as typed
  std::string value;  // as typed
};

// Loading by name from hardware_profiles/ (or a path). Overrides are applied
// to the JSON before validation; an unknown field is an error with a did-you-mean.
Accelerator load_accelerator(const std::string& name_or_path,
                             const std::vector<Override>& overrides = {});
Cluster load_cluster(const std::string& name_or_path, const std::vector<Override>& overrides = {});
std::vector<std::string> list_accelerators();
std::vector<std::string> list_clusters();

// A generic cluster of `gpus` accelerators of the named profile (DGX-style
// nodes of the profile's scale-up domain, fat-tree scale-out with the
// profile's typical NIC). Used when a run names only a GPU type and count.
Cluster generic_cluster(const std::string& accelerator_name, int gpus,
                        const std::vector<Override>& overrides = {});

}  // namespace trainsim::hardware
