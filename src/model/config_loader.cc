// Reading model architectures from Hugging Face config.json files.
//
// Accepted "architectures"[0] values and the fields read (all others are
// tolerated and ignored, since HF configs carry many fields; keys starting
// with "_", such as "_source", are trainsim annotations):
//
//   DeepseekV3ForCausalLM, DeepseekV2ForCausalLM (modeling_deepseek.py):
//     required hidden_size, num_hidden_layers, num_attention_heads,
//     intermediate_size, moe_intermediate_size, vocab_size,
//     max_position_embeddings, n_routed_experts, n_shared_experts,
//     num_experts_per_tok, first_k_dense_replace, kv_lora_rank,
//     qk_nope_head_dim, qk_rope_head_dim, v_head_dim, q_lora_rank (present;
//     null = queries not compressed, V2-Lite); V3 also num_nextn_predict_layers.
//     Optional with the HF default: moe_layer_freq (1), n_group (none),
//     topk_group (none), num_key_value_heads (= heads), tie_word_embeddings (false),
//     attention_bias (false).
//   LlamaForCausalLM, Qwen2ForCausalLM (modeling_llama.py, modeling_qwen2.py):
//     required hidden_size, num_hidden_layers, num_attention_heads,
//     intermediate_size, vocab_size, max_position_embeddings.
//     Optional with the HF default: num_key_value_heads (= heads), head_dim
//     (= hidden/heads), tie_word_embeddings (false), attention_bias (false;
//     Qwen2 always has q/k/v biases), mlp_bias (false).
//   MixtralForCausalLM (modeling_mixtral.py): as Llama plus required
//     num_local_experts, num_experts_per_tok; intermediate_size is the
//     width of each expert; every layer is MoE.
//   GPTForCausalLM (model_type "gpt"): trainsim's description of a plain
//     GPT in the HF style (hidden_size-style names, not GPT-2's n_embd):
//     required hidden_size, num_hidden_layers, num_attention_heads,
//     intermediate_size, vocab_size, max_position_embeddings,
//     hidden_act ("gelu" | "relu2" | "silu"; silu = gated SwiGLU),
//     position_embedding_type ("learned" | "alibi" | "rope"), use_bias (bool:
//     biases on every linear layer), tie_word_embeddings (bool).
//     Optional: num_key_value_heads (= heads), norm_type ("layernorm" |
//     "rmsnorm", default "layernorm").
//
// Every required size must be an integer >= 1; a field that is missing,
// mistyped (with a did-you-mean on the present keys), of the wrong type or
// non-positive is a ConfigError naming the file and the JSON pointer.
#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "core/file_io.h"
#include "core/json_reader.h"
#include "core/paths.h"
#include "core/strings.h"
#include "model/model.h"

namespace trainsim::model {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kArchitectures = {
    "DeepseekV3ForCausalLM", "DeepseekV2ForCausalLM", "LlamaForCausalLM",
    "Qwen2ForCausalLM",      "MixtralForCausalLM",    "GPTForCausalLM"};

// Upper bound on every size, so that parameter and FLOP products stay far
// inside int64 and double range (no silent overflow): 2^24 = 16,777,216.

int64_t bounded(const JsonView& v) {
  const int64_t x = v.positive_integer();
  if (x > kMaxSize) v.fail_expected(fmt::format("a positive integer at most {}", kMaxSize));
  return x;
}

int64_t req(const JsonView& root, const char* key) { return bounded(root.at(key)); }

int64_t opt_pos(const JsonView& root, const char* key, int64_t hf_default) {
  auto v = root.find(key);
  return v ? bounded(*v) : hf_default;
}

bool opt_bool(const JsonView& root, const char* key, bool hf_default) {
  auto v = root.find(key);
  return v ? v->boolean() : hf_default;
}

void read_common(const JsonView& root, Model& m) {
  m.hidden = req(root, "hidden_size");
  m.layers = req(root, "num_hidden_layers");
  m.heads = req(root, "num_attention_heads");
  m.ffn = req(root, "intermediate_size");
  m.vocab = req(root, "vocab_size");
  m.max_seq_len = req(root, "max_position_embeddings");
  m.kv_heads = opt_pos(root, "num_key_value_heads", m.heads);
  if (m.heads % m.kv_heads != 0) {
    root.at("num_key_value_heads")
        .fail_expected(fmt::format("a divisor of num_attention_heads ({})", m.heads));
  }
  m.tied_embeddings = opt_bool(root, "tie_word_embeddings", false);
}

void read_head_dim(const JsonView& root, Model& m) {
  if (auto v = root.find("head_dim")) {
    m.head_dim = bounded(*v);
  } else {
    if (m.hidden % m.heads != 0) {
      root.at("num_attention_heads")
          .fail_expected(fmt::format("a divisor of hidden_size ({}) when head_dim is absent", m.hidden));
    }
    m.head_dim = m.hidden / m.heads;
  }
}

void read_deepseek(const JsonView& root, Model& m) {
  read_common(root, m);
  m.attention = AttentionKind::kMla;
  m.attention_bias = opt_bool(root, "attention_bias", false);
  // q_lora_rank must be present; null means queries are projected directly.
  if (!root.raw().contains("q_lora_rank")) root.at("q_lora_rank");  // throws "missing"
  if (auto v = root.find("q_lora_rank")) m.mla.q_lora_rank = bounded(*v);
  m.mla.kv_lora_rank = req(root, "kv_lora_rank");
  m.mla.qk_nope_head_dim = req(root, "qk_nope_head_dim");
  m.mla.qk_rope_head_dim = req(root, "qk_rope_head_dim");
  m.mla.v_head_dim = req(root, "v_head_dim");
  m.head_dim = m.mla.v_head_dim;
  MoeSpec e;
  e.expert_ffn = req(root, "moe_intermediate_size");
  e.n_routed_experts = req(root, "n_routed_experts");
  e.n_shared_experts = root.at("n_shared_experts").non_negative_integer();
  if (e.n_shared_experts > kMaxSize) root.at("n_shared_experts").fail_expected("a smaller integer");
  e.experts_per_token = req(root, "num_experts_per_tok");
  e.first_k_dense = root.at("first_k_dense_replace").non_negative_integer();  // checked <= layers below
  e.layer_freq = opt_pos(root, "moe_layer_freq", 1);
  if (auto v = root.find("n_group")) e.n_group = bounded(*v);
  if (auto v = root.find("topk_group")) e.topk_group = bounded(*v);
  if (e.experts_per_token > e.n_routed_experts) {
    root.at("num_experts_per_tok")
        .fail_expected(fmt::format("at most n_routed_experts ({})", e.n_routed_experts));
  }
  if (e.n_group > 0 && e.n_routed_experts % e.n_group != 0) {
    root.at("n_group").fail_expected(
        fmt::format("a divisor of n_routed_experts ({})", e.n_routed_experts));
  }
  if (e.topk_group > std::max<int64_t>(e.n_group, 1)) {
    root.at("topk_group").fail_expected(fmt::format("at most n_group ({})", e.n_group));
  }
  if (e.first_k_dense > m.layers) {
    root.at("first_k_dense_replace")
        .fail_expected(fmt::format("at most num_hidden_layers ({})", m.layers));
  }
  m.moe = e;
  if (m.architecture == Architecture::kDeepseekV3) {
    m.mtp_layers = root.at("num_nextn_predict_layers").non_negative_integer();
    if (m.mtp_layers > m.layers) {
      root.at("num_nextn_predict_layers").fail_expected(fmt::format("at most num_hidden_layers ({})", m.layers));
    }
  }
}

void read_llama(const JsonView& root, Model& m) {
  read_common(root, m);
  read_head_dim(root, m);
  m.attention_bias = m.architecture == Architecture::kQwen2 || opt_bool(root, "attention_bias", false);
  m.mlp_bias = opt_bool(root, "mlp_bias", false);
}

void read_mixtral(const JsonView& root, Model& m) {
  read_common(root, m);
  read_head_dim(root, m);
  MoeSpec e;
  e.expert_ffn = m.ffn;
  e.n_routed_experts = req(root, "num_local_experts");
  e.experts_per_token = req(root, "num_experts_per_tok");
  if (e.experts_per_token > e.n_routed_experts) {
    root.at("num_experts_per_tok")
        .fail_expected(fmt::format("at most num_local_experts ({})", e.n_routed_experts));
  }
  m.moe = e;
}

void read_gpt(const JsonView& root, Model& m) {
  read_common(root, m);
  read_head_dim(root, m);
  const std::string act = root.at("hidden_act").one_of({"gelu", "relu2", "silu"});
  m.mlp = act == "gelu" ? MlpKind::kGelu : act == "relu2" ? MlpKind::kReluSquared : MlpKind::kSwiGlu;
  const std::string pos = root.at("position_embedding_type").one_of({"learned", "alibi", "rope"});
  m.position = pos == "learned" ? PositionKind::kLearned
               : pos == "alibi" ? PositionKind::kAlibi
                                : PositionKind::kRotary;
  const bool bias = root.at("use_bias").boolean();
  m.attention_bias = bias;
  m.mlp_bias = bias;
  m.tied_embeddings = root.at("tie_word_embeddings").boolean();
  m.norm = NormKind::kLayerNorm;
  if (auto v = root.find("norm_type")) {
    m.norm = v->one_of({"layernorm", "rmsnorm"}) == "layernorm" ? NormKind::kLayerNorm
                                                               : NormKind::kRmsNorm;
  }
}

std::string name_from_path(const std::string& path) {
  fs::path p(path);
  std::string stem = p.stem().string();
  if (stem == "config" && p.has_parent_path() && !p.parent_path().filename().empty()) {
    return p.parent_path().filename().string();
  }
  return stem;
}

}  // namespace

Model parse_model(const std::string& json_text, const std::string& file, const std::string& name) {
  JsonDocument doc = JsonDocument::parse(json_text, file);
  const JsonView root = doc.root();
  if (!root.is_object()) root.fail_expected("a JSON object (a Hugging Face config.json)");
  std::string source;
  if (auto s = root.find("_source")) source = s->string();
  std::vector<std::pair<std::string, std::string>> published;
  if (auto pub = root.find("_published")) {
    if (!pub->is_object()) pub->fail_expected("an object of strings");
    for (const std::string& k : pub->keys()) published.emplace_back(k, pub->at(k).string());
  }
  const JsonView archs = root.at("architectures");
  if (!archs.is_array() || archs.size() == 0) archs.fail_expected("a non-empty array of strings");
  const std::string arch = archs.at(size_t{0}).one_of(kArchitectures);

  Model m;
  m.name = name;
  m.source_file = file;
  m.source = source;
  m.published = published;
  if (arch == "DeepseekV3ForCausalLM") {
    m.architecture = Architecture::kDeepseekV3;
    read_deepseek(root, m);
  } else if (arch == "DeepseekV2ForCausalLM") {
    m.architecture = Architecture::kDeepseekV2;
    read_deepseek(root, m);
  } else if (arch == "LlamaForCausalLM") {
    m.architecture = Architecture::kLlama;
    read_llama(root, m);
  } else if (arch == "Qwen2ForCausalLM") {
    m.architecture = Architecture::kQwen2;
    read_llama(root, m);
  } else if (arch == "MixtralForCausalLM") {
    m.architecture = Architecture::kMixtral;
    read_mixtral(root, m);
  } else {
    m.architecture = Architecture::kGpt;
    read_gpt(root, m);
  }
  return m;
}

std::vector<std::string> list_models() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(paths::model_configs_dir(), ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") {
      out.push_back(entry.path().stem().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

Model load_model(const std::string& name_or_path) {
  const bool is_path = name_or_path.find('/') != std::string::npos ||
                       (name_or_path.size() > 5 &&
                        name_or_path.compare(name_or_path.size() - 5, 5, ".json") == 0);
  std::string path = name_or_path;
  std::string name = name_from_path(name_or_path);
  if (!is_path) {
    path = paths::model_configs_dir() + "/" + name_or_path + ".json";
    name = name_or_path;
    if (!fs::is_regular_file(path)) {
      const auto known = list_models();
      throw UsageError(fmt::format("unknown model \"{}\"{}; known models: {} (or give a path to a config.json)",
                                   name_or_path, did_you_mean(name_or_path, known), join(known)));
    }
  }
  return parse_model(read_file(path), path, name);
}

}  // namespace trainsim::model
