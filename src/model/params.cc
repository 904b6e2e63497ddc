// Exact parameter counts from the architecture: weight matrices, biases and
// normalisation weights, following the Hugging Face modeling files
// (modeling_deepseek.py, modeling_llama.py, modeling_qwen2.py,
// modeling_mixtral.py) and Megatron-LM's GPT. The DeepSeek-V3 router's
// e_score_correction_bias (a per-expert buffer updated by a rule, not by
// gradients; V3TR §2.1.2) is not counted.
#include "model/model.h"

namespace trainsim::model {
namespace {

// Weights of one normalisation of width w: RMSNorm has a scale, LayerNorm a
// scale and a bias.
int64_t norm_params(const Model& m, int64_t w) {
  return m.norm == NormKind::kLayerNorm ? 2 * w : w;
}

bool has_o_bias(const Model& m) {
  // GPT (Megatron) has a bias on every linear layer; HF Llama puts
  // attention_bias on q, k, v and o; Qwen2 biases only q, k, v.
  return m.attention_bias && m.architecture != Architecture::kQwen2;
}

int64_t moe_layer_unique(const Model& m) {
  const MoeSpec& e = *m.moe;
  return (e.n_routed_experts + e.n_shared_experts) * mlp_params(m, e.expert_ffn) +
         m.hidden * e.n_routed_experts;  // + router gate (no bias)
}

}  // namespace

int64_t attention_params_per_layer(const Model& m) {
  const int64_t h = m.hidden;
  if (m.attention == AttentionKind::kMla) {
    // DeepSeek MLA (modeling_deepseek.py DeepseekV3Attention):
    // q_a_proj h->q_lora, q_b_proj q_lora->heads*(nope+rope) (or q_proj
    // h->heads*(nope+rope) when q_lora_rank is 0), kv_a_proj_with_mqa
    // h->kv_lora+rope, kv_b_proj kv_lora->heads*(nope+v), o_proj heads*v->h.
    const MlaDims& d = m.mla;
    const int64_t qk = d.qk_nope_head_dim + d.qk_rope_head_dim;
    const int64_t q = d.q_lora_rank > 0 ? h * d.q_lora_rank + d.q_lora_rank * m.heads * qk
                                        : h * m.heads * qk;
    return q + h * (d.kv_lora_rank + d.qk_rope_head_dim) +
           d.kv_lora_rank * m.heads * (d.qk_nope_head_dim + d.v_head_dim) +
           m.heads * d.v_head_dim * h;
  }
  const int64_t q = m.heads * m.head_dim;
  const int64_t kv = m.kv_heads * m.head_dim;
  int64_t p = h * (q + 2 * kv) + q * h;
  if (m.attention_bias) p += q + 2 * kv;
  if (has_o_bias(m)) p += h;
  return p;
}

int64_t mlp_params(const Model& m, int64_t ffn) {
  int64_t p = m.mlp_matrices() * m.hidden * ffn;
  // Biases: one per output feature of each matrix.
  if (m.mlp_bias) p += (m.mlp_matrices() - 1) * ffn + m.hidden;
  return p;
}

int64_t norm_params_per_layer(const Model& m) {
  int64_t p = 2 * norm_params(m, m.hidden);
  if (m.attention == AttentionKind::kMla) {
    if (m.mla.q_lora_rank > 0) p += norm_params(m, m.mla.q_lora_rank);
    p += norm_params(m, m.mla.kv_lora_rank);
  }
  return p;
}

int64_t mtp_params_per_layer(const Model& m) {
  if (m.mtp_layers == 0) return 0;
  // V3TR §2.2 / modeling: enorm, hnorm (RMSNorm h each), eh_proj 2h->h,
  // one transformer block (MoE, as layers >= first_k_dense), and the shared
  // head's own final norm; the embedding and output head are shared.
  const int64_t h = m.hidden;
  const int64_t ffn = m.moe ? moe_layer_unique(m) : mlp_params(m, m.ffn);
  return 3 * norm_params(m, h) + 2 * h * h + attention_params_per_layer(m) + ffn +
         norm_params_per_layer(m);
}

ParamCounts count_params(const Model& m) {
  ParamCounts c;
  const int64_t h = m.hidden;
  c.embedding = m.vocab * h;
  if (m.position == PositionKind::kLearned) c.embedding += m.max_seq_len * h;
  c.head = m.tied_embeddings ? 0 : m.vocab * h;
  c.attention = m.layers * attention_params_per_layer(m);
  c.norms = m.layers * norm_params_per_layer(m) + norm_params(m, h);  // + final norm
  c.dense_ffn = m.dense_layer_count() * mlp_params(m, m.ffn);
  int64_t activated_experts = 0;
  if (m.moe) {
    const MoeSpec& e = *m.moe;
    const int64_t n_moe = m.moe_layer_count();
    const int64_t expert = mlp_params(m, e.expert_ffn);
    c.experts = n_moe * e.n_routed_experts * expert;
    c.shared_experts = n_moe * e.n_shared_experts * expert;
    c.router = n_moe * h * e.n_routed_experts;
    activated_experts = n_moe * e.experts_per_token * expert;
  }
  c.total = c.embedding + c.head + c.attention + c.norms + c.dense_ffn + c.experts +
            c.shared_experts + c.router;
  // Per token: everything except the routed experts not chosen. The input
  // embedding is counted (one row is read per token), as in V3TR's 37B.
  c.activated = c.total - c.experts + activated_experts;
  c.mtp = m.mtp_layers * mtp_params_per_layer(m);
  return c;
}

}  // namespace trainsim::model
