// The operator graph: what one training step runs, per GPU.
//
// For one micro-batch of `micro_batch` sequences of `seq_len` tokens, the
// graph lists every operator of each kind of block (embedding, a dense
// layer, a MoE layer, the output head and loss, DeepSeek's multi-token
// prediction module), with its shape, operand precision, and the work
// (FLOPs and minimum bytes moved) of its forward pass, its input-gradient
// pass and its weight-gradient pass, and what recomputing it in backward
// adds. Shapes are per GPU under the sharding given (tensor parallel TP splits
// heads and FFN columns; expert parallel EP places n_experts/EP experts on
// each GPU; context parallel CP splits the sequence).
//
// This is the single place FLOPs are counted. The cost model, the analytic
// estimate, the simulator and `model show` all read these numbers; nothing
// else recounts them.
//
// Units: FLOPs counted as 2 per multiply-add; bytes are the minimum bytes a
// kernel must read and write in HBM (operands once, results once).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/precision.h"
#include "core/units.h"
#include "model/model.h"

namespace trainsim::graph {

enum class OpKind {
  kGemm,         // dense matrix multiply (M tokens x K) * (K x N)
  kGroupedGemm,  // `groups` GEMMs of m_per_group x K x N (MoE experts on this GPU)
  kAttention,    // attention core: QK^T, softmax, PV (flash-style, no S materialised)
  kNorm,         // RMSNorm / LayerNorm
  kActivation,   // SwiGLU / GELU elementwise
  kElementwise,  // residual adds, rotary embedding, dropout, scaling
  kRouter,       // MoE gating: scores, top-k (the gating GEMM is a separate kGemm)
  kEmbedding,    // token (and learned position) embedding lookup
  kLoss,         // softmax cross-entropy over the vocabulary
  kDispatch,     // MoE all-to-all dispatch (communication; bytes per token below)
  kCombine,      // MoE all-to-all combine
};
const char* to_string(OpKind k);

// Which part of the model an operator belongs to, for breakdowns. kNorm also
// holds the residual adds; every operator of the MTP block is kMtp.
enum class Component { kAttention, kDenseFfn, kExperts, kSharedExperts, kRouter, kNorm, kEmbedding, kHead, kMtp };
const char* to_string(Component c);

struct Work {
  Flops flops;
  Bytes bytes;  // minimum HBM traffic
};

struct GemmShape {
  int64_t m = 0;       // rows: tokens (per group for grouped GEMMs: ceil(total_m / groups))
  int64_t n = 0;       // output features
  int64_t k = 0;       // reduction dimension
  int64_t groups = 1;  // > 1 for grouped expert GEMMs
  int64_t total_m = 0; // rows over all groups, exact (FLOPs use this: 2 * total_m * n * k)
};

// How the attention core runs.
enum class AttentionImpl {
  // One fused kernel that never writes the score matrix to HBM: a single
  // kAttention operator, at the fastest fused kernel's rates (FlashAttention-3
  // or cuDNN on Hopper, FlashAttention-2 on Ampere; calib::AttentionKernel).
  kFlash,
  // The same single operator run by FlashAttention-2 (flash-attn 2.x, PyTorch
  // SDPA's flash backend) on every part: its own efficiency tables, which on
  // Hopper sit well below FlashAttention-3's (Shah et al. 2024, Figs. 5-6).
  kFlash2,
  // Megatron-LM's CoreAttention before flash attention (Narayanan et al.
  // SC'21; Korthikanti et al. MLSys'23 §4.1 lists its parts): batched QK^T,
  // fused scale-mask-softmax, attention dropout, batched PV. The b*h*s*s
  // score matrix passes through HBM several times and the GEMMs compute all
  // of it even when causal (the mask is applied in the softmax).
  kUnfused,
};
const char* to_string(AttentionImpl a);

struct AttentionShape {
  int64_t batch = 0;        // sequences in the micro-batch
  int64_t seq_q = 0;        // query length on this GPU (seq / CP)
  int64_t seq_kv = 0;       // key length
  int64_t heads = 0;        // query heads on this GPU (heads / TP)
  int64_t kv_heads = 0;     // key/value heads on this GPU
  int64_t qk_head_dim = 0;  // MLA: 192 = 128 nope + 64 rope
  int64_t v_head_dim = 0;   // MLA: 128
  bool causal = true;
  AttentionImpl impl = AttentionImpl::kFlash;  // kFlash or kFlash2: whose efficiency tables time it
  int64_t latent_dim = 0;  // MLA: kv_lora_rank + qk_rope_head_dim, the compressed K/V per token; 0 otherwise
};

// What a recompute policy may choose to recompute.
enum class RecomputeClass {
  kNone,          // never recomputed except under full recompute
  kNorm,          // normalisations (DeepSeek recomputes all RMSNorms)
  kMlaUpProj,     // MLA up-projections (DeepSeek recomputes them)
  kActivation,    // SwiGLU/GELU outputs (DeepSeek: MoE SwiGLU from FP8-cached inputs)
  kAttentionCore, // Megatron's selective recompute: the attention core
};

struct Operator {
  std::string name;  // "attn.q_b_proj", "moe.experts.up_gate", ...
  OpKind kind = OpKind::kGemm;
  Component component = Component::kAttention;
  Precision precision = Precision::kBF16;  // operand precision as built (BF16); plans may lower GEMMs to FP8
  RecomputeClass recompute_class = RecomputeClass::kNone;  // recomputing it in backward adds `fwd` again
  GemmShape gemm;            // kGemm, kGroupedGemm
  AttentionShape attention;  // kAttention
  Work fwd;                  // forward
  Work bwd_input;            // gradient w.r.t. inputs (Dgrad)
  Work bwd_weight;           // gradient w.r.t. weights (Wgrad); zero for weightless ops
  // Work the backward kernel redoes internally whatever the recompute policy:
  // FlashAttention-2 recomputes S = QK^T in its backward (Dao 2023, Alg. 2),
  // 2*b*h*s_q*s_kv*qk_dim (halved when causal). Not part of bwd_input, so
  // backward_flops() is the algorithmic count (attention bwd = 2x fwd, the
  // convention of Megatron's and ISCA '25's FLOP counts); the cost model adds
  // it to the attention backward's time. Zero for every other operator.
  Work bwd_kernel_recompute;
  // Communication ops (kDispatch, kCombine): bytes each token sends, and the
  // number of tokens on this GPU; the cost model turns these into all-to-all time.
  // comm_bytes_per_token is ONE copy of one token in the forward direction
  // (dispatch: hidden activations at the op's precision, FP8 adding one FP32
  // scale per 128 elements; combine: BF16). comm_tokens = token copies this GPU
  // sends = tokens * experts_per_token (naive, before any node-limited
  // de-duplication, which is the cost model's job). For these ops Work.bytes
  // is comm_tokens * bytes per copy (fwd; bwd_input for the gradient
  // exchange, always BF16), and flops are zero.
  Bytes comm_bytes_per_token;
  int64_t comm_tokens = 0;
  int64_t comm_elements_per_token = 0;  // hidden size; lets set_precision recompute the bytes
  // A GEMM that fuses several linear layers: their output widths, in the
  // order the unfused model calls them (q, k, v; gate, up). Empty otherwise.
  std::vector<int64_t> fused_n;
  int64_t params = 0;               // weights this operator owns on this GPU
  Bytes activation_bytes_saved;     // activations kept for backward if not recomputed (BF16 unless noted)
};

enum class BlockKind { kEmbedding, kDenseLayer, kMoeLayer, kHead, kMtp };
const char* to_string(BlockKind k);

struct Block {
  BlockKind kind = BlockKind::kDenseLayer;
  int count = 1;  // identical blocks in the model (e.g. 58 MoE layers)
  std::vector<Operator> ops;
};


// How the memory-bound operators around the GEMMs run.
enum class ElementwiseImpl {
  // Fused kernels (Transformer Engine / Apex / Megatron, or torch.compile):
  // a norm, an activation, a rotary embedding each read their inputs and
  // write their outputs once per pass.
  kFused,
  // PyTorch eager mode running the reference Llama code (torchtitan's
  // models/norms.py RMSNorm and models/llama/model.py): RMSNorm composed of
  // separate FP32 kernels (cast, square, mean, rsqrt, multiply, cast back,
  // weight), SiLU and the gate multiply as two kernels, rotary embedding as
  // an FP32 complex multiply, and grouped-query keys and values materialised
  // by repeat_kv; autograd runs one backward kernel per forward kernel.
  // LayerNorm (F.layer_norm) and GELU (F.gelu) are single ATen kernels in
  // eager mode too, so non-Llama models change less.
  kEager,
};
const char* to_string(ElementwiseImpl e);

// What context parallelism's key/value ring carries for an MLA layer.
enum class CpRing {
  // The keys and values the attention kernel takes (Transformer Engine's p2p
  // ring; MLA: up-projected, heads x (qk_head_dim + v_head_dim) per token).
  kKeyValue,
  // MLA only: the compressed latent and the shared rotary key (kv_lora_rank +
  // qk_rope_head_dim per token, for all heads at once); every GPU then
  // up-projects each chunk it receives, so its kv_b_proj runs over all cp
  // chunks of the sequence.
  kLatent,
};
const char* to_string(CpRing r);  // "kv", "latent"

// How the graph is cut across GPUs.
struct Sharding {
  int tp = 1;  // tensor parallel (heads, FFN columns, vocab)
  int ep = 1;  // expert parallel (n_routed_experts / ep experts per GPU)
  int cp = 1;  // context parallel (sequence split)
  bool sequence_parallel = false;  // Megatron SP: norms/dropout split over TP
  CpRing cp_ring = CpRing::kKeyValue;  // with cp > 1
};

struct Graph {
  int64_t seq_len = 0;
  int64_t micro_batch = 0;
  Sharding sharding;
  std::vector<Block> blocks;

  int64_t tokens() const { return seq_len * micro_batch; }
  // Totals over all blocks (count-weighted) for one micro-batch, this GPU.
  Flops forward_flops() const;
  Flops backward_flops() const;  // input + weight gradients (no recompute of any kind)
  Flops backward_kernel_recompute_flops() const;  // FlashAttention's internal QK^T recompute
  // forward + backward of the operators of one component.
  Flops train_flops(Component c) const;
};

// Changes an operator's operand precision and recomputes its bytes: GEMMs
// (operands and result at the new width) and dispatch (bytes per token).
// Plans call this to lower GEMMs / dispatch to FP8 (V3TR §3.3).
void set_precision(Operator& op, Precision p);

// Bytes of one token's `elements` activations sent at precision p. FP8 adds
// one FP32 scale per 1x128 tile (V3TR §3.3.2 fine-grained quantisation;
// DeepEP sends the scales with the data).
Bytes token_bytes(int64_t elements, Precision p);

// Training FLOPs per token (forward + backward, no recompute) of the whole
// model at TP = EP = CP = 1: the sum over blocks, times their counts,
// divided by the tokens of the micro-batch.
Flops train_flops_per_token(const model::Model& m, int64_t seq_len, bool causal, bool include_mtp);

// Builds the per-GPU graph. `causal` selects causal attention FLOPs (half
// the score matrix); `include_mtp` adds the MTP block when the model has one;
// `attention` picks the attention kernels (the unfused ones count the FLOPs
// their GEMMs execute, the whole score matrix; model-FLOP conventions such as
// MFU use the flash graph, whose counts are algorithmic).
// `kernels` picks fused or eager memory-bound kernels (bytes only; the
// FLOPs are the same).
Graph build_graph(const model::Model& m, int64_t seq_len, int64_t micro_batch,
                  const Sharding& sharding = {}, bool causal = true, bool include_mtp = true,
                  AttentionImpl attention = AttentionImpl::kFlash,
                  ElementwiseImpl kernels = ElementwiseImpl::kFused);

}  // namespace trainsim::graph
