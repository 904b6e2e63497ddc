// A parallel plan: how a model is laid out on a cluster for training.
//
// Degrees multiply to the GPU count: tp * pp * dp * cp = GPUs. Expert
// parallelism lives inside the data-parallel dimension (as Megatron and
// DeepSeek place it): ep divides dp * cp * tp; in DeepSeek-V3's layout
// (TP 1) ep divides dp; expert groups may span nodes. Invariants after
// validate_plan(): every degree >= 1; layers split over pp * vpp stages
// (interleaved 1F1B: evenly, or evenly once the embedding and the loss (and
// MTP layers) take a layer slot each at the ends, Megatron-Core's
// account-for-embedding/loss split; other schedules: any split,
// see stage_layout()), heads and
// kv_heads divisible by tp (one kv head, multi-query, is replicated), routed experts divisible by ep, global batch
// divisible by dp * micro_batch, the schedule's micro-batch rules hold, and
// the per-GPU memory fits the accelerator.
//
// Rank order (Megatron-Core's default): tp innermost, then cp, then dp (with
// ep carved from dp x cp x tp), pp outermost. So TP groups sit inside a node
// when tp <= GPUs per node, and consecutive pipeline stages are
// tp * cp * dp ranks apart.
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
// "gpipe", "1f1b", "interleaved-1f1b" (or "interleaved"), "zb-h1" (or
// "zero-bubble"), "dualpipe", "dualpipev". Unknown text: UsageError naming the
// accepted words with a did-you-mean (file readers rethrow it as ConfigError).
Schedule parse_schedule(const std::string& s);
std::vector<std::string> schedule_names();
// DualPipe and DualPipeV: a forward and a backward chunk run as a pair, each
// one's communication overlapped with the other's computation (V3TR §3.2.1).
bool overlapped(Schedule s);
// GPipe, 1F1B and interleaved 1F1B: the last micro-batch's backward runs as
// one chain from rank pp-1 to rank 0, each rank's last backward chunk waiting
// for the next rank's gradient. Zero-bubble schedules take the weight
// gradients off that chain; DualPipe's ranks finish together.
bool backward_chain(Schedule s);

// Recompute policies: none; Megatron's selective (the attention core);
// DeepSeek-V3's (norms, MLA up-projections, SwiGLU); full (every layer from
// its input); torchtitan's op-level SAC ("selective-op": outputs of matmuls
// and attention saved except every second matmul of a layer, everything else
// recomputed) and layer-level SAC at its default frequency 2
// ("every-other-layer": every second layer fully recomputed).
enum class Recompute { kNone, kSelective, kDeepSeek, kFull, kSelectiveOp, kEveryOtherLayer };
const char* to_string(Recompute r);
Recompute parse_recompute(const std::string& s);  // recompute_names()
graph::AttentionImpl parse_attention(const std::string& s);  // attention_names()
std::vector<std::string> attention_names();                  // "flash", "flash2", "unfused"
graph::ElementwiseImpl parse_elementwise(const std::string& s);  // elementwise_names()
std::vector<std::string> elementwise_names();                    // "fused", "eager"
graph::CpRing parse_cp_ring(const std::string& s);  // cp_ring_names()
std::vector<std::string> cp_ring_names();           // "kv", "latent"
std::vector<std::string> recompute_names();

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
PrecisionPolicy bf16_policy();          // everything BF16; FP32 master, gradients, moments (Megatron default)
PrecisionPolicy deepseek_fp8_policy();  // V3TR §3.3 (see PrecisionPolicy)

// DeepSeek-V3 lends 20 of the H800's 132 SMs to communication under DualPipe
// (V3TR §3.2.2); other chips get the same share, rounded (dualpipe_comm_sms).
inline constexpr double kDualPipeCommSmShare = 20.0 / 132.0;
int dualpipe_comm_sms(int sm_count);

// plan.zero3_framework of the FSDP-style default (per-layer collectives, prefetched).
inline constexpr const char* kFsdpZero3 = "fsdp";

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
  // TP collectives decomposed and overlapped with the GEMMs that produce or
  // consume them (Transformer Engine/NeMo "tp_comm_overlap" userbuffers;
  // Wang et al., ASPLOS'23). Default false: fully exposed TP communication.
  bool tp_comm_overlap = false;
  // Attention kernels: flash (the part's fastest fused kernel, the default),
  // flash2 (FlashAttention-2, PyTorch SDPA's flash backend) or Megatron's
  // unfused CoreAttention (what Megatron-LM ran before its flash-attention
  // option).
  graph::AttentionImpl attention = graph::AttentionImpl::kFlash;
  // Memory-bound kernels around the GEMMs: fused (Transformer Engine,
  // Megatron, torch.compile; the default) or PyTorch eager running the
  // reference Llama code (graph::ElementwiseImpl::kEager).
  graph::ElementwiseImpl elementwise = graph::ElementwiseImpl::kFused;
  // What the context-parallel ring carries (cp > 1): the attention kernel's
  // keys and values ("kv", Transformer Engine's p2p ring; the default) or,
  // for MLA, the compressed latent that each GPU up-projects ("latent").
  graph::CpRing cp_ring = graph::CpRing::kKeyValue;
  // How ZeRO stage 3 moves parameters and gradients: "fsdp" (one collective
  // per transformer layer, prefetched one layer ahead; the default) or the
  // name of a file in calibrate/frameworks/ (e.g. "deepspeed-zero3-2021").
  std::string zero3_framework = kFsdpZero3;
  // Data-parallel gradient reduction (ZeRO < 3) overlapped with the last
  // micro-batch's backward, bucket by bucket as its gradients appear (PyTorch
  // DDP; Megatron-Core --overlap-grad-reduce, NeMo's recipes), or, when
  // false, issued only after the whole forward-backward (Megatron-LM's
  // default: the local DDP's allreduce_gradients() and the distributed
  // optimizer's reduce-scatter run after forward_backward_func).
  bool overlap_grad_reduce = true;
  // Each micro-batch's weight gradients accumulated into the FP32 gradient
  // buffer by the weight-gradient GEMM itself (cuBLAS beta = 1 epilogue:
  // Megatron-LM --gradient-accumulation-fusion, Megatron-Core's and NeMo's
  // default; the default here), or, when false, written by the GEMM at the
  // working precision and added into the buffer by a separate memory-bound
  // kernel (Megatron's DDP hook param.main_grad.add_(param.grad.data)),
  // which reads the gradient and reads and writes the buffer for every
  // parameter of the GPU every micro-batch (analytic::grad_accumulation_time).
  bool gradient_accumulation_fusion = true;
  // Pipeline sends and receives issued asynchronously and overlapped with the
  // next chunk's compute (Megatron-Core overlap_p2p_comm; NeMo 2.0 turns it on
  // whenever vpp > 1), or, when false (the default), run between chunks and
  // exposed (Megatron-LM's blocking p2p_communication; batch_p2p_comm). Only
  // with interleaved-1f1b (validate_plan(): Megatron-Core refuses it for the
  // other schedules); DualPipe overlaps its sends by construction.
  bool overlap_p2p_comm = false;
  int max_nodes_per_token = 0; // node-limited routing M (0 = unlimited)
  // Routing imbalance: tokens on the busiest expert GPU / the mean (1 = balanced).
  // Expert GEMMs and all-to-all of a step run at the pace of the busiest GPU.
  double expert_load_imbalance = 1.0;

  int gpus() const { return tp * pp * dp * cp; }
  // ZeRO-3 by parameter tensor: stage 3 run by a calibrate/frameworks/ file, not FSDP.
  bool zero3_per_tensor() const { return zero_stage == 3 && zero3_framework != kFsdpZero3; }
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
  // Activation sets held at the peak, in units of one chunk (the layers of
  // one stage for one micro-batch): micro-batches for GPipe/1F1B/ZB-H1, chunk
  // activations for interleaved (pv + p - 1 on rank 0) and DualPipe (PP + 1).
  int64_t inflight_micro_batches = 0;
  int64_t params_on_gpu = 0;  // weights held (both copies under DualPipe)
  int pipeline_rank = 0;      // which pipeline rank this breakdown is for
  Bytes activations_per_micro_batch;  // one micro-batch through every chunk this rank holds
};

// Layers on each pipeline stage (embedding with the first, head with the last;
// DeepSeek's DualPipe puts embedding and head/MTP on the same rank).
//
// Stages: pp * vpp (interleaved), 2 * pp (DualPipeV: a V of 2 chunks per
// rank), else pp. Rank r holds stage r; interleaved also r + pp, r + 2pp...;
// DualPipe holds stages r and pp-1-r (two copies of the model, DeepSeek-V3
// §3.2.1), DualPipeV chunks r and 2pp-1-r.
// Uneven split rule (stated): when layers % stages != 0, the embedding, the
// head + loss and each MTP layer count as one layer slot each; the slots are
// split floor/ceil over the stages and the first and last stage give up
// theirs (Megatron's --account-for-embedding-in-pipeline-split and
// --account-for-loss-in-pipeline-split; DeepSeek-V3: 61 + 3 = 64 slots over
// 16 stages). If that would leave an end stage without a layer, the layers
// alone are split floor/ceil. Floor/ceil splits take the short stages from
// the two ends first (last, first, second-to-last, second, ...) because the
// end stages also carry the embedding, the output head and loss, and the MTP
// module. Interleaved 1F1B needs an even split of the layers or of the slots
// (validate_plan()).
// Whether interleaved 1F1B splits model m evenly over `stages` virtual
// stages: the layers alone, or the layers plus one slot each for the
// embedding, the loss and each MTP layer (Megatron-Core's
// --account-for-embedding/loss-in-pipeline-split) with a layer left in the
// first and last stage. Used by validate_plan() and the defaults that pick vpp.
bool interleaved_split_even(const model::Model& m, int64_t stages);

struct StageLayout {
  std::vector<int64_t> layers_per_stage;  // size stages()
  std::vector<int64_t> first_layer;       // 0-based index of each stage's first layer
  std::vector<std::vector<int>> stages_of_rank;  // size pp: stages each pipeline rank holds
  int copies = 1;  // pipeline ranks holding each stage (2 under DualPipe)
  int stages() const { return static_cast<int>(layers_per_stage.size()); }
};

// What one stage contains: its transformer layers by kind, and whether it
// carries the embedding (first stage), or the head + loss and the MTP module
// (last stage).
struct StageContent {
  int64_t dense_layers = 0;
  int64_t moe_layers = 0;
  bool embedding = false;
  bool head = false;
  bool mtp = false;
};
StageContent stage_content(const StageLayout& layout, int stage, const model::Model& m);

// The graph blocks of a stage, each with how many times the stage runs it.
struct BlockUse {
  const graph::Block* block = nullptr;
  int64_t count = 0;
};
std::vector<BlockUse> stage_blocks(const graph::Graph& g, const StageContent& c);

// The per-GPU graph of one micro-batch under the plan's sharding, with the
// precision policy applied (graph::set_precision): linear GEMMs at
// policy.linear_gemms; output head (and MTP head) at policy.embedding_head;
// the MoE gate GEMM stays as built (BF16, V3TR §3.3); dispatch at
// policy.dispatch, combine at policy.combine. Activations the plan caches in
// FP8 (V3TR §3.3.3: FP8-computed Linear inputs, MoE SwiGLU inputs; E5M6
// = 12 bits for the Linear after attention) have activation_bytes_saved
// scaled accordingly.
graph::Graph plan_graph(const Plan& p, const model::Model& m, bool causal = true);
// True for GEMMs of Linear layers (not the head, not the MoE gate).
bool is_linear_gemm(const graph::Operator& op);

// Activations one instance of a block keeps for backward under a recompute
// policy, from the operators' activation_bytes_saved (see plan.cc for each
// rule), and what recomputation frees and redoes.
struct BlockActivations {
  Bytes kept;     // held from forward to backward
  Bytes dropped;  // freed by recomputation, rebuilt layer by layer in backward
};
BlockActivations block_activations(const graph::Block& b, Recompute r, const Plan& p,
                                   const model::Model& m);
// The share of this operator's forward (one instance of block b, which must
// hold it) that the policy recomputes in backward: 0, 1, or between them
// where the policy recomputes part of a fused GEMM or part of the layers.
double recompute_fraction(const graph::Operator& op, const graph::Block& b, Recompute r);
// The share of a block's forward communication (TP collectives, MoE dispatch
// and combine) that the policy redoes in backward: policies that recompute
// whole layers from their input re-run the layer's forward with its
// collectives (Megatron's CheckpointFunction re-runs the layer's forward,
// all-reduces included): 1 for full, 0.5 for every other layer; 0 for a
// policy that recomputes single operators (their collectives' outputs are
// kept) and for blocks that are not transformer layers.
double layer_comm_recompute_fraction(const graph::Block& b, Recompute r);
// recompute_fraction() > 0.
bool is_recomputed(const graph::Operator& op, const graph::Block& b, Recompute r);

// Model states for `params` parameters replicated over `shards` GPUs (the
// data-parallel group of those parameters), by ZeRO stage (Rajbhandari et
// al., SC'20, §5 and Fig. 1): stage 0 keeps everything, 1 partitions the
// optimizer states, 2 also the gradients, 3 also the weights, each over
// `shards`. Bytes per parameter from the policy: weights, gradients, and
// optimizer = master + 2 moments (mixed-precision Adam: K = 4+4+4 = 12;
// DeepSeek's BF16 moments: 4+2+2 = 8).
struct ModelStateBytes {
  Bytes weights;
  Bytes gradients;
  Bytes optimizer_states;
};
ModelStateBytes zero_model_states(double params, double shards, int zero_stage,
                                  const PrecisionPolicy& policy);

// Activation chunks in flight at the rank's peak, for each stage it holds (in
// the order of layout.stages_of_rank[rank]): GPipe m; 1F1B and ZB-H1 pp - rank;
// interleaved (pp - rank - 1) * 2 + (vpp - 1) * pp + 1 spread over the chunks;
// DualPipe pp - h for stage h = min(rank, pp-1-rank) and h + 1 for stage
// pp-1-h (PP + 1 in all); DualPipeV 2pp - s for chunk s. Capped by the
// micro-batches that exist.
std::vector<int64_t> inflight_per_stage(const Plan& p, const StageLayout& layout, int rank);

// Rejects plans that cannot run, with the reason and the numbers (PlanError).
void validate_plan(const Plan& p, const model::Model& m, const hardware::Cluster& c);
StageLayout stage_layout(const Plan& p, const model::Model& m);
// The pipeline rank with the largest total.
MemoryBreakdown memory_per_gpu(const Plan& p, const model::Model& m);
// Every pipeline rank (size pp).
std::vector<MemoryBreakdown> memory_per_rank(const Plan& p, const model::Model& m);
// validate_plan() also checks memory_per_gpu().total() <= accelerator HBM capacity.

// One step of the context-parallel ring around attention core `op` under
// plan p: the chunk's keys and values in BF16 (b x seq/cp tokens x kv heads
// x (qk + v head dims); MLA under plan.cp_ring "latent": the compressed
// latent and rotary key, kv_lora_rank + qk_rope_head_dim per token). Zero
// without CP or for other operators.
Bytes cp_ring_chunk_bytes(const graph::Operator& op, const Plan& p);

// Parameter counts of one pipeline rank: on this GPU (sharded) and unique
// (unsharded) for expert (grouped-GEMM) and other parameters, and the size of
// the data-parallel group each kind is replicated over
// (= holders * on_gpu / unique, holders = copies * tp * dp * cp).
struct RankParams {
  int64_t dense_on_gpu = 0;   // non-expert parameters on this GPU
  int64_t expert_on_gpu = 0;  // routed-expert parameters on this GPU
  double dense_replicas = 1;  // GPUs holding each non-expert parameter
  double expert_replicas = 1; // GPUs holding each expert parameter
};
RankParams rank_params(const Plan& p, const model::Model& m, const StageLayout& layout, int rank);

}  // namespace trainsim::plan
