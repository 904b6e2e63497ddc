// GEMM benchmarks through cuBLASLt: dense, strided-batched (the grouped GEMM of MoE experts,
// equal m per group), and interference (the GEMM while a persistent copy kernel holds SMs).
// Layout: TN, column-major (cuBLASLt's only FP8 layout on Hopper): A is k x m (the activations,
// m tokens), B is k x n (the weights), D is m x n in BF16; FP32 accumulation; alpha 1, beta 0.
#pragma once

#include <cublasLt.h>

#include <string>
#include <vector>

#include "common.h"
#include "plan.h"

namespace trainsim::calibrate {

struct GemmResult {
  bool ok = false;
  std::string why_not;  // when !ok: why the point was not measured
  Stats stats;
  std::string algo;     // cuBLASLt algorithm id and tile, for the record
};

// One window of a sustained run.
struct SustainedWindow {
  double elapsed_s = 0;  // since the start of the run (first window's start event) to this window's end
  double window_s = 0;   // GPU time between this window's events
  int reps = 0;          // GEMMs launched back to back in the window
};

struct SustainedResult {
  bool ok = false;
  std::string why_not;  // when !ok
  std::vector<SustainedWindow> windows;
  bool cut_short = false;  // the deadline ended the run before `seconds`
  std::string algo;
};

class GemmBench {
 public:
  GemmBench(const DeviceInfo& dev, Arena& arena, cudaStream_t stream);
  ~GemmBench();
  GemmBench(const GemmBench&) = delete;
  GemmBench& operator=(const GemmBench&) = delete;

  // `batch` m x n x k problems (batch 1 = dense GEMM). Resets the arena.
  GemmResult run(GemmVariant v, int batch, int64_t m, int64_t n, int64_t k, const TimingOptions& opts,
                 const Deadline& deadline);

  // The same GEMM alone (comm_sms 0) or while a persistent copy kernel on a second stream holds
  // comm_sms SMs; cuBLASLt is told the SMs left (CUBLASLT_MATMUL_DESC_SM_COUNT_TARGET).
  // One m x n x k GEMM launched back to back for about `seconds`, in windows of about
  // `window_s` (reps per window from a short estimate), each window between CUDA events; the
  // next window is enqueued before the previous one is read, so the GPU never idles. Stops
  // early (cut_short) when the deadline passes. ok when at least one window was measured.
  SustainedResult run_sustained(GemmVariant v, int64_t m, int64_t n, int64_t k, double seconds, double window_s,
                                const Deadline& deadline);

  GemmResult run_with_copy(GemmVariant v, int64_t m, int64_t n, int64_t k, int comm_sms, const TimingOptions& opts,
                           const Deadline& deadline);

 private:
  struct Prepared;
  bool prepare(Prepared& p, GemmVariant v, int batch, int64_t m, int64_t n, int64_t k, int sm_target,
               size_t reserve_bytes, std::string* why_not);
  void enqueue(const Prepared& p, int rep, cudaStream_t stream);
  void release(Prepared& p);

  DeviceInfo dev_;
  Arena& arena_;
  cudaStream_t stream_;
  cublasLtHandle_t handle_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 64u << 20;  // cuBLAS recommends >= 32 MiB on Hopper
};

}  // namespace trainsim::calibrate
