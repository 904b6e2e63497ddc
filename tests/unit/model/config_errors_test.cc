// Bad configs: each error names the file, the JSON pointer and what was
// expected (tests/data/model/*.json are llama3_8b.json with one field broken).
#include <catch2/catch.hpp>

#include <string>

#include "core/error.h"
#include "model/model.h"

using namespace trainsim;
using namespace trainsim::model;

namespace {

std::string data(const std::string& name) { return std::string(TRAINSIM_TEST_DATA_DIR) + "/model/" + name; }

// Loads and returns the ConfigError (fails the test when none is thrown).
ConfigError load_error(const std::string& file) {
  try {
    load_model(data(file));
  } catch (const ConfigError& e) {
    return e;
  }
  FAIL("no ConfigError for " << file);
  return ConfigError("", "", "");
}

}  // namespace

TEST_CASE("missing required field", "[model]") {
  const ConfigError e = load_error("missing_field.json");
  CHECK(e.file() == data("missing_field.json"));
  CHECK(e.pointer() == "/");  // the member is missing from the root object
  CHECK_THAT(e.what(), Catch::Contains("missing_field.json"));
  CHECK_THAT(e.message(), Catch::Contains("missing required field \"intermediate_size\""));
}

TEST_CASE("mistyped field gets a did-you-mean", "[model]") {
  const ConfigError e = load_error("mistyped_field.json");
  CHECK(e.file() == data("mistyped_field.json"));
  CHECK_THAT(e.message(), Catch::Contains("missing required field \"hidden_size\""));
  CHECK_THAT(e.message(), Catch::Contains("did you mean \"hiden_size\""));
}

TEST_CASE("wrong type", "[model]") {
  const ConfigError e = load_error("wrong_type.json");
  CHECK(e.pointer() == "/num_hidden_layers");
  CHECK_THAT(e.message(), Catch::Contains("expected an integer"));
  CHECK_THAT(e.message(), Catch::Contains("the string \"32\""));
  CHECK_THAT(e.what(), Catch::Contains("wrong_type.json"));
}

TEST_CASE("unknown architecture", "[model]") {
  const ConfigError e = load_error("unknown_architecture.json");
  CHECK(e.pointer() == "/architectures/0");
  CHECK_THAT(e.message(), Catch::Contains("FalconForCausalLM"));
  CHECK_THAT(e.message(), Catch::Contains("LlamaForCausalLM"));  // lists the accepted ones
  CHECK_THAT(e.what(), Catch::Contains("unknown_architecture.json"));
}

TEST_CASE("non-positive size", "[model]") {
  const ConfigError e = load_error("non_positive.json");
  CHECK(e.pointer() == "/num_attention_heads");
  CHECK_THAT(e.message(), Catch::Contains("expected a positive integer"));
  CHECK_THAT(e.message(), Catch::Contains("the number 0"));
  CHECK_THAT(e.what(), Catch::Contains("non_positive.json"));
}

TEST_CASE("inconsistent sizes", "[model]") {
  // 32 heads are not divisible by 5 KV heads.
  const ConfigError kv = load_error("kv_heads_not_divisor.json");
  CHECK(kv.pointer() == "/num_key_value_heads");
  CHECK_THAT(kv.message(), Catch::Contains("a divisor of num_attention_heads (32)"));
  const ConfigError moe = load_error("too_many_active_experts.json");
  CHECK(moe.pointer() == "/num_experts_per_tok");
  CHECK_THAT(moe.message(), Catch::Contains("at most n_routed_experts (256)"));
}

TEST_CASE("parse errors and unknown names", "[model]") {
  CHECK_THROWS_AS(parse_model("{\"architectures\": [", "x.json", "x"), ConfigError);
  CHECK_THROWS_AS(parse_model("[1, 2]", "x.json", "x"), ConfigError);
  // An unknown model name is a usage error with a did-you-mean.
  try {
    load_model("deepseek_v4");
    FAIL("no error");
  } catch (const UsageError& e) {
    CHECK_THAT(e.what(), Catch::Contains("unknown model \"deepseek_v4\""));
    CHECK_THAT(e.what(), Catch::Contains("did you mean"));
  }
}

TEST_CASE("unknown keys are tolerated", "[model]") {
  // HF configs carry many fields trainsim does not read.
  const std::string json = R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 64,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "intermediate_size": 128, "vocab_size": 100, "max_position_embeddings": 32,
    "some_future_field": {"a": [1, 2]}, "rope_scaling": null})";
  const Model m = parse_model(json, "tiny.json", "tiny");
  CHECK(m.head_dim == 16);  // 64 / 4
  // 2·(64·(64 + 2·2·16) + 64·64 + 3·64·128 + 2·64) + 64 + 2·100·64
  //   = 2·(8192 + 4096 + 24576 + 128) + 64 + 12800 = 86,848.
  CHECK(count_params(m).total == 86'848);
}
