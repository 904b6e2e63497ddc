// Models built from training_runs.csv architecture columns.
#include <catch2/catch.hpp>

#include "core/error.h"
#include "model/model.h"

using namespace trainsim;
using namespace trainsim::model;

TEST_CASE("Megatron GPT row reproduces the 145.6B of its name", "[model]") {
  // megatron21-t1-145.6B: 80 layers, hidden 12288, 96 heads, ffn 49152, vocab 51200, seq 2048.
  ArchColumns c;
  c.layers = 80;
  c.hidden = 12288;
  c.heads = 96;
  c.ffn_size = 49152;
  c.vocab = 51200;
  c.seq_len = 2048;
  c.arch_type = "dense GPT";
  const Model m = model_from_columns(c, "megatron21-t1-145.6B");
  CHECK(m.architecture == Architecture::kGpt);
  CHECK(m.kv_heads == 96);  // empty kv_heads: multi-head attention
  // Per layer 12h² + 13h = 1,811,939,328 + 159,744 = 1,812,099,072; ×80 =
  // 144,967,925,760; + tokens 51200·12288 + positions 2048·12288 + final
  // LayerNorm 2·12288 = 145,622,261,760 (Narayanan et al. 2021: 145.6B).
  CHECK(count_params(m).total == 145'622'261'760LL);
}

TEST_CASE("MPT row: ALiBi, no biases", "[model]") {
  // mosaic-mpt7b: 32 layers, 4096, 32 heads, ffn 16384, vocab 50368.
  ArchColumns c;
  c.layers = 32;
  c.hidden = 4096;
  c.heads = 32;
  c.kv_heads = 32;
  c.ffn_size = 16384;
  c.vocab = 50368;
  c.seq_len = 2048;
  c.arch_type = "dense (MPT: ALiBi, FlashAttention)";
  const Model m = model_from_columns(c, "mpt7b");
  CHECK(m.position == PositionKind::kAlibi);
  // Per layer 4h² + 2·h·4h + 2 LayerNorms 4h = 201,342,976; ×32 = 6,442,975,232
  // + 50368·4096 (tied) + 2·4096 = 6,649,290,752.
  CHECK(count_params(m).total == 6'649'290'752LL);
}

TEST_CASE("Llama and Nemotron rows", "[model]") {
  ArchColumns c;  // Llama 3.1 8B columns
  c.layers = 32;
  c.hidden = 4096;
  c.heads = 32;
  c.kv_heads = 8;
  c.ffn_size = 14336;
  c.vocab = 128256;
  c.seq_len = 8192;
  c.arch_type = "dense";
  const Model llama = model_from_columns(c, "llama");
  CHECK(llama.mlp == MlpKind::kSwiGlu);
  CHECK(count_params(llama).total == count_params(load_model("llama3_8b")).total);

  // Nemotron-4 15B: ffn 24576 = 4·6144, an ungated squared-ReLU MLP.
  c.layers = 32;
  c.hidden = 6144;
  c.heads = 48;
  c.kv_heads = 8;
  c.ffn_size = 24576;
  c.vocab = 256000;
  c.seq_len = 4096;
  const Model nemo = model_from_columns(c, "nemotron");
  CHECK(nemo.mlp == MlpKind::kReluSquared);
  // Per layer 6144·(6144 + 2·1024) + 6144² + 2·6144·24576 + 2·6144
  //   = 50,331,648 + 37,748,736 + 301,989,888 + 12,288 = 390,082,560;
  // ×32 = 12,482,641,920 + 6144 + 2·256000·6144 = 15,628,376,064 (Nemotron-4: 15.6B).
  CHECK(count_params(nemo).total == 15'628'376'064LL);
}

TEST_CASE("Grok-1 MoE row", "[model]") {
  ArchColumns c;
  c.layers = 64;
  c.hidden = 6144;
  c.heads = 48;
  c.kv_heads = 8;
  c.vocab = 131072;
  c.seq_len = 8192;
  c.moe_experts = 8;
  c.moe_active_experts = 2;
  c.moe_expert_ffn = 32768;
  c.arch_type = "MoE";
  const Model m = model_from_columns(c, "grok1");
  REQUIRE(m.moe);
  CHECK(m.moe_layer_count() == 64);
  // Per layer: attention 6144·(6144 + 2048) + 6144² = 88,080,384; experts
  // 8·3·6144·32768 = 4,831,838,208; router 6144·8 = 49,152; norms 12,288.
  // Sum 4,919,980,032; ×64 = 314,878,722,048 + 6144 + 2·131072·6144
  // = 316,489,340,928 (Grok-1: 314B).
  CHECK(count_params(m).total == 316'489'340'928LL);
}

namespace {

// A two-layer model's columns: 64 wide, 4 heads, 128 tokens; vocab and FFN
// width left to each test.
ArchColumns tiny(const std::string& arch_type) {
  ArchColumns c;
  c.layers = 2;
  c.hidden = 64;
  c.heads = 4;
  c.seq_len = 128;
  c.arch_type = arch_type;
  return c;
}

}  // namespace

TEST_CASE("column errors name <csv>, row and column", "[model]") {
  ArchColumns c = tiny("dense GPT");
  c.ffn_size = 256;
  try {
    model_from_columns(c, "row7");  // vocab empty
    FAIL("no error");
  } catch (const ConfigError& e) {
    CHECK(e.file() == "<csv>");
    CHECK(e.pointer() == "/row7/vocab");
    CHECK_THAT(e.message(), Catch::Contains("empty cell"));
  }
  c.vocab = 1000;
  c.arch_type = "MoE";  // a MoE needs its expert columns
  try {
    model_from_columns(c, "row7");
    FAIL("no error");
  } catch (const ConfigError& e) {
    CHECK(e.pointer() == "/row7/moe_experts");
  }
  c.arch_type = "dense GPT";
  c.layers = 0;
  try {
    model_from_columns(c, "row7");
    FAIL("no error");
  } catch (const ConfigError& e) {
    CHECK(e.pointer() == "/row7/layers");
    CHECK_THAT(e.message(), Catch::Contains("positive integer"));
  }
}

TEST_CASE("arch_type is free text: keywords pick the conventions, and the reading is listed", "[model]") {
  ArchColumns c = tiny("dense GPT");
  c.vocab = 1000;
  std::vector<std::string> d;
  // No ffn_size: 4 x 64 = 256, listed; "dense GPT" itself is not.
  Model m = model_from_columns(c, "r", &d);
  CHECK(m.ffn == 256);
  CHECK(m.mlp == MlpKind::kGelu);
  CHECK(d == std::vector<std::string>{"ffn_size=256 (4*hidden)"});
  // "ALiBi" before "GPT": MPT-style, ALiBi positions.
  d.clear();
  c.ffn_size = 256;
  c.arch_type = "GPT (BLOOM: ALiBi, embedding LayerNorm)";
  m = model_from_columns(c, "r", &d);
  CHECK(m.position == PositionKind::kAlibi);
  CHECK(d == std::vector<std::string>{"arch_type=dense (MPT: ALiBi) (read from \"GPT (BLOOM: ALiBi, embedding LayerNorm)\")"});
  // No keyword: Llama-style; a 4h width is ungated, any other gated.
  d.clear();
  c.arch_type = "decoder-only transformer";
  m = model_from_columns(c, "r", &d);
  CHECK(m.architecture == Architecture::kLlama);
  CHECK(m.mlp == MlpKind::kReluSquared);
  c.ffn_size = 172;
  CHECK(model_from_columns(c, "r").mlp == MlpKind::kSwiGlu);
  // A GPT-style MLP is gated only when the text names it: "gated" as a word,
  // not inside "aggregated"; "GLU" does.
  c.ffn_size = 256;
  c.arch_type = "GPT, aggregated attention";
  CHECK(model_from_columns(c, "r").mlp == MlpKind::kGelu);
  c.arch_type = "GPT with a GLU MLP";
  CHECK(model_from_columns(c, "r").mlp == MlpKind::kSwiGlu);
  c.arch_type = "GPT ReGLU";
  CHECK(model_from_columns(c, "r").mlp == MlpKind::kSwiGlu);
  // Negated or part of another word: not gated.
  for (const char* text : {"dense GPT, non-gated GELU", "GPT (no GLU)", "gpt glue"}) {
    c.arch_type = text;
    INFO(text);
    CHECK(model_from_columns(c, "r").mlp == MlpKind::kGelu);
  }
  // "Mixture-of-Depths" is no mixture of experts.
  c.arch_type = "GPT, Mixture-of-Depths";
  CHECK_FALSE(model_from_columns(c, "r").moe);
  // "Mixture-of-Experts" is a MoE; an empty text with expert columns too.
  c.moe_experts = 8;
  c.moe_active_experts = 2;
  c.moe_expert_ffn = 172;
  c.arch_type = "Mixture-of-Experts decoder";
  CHECK(model_from_columns(c, "r").moe);
  d.clear();
  c.arch_type = "";
  m = model_from_columns(c, "r", &d);
  CHECK(m.moe);
  CHECK(m.moe->n_routed_experts == 8);
  CHECK(d == std::vector<std::string>{"arch_type=MoE (read from \"\")"});
}
