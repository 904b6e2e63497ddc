// Measurement files ("trainsim-measurements/1", calibrate/FORMAT.md): kernel
// and collective timings of one GPU or one published source, as typed records.
//
// Every rate, size and time is parsed from a unit-bearing string; unknown
// fields, unknown kinds and missing values are ConfigErrors naming the file
// and the JSON pointer. Each record keeps its pointer so fit residuals and
// messages can name the row.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/precision.h"
#include "core/units.h"

namespace trainsim::calib {

inline constexpr const char* kMeasurementsFormat = "trainsim-measurements/1";

enum class MeasurementKind { kGemm, kGroupedGemm, kAttention, kMemory, kCollective, kInterference };
const char* to_string(MeasurementKind k);

struct Measurement {
  MeasurementKind kind = MeasurementKind::kGemm;
  std::string pointer;  // "/measurements/3"
  std::string source;   // the row's own source; empty when the file's applies
  std::string note;
  // kGemm, kGroupedGemm, kAttention
  Precision precision = Precision::kBF16;
  int64_t m = 0, n = 0, k = 0, groups = 1;
  // kGemm, kGroupedGemm: true when the row is a best-of-search ceiling
  // ("bound": "ceiling", e.g. MAMF: the fastest shape a brute-force search
  // found), not the throughput of the stated shape in general. The fitter uses
  // such rows as an upper bound on eta_max, never as a typical shape.
  bool ceiling = false;
  // kGemm only: true when the row is one window of a sustained run
  // ("bound": "sustained"): the shape run back to back for a long time, as
  // training runs GEMMs for hours, so the GPU settles at the clocks its power
  // limit allows. `elapsed` is the wall time since the start of that
  // continuous run at the end of the window the row measures; set exactly
  // for sustained rows. A sustained series is the sustained rows of one
  // precision and shape; the fitter never uses them in the shape fit.
  bool sustained = false;
  std::optional<Seconds> elapsed;
  // kGemm only: true when the row is a best-of-search *sustained* ceiling
  // ("bound": "sustained-ceiling", e.g. mamf-finder's MSMF): the fastest rate
  // any shape of a search held steady over a timed window on a GPU already
  // settled at its power limit. The fitter caps the sustained efficiency of
  // the precision's best shape at it (FORMAT.md); never a shape-fit row.
  bool sustained_ceiling = false;
  // kAttention
  bool backward = false;
  // kAttention: true for "kernel": "flash2", a FlashAttention-2 kernel
  // (calib::AttentionKernel::kFlash2); without "kernel" the row measures the
  // fastest fused kernel of the part (kFastest).
  bool flash2 = false;
  int64_t batch = 0, seq = 0, heads = 0, qk_head_dim = 0, v_head_dim = 0;
  bool causal = true;
  // kMemory: op in copy, rmsnorm, swiglu, adamw, quantize, other
  std::string op;
  Bytes bytes;
  // kCollective: op in all_reduce, all_gather, reduce_scatter, all_to_all,
  // send_recv, ep_dispatch, ep_combine
  std::string tier;                          // scale_up | scale_out
  int64_t ranks = 0;
  int64_t ranks_per_node = 0;                // 0 = not given
  Bytes message;
  std::optional<BytesPerSecond> nic_bandwidth;  // per GPU, when the system differs from the profile
  // kInterference
  int64_t comm_sms = 0, total_sms = 0;
  double gemm_fraction = 0;
  // The value: exactly one of these is set (per kind, see FORMAT.md).
  std::optional<Seconds> time;
  std::optional<FlopsPerSecond> achieved_flops;
  std::optional<BytesPerSecond> achieved_bandwidth;  // memory: bytes / time
  std::optional<BytesPerSecond> bus_bandwidth;       // collectives, nccl-tests busbw
  std::optional<BytesPerSecond> algo_bandwidth;      // collectives, message / time
  int64_t samples = 0;
};

struct MeasurementFile {
  std::string path;
  std::string gpu, profile, source, date, driver, cuda, clocks, notes;
  std::vector<Measurement> measurements;
};

// Throws ConfigError (file + JSON pointer) on any malformed content.
MeasurementFile load_measurements(const std::string& path);
MeasurementFile parse_measurements(const std::string& text, const std::string& name);

// FLOPs of a GEMM / attention row (attention: flash-attention convention,
// causal halves, backward 2.5x forward).
Flops measurement_flops(const Measurement& m);
// Bytes per copy: operands once + BF16 output, at the row's precision.
Bytes gemm_min_bytes(const Measurement& m);

}  // namespace trainsim::calib
