// The layout search: which parallel plans can train a model on one cluster,
// and how fast each runs one step.
//
// Enumeration (each rule a pruning, stated in SearchResult::rules):
//   precision  bf16, and deepseek-fp8 where the chip has a dense FP8 rate;
//   tp         divisors of the GPU count that fit in one scale-up domain
//              (TP all-reduces every layer; across nodes it is never chosen
//              in practice, Megatron-LM, Narayanan et al. SC'21 §3.2);
//   pp         divisors of GPUs / (tp x cp) up to the layer count and kMaxPp;
//   dp         = GPUs / (tp x pp x cp);
//   ep         MoE only: powers of two dividing dp x cp x tp and the routed
//              experts, from kMinEp up (dense: 1);
//   schedule   pp = 1: 1f1b only (no pipeline); else 1f1b, interleaved-1f1b
//              (vpp 2), and for MoE dualpipe (V3TR §3.2.1) with the DeepSeek
//              share of SMs lent to communication (20 of 132, V3TR §3.2.2);
//   recompute  none, selective, full, and deepseek for MLA models;
//   micro_batch the given set (default 1, 2, 4);
//   zero       the lowest of 1, 2, 3 that fits in memory (ZeRO-1 moves the
//              same bytes as plain DP, reduce-scatter + all-gather = one
//              all-reduce, ZeRO paper §7, so stage 0 is never better; higher
//              stages only trade time for memory).
// Each enumerated plan goes through plan::validate_plan(); rejections are
// counted by reason (with the first message seen as an example). Valid plans
// get an analytic step estimate (memoised by plan). Memory is monotone
// (more recompute, higher ZeRO stage and smaller micro-batches never hold
// more), so a (tp, pp, ep, schedule, precision) whose leanest variant (full
// recompute, ZeRO-3, smallest micro-batch) is over capacity has all its
// variants counted as memory rejections without building each, and a
// micro-batch at which every recompute policy is over capacity ends the
// larger micro-batches the same way.
// Units: Seconds, Bytes. Invariants: every candidate validated, step time
// finite and > 0; results sorted by step time then by a stable plan key, so
// output is deterministic.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "analytic/step.h"
#include "calib/tables.h"
#include "hardware/hardware.h"
#include "model/model.h"
#include "plan/plan.h"
#include "run/training_run.h"

namespace trainsim::planner {

inline constexpr int kMaxPp = 64;
inline constexpr int kMinEp = 1;
using plan::kDualPipeCommSmShare;

struct SearchOptions {
  int64_t seq_len = 4096;
  int64_t global_batch = 1024;          // sequences per step
  int cp = 1;                           // context parallelism, fixed
  graph::CpRing cp_ring = graph::CpRing::kKeyValue;  // what its ring carries, fixed
  // Kernels and ZeRO-3 implementation every candidate runs with (a re-plan
  // keeps its scenario's).
  graph::AttentionImpl attention = graph::AttentionImpl::kFlash;
  graph::ElementwiseImpl elementwise = graph::ElementwiseImpl::kFused;
  std::string zero3_framework = plan::kFsdpZero3;
  bool overlap_grad_reduce = true;      // DP gradient reduction timing, fixed (plan.overlap_grad_reduce)
  bool gradient_accumulation_fusion = true;  // fixed (plan.gradient_accumulation_fusion)
  // Pipeline sends overlapped with compute in interleaved candidates (plan.
  // overlap_p2p_comm; never for the other schedules, which Megatron-Core
  // refuses). On by default, as NeMo 2.0's MegatronCommOverlapCallback sets
  // it whenever vpp > 1; a re-plan keeps its scenario's choice.
  bool overlap_p2p_comm = true;
  std::vector<int64_t> micro_batches = {1, 2, 4};
  bool allow_fp8 = true;                // try deepseek-fp8 where the chip has FP8
  bool only_bf16 = false;               // never try FP8
  std::vector<std::string> precisions;  // when set: exactly these (those the chip can run)
  double expert_load_imbalance = 1.0;   // busiest / mean expert GPU, for MoE
  int max_nodes_per_token = -1;         // -1: the model's topk_group when it routes by groups, else 0
};

// A runnable plan with its step (memory: plan::memory_per_gpu(plan, model),
// computed by callers only for what they show).
struct Candidate {
  plan::Plan plan;
  std::string precision;  // "bf16" | "deepseek-fp8"
  analytic::StepEstimate step;
};

struct RejectionCount {
  std::string reason;   // short category, e.g. "memory over HBM capacity"
  int64_t count = 0;
  std::string example;  // the first validate_plan message in this category
};

struct SearchResult {
  int64_t enumerated = 0;               // plans validated (or implied over memory by a probe)
  int64_t dominated = 0;                // skipped: a lighter recompute policy already fits at ZeRO-1
  std::vector<Candidate> feasible;      // sorted by step time, then plan key
  std::vector<RejectionCount> rejected; // by reason, in order of first appearance
  std::vector<std::string> rules;       // the pruning rules, for reports
};

// Short category of a validate_plan message (PlanError text).
std::string rejection_reason(const std::string& plan_error_message);

// One-line description of a plan's layout: "tp 2 pp 4 (vpp 2) dp 8 ep 8 zero-1 mb 2".
std::string layout_string(const plan::Plan& p);
// Stable text key of a plan (for ordering and memoisation).
std::string plan_key(const plan::Plan& p);

// The tp values tried on a cluster: divisors of GPUs/cp within the scale-up domain.
std::vector<int> tp_options(const hardware::Cluster& c, int cp);
// Precision policy names tried on a chip.
std::vector<std::string> precision_options(const hardware::Accelerator& a, const SearchOptions& o);

// Enumerates, validates and estimates every plan of the space above.
// `steps` must have been built for the same model and cluster (it memoises).
SearchResult search_layouts(const model::Model& m, const hardware::Cluster& c,
                            const run::AnalyticStepModel& steps, const SearchOptions& o);

}  // namespace trainsim::planner
