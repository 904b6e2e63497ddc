#include <catch2/catch.hpp>

#include <string>

#include "core/error.h"
#include "run/scenario.h"

using namespace trainsim;
using namespace trainsim::run;

namespace {
std::string data(const std::string& name) { return std::string(TRAINSIM_TEST_DATA_DIR) + "/run/" + name; }

template <class E>
std::string error_of(const std::string& file, const std::vector<hardware::Override>& o = {}) {
  try {
    load_scenario(data(file), o);
  } catch (const E& e) {
    return e.what();
  }
  return "no error";
}
}  // namespace

TEST_CASE("The test scenario loads with every value sourced", "[run]") {
  const Scenario s = load_scenario(data("small.json"));
  CHECK(s.name == "small");
  CHECK(s.cluster.total_accelerators() == 8);  // dgx-h100 with cluster.nodes = 1
  CHECK(s.plan.dp == 8);
  CHECK(s.plan.global_batch == 64);
  REQUIRE(s.phases.size() == 2);
  CHECK(s.phases[0].ramp.has_value());
  CHECK(s.phases[0].ramp->start_batch == 16);
  CHECK(s.phases[1].amount == PhaseAmount::kStatedGpuHours);
  CHECK(s.phases[1].stated_gpu_time.value() == Approx(36000.0));  // 10 GPU-h
  // Rental price from the accelerator profile (h100-sxm cloud price, $2.99/h), with its source.
  CHECK(in_dollars_per_hour(s.prices.rental_per_gpu) == Approx(2.99));
  bool rental_listed = false;
  for (const auto& a : s.assumptions) {
    CHECK_FALSE(a.source.empty());
    if (a.name == "prices/rental_per_gpu_hour") rental_listed = true;
  }
  CHECK(rental_listed);
  // 2e-5 per GPU-hour in per-GPU-second.
  CHECK(s.goodput.failures_per_gpu.value() == Approx(2e-5 / 3600.0));
  CHECK(s.uncertainty.failures_per_gpu_hour.nominal == Approx(2e-5));
}

TEST_CASE("The shipped DeepSeek-V3 scenario loads by name", "[run]") {
  const Scenario s = load_scenario("deepseek-v3");
  CHECK(s.cluster.total_accelerators() == 2048);
  CHECK(s.plan.pp == 16);
  CHECK(s.plan.dp == 128);
  CHECK(s.plan.ep == 64);
  CHECK(s.plan.micro_batch == 1);
  CHECK(s.plan.global_batch == 15360);
  CHECK(s.phases.front().tokens == Approx(14.8e12));
}

TEST_CASE("Scenario errors name the file and JSON path", "[run]") {
  CHECK_THAT(error_of<ConfigError>("missing_field.json"),
             Catch::Contains("/plan") && Catch::Contains("comm_sms"));
  CHECK_THAT(error_of<ConfigError>("unknown_field.json"),
             Catch::Contains("/goodput/restart_tme") && Catch::Contains("restart_time"));
  CHECK_THAT(error_of<ConfigError>("unknown_hardware.json"),
             Catch::Contains("/cluster/value") && Catch::Contains("dgx-h1000"));
  CHECK_THAT(error_of<ConfigError>("no_source.json"), Catch::Contains("/plan/dp/source"));
  CHECK_THAT(error_of<PlanError>("impossible_plan.json"), Catch::Contains("pre-training"));
}

TEST_CASE("Command-line overrides reach scenario values and say so in the source", "[run]") {
  const Scenario s = load_scenario(
      data("small.json"), {{"plan.global_batch", "128"}, {"phases.pre-training.tokens", "2e9"},
                           {"goodput.restart_time", "8 min"}});
  CHECK(s.plan.global_batch == 128);
  CHECK(s.phases[0].tokens == Approx(2e9));
  CHECK(s.goodput.restart.value() == Approx(480.0));
  bool found = false;
  for (const auto& a : s.assumptions) {
    if (a.name == "plan/global_batch") {
      found = true;
      CHECK_THAT(a.source, Catch::Contains("--set"));
    }
  }
  CHECK(found);
  CHECK_THROWS_AS(load_scenario(data("small.json"), {{"plan.micro_bach", "2"}}), UsageError);
  CHECK_THROWS_AS(load_scenario(data("small.json"), {{"plan.dp", "many"}}), UsageError);
}

TEST_CASE("Unknown scenario names get a did-you-mean", "[run]") {
  try {
    load_scenario("deepseek-v4");
    FAIL("no error");
  } catch (const UsageError& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains("deepseek-v3"));
  }
}

TEST_CASE("The main phase: pre-training with a step, else any phase with one, else the first", "[run]") {
  using trainsim::run::PhaseAmount;
  using trainsim::run::PhaseKind;
  using trainsim::run::PhaseSpec;
  auto phase = [](PhaseKind k, PhaseAmount a) {
    PhaseSpec p;
    p.kind = k;
    p.amount = a;
    return p;
  };
  const PhaseSpec stated_pre = phase(PhaseKind::kPretraining, PhaseAmount::kStatedGpuHours);
  const PhaseSpec pre = phase(PhaseKind::kPretraining, PhaseAmount::kTokens);
  const PhaseSpec post = phase(PhaseKind::kPostTraining, PhaseAmount::kSteps);
  const PhaseSpec stated_post = phase(PhaseKind::kPostTraining, PhaseAmount::kStatedGpuHours);
  // The pre-training phase given by tokens, though another phase comes first.
  CHECK(trainsim::run::main_phase_index(std::vector<PhaseSpec>{post, stated_pre, pre}) == 2);
  // No pre-training phase has a step: the first phase that has one.
  CHECK(trainsim::run::main_phase_index(std::vector<PhaseSpec>{stated_pre, post}) == 1);
  // None has a step: the first phase.
  CHECK(trainsim::run::main_phase_index(std::vector<PhaseSpec>{stated_pre, stated_post}) == 0);
}
