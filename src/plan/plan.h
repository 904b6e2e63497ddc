// A parallel plan: how a model is laid out on a cluster for training.
//
// Degrees multiply to the GPU count: tp * pp * dp * cp = GPUs. Expert
// parallelism lives inside the data-parallel dimension (as Megatron and
// DeepSeek place it): ep divides dp * cp * tp... in DeepSeek-V3's layout
// (TP 1) ep divides dp; expert groups may span nodes. Invariants after
// validate_plan(): every degree >= 1; layers split evenly over pp * vpp
// stages (or as the schedule allows), heads and kv_heads divisible by tp,
// routed experts divisible by ep, global batch divisible by dp * micro_batch,
// and the per-GPU memory fits the accelerator.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/precision.h"
#include "core/units.h"
#include "graph/graph.h"
#include "hardware/hardware.h"
#include "model/model.h"

namespace trainsim::plan {

enum class Schedule { kGpipe, k1F1B, kInterleaved1F1B, kZeroBubbleH1, kDualPipe, kDualPipeV };
const char* to_string(Schedule s);
Schedule parse_schedule(const std::string& s);  // "gpipe", "1f1b", "interleaved-1f1b", "zb-h1"/"zero-bubble", "dualpipe", "dualpipev"

enum class Recompute { kNone, kSelective, kDeepSeek, kFull };
const char* to_string(Recompute r);
Recompute parse_recompute(const std::string& s);  // "none", "selective", "deepseek", "full"

// Precision per operator class (DeepSeek-V3 §3.3: FP8 Fprop/Dgrad/Wgrad for
// linear layers; attention, norms, router, embedding and head in BF16; BF16
// AdamW moments; FP32 master weights and gradients).
struct PrecisionPolicy {
  Precision linear_gemms = Precision::kBF16;     // Fprop/Dgrad/Wgrad of Linear layers
  Precision attention = Precision::kBF16;
  Precision embedding_head = Precision::kBF16;
  Precision weights = Precision::kBF16;          // working copy
  Precision master_weights = Precision::kFP32;
  Precision gradients = Precision::kFP32;        // accumulated weight gradients
  Precision optimizer_moments = Precision::kFP32;
  Precision dispatch = Precision::kBF16;         // MoE dispatch payload (DeepSeek: FP8)
  Precision combine = Precision::kBF16;          // MoE combine payload (DeepSeek: BF16)
};
PrecisionPolicy bf16_policy();
PrecisionPolicy deepseek_fp8_policy();

struct Plan {
  int tp = 1;
  int pp = 1;
  int vpp = 1;          // virtual stages per device (interleaved 1F1B)
  int dp = 1;
  int ep = 1;
  int cp = 1;
  bool sequence_parallel = false;
  int zero_stage = 0;   // 0..3
  int64_t micro_batch = 1;     // sequences per micro-batch
  int64_t global_batch = 1;    // sequences per step
  int64_t seq_len = 4096;
  Schedule schedule = Schedule::k1F1B;
  Recompute recompute = Recompute::kNone;
  PrecisionPolicy precision;
  int comm_sms = 0;            // SMs reserved for communication kernels
  int max_nodes_per_token = 0; // node-limited routing M (0 = unlimited)

  int gpus() const { return tp * pp * dp * cp; }
  int64_t micro_batches_per_replica() const;  // global_batch / (dp * micro_batch)
  graph::Sharding sharding() const;
};

// Per-GPU memory, the largest stage (bytes).
struct MemoryBreakdown {
  Bytes weights;
  Bytes gradients;
  Bytes optimizer_states;  // master weights + moments
  Bytes activations;       // in-flight micro-batches x per-micro-batch activations of the stage
  Bytes recompute_buffers;
  Bytes communication_buffers;
  Bytes total() const;
  int64_t inflight_micro_batches = 0;
  int64_t params_on_gpu = 0;
};

// Layers on each pipeline stage (embedding with the first, head with the last;
// DeepSeek's DualPipe puts embedding and head/MTP on the same rank).
struct StageLayout {
  std::vector<int64_t> layers_per_stage;  // size pp * vpp
};

// Rejects plans that cannot run, with the reason and the numbers (PlanError).
void validate_plan(const Plan& p, const model::Model& m, const hardware::Cluster& c);
StageLayout stage_layout(const Plan& p, const model::Model& m);
MemoryBreakdown memory_per_gpu(const Plan& p, const model::Model& m);
// validate_plan() also checks memory_per_gpu().total() <= accelerator HBM capacity.

}  // namespace trainsim::plan
