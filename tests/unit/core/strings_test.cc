// String helpers shared by the input boundaries.
#include <catch2/catch.hpp>

#include "core/strings.h"

using namespace trainsim;

TEST_CASE("contains and to_lower", "[core][strings]") {
  CHECK(contains("Megatron-LM + DeepSpeed ZeRO-3", "DeepSpeed"));
  CHECK_FALSE(contains("Megatron-LM + DeepSpeed ZeRO-3", "deepspeed"));  // case matters
  CHECK(contains(to_lower("Megatron-LM + DeepSpeed ZeRO-3"), "deepspeed"));
  // Only A-Z change; digits, punctuation and non-ASCII bytes stay.
  CHECK(to_lower("H100 SXM, 500W: \xc3\x89") == "h100 sxm, 500w: \xc3\x89");
  CHECK(did_you_mean("flsh", {"flash", "unfused"}) == " (did you mean \"flash\"?)");
}
