// A Model from the architecture columns of a training-runs CSV row.
//
// The columns give sizes only; the arch_type text selects the conventions
// the columns cannot express (sources: Megatron-LM GPT, Narayanan et al.
// 2021 and Korthikanti et al. 2022: LayerNorm, GELU MLP with 4h width,
// biases, learned positions, tied embeddings; MPT, MosaicML llm-foundry:
// ALiBi, no biases, tied embeddings; Llama 2/3: RMSNorm, SwiGLU, rotary, GQA,
// untied; Nemotron-4 15B, arXiv 2402.16819: squared-ReLU ungated MLP of width
// 4h, rotary, untied; Grok-1: 8 experts, top-2, gated experts, rotary).
// Every MoE here is Mixtral-style: every layer MoE, no dense layers.
#include "core/error.h"
#include "core/strings.h"
#include "model/model.h"

namespace trainsim::model {
namespace {

[[noreturn]] void fail(const std::string& row_id, const std::string& column, const std::string& msg) {
  throw ConfigError("<csv>", "/" + row_id + "/" + column, msg);
}

int64_t need(const std::optional<int64_t>& v, const std::string& row_id, const char* column) {
  if (!v) fail(row_id, column, "expected a positive integer; found an empty cell");
  if (*v < 1) fail(row_id, column, fmt::format("expected a positive integer; found {}", *v));
  constexpr int64_t kMaxSize = int64_t{1} << 24;  // as in config_loader.cc
  if (*v > kMaxSize) fail(row_id, column, fmt::format("expected at most {}; found {}", kMaxSize, *v));
  return *v;
}

}  // namespace

Model model_from_columns(const ArchColumns& c, const std::string& row_id) {
  Model m;
  m.name = row_id;
  m.source_file = "<csv>";
  m.layers = need(c.layers, row_id, "layers");
  m.hidden = need(c.hidden, row_id, "hidden");
  m.heads = need(c.heads, row_id, "heads");
  m.vocab = need(c.vocab, row_id, "vocab");
  m.max_seq_len = need(c.seq_len, row_id, "seq_len");
  m.kv_heads = c.kv_heads ? need(c.kv_heads, row_id, "kv_heads") : m.heads;  // empty: MHA
  if (m.hidden % m.heads != 0) {
    fail(row_id, "heads", fmt::format("expected a divisor of hidden ({}); found {}", m.hidden, m.heads));
  }
  if (m.heads % m.kv_heads != 0) {
    fail(row_id, "kv_heads", fmt::format("expected a divisor of heads ({}); found {}", m.heads, m.kv_heads));
  }
  m.head_dim = m.hidden / m.heads;

  const std::string& t = c.arch_type;
  if (t == "dense GPT") {
    m.architecture = Architecture::kGpt;
    m.ffn = need(c.ffn_size, row_id, "ffn_size");
    m.mlp = MlpKind::kGelu;
    m.position = PositionKind::kLearned;
    m.norm = NormKind::kLayerNorm;
    m.attention_bias = m.mlp_bias = true;
    m.tied_embeddings = true;
  } else if (t.rfind("dense (MPT", 0) == 0) {
    m.architecture = Architecture::kGpt;
    m.ffn = need(c.ffn_size, row_id, "ffn_size");
    m.mlp = MlpKind::kGelu;
    m.position = PositionKind::kAlibi;
    m.norm = NormKind::kLayerNorm;
    m.tied_embeddings = true;
  } else if (t == "dense") {
    m.architecture = Architecture::kLlama;
    m.ffn = need(c.ffn_size, row_id, "ffn_size");
    // Llama widths are never exactly 4h (8h/3 rounded, 3.5h); a 4h width is
    // the ungated squared-ReLU MLP of Nemotron-4.
    m.mlp = m.ffn == 4 * m.hidden ? MlpKind::kReluSquared : MlpKind::kSwiGlu;
  } else if (t == "MoE") {
    m.architecture = Architecture::kMixtral;
    MoeSpec e;
    e.n_routed_experts = need(c.moe_experts, row_id, "moe_experts");
    e.experts_per_token = need(c.moe_active_experts, row_id, "moe_active_experts");
    e.expert_ffn = need(c.moe_expert_ffn, row_id, "moe_expert_ffn");
    e.n_shared_experts = c.moe_shared_experts.value_or(0);
    if (e.n_shared_experts < 0) fail(row_id, "moe_shared_experts", "expected an integer >= 0");
    if (e.experts_per_token > e.n_routed_experts) {
      fail(row_id, "moe_active_experts",
           fmt::format("expected at most moe_experts ({}); found {}", e.n_routed_experts,
                       e.experts_per_token));
    }
    m.moe = e;
    m.ffn = c.ffn_size ? need(c.ffn_size, row_id, "ffn_size") : e.expert_ffn;
  } else {
    const std::vector<std::string> known = {"dense GPT", "dense", "dense (MPT: ALiBi, FlashAttention)", "MoE"};
    fail(row_id, "arch_type",
         fmt::format("expected one of {}; found \"{}\"{}", join(known, " | "), t, did_you_mean(t, known)));
  }
  if (!c.mlp.empty()) {
    if (c.mlp == "swiglu") m.mlp = MlpKind::kSwiGlu;
    else if (c.mlp == "gelu") m.mlp = MlpKind::kGelu;
    else if (c.mlp == "relu2") m.mlp = MlpKind::kReluSquared;
    else fail(row_id, "mlp", fmt::format("expected swiglu | gelu | relu2; found \"{}\"", c.mlp));
  }
  return m;
}

}  // namespace trainsim::model
