// Building the per-GPU operator graph of one micro-batch.
//
// Conventions (each also stated where it is applied):
// - GEMM (M x K) * (K x N): forward 2MNK, input gradient 2MNK, weight
//   gradient 2MNK (Narayanan et al., SC'21, "Efficient Large-Scale Language
//   Model Training on GPU Clusters", §5.1: backward = 2x forward).
// - Attention core: forward 2*b*h*s_q*s_kv*(d_qk + d_v) (QK^T and PV),
//   halved when causal (counting half the score matrix, as Megatron's and
//   ISCA '25 Table 2's causal counts do). Backward, algorithmic: dQ, dK
//   (d_qk each), dV, dP (d_v each) = 2x forward, no weight gradient. The
//   FlashAttention-2 backward also recomputes S = QK^T (Dao 2023, Alg. 2:
//   5 matmuls in backward vs 2 in forward, i.e. 2.5x forward when
//   d_qk = d_v); that part is in bwd_kernel_recompute, not in bwd_input.
// - Non-matmul operators (norms, activations, rotary, residual adds, router,
//   loss) carry small approximate arithmetic counts (the k*FlopsPerElement
//   constants below); they are memory bound and the cost model times them by
//   their bytes.
// - Bytes are the minimum HBM traffic: every operand read once, every result
//   written once, at the operand precision (BF16 as built).
// - Sharding: TP splits attention heads, dense-FFN columns and the vocabulary;
//   MLA's down-projections (q_a_proj, kv_a_proj) are replicated over TP
//   (Megatron-Core MLA). CP splits the sequence: queries s/CP, keys s (load-
//   balanced causal CP gives each rank 1/CP of the causal work). MoE layers
//   are not tensor-parallel (Megatron's expert_tensor_parallel_size = 1): the
//   tokens entering the router are split over TP ranks (tokens/TP), and EP
//   places n_experts/EP experts on a GPU, which with balanced routing
//   receives tokens*k expert-token rows in all.
#include "graph/graph.h"

#include <cmath>

#include "core/error.h"

namespace trainsim::graph {
namespace {

using model::Model;

constexpr double kBf16 = 2.0;  // bytes per BF16 element
constexpr double kFp32 = 4.0;

// Approximate arithmetic operations per element of the non-matmul operators.
constexpr double kNormFlopsPerElement = 4.0;        // square, sum, scale, weight multiply
constexpr double kActivationFlopsPerElement = 6.0;  // SiLU/GELU (~4) and the gate multiply
constexpr double kRotaryFlopsPerElement = 3.0;      // x*cos + rotate(x)*sin
constexpr double kAddFlopsPerElement = 1.0;
constexpr double kRouterFlopsPerScore = 6.0;        // sigmoid/softmax, bias, top-k compare
constexpr double kLossFlopsPerLogit = 5.0;          // max, subtract, exp, sum, pick
constexpr double kSoftmaxFlopsPerElement = 5.0;     // scale, mask, max, exp, normalise
constexpr double kDropoutFlopsPerElement = 2.0;     // random draw, select and scale
constexpr double kMask = 1.0;                       // bytes per dropout-mask element (uint8)
constexpr int64_t kFp8TileElements = 128;           // V3TR §3.3.2: 1x128 activation tiles

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

Flops flops(double v) { return Flops(v); }
Bytes bytes(double v) { return Bytes(v); }

double elem_bytes(Precision p) { return bytes_per_element(p); }

// Fills the work of a (grouped) GEMM from its shape and precision.
void fill_gemm_work(Operator& op) {
  const GemmShape& g = op.gemm;
  const double rows = static_cast<double>(g.total_m);
  const double n = static_cast<double>(g.n);
  const double k = static_cast<double>(g.k);
  const double w = static_cast<double>(g.groups) * k * n;  // weight elements
  const double b = elem_bytes(op.precision);
  const Flops f = flops(2.0 * rows * n * k);
  op.fwd = {f, bytes((rows * k + w + rows * n) * b)};        // X, W -> Y
  op.bwd_input = {f, bytes((rows * n + w + rows * k) * b)};  // dY, W -> dX
  op.bwd_weight = {f, bytes((rows * k + rows * n + w) * b)}; // X, dY -> dW
}

struct Ctx {
  const Model& m;
  int64_t b = 0;       // sequences
  int64_t s = 0;       // full sequence length
  int64_t t = 0;       // tokens on this GPU: b * s / cp
  int64_t t_norm = 0;  // rows of norms/residuals: t / tp under sequence parallel
  int64_t t_moe = 0;   // tokens entering the MoE layer on this GPU: t / tp
  Sharding sh;
  bool causal = true;
  AttentionImpl attention = AttentionImpl::kFlash;
  ElementwiseImpl elementwise = ElementwiseImpl::kFused;
};

// PyTorch eager kernels of the reference Llama code, HBM bytes per element
// of the operator's tensor (read + write of each kernel; BF16 activations,
// FP32 where the code upcasts; per-row scalars neglected). Sources: torchtitan
// models/norms.py RMSNorm (`self._norm(x.float()).type_as(x) * self.weight`,
// `_norm = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)`) and
// models/llama/model.py (apply_rotary_emb, repeat_kv, FeedForward) as of the
// 2024 A100 preset (train_configs/llama3_8b.toml: norm_type = "rmsnorm",
// compile = false); backward kernels from PyTorch's autograd formulas
// (tools/autograd/derivatives.yaml, FunctionsManual.cpp pow_backward,
// mean_backward).
//   RMSNorm forward: float() 2+4, pow 4+4, mean 4, x*rsqrt 4+4, type_as 4+2,
//     *weight 2+2                                                       = 36
//   RMSNorm input backward: g*weight 2+2; type_as^T (to FP32) 2+4; x*r: g*r
//     4+4 and (g*x) 4+4+4 summed per row 4; mean^T expand/N 4; pow^T:
//     x.pow(1) 4+4, 2*() 4+4, g*() 4+4+4; the two uses of x summed 4+4+4;
//     float()^T 4+2                                                     = 84
//   RMSNorm weight backward: (g*y) 2+2+2 and its column sum 2          =  8
//   RMSNorm saved: x in FP32 (4) and the normalised y (2)              =  6
//   SwiGLU (per output element; silu then multiply): forward silu 2+2,
//     mul 2+2+2 = 10; backward g*up 2+2+2, g*a 2+2+2, silu^T 2+2+2 = 18;
//     saved gate, up and a = 6
//   Rotary (complex multiply in FP32): forward float() 2+4, multiply 4+4,
//     type_as 4+2 = 20; backward the same three transposed = 20
constexpr double kEagerRmsNormFwd = 36.0;
constexpr double kEagerRmsNormBwdInput = 84.0;
constexpr double kEagerRmsNormBwdWeight = 8.0;
constexpr double kEagerRmsNormSaved = 6.0;
constexpr double kEagerSwiGluFwd = 10.0;
constexpr double kEagerSwiGluBwd = 18.0;
constexpr double kEagerSwiGluSaved = 6.0;
constexpr double kEagerRotary = 20.0;

Operator gemm(const std::string& name, Component c, RecomputeClass rc, int64_t rows, int64_t n,
              int64_t k, int64_t bias) {
  Operator op;
  op.name = name;
  op.kind = OpKind::kGemm;
  op.component = c;
  op.recompute_class = rc;
  op.gemm = {rows, n, k, 1, rows};
  fill_gemm_work(op);
  op.params = n * k + bias;
  op.activation_bytes_saved = bytes(static_cast<double>(rows * k) * kBf16);  // X for Wgrad
  return op;
}

Operator grouped_gemm(const std::string& name, Component c, int64_t total_rows, int64_t groups,
                      int64_t n, int64_t k) {
  Operator op;
  op.name = name;
  op.kind = OpKind::kGroupedGemm;
  op.component = c;
  op.gemm = {ceil_div(total_rows, groups), n, k, groups, total_rows};
  fill_gemm_work(op);
  op.params = groups * n * k;
  op.activation_bytes_saved = bytes(static_cast<double>(total_rows * k) * kBf16);
  return op;
}

// rows: x.t_norm for norms on the residual stream (split under sequence
// parallel), x.t for the MLA latent norms (after the all-gather).
Operator norm(const Ctx& x, const std::string& name, Component c, int64_t width, int64_t rows = -1) {
  if (rows < 0) rows = x.t_norm;
  const double e = static_cast<double>(rows * width);
  Operator op;
  op.name = name;
  op.kind = OpKind::kNorm;
  op.component = c;
  op.recompute_class = RecomputeClass::kNorm;
  op.fwd = {flops(kNormFlopsPerElement * e), bytes(2.0 * e * kBf16 + width * kBf16)};
  op.bwd_input = {flops(2.0 * kNormFlopsPerElement * e), bytes(3.0 * e * kBf16 + width * kBf16)};
  op.bwd_weight = {flops(2.0 * e), bytes(width * kFp32)};  // d(gamma) reduced in the same kernel
  op.params = (x.m.norm == model::NormKind::kLayerNorm ? 2 : 1) * width;
  op.activation_bytes_saved = bytes(e * kBf16 + static_cast<double>(rows) * kFp32);  // x, 1/rms
  if (x.elementwise == ElementwiseImpl::kEager && x.m.norm == model::NormKind::kRmsNorm) {
    // Composite RMSNorm (see kEagerRmsNorm*); F.layer_norm stays one kernel.
    op.fwd.bytes = bytes(kEagerRmsNormFwd * e + width * kBf16);
    op.bwd_input.bytes = bytes(kEagerRmsNormBwdInput * e + width * kBf16);
    op.bwd_weight.bytes = bytes(kEagerRmsNormBwdWeight * e + width * kBf16);
    op.activation_bytes_saved = bytes(kEagerRmsNormSaved * e + static_cast<double>(rows) * kFp32);
  }
  return op;
}

Operator elementwise(const std::string& name, Component c, double elements, double flops_per,
                     double tensors_in) {
  Operator op;
  op.name = name;
  op.kind = OpKind::kElementwise;
  op.component = c;
  op.fwd = {flops(flops_per * elements), bytes((tensors_in + 1.0) * elements * kBf16)};
  op.bwd_input = {flops(flops_per * elements), bytes(2.0 * elements * kBf16)};
  return op;
}

// Rotary embedding over `elements` query/key elements: fused, one read and
// one write; eager, torchtitan's FP32 complex multiply (kEagerRotary).
Operator rotary(const Ctx& x, const std::string& name, Component c, double elements) {
  Operator op = elementwise(name, c, elements, kRotaryFlopsPerElement, 1.0);
  if (x.elementwise == ElementwiseImpl::kEager) {
    op.fwd.bytes = bytes(kEagerRotary * elements);
    op.bwd_input.bytes = bytes(kEagerRotary * elements);
  }
  return op;
}

// Eager grouped-query attention (torchtitan repeat_kv: unsqueeze, expand,
// reshape): keys and values copied from kv to all query heads before SDPA;
// the backward sums the copies back. The attention kernel then saves the
// copies, not the kv-sized tensors.
Operator repeat_kv(const Ctx& x, const std::string& name, Component c, int64_t heads, int64_t kv,
                   int64_t head_dim) {
  const double in = static_cast<double>(x.t * 2 * kv * head_dim);
  const double out = static_cast<double>(x.t * 2 * heads * head_dim);
  Operator op;
  op.name = name;
  op.kind = OpKind::kElementwise;
  op.component = c;
  op.fwd = {Flops::zero(), bytes((in + out) * kBf16)};
  op.bwd_input = {flops(out - in), bytes((out + in) * kBf16)};
  op.activation_bytes_saved = bytes((out - in) * kBf16);
  return op;
}

// Gated activation: input rows x 2f, output rows x f; ungated: rows x f both.
Operator activation(const Ctx& x, const std::string& name, Component c, bool gated, int64_t rows, int64_t f) {
  const double out = static_cast<double>(rows * f);
  const double in = gated ? 2.0 * out : out;
  Operator op;
  op.name = name;
  op.kind = OpKind::kActivation;
  op.component = c;
  op.recompute_class = RecomputeClass::kActivation;
  op.fwd = {flops(kActivationFlopsPerElement * out), bytes((in + out) * kBf16)};
  op.bwd_input = {flops(2.0 * kActivationFlopsPerElement * out), bytes((in + out + in) * kBf16)};
  op.activation_bytes_saved = bytes(in * kBf16);
  if (x.elementwise == ElementwiseImpl::kEager && gated) {
    // F.silu(w1(x)) * w3(x): two kernels forward, three backward (see
    // kEagerSwiGlu*); an ungated F.gelu is one kernel either way.
    op.fwd.bytes = bytes(kEagerSwiGluFwd * out);
    op.bwd_input.bytes = bytes(kEagerSwiGluBwd * out);
    op.activation_bytes_saved = bytes(kEagerSwiGluSaved * out);
  }
  return op;
}

Operator attention_core(const Ctx& x, const std::string& name, Component c, int64_t heads,
                        int64_t kv_heads, int64_t d_qk, int64_t d_v) {
  Operator op;
  op.name = name;
  op.kind = OpKind::kAttention;
  op.component = c;
  op.recompute_class = RecomputeClass::kAttentionCore;
  const int64_t s_q = x.s / x.sh.cp;
  const int64_t s_kv = x.s;
  op.attention = {x.b, s_q, s_kv, heads, kv_heads, d_qk, d_v, x.causal, x.attention};
  // Causal counts half the score matrix (see the file comment).
  const double frac = x.causal ? 0.5 : 1.0;
  const double pairs = static_cast<double>(x.b * heads * s_q) * static_cast<double>(s_kv) * frac;
  op.fwd.flops = flops(2.0 * pairs * static_cast<double>(d_qk + d_v));
  op.bwd_input.flops = op.fwd.flops * 2.0;  // dQ, dK, dV, dP
  op.bwd_kernel_recompute.flops = flops(2.0 * pairs * static_cast<double>(d_qk));  // S = QK^T again
  const double q = static_cast<double>(x.b * s_q * heads * d_qk) * kBf16;
  const double k = static_cast<double>(x.b * s_kv * kv_heads * d_qk) * kBf16;
  const double v = static_cast<double>(x.b * s_kv * kv_heads * d_v) * kBf16;
  const double o = static_cast<double>(x.b * s_q * heads * d_v) * kBf16;
  const double lse = static_cast<double>(x.b * heads * s_q) * kFp32;
  op.fwd.bytes = bytes(q + k + v + o + lse);
  op.bwd_input.bytes = bytes(2.0 * (q + k + v) + 2.0 * o + lse);  // read Q K V O dO lse, write dQ dK dV
  // Saved for backward: the GPU's own chunk of K and V; under CP the ring
  // brings the other chunks round again in backward (cp_ring_chunk_bytes).
  const double own = static_cast<double>(s_q) / static_cast<double>(s_kv);
  op.activation_bytes_saved = bytes(q + (k + v) * own + o + lse);
  return op;
}

// Megatron-LM's unfused CoreAttention (Narayanan et al. SC'21; the parts
// Korthikanti et al. MLSys'23 §4.1 count): per (sequence, head) pair,
//   S  = Q K^T          batched GEMM (s_q x s_kv x d_qk), the whole matrix
//   P  = softmax(mask(S * scale))   one fused kernel: read S, write P
//   P' = dropout(P)     read P, write P' and a one-byte mask
//   O  = P' V           batched GEMM (s_q x d_v x s_kv)
// Backward: dP' = dO V^T and dV = P'^T dO (the PV GEMM's input and "weight"
// gradient shapes), dropout backward (read dP' and the mask, write dP),
// softmax backward (read P and dP, write dS), dQ = dS K and dK = dS^T Q. The
// batched GEMMs have no weights; their second operand's gradient (dK, dV) is
// timed as the weight-gradient pass because it has that GEMM's shape.
// Saved for backward (Korthikanti §4.1: 2as^2b softmax output, as^2b mask,
// 2as^2b dropout output, plus Q, K, V): Q, K, V on the first GEMM (the
// inputs selective recompute keeps), P on the softmax, the mask on the
// dropout, P' on the second GEMM.
void add_unfused_attention_core(const Ctx& x, std::vector<Operator>& ops, const std::string& p, Component c,
                                int64_t heads, int64_t d_qk, int64_t d_v) {
  const int64_t pairs = x.b * heads;  // independent (sequence, head) problems
  const int64_t s_q = x.s / x.sh.cp;
  const int64_t s_kv = x.s;
  const double e = static_cast<double>(pairs * s_q) * static_cast<double>(s_kv);  // score elements
  auto batched = [&](const std::string& name, int64_t n, int64_t k) {
    Operator op;
    op.name = name;
    op.kind = OpKind::kGemm;
    op.component = c;
    op.recompute_class = RecomputeClass::kAttentionCore;
    op.gemm = {s_q, n, k, pairs, pairs * s_q};
    fill_gemm_work(op);
    return op;
  };
  Operator scores = batched(p + "attn.scores", s_kv, d_qk);
  scores.activation_bytes_saved =
      bytes(static_cast<double>(pairs) * (static_cast<double>(s_q * d_qk + s_kv * d_qk + s_kv * d_v)) * kBf16);
  ops.push_back(std::move(scores));

  // The fused scale-mask-softmax and the dropout: memory-bound passes over the scores.
  auto score_pass = [&](const char* name, double flops_per, double fwd_bytes, double bwd_bytes, double saved) {
    Operator op;
    op.name = p + name;
    op.kind = OpKind::kElementwise;
    op.component = c;
    op.recompute_class = RecomputeClass::kAttentionCore;
    op.fwd = {flops(flops_per * e), bytes(fwd_bytes * e)};
    op.bwd_input = {flops(flops_per * e), bytes(bwd_bytes * e)};
    op.activation_bytes_saved = bytes(saved * e);
    ops.push_back(std::move(op));
  };
  // Softmax: S -> P (read 2 B, write 2 B); backward reads P and dP, writes dS; saves P.
  score_pass("attn.softmax", kSoftmaxFlopsPerElement, 2.0 * kBf16, 3.0 * kBf16, kBf16);
  // Dropout: P -> P' and the mask (2 + 2 + 1 B); backward reads dP' and the
  // mask, writes dP (the same bytes); saves the mask.
  score_pass("attn.dropout", kDropoutFlopsPerElement, 2.0 * kBf16 + kMask, 2.0 * kBf16 + kMask, kMask);

  Operator context = batched(p + "attn.context", d_v, s_kv);
  context.activation_bytes_saved = bytes(e * kBf16);  // P'
  ops.push_back(std::move(context));
}

// has_o_bias as in model/params.cc: GPT and Llama bias o with the others.
bool o_bias(const Model& m) {
  return m.attention_bias && m.architecture != model::Architecture::kQwen2;
}

void add_attention(const Ctx& x, std::vector<Operator>& ops, const std::string& p, Component c) {
  const Model& m = x.m;
  const int64_t h = m.hidden;
  const int tp = x.sh.tp;
  const int64_t heads = m.heads / tp;
  ops.push_back(norm(x, p + "attn.norm", c == Component::kMtp ? c : Component::kNorm, h));
  if (m.attention == model::AttentionKind::kMla) {
    // DeepSeek MLA (V3TR §2.1.1; modeling_deepseek.py DeepseekV3Attention).
    const model::MlaDims& d = m.mla;
    const int64_t qk = d.qk_nope_head_dim + d.qk_rope_head_dim;
    const Component nc = c == Component::kMtp ? c : Component::kNorm;
    if (d.q_lora_rank > 0) {
      ops.push_back(gemm(p + "attn.q_a_proj", c, RecomputeClass::kNone, x.t, d.q_lora_rank, h, 0));
      ops.push_back(norm(x, p + "attn.q_a_norm", nc, d.q_lora_rank, x.t));
      ops.push_back(gemm(p + "attn.q_b_proj", c, RecomputeClass::kMlaUpProj, x.t, heads * qk,
                         d.q_lora_rank, 0));
    } else {
      ops.push_back(gemm(p + "attn.q_proj", c, RecomputeClass::kNone, x.t, heads * qk, h, 0));
    }
    ops.push_back(gemm(p + "attn.kv_a_proj_with_mqa", c, RecomputeClass::kNone, x.t,
                       d.kv_lora_rank + d.qk_rope_head_dim, h, 0));
    ops.push_back(norm(x, p + "attn.kv_a_norm", nc, d.kv_lora_rank, x.t));
    // Under a latent CP ring every GPU up-projects the latents of all cp
    // chunks it attends to (its own and the cp - 1 it receives).
    const int64_t up_tokens = x.sh.cp_ring == CpRing::kLatent ? x.t * x.sh.cp : x.t;
    ops.push_back(gemm(p + "attn.kv_b_proj", c, RecomputeClass::kMlaUpProj, up_tokens,
                       heads * (d.qk_nope_head_dim + d.v_head_dim), d.kv_lora_rank, 0));
    // It keeps only its own chunk's latent: the ring brings the others round
    // again in backward, one chunk at a time.
    ops.back().activation_bytes_saved = bytes(static_cast<double>(x.t * d.kv_lora_rank) * kBf16);
    // Rotary on the decoupled query (heads x rope) and shared key (rope) parts.
    ops.push_back(rotary(x, p + "attn.rope", c, static_cast<double>(x.t * (heads + 1) * d.qk_rope_head_dim)));
    if (x.attention == AttentionImpl::kUnfused) {
      add_unfused_attention_core(x, ops, p, c, heads, qk, d.v_head_dim);
    } else {
      ops.push_back(attention_core(x, p + "attn.core", c, heads, heads, qk, d.v_head_dim));
      ops.back().attention.latent_dim = d.kv_lora_rank + d.qk_rope_head_dim;
    }
    ops.push_back(gemm(p + "attn.o_proj", c, RecomputeClass::kNone, x.t, h, heads * d.v_head_dim,
                       o_bias(m) ? h : 0));
  } else {
    const int64_t kv = ceil_div(m.kv_heads, tp);
    const int64_t n_qkv = (heads + 2 * kv) * m.head_dim;
    ops.push_back(gemm(p + "attn.qkv_proj", c, RecomputeClass::kNone, x.t, n_qkv, h,
                       m.attention_bias ? n_qkv : 0));
    ops.back().fused_n = {heads * m.head_dim, kv * m.head_dim, kv * m.head_dim};
    if (m.position == model::PositionKind::kRotary) {
      ops.push_back(rotary(x, p + "attn.rope", c, static_cast<double>(x.t * (heads + kv) * m.head_dim)));
    }
    if (x.elementwise == ElementwiseImpl::kEager && kv < heads) {
      ops.push_back(repeat_kv(x, p + "attn.repeat_kv", c, heads, kv, m.head_dim));
    }
    if (x.attention == AttentionImpl::kUnfused) {
      add_unfused_attention_core(x, ops, p, c, heads, m.head_dim, m.head_dim);
    } else {
      ops.push_back(attention_core(x, p + "attn.core", c, heads, kv, m.head_dim, m.head_dim));
    }
    ops.push_back(gemm(p + "attn.o_proj", c, RecomputeClass::kNone, x.t, h, heads * m.head_dim,
                       o_bias(m) ? h : 0));
  }
  ops.push_back(elementwise(p + "attn.residual", c == Component::kMtp ? c : Component::kNorm,
                            static_cast<double>(x.t_norm * h),
                            kAddFlopsPerElement, 2.0));
}

// Row-parallel biases (o_proj, down) are replicated on every TP rank.
void add_mlp(const Ctx& x, std::vector<Operator>& ops, const std::string& p, Component c,
             int64_t rows, int64_t f) {
  const Model& m = x.m;
  const int64_t h = m.hidden;
  const bool gated = m.mlp == model::MlpKind::kSwiGlu;
  const int64_t n_up = gated ? 2 * f : f;
  ops.push_back(gemm(p + (gated ? "up_gate" : "up"), c, RecomputeClass::kNone, rows, n_up, h,
                     m.mlp_bias ? n_up : 0));
  if (gated) ops.back().fused_n = {f, f};  // gate (w1), then up (w3): down(silu(gate(x)) * up(x))
  ops.push_back(activation(x, p + "act", c, gated, rows, f));
  ops.push_back(gemm(p + "down", c, RecomputeClass::kNone, rows, h, f, m.mlp_bias ? h : 0));
}

void add_moe(const Ctx& x, std::vector<Operator>& ops, const std::string& p, Component c_override) {
  const Model& m = x.m;
  const model::MoeSpec& e = *m.moe;
  const int64_t h = m.hidden;
  const bool mtp = c_override == Component::kMtp;
  auto comp = [&](Component c) { return mtp ? Component::kMtp : c; };
  const int64_t t = x.t_moe;
  // Router gate GEMM, kept in BF16 (V3TR §3.3: MoE gating stays high precision).
  ops.push_back(gemm(p + "moe.gate", comp(Component::kRouter), RecomputeClass::kNone, t,
                     e.n_routed_experts, h, 0));
  {
    Operator r;
    r.name = p + "moe.router";
    r.kind = OpKind::kRouter;
    r.component = comp(Component::kRouter);
    const double scores = static_cast<double>(t * e.n_routed_experts);
    const double picks = static_cast<double>(t * e.experts_per_token);
    r.fwd = {flops(kRouterFlopsPerScore * scores), bytes(scores * kFp32 + picks * (kFp32 + kFp32))};
    r.bwd_input = {flops(2.0 * picks), bytes(picks * kFp32 + scores * kFp32)};
    r.activation_bytes_saved = bytes(scores * kFp32);
    ops.push_back(r);
  }
  const int64_t copies = t * e.experts_per_token;
  {
    Operator d;
    d.name = p + "moe.dispatch";
    d.kind = OpKind::kDispatch;
    d.component = comp(Component::kExperts);
    d.comm_tokens = copies;
    d.comm_elements_per_token = h;
    set_precision(d, Precision::kBF16);
    ops.push_back(d);
  }
  TRAINSIM_CHECK(e.n_routed_experts % x.sh.ep == 0, "EP {} must divide {} experts", x.sh.ep,
                 e.n_routed_experts);
  const int64_t groups = e.n_routed_experts / x.sh.ep;
  const bool gated = m.mlp == model::MlpKind::kSwiGlu;
  const int64_t f = e.expert_ffn;
  // Balanced routing: this GPU's experts receive copies = t*k rows in all,
  // t*EP*k/n_experts per expert.
  ops.push_back(grouped_gemm(p + "moe.experts.up_gate", comp(Component::kExperts), copies, groups,
                             gated ? 2 * f : f, h));
  ops.push_back(activation(x, p + "moe.experts.act", comp(Component::kExperts), gated, copies, f));
  ops.push_back(grouped_gemm(p + "moe.experts.down", comp(Component::kExperts), copies, groups, h, f));
  {
    Operator cb;
    cb.name = p + "moe.combine";
    cb.kind = OpKind::kCombine;
    cb.component = comp(Component::kExperts);
    cb.comm_tokens = copies;
    cb.comm_elements_per_token = h;
    set_precision(cb, Precision::kBF16);  // combine stays BF16 (V3TR §3.3.3)
    cb.activation_bytes_saved = bytes(static_cast<double>(copies) * kFp32);  // routing weights
    ops.push_back(cb);
  }
  if (e.n_shared_experts > 0) {
    add_mlp(x, ops, p + "moe.shared.", comp(Component::kSharedExperts), t, e.n_shared_experts * f);
  }
}

Block layer_block(const Ctx& x, bool moe, const std::string& p, Component c_override) {
  const Model& m = x.m;
  Block blk;
  blk.kind = moe ? BlockKind::kMoeLayer : BlockKind::kDenseLayer;
  const bool mtp = c_override == Component::kMtp;
  add_attention(x, blk.ops, p, mtp ? Component::kMtp : Component::kAttention);
  blk.ops.push_back(norm(x, p + "ffn.norm", mtp ? Component::kMtp : Component::kNorm, m.hidden));
  if (moe) {
    add_moe(x, blk.ops, p, c_override);
  } else {
    const int64_t f = ceil_div(m.ffn, x.sh.tp);
    add_mlp(x, blk.ops, p + "ffn.", mtp ? Component::kMtp : Component::kDenseFfn, x.t, f);
  }
  blk.ops.push_back(elementwise(p + "ffn.residual", mtp ? Component::kMtp : Component::kNorm,
                                static_cast<double>(x.t_norm * m.hidden), kAddFlopsPerElement, 2.0));
  return blk;
}

Operator embedding(const Ctx& x, const std::string& name, Component c, int64_t rows_in_table) {
  const int64_t h = x.m.hidden;
  Operator op;
  op.name = name;
  op.kind = OpKind::kEmbedding;
  op.component = c;
  const double e = static_cast<double>(x.t * h);
  op.fwd = {Flops(0.0), bytes(2.0 * e * kBf16 + static_cast<double>(x.t) * 8.0)};  // gather, ids
  op.bwd_weight = {flops(e), bytes(3.0 * e * kBf16)};  // scatter-add of dY into dW rows
  op.params = rows_in_table * h;
  return op;
}

Operator loss(const Ctx& x, const std::string& name, Component c, int64_t vocab) {
  Operator op;
  op.name = name;
  op.kind = OpKind::kLoss;
  op.component = c;
  const double logits = static_cast<double>(x.t * vocab);
  // HBM traffic of the cross-entropy as the frameworks write it: the BF16
  // logits are upcast to FP32 before the loss (torchtitan train.py loss_fn:
  // F.cross_entropy(pred.flatten(0, 1).float(), ...); Megatron-Core's
  // vocab-parallel cross-entropy also computes on logits.float()), and
  // F.cross_entropy is log_softmax + nll_loss, each a kernel over the logits.
  //   forward, bytes per logit: cast read 2 + write 4; log_softmax read 4 +
  //     write 4 (kept for the backward) = 14; plus the FP32 loss per token.
  //   backward: nll_loss backward writes a dense FP32 gradient 4; log_softmax
  //     backward reads it 4 and its output 4, writes 4; the cast's backward
  //     reads 4 and writes the BF16 logit gradient 2 = 22.
  op.fwd = {flops(kLossFlopsPerLogit * logits), bytes(logits * (kBf16 + 3.0 * kFp32) + x.t * kFp32)};
  op.bwd_input = {flops(2.0 * logits), bytes(logits * (5.0 * kFp32 + kBf16))};  // softmax - one-hot
  op.activation_bytes_saved = bytes(logits * kBf16);
  return op;
}

void add_head(const Ctx& x, std::vector<Operator>& ops, const std::string& p, Component c,
              bool owns_weights) {
  const int64_t vocab = ceil_div(x.m.vocab, x.sh.tp);
  ops.push_back(norm(x, p + "final_norm", c == Component::kMtp ? c : Component::kNorm, x.m.hidden));
  ops.push_back(gemm(p + "head", c, RecomputeClass::kNone, x.t, vocab, x.m.hidden, 0));
  if (!owns_weights) ops.back().params = 0;
  ops.push_back(loss(x, p + "loss", c, vocab));
}

}  // namespace

const char* to_string(CpRing r) {
  switch (r) {
    case CpRing::kKeyValue: return "kv";
    case CpRing::kLatent: return "latent";
  }
  return "?";
}

const char* to_string(AttentionImpl a) {
  switch (a) {
    case AttentionImpl::kFlash: return "flash";
    case AttentionImpl::kFlash2: return "flash2";
    case AttentionImpl::kUnfused: return "unfused";
  }
  return "?";
}

const char* to_string(ElementwiseImpl e) {
  switch (e) {
    case ElementwiseImpl::kFused: return "fused";
    case ElementwiseImpl::kEager: return "eager";
  }
  return "?";
}

const char* to_string(OpKind k) {
  switch (k) {
    case OpKind::kGemm: return "gemm";
    case OpKind::kGroupedGemm: return "grouped_gemm";
    case OpKind::kAttention: return "attention";
    case OpKind::kNorm: return "norm";
    case OpKind::kActivation: return "activation";
    case OpKind::kElementwise: return "elementwise";
    case OpKind::kRouter: return "router";
    case OpKind::kEmbedding: return "embedding";
    case OpKind::kLoss: return "loss";
    case OpKind::kDispatch: return "dispatch";
    case OpKind::kCombine: return "combine";
  }
  return "?";
}

const char* to_string(Component c) {
  switch (c) {
    case Component::kAttention: return "attention";
    case Component::kDenseFfn: return "dense_ffn";
    case Component::kExperts: return "experts";
    case Component::kSharedExperts: return "shared_experts";
    case Component::kRouter: return "router";
    case Component::kNorm: return "norm";
    case Component::kEmbedding: return "embedding";
    case Component::kHead: return "head";
    case Component::kMtp: return "mtp";
  }
  return "?";
}

const char* to_string(BlockKind k) {
  switch (k) {
    case BlockKind::kEmbedding: return "embedding";
    case BlockKind::kDenseLayer: return "dense_layer";
    case BlockKind::kMoeLayer: return "moe_layer";
    case BlockKind::kHead: return "head";
    case BlockKind::kMtp: return "mtp";
  }
  return "?";
}

Bytes token_bytes(int64_t elements, Precision p) {
  if (p == Precision::kFP8) {
    return Bytes(static_cast<double>(elements) +
                 static_cast<double>(ceil_div(elements, kFp8TileElements)) * kFp32);
  }
  return Bytes(static_cast<double>(elements) * bytes_per_element(p));
}

void set_precision(Operator& op, Precision p) {
  op.precision = p;
  if (op.kind == OpKind::kGemm || op.kind == OpKind::kGroupedGemm) {
    fill_gemm_work(op);
  } else if (op.kind == OpKind::kDispatch || op.kind == OpKind::kCombine) {
    op.comm_bytes_per_token = token_bytes(op.comm_elements_per_token, p);
    const double n = static_cast<double>(op.comm_tokens);
    op.fwd = {Flops(0.0), op.comm_bytes_per_token * n};
    // The gradient exchange (combine's backward is a dispatch and vice versa) is BF16.
    op.bwd_input = {Flops(0.0), token_bytes(op.comm_elements_per_token, Precision::kBF16) * n};
  }
}

Flops Graph::forward_flops() const {
  Flops f;
  for (const Block& b : blocks) {
    for (const Operator& op : b.ops) f += op.fwd.flops * b.count;
  }
  return f;
}

Flops Graph::backward_flops() const {
  Flops f;
  for (const Block& b : blocks) {
    for (const Operator& op : b.ops) f += (op.bwd_input.flops + op.bwd_weight.flops) * b.count;
  }
  return f;
}

Flops Graph::backward_kernel_recompute_flops() const {
  Flops f;
  for (const Block& b : blocks) {
    for (const Operator& op : b.ops) f += op.bwd_kernel_recompute.flops * b.count;
  }
  return f;
}

Flops Graph::train_flops(Component c) const {
  Flops f;
  for (const Block& b : blocks) {
    for (const Operator& op : b.ops) {
      if (op.component == c) f += (op.fwd.flops + op.bwd_input.flops + op.bwd_weight.flops) * b.count;
    }
  }
  return f;
}

Graph build_graph(const Model& m, int64_t seq_len, int64_t micro_batch, const Sharding& sharding,
                  bool causal, bool include_mtp, AttentionImpl attention, ElementwiseImpl kernels) {
  TRAINSIM_CHECK(seq_len >= 1 && micro_batch >= 1, "seq_len {} micro_batch {}", seq_len, micro_batch);
  TRAINSIM_CHECK(sharding.tp >= 1 && sharding.ep >= 1 && sharding.cp >= 1, "tp {} ep {} cp {}",
                 sharding.tp, sharding.ep, sharding.cp);
  TRAINSIM_CHECK(m.heads % sharding.tp == 0, "TP {} must divide {} heads", sharding.tp, m.heads);
  TRAINSIM_CHECK(seq_len % sharding.cp == 0, "CP {} must divide seq_len {}", sharding.cp, seq_len);
  Graph g;
  g.seq_len = seq_len;
  g.micro_batch = micro_batch;
  g.sharding = sharding;
  Ctx x{m, micro_batch, seq_len, micro_batch * seq_len / sharding.cp, 0, 0, sharding, causal, attention, kernels};
  x.t_norm = sharding.sequence_parallel ? ceil_div(x.t, sharding.tp) : x.t;
  x.t_moe = ceil_div(x.t, sharding.tp);

  {
    Block b;
    b.kind = BlockKind::kEmbedding;
    b.ops.push_back(embedding(x, "embed.tokens", Component::kEmbedding, ceil_div(m.vocab, sharding.tp)));
    if (m.position == model::PositionKind::kLearned) {
      b.ops.push_back(embedding(x, "embed.positions", Component::kEmbedding, m.max_seq_len));
      b.ops.push_back(elementwise("embed.add", Component::kEmbedding, static_cast<double>(x.t * m.hidden),
                                  kAddFlopsPerElement, 2.0));
    }
    g.blocks.push_back(std::move(b));
  }
  if (const int64_t n = m.dense_layer_count(); n > 0) {
    Block b = layer_block(x, false, "", Component::kAttention);
    b.count = static_cast<int>(n);
    g.blocks.push_back(std::move(b));
  }
  if (const int64_t n = m.moe_layer_count(); n > 0) {
    Block b = layer_block(x, true, "", Component::kAttention);
    b.count = static_cast<int>(n);
    g.blocks.push_back(std::move(b));
  }
  {
    Block b;
    b.kind = BlockKind::kHead;
    add_head(x, b.ops, "", Component::kHead, !m.tied_embeddings);
    if (m.tied_embeddings) b.ops[1].params = 0;  // the embedding owns the shared matrix
    g.blocks.push_back(std::move(b));
  }
  if (include_mtp && m.mtp_layers > 0) {
    // DeepSeek MTP module (V3TR §2.2): the shared embedding of the shifted
    // tokens and the main model's last hidden state are each RMS-normalised,
    // concatenated (2h) and projected to h, then one transformer layer (MoE,
    // like every layer past first_k_dense), then the shared output head and
    // its own final norm. The head is applied again, so its FLOPs count again.
    Block b;
    b.kind = BlockKind::kMtp;
    b.count = static_cast<int>(m.mtp_layers);
    b.ops.push_back(embedding(x, "mtp.embed", Component::kMtp, 0));
    b.ops.push_back(norm(x, "mtp.enorm", Component::kMtp, m.hidden));
    b.ops.push_back(norm(x, "mtp.hnorm", Component::kMtp, m.hidden));
    b.ops.push_back(gemm("mtp.eh_proj", Component::kMtp, RecomputeClass::kNone, x.t, m.hidden,
                         2 * m.hidden, 0));
    Block layer = layer_block(x, m.moe.has_value(), "mtp.", Component::kMtp);
    for (Operator& op : layer.ops) b.ops.push_back(std::move(op));
    add_head(x, b.ops, "mtp.", Component::kMtp, false);
    g.blocks.push_back(std::move(b));
  }
  return g;
}

Flops train_flops_per_token(const Model& m, int64_t seq_len, bool causal, bool include_mtp) {
  const Graph g = build_graph(m, seq_len, 1, Sharding{}, causal, include_mtp);
  return (g.forward_flops() + g.backward_flops()) / static_cast<double>(g.tokens());
}

}  // namespace trainsim::graph
