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
inline constexpr Format kAllFormats[] = {Format::kFP64, Format::kFP32, Format::kTF32,
                                         Format::kBF16, Format::kFP16, Format::kFP8,
                                         Format::kFP4,  Format::kINT8};
const char* to_string(Format f);  // "fp64" ... "int8", the JSON keys under dense_peak
int bit_length(Format f);  // 64, 32, 32, 16, 16, 8, 4, 8

struct ScaleUp {
  std::string technology;           // "NVLink4 (capped)", "HCCS", "Infinity Fabric"
  BytesPerSecond bandwidth_per_direction;  // datasheet, per GPU into the fabric
  std::optional<BytesPerSecond> measured_per_direction;  // e.g. H800 ~160 GB/s (DeepSeek)
  int domain_size = 1;              // GPUs in one scale-up domain (8 for HGX, 72 for NVL72)
  BytesPerSecond host_link_bidirectional;  // PCIe to host, counted in export-control I/O
  // True when the "scale-up" path is the host link itself (PCIe-only cards such
  // as L40S): export-control I/O then counts the host link once, not twice.
  bool via_host_link = false;
};

// Where one profile value came from: the "source" and optional "note"/"date"
// beside it in the JSON. Keyed in Accelerator::sources by dotted field path
// ("scale_up.bandwidth_per_direction").
struct SourceInfo {
  std::string source;
  std::string note;
  std::string date;
  bool estimated = false;
};

struct Accelerator {
  std::string name;    // profile name, e.g. "h800"
  std::string vendor;
  std::string file;    // profile path, for messages
  std::string display_name;  // "NVIDIA H800 SXM5 80GB"
  std::string memory_type;   // "HBM3", "GDDR6"
  std::string export_note;   // e.g. "PRC-origin part; US rules shown for comparison"; may be empty
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
  std::optional<BytesPerSecond> measured_hbm_bandwidth;  // e.g. H800 FlashMLA ~3000 GB/s

  std::map<std::string, SourceInfo> sources;   // dotted field path -> where it came from
  std::vector<std::string> applied_overrides;  // "h800.scale_up.bandwidth_per_direction=450 GB/s"

  // Peak for a graph precision (BF16/FP16/FP8/FP32->TF32 tensor); nullopt if unsupported.
  std::optional<FlopsPerSecond> peak(Precision p) const;
};

// Dense tensor-core peak a GEMM of precision p runs against: BF16 and FP16
// stand in for each other, FP32 runs on TF32 where there is one; nullopt when
// the part has neither (or a non-positive value). Shared by the fitter and
// the cost model.
std::optional<FlopsPerSecond> tensor_peak(const Accelerator& a, Precision p);

// Whether two parts share a compute die as far as precision p goes: equal SM
// counts and equal dense peaks at p (which fixes the boost clock too), e.g.
// H100 SXM and H800.
bool same_compute_die(const Accelerator& a, const Accelerator& b, Precision p);

// The peak that MFU and HFU divide by: the dense 16-bit tensor peak, BF16 or,
// on a part without BF16 (V100), FP16, which the V100-era sources report
// utilisation against (tensor_peak(a, BF16)). nullopt when the part has neither.
std::optional<FlopsPerSecond> utilisation_peak(const Accelerator& a);

struct ScaleOut {
  std::string topology;        // "fat-tree", "multi-plane-fat-tree", "rail-optimized"
  int levels = 2;              // switch tiers
  int planes = 1;              // independent planes (DeepSeek MPFT: 8)
  double oversubscription = 1.0;  // >= 1; 1 = full bisection
  Seconds hop_latency;         // per switch hop
  Seconds endpoint_latency;    // NIC + software, per message
  BytesPerSecond nic_bandwidth;  // per accelerator, per direction
  int nics_per_node = 0;
  int switch_radix = 64;       // ports per switch
  // Measured end-to-end small-message latencies the two above are derived
  // from (DeepSeek ISCA'25 Table 5: IB 2.8 us same leaf, 3.7 us cross leaf).
  Seconds same_leaf_latency;
  Seconds cross_leaf_latency;
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
  std::string description;

  std::map<std::string, SourceInfo> sources;   // dotted field path -> where it came from
  std::vector<std::string> applied_overrides;  // cluster and accelerator overrides applied

  int total_accelerators() const { return nodes * accelerators_per_node; }
  // GPUs that share one scale-up domain: the accelerator's domain, capped by the cluster size.
  int scale_up_domain() const;
};

// A what-if override: "h800.scale_up.bandwidth_per_direction=450 GB/s".
struct Override {
  std::string path;   // dotted path as typed
  std::string value;  // as typed
};

// Parses "PATH=VALUE" as typed after --set; surrounding quotes on VALUE are
// dropped. Throws UsageError when there is no '=' or the path is empty.
Override parse_override(const std::string& text);
std::vector<Override> parse_overrides(const std::vector<std::string>& texts);

// Loading by name from hardware_profiles/ (or a path). Overrides are applied
// to the JSON before validation; an unknown field is an error with a did-you-mean.
Accelerator load_accelerator(const std::string& name_or_path,
                             const std::vector<Override>& overrides = {});
Cluster load_cluster(const std::string& name_or_path, const std::vector<Override>& overrides = {});
std::vector<std::string> list_accelerators();  // names of hardware_profiles/*.json profiles
std::vector<std::string> list_clusters();      // names of hardware_profiles/clusters/*.json
// Path of a profile or cluster by name (or the argument itself when it names a
// file); UsageError with a did-you-mean when it names neither.
std::string accelerator_path(const std::string& name_or_path);
std::string cluster_path(const std::string& name_or_path);

// Every override must be used by some loaded profile: overrides whose first
// component names nothing loaded are reported here (UsageError).
void check_overrides_used(const std::vector<Override>& overrides,
                          const std::vector<std::string>& loaded_names);

// A generic cluster of `gpus` accelerators of the named profile (DGX-style
// nodes of the profile's scale-up domain, fat-tree scale-out with the
// profile's typical NIC). Used when a run names only a GPU type and count.
Cluster generic_cluster(const std::string& accelerator_name, int gpus,
                        const std::vector<Override>& overrides = {});

}  // namespace trainsim::hardware
