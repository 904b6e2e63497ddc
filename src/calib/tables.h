// Efficiency tables: what the cost model reads to turn work into time.
//
// One EfficiencyTables describes one hardware profile (an accelerator and the
// fabrics it sits on). Every parameter group carries `basis`: the measurement
// rows it was fitted from, or the stated reason for a default, or the part it
// was carried from with the adjustment applied. Nothing is silent.
//
// Parametric forms (the cost model evaluates them; the fitter fits them):
//
//  GEMM (dense and grouped), per precision. A tiled GEMM kernel computes
//  output tiles of tile_m x tile_n; each streaming multiprocessor (SM) holds one
//  tile at a time, so the kernel runs in waves = ceil(tiles / usable_SMs)
//  (wave quantization, NVIDIA "Matrix Multiplication Background User's Guide",
//  §"Wave quantization"; CUTLASS/DeepGEMM persistent kernels likewise). A tile
//  loops over K in its mainloop at eta_max of the SM's share of dense peak and
//  pays a prologue/epilogue (pipeline fill, writing C) worth k_overhead extra
//  reduction elements (the small-K penalty):
//    t_tile    = 2 tile_m tile_n (K + k_overhead) / (eta_max * peak / sm_count)
//    t_compute = waves * t_tile
//    t_memory  = min_bytes / (hbm_bandwidth * memory.eta)
//    t         = launch_overhead + max(t_compute, t_memory)      (roofline,
//                Williams, Waterman & Patterson, CACM 2009)
//  A grouped GEMM sums the tiles of its groups: tiles = groups ceil(m/tm) ceil(n/tn),
//  so few tokens per expert pay for padded tiles.
//
//  Attention core (flash-style), per direction, BF16:
//    eff = eta_max * L / (L + seq_half) * d / (d + head_dim_half)
//  with L = keys a query block visits on average (key length; half of it
//  under a causal mask) and d = (qk_head_dim + v_head_dim) / 2; the first factor
//  is a per-query-block fixed cost amortised over the KV loop, the second the
//  softmax/rescaling work per tile, which is independent of d (FlashAttention-2
//  paper §3.1, Dao 2023). t = flops / (eff * peak_bf16).
//
//  Memory-bound kernels: t = latency + bytes / (hbm_bandwidth * eta), i.e. the
//  achieved bandwidth saturates at eta * hbm_bandwidth for large transfers
//  (Hockney's alpha-beta form applied to a kernel).
//
//  Collectives, per tier (scale_up = NVLink-class domain, scale_out = NIC):
//    t = latency + bus_bytes / (link_bandwidth * eta)
//  (Hockney alpha-beta; bus bytes per nccl-tests' PERFORMANCE.md). The
//  latency of a send/recv or an all-to-all is alpha (one message); that of a
//  ring or tree collective is NCCL's own model per algorithm step
//  (calib/collectives.h, calibrate/collectives/nccl.json), not alpha. One
//  set for all-reduce/all-gather/reduce-scatter/send-recv, one for all-to-all.
//
//  Interference: fraction of a compute kernel's throughput that remains when
//  a communication kernel holds a fraction of the SMs; piecewise linear.
//
// Units: Seconds for latencies and overheads; efficiencies are fractions of a
// datasheet rate (0 < eta <= 1.2; > 1 only where a vendor's boost exceeds
// its nominal figure); tile sizes and k_overhead in elements.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/precision.h"
#include "core/units.h"

namespace trainsim::hardware {
struct Accelerator;
}

namespace trainsim::calib {

inline constexpr const char* kTablesFormat = "trainsim-efficiency/1";

struct GemmParams {
  double eta_max = 0.75;            // fraction of dense peak in a saturated mainloop
  int64_t tile_m = 128;             // output tile rows (tokens)
  int64_t tile_n = 128;             // output tile columns
  double k_overhead = 256;          // per-tile prologue/epilogue in K elements
  Seconds launch_overhead = microseconds(5);  // per kernel
  // Dense GEMM entries only: sustained / burst throughput of the same shape run
  // back to back for minutes (clocks settle under the power limit; the shape
  // rows come from short microbenchmarks at burst clocks). Absent = no
  // measurement, read as 1.0. Compute time is divided by it (see below).
  std::optional<double> sustained;
  std::string basis;                // where the values came from
  std::string sustained_basis;      // where `sustained` came from; set exactly when it is
  // Both bases in one line, for reports.
  std::string full_basis() const { return sustained ? basis + "; " + sustained_basis : basis; }
};

struct AttentionParams {
  double eta_max = 0.6;           // fraction of BF16 dense peak at long sequences
  double seq_half = 512;          // L0: keys at which the per-block cost halves efficiency
  double head_dim_half = 32;      // d0
  std::string basis;
};

// Which fused attention kernel an attention group describes.
enum class AttentionKernel {
  // The fastest fused kernel measured on the part: FlashAttention-3 or cuDNN
  // on Hopper (Transformer Engine's fused attention), FlashAttention-2 on
  // Ampere, where it is the best there is. Measurement rows without "kernel".
  kFastest,
  // FlashAttention-2 (flash-attn 2.x; PyTorch SDPA's flash backend), which
  // uses no Hopper-specific instructions (WGMMA, TMA) and so runs well below
  // FlashAttention-3 on Hopper. Rows with "kernel": "flash2".
  kFlash2,
};
const char* to_string(AttentionKernel k);

struct MemoryParams {
  double eta = 0.85;                      // achieved / datasheet HBM bandwidth, large transfers
  Seconds latency = microseconds(4);      // per kernel (launch + ramp)
  std::string basis;
};

struct LinkParams {
  Seconds alpha = microseconds(5);  // one message's latency (send/recv, all-to-all)
  double eta = 0.8;                 // achieved / datasheet bandwidth, large messages
  std::string basis;
};

struct TierParams {
  LinkParams collective;   // all-reduce, all-gather, reduce-scatter, send/recv
  LinkParams all_to_all;   // all-to-all, MoE dispatch/combine
};

struct InterferencePoint {
  double sm_fraction_taken = 0;     // SMs held by communication / all SMs
  double compute_fraction = 1;      // remaining compute throughput / undisturbed
};

struct InterferenceParams {
  // Sorted by sm_fraction_taken, first point at 0. Default: proportional to SMs left.
  std::vector<InterferencePoint> points{{0.0, 1.0}, {1.0, 0.0}};
  std::string basis;
  double compute_fraction(double sm_fraction_taken) const;
};

struct Provenance {
  std::string gpu;                       // device or source GPU name
  std::string driver;                    // when measured by us; may be empty
  std::string date;                      // of the measurements / fit
  std::vector<std::string> fitted_from;  // measurement files (relative to calibrate/)
  std::string carried_from;              // profile whose fit was carried here; empty if none
  std::vector<std::string> adjustments;  // each stated adjustment when carried
  bool is_default = false;               // no measurement for this part at all
  std::string default_reason;            // why, when is_default
  std::string command;                   // the command that wrote the table
};

// Residual summary of one operator kind after fitting (also stored in the table).
struct Residual {
  std::string kind;       // "gemm/fp8", "attention/fwd", "collective/scale_up", ...
  int rows = 0;
  double rms_relative = 0;  // sqrt(mean((model/measured - 1)^2))
  double max_relative = 0;  // max |model/measured - 1|
};

struct EfficiencyTables {
  std::string profile;  // hardware profile name ("h800")
  Provenance provenance;
  std::map<Precision, GemmParams> gemm;          // at least kBF16
  std::map<Precision, GemmParams> grouped_gemm;  // at least kBF16
  AttentionParams attention_fwd;  // AttentionKernel::kFastest
  AttentionParams attention_bwd;
  AttentionParams flash2_fwd;     // AttentionKernel::kFlash2
  AttentionParams flash2_bwd;
  MemoryParams memory;
  TierParams scale_up;
  TierParams scale_out;
  InterferenceParams interference;
  std::vector<Residual> residuals;

  bool is_default() const { return provenance.is_default; }
  // Parameters for a precision: FP16 uses BF16's; FP32 (TF32 tensor cores)
  // uses BF16's; FP8 uses FP8's when present, else BF16's.
  const GemmParams& gemm_for(Precision p) const;
  const GemmParams& grouped_gemm_for(Precision p) const;
  // Sustained factor of a precision: the dense GEMM entry's (gemm_for(p)),
  // 1.0 when not measured. Grouped GEMMs and attention use it too.
  double sustained_for(Precision p) const { return gemm_for(p).sustained.value_or(1.0); }
  const AttentionParams& attention_for(AttentionKernel k, bool backward) const;
  AttentionParams& attention_for(AttentionKernel k, bool backward);
};

// --- The parametric forms, shared by the cost model and the fitter -------

// GEMM time (form above). `usable_sms` <= sm_count; `min_bytes` HBM traffic.
// `sustained` (0, 1.2] divides t_compute: the throughput of a GPU running
// GEMMs back to back at its power-limited clocks relative to the burst
// microbenchmarks eta_max was fitted on (1.0 = burst, what the fitter uses).
Seconds gemm_model_time(const GemmParams& g, int64_t m, int64_t n, int64_t k, int64_t groups,
                        FlopsPerSecond peak, int sm_count, int usable_sms, Bytes min_bytes,
                        BytesPerSecond hbm_bandwidth, double memory_eta, double sustained = 1.0);
// Attention efficiency (fraction of BF16 peak) at key length `seq_kv` and
// mean head dim `d`.
double attention_efficiency(const AttentionParams& a, double seq_kv, double d);
// Memory-bound kernel time.
Seconds memory_model_time(const MemoryParams& m, Bytes bytes, BytesPerSecond hbm_bandwidth);

// Generic tables for a part with no measurement (round Hopper-class
// efficiencies), marked default with `reason` so reports can say so.
EfficiencyTables default_tables(const std::string& profile, const std::string& reason);

// JSON ("trainsim-efficiency/1"); load errors name file + JSON path.
EfficiencyTables load_tables(const std::string& path);
std::string tables_to_json(const EfficiencyTables& t);
void save_tables(const EfficiencyTables& t, const std::string& path);  // atomic

// calibrate/tables/<accelerator name>.json if present, else default_tables()
// with the reason "no measurement for this part; ...".
EfficiencyTables load_tables_for(const hardware::Accelerator& accelerator);
std::string tables_path_for(const std::string& profile);
std::vector<std::string> list_tables();  // profiles with a table file

// The dense GEMM groups ("gemm/bf16", "gemm/fp8") of the precisions the
// accelerator has a peak for whose efficiency rests on a stated default
// rather than a measurement (their basis, past any "carried from X: ", begins
// "default (", as default_tables() writes it),
// for reports on partly measured tables. Empty when every one is measured.
std::vector<std::string> assumed_gemm_groups(const EfficiencyTables& t, const hardware::Accelerator& accelerator);

// The basis texts the tables' provenance rests on: a stated default
// ("default (<reason>)", what default_tables() writes) and a group carried
// from another part ("carried from <part>: " before its own basis).
std::string default_basis(const std::string& reason);
std::string carried_basis(const std::string& from, const std::string& basis);

}  // namespace trainsim::calib
