#include "model/model.h"

namespace trainsim::model {

const char* to_string(Architecture a) {
  switch (a) {
    case Architecture::kDeepseekV3: return "DeepseekV3ForCausalLM";
    case Architecture::kDeepseekV2: return "DeepseekV2ForCausalLM";
    case Architecture::kLlama: return "LlamaForCausalLM";
    case Architecture::kQwen2: return "Qwen2ForCausalLM";
    case Architecture::kMixtral: return "MixtralForCausalLM";
    case Architecture::kGpt: return "GPTForCausalLM";
  }
  return "?";
}

const char* to_string(AttentionKind a) {
  switch (a) {
    case AttentionKind::kMultiHead: return "multi-head (MHA/GQA)";
    case AttentionKind::kMla: return "multi-head latent (MLA)";
  }
  return "?";
}

const char* to_string(MlpKind m) {
  switch (m) {
    case MlpKind::kSwiGlu: return "SwiGLU";
    case MlpKind::kGelu: return "GELU";
    case MlpKind::kReluSquared: return "squared ReLU";
  }
  return "?";
}

const char* to_string(PositionKind p) {
  switch (p) {
    case PositionKind::kRotary: return "rotary";
    case PositionKind::kLearned: return "learned";
    case PositionKind::kAlibi: return "ALiBi";
  }
  return "?";
}

// HF modeling_deepseek.py (DeepseekV2/V3DecoderLayer): a layer is MoE when
// n_routed_experts is set, layer_idx >= first_k_dense_replace and
// layer_idx % moe_layer_freq == 0. Mixtral: every layer.
bool Model::is_moe_layer(int64_t layer_index) const {
  if (!moe) return false;
  return layer_index >= moe->first_k_dense && layer_index % moe->layer_freq == 0;
}

int64_t Model::moe_layer_count() const {
  int64_t n = 0;
  for (int64_t i = 0; i < layers; ++i) n += is_moe_layer(i) ? 1 : 0;
  return n;
}

int64_t Model::dense_layer_count() const { return layers - moe_layer_count(); }

int64_t Model::qk_head_dim() const {
  return attention == AttentionKind::kMla ? mla.qk_nope_head_dim + mla.qk_rope_head_dim : head_dim;
}

int64_t Model::v_head_dim() const {
  return attention == AttentionKind::kMla ? mla.v_head_dim : head_dim;
}

int64_t kv_cache_bytes_per_token(const Model& m) {
  constexpr int64_t kBf16Bytes = 2;
  if (m.attention == AttentionKind::kMla) {
    return (m.mla.kv_lora_rank + m.mla.qk_rope_head_dim) * kBf16Bytes * m.layers;
  }
  return 2 * m.kv_heads * m.head_dim * kBf16Bytes * m.layers;
}

}  // namespace trainsim::model
