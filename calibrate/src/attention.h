// Attention benchmarks through cuDNN's fused flash attention (SDPA), built with the cuDNN 9
// BACKEND graph API (cudnn_graph.h), not the cudnn-frontend headers, which this toolkit lacks.
//
// The operation graphs follow the pattern cudnn-frontend's composite SDPA nodes lower to
// (NVIDIA/cudnn-frontend include/cudnn_frontend/node/scaled_dot_product_flash_attention.h,
// softmax.h, diagonal_band_mask.h): cuDNN recognises that pattern and runs one fused kernel.
//   forward:  S = Q K^T (FP32) -> * attn_scale -> causal mask (GEN_INDEX row/col, CMP_GE,
//             BINARY_SELECT with -inf) -> softmax with statistics (max, sub, exp, sum, log,
//             Stats = max + log(sum) in FP32, P = exp / sum in BF16) -> O = P V (BF16).
//   backward: softmax_sum = rowsum(dO * O); S recomputed from Q K^T, scale, minus Stats, causal
//             mask, exp -> P; dV = P^T dO; dP = dO V^T; dS = (dP - softmax_sum) * P * scale;
//             dK = dS^T Q; dQ = dS K through an FP32 accumulator, then copied to BF16.
// Data: BF16 Q, K, V, O, dO, dQ, dK, dV in the BSHD layout a transformer produces
// ([batch, seq, heads, head_dim], head_dim contiguous); FP32 statistics [batch, heads, seq, 1];
// attn_scale = 1/sqrt(qk_head_dim); causal with the diagonal at the top left (s_q == s_kv).
// Times are seconds per call, measured as every other benchmark (common.h time_on_stream).
#pragma once

#include <cudnn.h>

#include <memory>
#include <string>

#include "common.h"
#include "plan.h"

namespace trainsim::calibrate {

struct AttentionResult {
  bool ok = false;
  std::string why_not;  // when !ok: why the point was not measured
  Stats stats;
  std::string engine;   // cuDNN engine and heuristic rank, for the record
  double build_s = 0;   // seconds to build the graph and plan (cuDNN compiles SDPA kernels at run time)
};

class AttentionBench {
 public:
  AttentionBench(const DeviceInfo& dev, Arena& arena, cudaStream_t stream);
  ~AttentionBench();
  AttentionBench(const AttentionBench&) = delete;
  AttentionBench& operator=(const AttentionBench&) = delete;

  // Builds the graph for `p`, picks an engine, times it. A graph cuDNN does not support (no
  // engine, or any backend call refused while building it) comes back !ok with the cuDNN status,
  // the call and its file:line in why_not; it is not fatal. Resets the arena.
  AttentionResult run(const AttentionPoint& p, const TimingOptions& opts, const Deadline& deadline);

  // "9.19.0" (the library loaded at run time).
  static std::string cudnn_version_text();

 private:
  struct Prepared;
  void prepare(Prepared& prep, const AttentionPoint& p);
  void enqueue(const Prepared& prep, int rep);

  DeviceInfo dev_;
  Arena& arena_;
  cudaStream_t stream_;
  cudnnHandle_t handle_ = nullptr;
};

}  // namespace trainsim::calibrate
