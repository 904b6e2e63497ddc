// Parameter counts and KV-cache sizes of the shipped configs, each expected
// value derived by hand from the architecture in the comment beside it.
#include <catch2/catch.hpp>

#include "model/model.h"

using namespace trainsim;
using namespace trainsim::model;

TEST_CASE("DeepSeek-V3 parameters by hand", "[model]") {
  const Model m = load_model("deepseek_v3");
  REQUIRE(m.architecture == Architecture::kDeepseekV3);
  REQUIRE(m.attention == AttentionKind::kMla);
  // first_k_dense_replace = 3 of 61 layers.
  CHECK(m.dense_layer_count() == 3);
  CHECK(m.moe_layer_count() == 58);
  CHECK_FALSE(m.is_moe_layer(2));
  CHECK(m.is_moe_layer(3));
  CHECK(m.qk_head_dim() == 192);  // 128 nope + 64 rope
  CHECK(m.v_head_dim() == 128);

  // MLA per layer = 7168·1536 (q_a) + 1536·128·192 (q_b) + 7168·576 (kv_a)
  //   + 512·128·256 (kv_b) + 128·128·7168 (o)
  //   = 11,010,048 + 37,748,736 + 4,128,768 + 16,777,216 + 117,440,512 = 187,105,280.
  CHECK(attention_params_per_layer(m) == 187'105'280);
  // One SwiGLU expert = 3·7168·2048 = 44,040,192.
  CHECK(mlp_params(m, 2048) == 44'040'192);
  // Norms per layer: 2·7168 (pre-attn, pre-FFN) + 1536 (q_a) + 512 (kv_a) = 16,384.
  CHECK(norm_params_per_layer(m) == 16'384);

  const ParamCounts p = count_params(m);
  CHECK(p.attention == 61LL * 187'105'280);                  // 11,413,422,080
  CHECK(p.dense_ffn == 3LL * 3 * 7168 * 18432);              // 1,189,085,184
  CHECK(p.experts == 58LL * 256 * 44'040'192);               // 653,908,770,816
  CHECK(p.shared_experts == 58LL * 44'040'192);              // 2,554,331,136
  CHECK(p.router == 58LL * 7168 * 256);                      // 106,430,464
  CHECK(p.embedding == 129280LL * 7168);                     // 926,679,040
  CHECK(p.head == 129280LL * 7168);                          // untied
  CHECK(p.norms == 61LL * 16'384 + 7168);                    // + final norm = 1,006,592
  // Sum of the above = 671,026,404,352 (V3TR: 671B; within 0.3%).
  CHECK(p.total == 671'026'404'352LL);
  CHECK(std::abs(static_cast<double>(p.total) / 671.0e9 - 1.0) < 0.003);
  // Activated = total - 58·(256-8) unchosen experts·44,040,192 = 37,552,282,624
  // (V3TR: 37B; within 2%).
  CHECK(p.activated == 37'552'282'624LL);
  CHECK(std::abs(static_cast<double>(p.activated) / 37.0e9 - 1.0) < 0.02);
  // MTP = enorm + hnorm + shared-head norm (3·7168) + eh_proj 2·7168² + MLA
  //   187,105,280 + 257 experts·44,040,192 + router 7168·256 + layer norms
  //   16,384 = 11,610,067,968 (README_WEIGHTS: 11.5B unique).
  CHECK(p.mtp == 11'610'067'968LL);
  // (512 + 64)·2 B·61 = 70,272 (ISCA '25 Table 1).
  CHECK(kv_cache_bytes_per_token(m) == 70'272);
}

TEST_CASE("DeepSeek-V2-Lite parameters by hand", "[model]") {
  const Model m = load_model("deepseek_v2_lite");
  CHECK(m.mla.q_lora_rank == 0);  // null in the config: no query compression
  // Attention = q_proj 2048·16·192 + kv_a 2048·576 + kv_b 512·16·256 + o 16·128·2048
  //   = 6,291,456 + 1,179,648 + 2,097,152 + 4,194,304 = 13,762,560.
  CHECK(attention_params_per_layer(m) == 13'762'560);
  const ParamCounts p = count_params(m);
  // 27 layers (1 dense 3·2048·10944 = 67,239,936; 26 MoE with 64 routed + 2
  // shared experts of 3·2048·1408 = 8,650,752, router 2048·64), norms
  // 27·(2·2048 + 512) + 2048, embedding and head 102400·2048 each:
  // 371,589,120 + 67,239,936 + 14,844,690,432 + 3,407,872 + 126,464 + 419,430,400
  // = 15,706,484,224 (V2 report: 15.7B).
  CHECK(p.total == 15'706'484'224LL);
  // Activated: minus 26·58 unchosen experts·8,650,752 = 2,661,150,208.
  CHECK(p.activated == 2'661'150'208LL);
  CHECK(p.mtp == 0);
  // (512 + 64)·2·27 = 31,104.
  CHECK(kv_cache_bytes_per_token(m) == 31'104);
}

TEST_CASE("Llama 3 8B parameters by hand", "[model]") {
  const Model m = load_model("llama3_8b");
  // GQA: 4096·(4096 + 2·8·128) (q, k, v) + 4096·4096 (o) = 41,943,040.
  CHECK(attention_params_per_layer(m) == 41'943'040);
  // SwiGLU: 3·4096·14336 = 176,160,768.
  CHECK(mlp_params(m, m.ffn) == 176'160'768);
  const ParamCounts p = count_params(m);
  // 32·(41,943,040 + 176,160,768 + 2·4096) + 4096 + 2·128256·4096 = 8,030,261,248.
  CHECK(p.total == 8'030'261'248LL);
  CHECK(p.activated == p.total);
  // K and V: 2·8 heads·128·2 B·32 layers = 131,072.
  CHECK(kv_cache_bytes_per_token(m) == 131'072);
}

TEST_CASE("Llama 3.1 405B and Qwen2 72B KV cache match ISCA '25 Table 1", "[model]") {
  // 2·8·128·2 B·126 = 516,096; 2·8·128·2 B·80 = 327,680 (Qwen-2.5 72B has
  // the same attention shape as Qwen2 72B).
  CHECK(kv_cache_bytes_per_token(load_model("llama3.1_405b")) == 516'096);
  CHECK(kv_cache_bytes_per_token(load_model("qwen2_72b")) == 327'680);
}

TEST_CASE("Qwen2 has q/k/v biases but no o bias", "[model]") {
  const Model m = load_model("qwen2_72b");
  // 8192·(8192 + 2·1024) + 8192·8192 + biases 8192 + 2·1024 = 151,005,184.
  CHECK(attention_params_per_layer(m) == 151'005'184);
}

TEST_CASE("GPT-3 175B parameters by hand", "[model]") {
  const Model m = load_model("gpt3_175b");
  REQUIRE(m.architecture == Architecture::kGpt);
  CHECK(m.position == PositionKind::kLearned);
  CHECK(m.mlp == MlpKind::kGelu);
  CHECK(m.tied_embeddings);
  const int64_t h = 12288;
  // Attention: 4h² weights + 3h (qkv) + h (o) biases = 603,979,776 + 49,152.
  CHECK(attention_params_per_layer(m) == 4 * h * h + 4 * h);
  // MLP: 2·h·4h + 4h + h biases = 1,207,959,552 + 61,440.
  CHECK(mlp_params(m, 4 * h) == 2 * h * 4 * h + 4 * h + h);
  // Two LayerNorms of scale + bias: 4h.
  CHECK(norm_params_per_layer(m) == 4 * h);
  const ParamCounts p = count_params(m);
  // 96·1,812,099,072 + final LayerNorm 2h + tokens 50257·h + positions 2048·h
  // (head tied: 0) = 174,604,259,328 (GPT-3: "175B").
  CHECK(p.head == 0);
  CHECK(p.embedding == (50257 + 2048) * h);
  CHECK(p.total == 174'604'259'328LL);
  // K and V: 2·96·128·2 B·96 layers = 4,718,592.
  CHECK(kv_cache_bytes_per_token(m) == 4'718'592);
}

TEST_CASE("Mixtral 8x7B parameters by hand", "[model]") {
  const Model m = load_model("mixtral_8x7b");
  REQUIRE(m.moe);
  CHECK(m.moe_layer_count() == 32);
  const ParamCounts p = count_params(m);
  // 32·(41,943,040 attn + 8·176,160,768 experts + 4096·8 router + 8192 norms)
  // + 4096 + 2·32000·4096 = 46,702,792,704 (Mixtral paper: 46.7B / 12.9B active).
  CHECK(p.total == 46'702'792'704LL);
  // Activated: minus 32·6·176,160,768 = 12,879,925,248.
  CHECK(p.activated == 12'879'925'248LL);
}

TEST_CASE("list_models finds the shipped configs", "[model]") {
  const auto names = list_models();
  for (const char* n : {"deepseek_v3", "deepseek_v2", "deepseek_v2_lite", "llama3_8b", "llama3_70b",
                        "llama3.1_405b", "mixtral_8x7b", "gpt3_175b", "qwen2_72b", "llama2_70b",
                        "llama2_13b"}) {
    CHECK(std::find(names.begin(), names.end(), n) != names.end());
  }
}
