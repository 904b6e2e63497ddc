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
#include <cctype>

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
  if (*v > kMaxSize) fail(row_id, column, fmt::format("expected at most {}; found {}", kMaxSize, *v));
  return *v;
}

// How an arch_type text is read. The four texts of the reference rows map
// as documented in model.h. Any other text is split into lower-case words
// (letters and digits):
//   - a MoE when moe_experts is given, or when a word is "moe" (not after
//     "no" or "non") or the text says "mixture of experts" /
//     "mixture-of-experts" (the expert columns are then required);
//   - else "alibi" or "mpt" -> MPT-style, "gpt" -> GPT, anything else ->
//     Llama-style ("dense", whose MLP follows the FFN width);
//   - a word ending in "glu" (GLU, SwiGLU, GeGLU, ReGLU) or the word "gated",
//     not after "no", "non" or "not", makes a GPT- or MPT-style MLP gated.
enum class ArchFamily { kGpt, kMpt, kLlama, kMoe };

const char* describe(ArchFamily f) {
  switch (f) {
    case ArchFamily::kGpt: return "dense GPT";
    case ArchFamily::kMpt: return "dense (MPT: ALiBi)";
    case ArchFamily::kLlama: return "dense";
    case ArchFamily::kMoe: return "MoE";
  }
  return "?";
}

struct ArchReading {
  ArchFamily family = ArchFamily::kLlama;
  bool gated = false;  // the text names a gated MLP
};

ArchReading read_arch_type(const ArchColumns& c, std::vector<std::string>* defaults) {
  const std::string& t = c.arch_type;
  if (t == "dense GPT") return {ArchFamily::kGpt};
  if (t.rfind("dense (MPT", 0) == 0) return {ArchFamily::kMpt};
  if (t == "dense") return {ArchFamily::kLlama};
  if (t == "MoE") return {ArchFamily::kMoe};
  const std::string l = to_lower(t);
  const auto has = [&](const char* k) { return l.find(k) != std::string::npos; };
  std::vector<std::string> words(1);
  for (const char ch : l) {
    if (std::isalnum(static_cast<unsigned char>(ch))) {
      words.back() += ch;
    } else if (!words.back().empty()) {
      words.emplace_back();
    }
  }
  if (words.back().empty()) words.pop_back();
  // Word i, unless the word before it negates it.
  const auto affirmed = [&](size_t i) {
    return i == 0 || (words[i - 1] != "no" && words[i - 1] != "non" && words[i - 1] != "not");
  };
  bool moe_word = has("mixture of experts") || has("mixture-of-experts");
  bool gated = false;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w == "moe" && affirmed(i)) moe_word = true;
    const bool glu = w.size() >= 3 && w.compare(w.size() - 3, 3, "glu") == 0;
    if ((glu || w == "gated") && affirmed(i)) gated = true;
  }
  ArchReading r;
  if (c.moe_experts || moe_word) r.family = ArchFamily::kMoe;
  else if (has("alibi") || has("mpt")) r.family = ArchFamily::kMpt;
  else if (has("gpt")) r.family = ArchFamily::kGpt;
  r.gated = gated;
  if (defaults) {
    static const std::vector<std::string> kReference = {"dense GPT", "dense", "dense (MPT: ALiBi, FlashAttention)",
                                                        "MoE"};
    // A did-you-mean only for a text that named no family ("dense GTP").
    const bool named = c.moe_experts || moe_word || has("alibi") || has("mpt") || has("gpt");
    const std::string near = named ? std::string() : closest_match(t, kReference);
    defaults->push_back(fmt::format("arch_type={}{} (read from \"{}\"{})", describe(r.family),
                                    r.gated && r.family != ArchFamily::kMoe ? ", gated MLP" : "", t,
                                    near.empty() ? "" : "; did you mean \"" + near + "\"?"));
  }
  return r;
}

}  // namespace

Model model_from_columns(const ArchColumns& c, const std::string& row_id, std::vector<std::string>* defaults) {
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

  const ArchReading reading = read_arch_type(c, defaults);
  const ArchFamily family = reading.family;
  // A dense FFN width the source leaves unstated: 4 x hidden (Vaswani et al.
  // 2017, d_ff = 4 d_model; GPT-2/3, Megatron-LM, MPT, BLOOM and OPT use it).
  const auto dense_ffn = [&]() -> int64_t {
    if (c.ffn_size) return need(c.ffn_size, row_id, "ffn_size");
    if (defaults) defaults->push_back(fmt::format("ffn_size={} (4*hidden)", 4 * m.hidden));
    return 4 * m.hidden;
  };
  switch (family) {
    case ArchFamily::kGpt:
    case ArchFamily::kMpt:
      // LayerNorm, GELU, tied embeddings; GPT adds learned positions and
      // biases, MPT has ALiBi and no biases.
      m.architecture = Architecture::kGpt;
      m.ffn = dense_ffn();
      m.mlp = MlpKind::kGelu;
      m.norm = NormKind::kLayerNorm;
      m.tied_embeddings = true;
      m.position = family == ArchFamily::kGpt ? PositionKind::kLearned : PositionKind::kAlibi;
      m.attention_bias = m.mlp_bias = family == ArchFamily::kGpt;
      if (reading.gated) m.mlp = MlpKind::kSwiGlu;
      break;
    case ArchFamily::kLlama:
      m.architecture = Architecture::kLlama;
      m.ffn = dense_ffn();
      // Llama widths are never exactly 4h (8h/3 rounded, 3.5h); a 4h width is
      // an ungated MLP (Nemotron-4's squared ReLU; GELU and ReLU have the same
      // FLOPs and bytes).
      m.mlp = m.ffn == 4 * m.hidden ? MlpKind::kReluSquared : MlpKind::kSwiGlu;
      break;
    case ArchFamily::kMoe: {
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
      break;
    }
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
