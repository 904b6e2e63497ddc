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

// Which part of the model an operator belongs to, for breakdowns.
enum class Component { kAttention, kDenseFfn, kExperts, kSharedExperts, kRouter, kNorm, kEmbedding, kHead, kMtp };
const char* to_string(Component c);

struct Work {
  Flops flops;
  Bytes bytes;  // minimum HBM traffic
};

struct GemmShape {
  int64_t m = 0;       // rows: tokens (per group for grouped GEMMs)
  int64_t n = 0;       // output features
  int64_t k = 0;       // reduction dimension
  int64_t groups = 1;  // > 1 for grouped expert GEMMs
};

struct AttentionShape {
  int64_t batch = 0;        // sequences in the micro-batch
  int64_t seq_q = 0;        // query length on this GPU (seq / CP)
  int64_t seq_kv = 0;       // key length
  int64_t heads = 0;        // query heads on this GPU (heads / TP)
  int64_t kv_heads = 0;     // key/value heads on this GPU
  int64_t qk_head_dim = 0;  // MLA: 192 = 128 nope + 64 rope
  int64_t v_head_dim = 0;   // MLA: 128
  bool causal = true;
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
  RecomputeClass recompute_class = RecomputeClass::kNone;
  GemmShape gemm;            // kGemm, kGroupedGemm
  AttentionShape attention;  // kAttention
  Work fwd;                  // forward
  Work bwd_input;            // gradient w.r.t. inputs (Dgrad)
  Work bwd_weight;           // gradient w.r.t. weights (Wgrad); zero for weightless ops
  // Communication ops (kDispatch, kCombine): bytes each token sends, and the
  // number of tokens on this GPU; the cost model turns these into all-to-all time.
  Bytes comm_bytes_per_token;
  int64_t comm_tokens = 0;
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

// How the graph is cut across GPUs.
struct Sharding {
  int tp = 1;  // tensor parallel (heads, FFN columns, vocab)
  int ep = 1;  // expert parallel (n_routed_experts / ep experts per GPU)
  int cp = 1;  // context parallel (sequence split)
  bool sequence_parallel = false;  // Megatron SP: norms/dropout split over TP
};

struct Graph {
  int64_t seq_len = 0;
  int64_t micro_batch = 0;
  Sharding sharding;
  std::vector<Block> blocks;

  int64_t tokens() const { return seq_len * micro_batch; }
  // Totals over all blocks (count-weighted) for one micro-batch, this GPU.
  Flops forward_flops() const;
  Flops backward_flops() const;  // input + weight gradients
};

// Builds the per-GPU graph. `causal` selects causal attention FLOPs (half
// the score matrix); `include_mtp` adds the MTP block when the model has one.
Graph build_graph(const model::Model& m, int64_t seq_len, int64_t micro_batch,
                  const Sharding& sharding = {}, bool causal = true, bool include_mtp = true);

}  // namespace trainsim::graph
