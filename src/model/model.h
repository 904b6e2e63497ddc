// A model architecture: what is trained.
//
// Read from a Hugging Face config.json as is (DeepseekV3ForCausalLM,
// DeepseekV2ForCausalLM, LlamaForCausalLM, Qwen2ForCausalLM,
// MixtralForCausalLM) or from trainsim's plain-GPT description in the same
// style, or built from the architecture columns of a training-runs CSV row.
// Sizes are counts (elements, not bytes). Invariants after loading: every
// size >= 1 where the architecture uses it; heads divisible by kv_heads;
// MoE fields consistent (experts_per_token <= n_routed_experts, ...).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace trainsim::model {

enum class Architecture { kDeepseekV3, kDeepseekV2, kLlama, kQwen2, kMixtral, kGpt };
const char* to_string(Architecture a);

enum class AttentionKind { kMultiHead, kMla };  // kMultiHead covers MHA, GQA and MQA
// kSwiGlu: gated MLP, three matrices (gate, up: h->f; down: f->h).
// kGelu, kReluSquared: ungated MLP, two matrices (up h->f, down f->h).
enum class MlpKind { kSwiGlu, kGelu, kReluSquared };
// kAlibi: attention biases, no position parameters (MPT).
enum class PositionKind { kRotary, kLearned, kAlibi };
const char* to_string(AttentionKind a);
const char* to_string(MlpKind m);
const char* to_string(PositionKind p);
enum class NormKind { kRmsNorm, kLayerNorm };

// Multi-head latent attention (DeepSeek-V2/V3).
struct MlaDims {
  int64_t q_lora_rank = 0;  // 0: queries are projected directly (V2-Lite)
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;
};

struct MoeSpec {
  int64_t n_routed_experts = 0;
  int64_t n_shared_experts = 0;
  int64_t experts_per_token = 0;  // top-k
  int64_t expert_ffn = 0;         // moe_intermediate_size
  int64_t first_k_dense = 0;      // first layers with a dense FFN
  int64_t layer_freq = 1;         // every n-th layer after first_k_dense is MoE
  int64_t n_group = 0;            // expert groups (node-limited routing); 0 = none
  int64_t topk_group = 0;         // groups (nodes) a token may reach
};

struct Model {
  std::string name;         // "deepseek_v3"
  std::string source_file;  // where it was read from
  std::string source;       // the config's "_source" annotation (where its values come from), may be empty
  // The config's "_published" annotations (key, text): published figures shown
  // beside computed ones by `model show`; display only, never a model input.
  std::vector<std::pair<std::string, std::string>> published;
  Architecture architecture = Architecture::kLlama;

  int64_t hidden = 0;
  int64_t layers = 0;          // transformer layers (not counting MTP)
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;        // hidden / heads unless the config says otherwise
  int64_t ffn = 0;             // dense FFN intermediate size
  int64_t vocab = 0;
  int64_t max_seq_len = 0;

  AttentionKind attention = AttentionKind::kMultiHead;
  MlaDims mla;                 // when attention == kMla
  MlpKind mlp = MlpKind::kSwiGlu;
  PositionKind position = PositionKind::kRotary;
  NormKind norm = NormKind::kRmsNorm;
  bool attention_bias = false; // q/k/v (and o for GPT) biases
  bool mlp_bias = false;
  bool tied_embeddings = false;

  std::optional<MoeSpec> moe;
  int64_t mtp_layers = 0;      // DeepSeek multi-token prediction depth

  bool is_moe_layer(int64_t layer_index) const;  // 0-based
  int64_t dense_layer_count() const;
  int64_t moe_layer_count() const;

  // Derived per-head widths of the attention core.
  int64_t qk_head_dim() const;  // MLA: nope + rope (192); else head_dim
  int64_t v_head_dim() const;   // MLA: v_head_dim (128); else head_dim
  // Weight matrices of one dense-FFN MLP: 3 for gated (SwiGLU), 2 otherwise.
  int64_t mlp_matrices() const { return mlp == MlpKind::kSwiGlu ? 3 : 2; }
};

// By name in model_configs/ ("deepseek_v3") or by path to any config.json.
Model load_model(const std::string& name_or_path);
// Parses a config.json document already in memory (name used in messages).
Model parse_model(const std::string& json_text, const std::string& file, const std::string& name);
std::vector<std::string> list_models();

// Parameter counts (matrices and biases, and norms where stated), exact.
struct ParamCounts {
  int64_t total = 0;            // main model, MTP excluded
  int64_t activated = 0;        // per token: attention + dense/shared + top-k experts + router + embedding + head
  int64_t mtp = 0;              // MTP module's unique parameters (shared embedding/head excluded)
  int64_t embedding = 0;
  int64_t head = 0;             // output projection (0 extra when tied)
  int64_t attention = 0;        // all layers
  int64_t dense_ffn = 0;        // dense-FFN layers
  int64_t experts = 0;          // routed experts, all layers
  int64_t shared_experts = 0;
  int64_t router = 0;
  int64_t norms = 0;
};
ParamCounts count_params(const Model& m);

// Building blocks of count_params (one layer; weights plus biases).
int64_t attention_params_per_layer(const Model& m);  // projections (+ biases); MLA norms excluded
int64_t mlp_params(const Model& m, int64_t ffn);     // one MLP of width ffn (dense FFN or one expert)
int64_t norm_params_per_layer(const Model& m);       // pre-attention, pre-FFN (+ MLA q_a/kv_a norms)
int64_t mtp_params_per_layer(const Model& m);        // DeepSeek MTP module, shared embedding/head excluded

// BF16 KV cache per token over all layers (MTP excluded), in bytes.
// MLA caches the compressed latent and the decoupled rope key:
// (kv_lora_rank + qk_rope_head_dim) * 2 B * layers (ISCA '25 Table 1: V3 = 70,272 B).
// MHA/GQA caches K and V: 2 * kv_heads * head_dim * 2 B * layers.
int64_t kv_cache_bytes_per_token(const Model& m);

// The largest size (layers, widths, heads, vocabulary, sequence length) a
// model configuration or a CSV row may state; larger is a typo, and every
// product of two such sizes stays inside int64.
inline constexpr int64_t kMaxSize = int64_t{1} << 24;

// The architecture columns of a training-runs CSV row
// (/work/shared/reference/training_runs.csv). Empty cells are nullopt.
struct ArchColumns {
  std::optional<int64_t> layers, hidden, heads, kv_heads, ffn_size, vocab, seq_len;
  std::optional<int64_t> moe_experts, moe_active_experts, moe_shared_experts, moe_expert_ffn;
  std::string arch_type;  // "dense GPT", "dense", "dense (MPT: ALiBi, FlashAttention)", "MoE"
  // Optional override of the MLP kind that the columns cannot express
  // ("swiglu", "gelu", "relu2"); empty = the rule in model_from_columns.
  std::string mlp;
};

// Builds a Model from CSV columns. Mapping of arch_type (see columns.cc):
//   "dense GPT" -> GPT (Megatron): LayerNorm, GELU MLP, biases, learned
//                  positions, tied embeddings; kv_heads = heads when empty.
//   "dense (MPT...)" -> GPT with ALiBi (no position parameters), GELU, no
//                  biases, tied embeddings.
//   "dense"     -> Llama-style: RMSNorm, rotary, untied; SwiGLU unless
//                  ffn_size == 4*hidden (ungated squared-ReLU MLP, e.g.
//                  Nemotron-4) or `mlp` says otherwise.
//   "MoE"       -> Mixtral-style (Grok-1): every layer MoE, no shared
//                  experts unless moe_shared_experts > 0, gated experts.
// arch_type is free text (training_runs.md): any other text is read by
// keywords (columns.cc read_arch_type: MoE, then MPT/ALiBi, then GPT, else
// Llama-style). An empty dense ffn_size is 4 * hidden. Both readings are
// appended to `defaults` (when given) as the row's defaults.
// Errors: ConfigError with file "<csv>" and pointer "/<row_id>/<column>".
Model model_from_columns(const ArchColumns& c, const std::string& row_id,
                         std::vector<std::string>* defaults = nullptr);

}  // namespace trainsim::model
