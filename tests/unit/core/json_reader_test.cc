#include <catch2/catch.hpp>

#include "core/json_reader.h"
#include "core/strings.h"

using namespace trainsim;
using Catch::Matchers::Contains;

TEST_CASE("JSON errors name the file, the path, the expectation and the finding", "[core]") {
  auto doc = JsonDocument::parse(R"({"a": {"hidden_size": -3, "bw": "80 GB", "name": 5}})", "m.json");
  auto a = doc.root().at("a");
  CHECK_THROWS_WITH(a.at("hidden_size").positive_integer(),
                    Contains("m.json") && Contains("/a/hidden_size") &&
                        Contains("expected a positive integer") && Contains("-3"));
  CHECK_THROWS_WITH(a.at("bw").quantity<BytesPerSecond>(),
                    Contains("/a/bw") && Contains("expected a bandwidth"));
  CHECK_THROWS_WITH(a.at("name").string(), Contains("expected a string"));
  // Missing field with did-you-mean.
  CHECK_THROWS_WITH(a.at("hiden_size"), Contains("missing required field") && Contains("hidden_size"));
  CHECK_THROWS_WITH(a.check_keys({"hidden_size", "bw"}), Contains("unknown field \"name\""));
}

TEST_CASE("syntax errors give the line", "[core]") {
  CHECK_THROWS_WITH(JsonDocument::parse("{\n\"a\": 1,\n}", "x.json"),
                    Contains("x.json") && Contains("line 3"));
}

TEST_CASE("sourced values need a source", "[core]") {
  auto doc = JsonDocument::parse(
      R"({"ok": {"value": "700 W", "source": "datasheet"}, "bad": {"value": "700 W"}})", "h.json");
  CHECK(doc.root().at("ok").sourced<Watts>().value.value() == Approx(700));
  CHECK(doc.root().at("ok").sourced<Watts>().source == "datasheet");
  CHECK_THROWS_WITH(doc.root().at("bad").sourced<Watts>(),
                    Contains("/bad") && Contains("missing required field \"source\""));
}

TEST_CASE("did you mean", "[core]") {
  // "modle" -> "model" is distance 2 (transposition as two substitutions).
  CHECK(closest_match("modle", {"model", "hardware"}) == "model");
  CHECK(closest_match("zzzzzz", {"model", "hardware"}).empty());
  CHECK(edit_distance("kitten", "sitting") == 3);
}
