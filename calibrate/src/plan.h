// The benchmark plan: every point trainsim-calibrate measures, in the order it measures them.
// Pure C++ (no CUDA), so `--dry-run` prints it on a machine without a GPU or driver.
// Shapes are GEMM problems C[m,n] = A[m,k] * B[k,n] with m the tokens and n,k the weight's
// output/input features, the convention of calibrate/FORMAT.md and the DeepGEMM tables.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace trainsim::calibrate {

enum class GemmPrecision { kBF16, kFP8 };
// kTensor: one FP32 scale per tensor. kBlock: DeepSeek-V3 recipe (arXiv:2412.19437 §3.3.2),
// 1x128 tiles on the activations (A), 128x128 blocks on the weights (B).
enum class GemmScaling { kNone, kTensor, kBlock };

struct GemmVariant {
  GemmPrecision precision;
  GemmScaling scaling;
};
std::string precision_name(GemmPrecision p);  // "bf16", "fp8"
std::string scaling_name(GemmScaling s);      // "", "tensor", "block"
std::string variant_name(GemmVariant v);      // "bf16", "fp8-tensor", "fp8-block"

struct GemmPoint {
  GemmVariant variant;
  int64_t m, n, k;
  std::string label;  // which model layer the (n, k) comes from
};

// `groups` independent m x n x k problems (MoE experts on one GPU).
struct GroupedGemmPoint {
  GemmVariant variant;
  int groups;
  int64_t m, n, k;
  std::string label;
};

struct AttentionPoint {
  std::string direction;  // "fwd" or "bwd"
  int batch, seq, heads, qk_head_dim, v_head_dim;
  bool causal;
};

enum class MemoryOp { kCopy, kRmsNorm, kSwiGlu, kAdamW, kFp8Quantize };
std::string memory_op_name(MemoryOp op);  // "copy", "rmsnorm", "swiglu", "adamw", "quantize"
// Bytes read plus written per element of the op (see kernels.cu for the data types).
double memory_op_bytes_per_element(MemoryOp op);

struct MemoryPoint {
  MemoryOp op;
  int64_t elements;
  int64_t bytes;  // read + written, = elements * bytes_per_element rounded
};

enum class CollectiveOp { kAllReduce, kAllGather, kReduceScatter, kAllToAll, kSendRecv };
std::string collective_op_name(CollectiveOp op);

struct CollectivePoint {
  CollectiveOp op;
  int64_t message_bytes;  // nccl-tests "size": the whole per-rank buffer (output for all-gather)
};

struct InterferencePoint {
  GemmVariant variant;
  int64_t m, n, k;
  int comm_sms;  // 0 = the GEMM alone (the reference)
};

// A sustained run: one GEMM launched back to back for `seconds` of wall time, timed in windows
// of about `window_s` (CUDA events around each window's launches), so the drift from burst clocks
// to the clocks the power limit allows shows as throughput falling over the windows.
struct SustainedPoint {
  GemmVariant variant;
  int64_t m, n, k;
  double seconds;
  double window_s;
};

// Categories in run order with the fraction of the time budget each may use. A category's
// deadline is cumulative, so time one category leaves unused passes to the next.
struct Category {
  std::string name;
  double budget_fraction;
};

struct Plan {
  std::vector<Category> categories;
  std::vector<GemmPoint> gemms;
  std::vector<GroupedGemmPoint> grouped_gemms;
  std::vector<AttentionPoint> attention;
  std::vector<MemoryPoint> memory;
  std::vector<CollectivePoint> collectives;
  std::vector<InterferencePoint> interference;
  std::vector<SustainedPoint> sustained;
};

// The full plan. Points are ordered coarse-to-fine (M = 4096 first, then the extremes, then the
// points in between) so that a run cut short by its budget still covers every shape.
// `sustained_seconds`: length of each sustained run (--sustained-seconds).
Plan make_plan(double sustained_seconds = 40);

// Keeps only the categories named in `only` (comma-separated; empty keeps all).
Plan filter_plan(const Plan& plan, const std::string& only);

// Human-readable listing for --dry-run.
void print_plan(const Plan& plan, double budget_seconds, std::ostream& out);

}  // namespace trainsim::calibrate
