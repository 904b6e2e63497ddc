#include <catch2/catch.hpp>

#include <functional>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "run/claim.h"

using namespace trainsim;
using namespace trainsim::run;

namespace {

std::string run_cli(const std::vector<std::string>& args, int expected_rc = 0) {
  std::ostringstream out;
  std::ostringstream err;
  const int rc = cli::run(args, out, err);
  INFO(err.str());
  REQUIRE(rc == expected_rc);
  return out.str();
}

// Every number in the document is finite; nlohmann writes NaN and inf as null.
void check_finite(const nlohmann::json& j, const std::string& path) {
  if (j.is_null()) FAIL("null (NaN or inf?) at " << path);
  if (j.is_number_float()) {
    INFO(path);
    CHECK(std::isfinite(j.get<double>()));
  }
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) check_finite(it.value(), path + "/" + it.key());
  }
  if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) check_finite(j[i], path + "/" + std::to_string(i));
  }
}

}  // namespace

TEST_CASE("estimate JSON has no NaN or inf", "[run][cli]") {
  const auto j = nlohmann::json::parse(run_cli({"estimate", "deepseek-v3", "--format", "json"}));
  check_finite(j, "");
  CHECK(j["totals"]["gpu_hours"]["total"].get<double>() > 0);
  const auto small = nlohmann::json::parse(run_cli(
      {"estimate", std::string(TRAINSIM_TEST_DATA_DIR) + "/run/small.json", "--format", "json"}));
  check_finite(small, "");
}

TEST_CASE("claim JSON: required fields, finite numbers, deterministic bytes", "[run][cli]") {
  const std::string a = run_cli({"claim", "deepseek-v3", "--format", "json", "--seed", "7"});
  const std::string b = run_cli({"claim", "deepseek-v3", "--format", "json", "--seed", "7"});
  CHECK(a == b);
  const auto j = nlohmann::json::parse(a);
  check_finite(j, "");
  for (const char* k : {"pretraining", "context_extension", "post_training", "total"}) {
    CHECK(j["predicted"]["gpu_hours"][k].get<double>() > 0);
  }
  CHECK(j["predicted"]["step_time_s"].get<double>() > 0);
  CHECK(j["predicted"]["mfu"].get<double>() > 0);
  CHECK(j["predicted"]["cost_usd"].get<double>() > 0);
  // 2,788K GPU-hours (V3TR Table 1), from the claim file.
  CHECK(j["reported"]["gpu_hours_total"].get<double>() == 2788000.0);
  CHECK(j["implied_mfu_of_claim"].get<double>() > 0);
  CHECK(j["interval"]["p10"].get<double>() <= j["interval"]["p50"].get<double>());
  CHECK(j["interval"]["p50"].get<double>() <= j["interval"]["p90"].get<double>());
  CHECK(j["sensitivities"].size() >= 5);
  CHECK(j["assumptions"].size() >= 30);
  for (const auto& s : j["assumptions"]) CHECK_FALSE(s["source"].get<std::string>().empty());
  CHECK_FALSE(j["verdict"].get<std::string>().empty());
}

TEST_CASE("The prediction does not depend on the reported numbers", "[run]") {
  // predict() takes no Reported at all; compare() is the only place they meet. Changing the
  // reported total changes the verdict but not the predicted total.
  const Scenario s = load_scenario("deepseek-v3");
  Prediction p;
  p.interval.p10 = 90;
  p.interval.p50 = 100;
  p.interval.p90 = 110;
  PhaseResult ph;
  ph.kind = PhaseKind::kPretraining;
  ph.gpu_time = hours(100);
  ph.plan = s.plan;
  p.run.phases.push_back(ph);
  Reported r;
  r.pretraining = hours(100);
  r.total = hours(105);
  Comparison c = compare(s, p, r);
  CHECK(c.predicted_total_gpu_hours == Approx(100.0));
  // 105 inside [90, 110]: 5% above the P50.
  CHECK_THAT(c.verdict, Catch::StartsWith("plausible") && Catch::Contains("5% above"));
  r.total = hours(80);
  c = compare(s, p, r);
  CHECK(c.predicted_total_gpu_hours == Approx(100.0));
  // 80 below P10 90: optimistic by 1 - 80/90 = 11%.
  CHECK_THAT(c.verdict, Catch::StartsWith("optimistic by 11%"));
  r.total = hours(121);
  c = compare(s, p, r);
  // 121 above P90 110: conservative by 121/110 - 1 = 10%.
  CHECK_THAT(c.verdict, Catch::StartsWith("conservative by 10%"));
}
