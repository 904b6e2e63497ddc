#include <catch2/catch.hpp>

#include "run/uncertainty.h"

using namespace trainsim;
using namespace trainsim::run;

namespace {

Scenario toy() {
  Scenario s;
  s.plan.micro_batch = 1;
  s.plan.expert_load_imbalance = 1.1;
  s.goodput.failures_per_gpu = Hertz(2e-5 / 3600.0);
  s.goodput.checkpoint_write = seconds(60);
  s.goodput.restart = seconds(600);
  auto& u = s.uncertainty;
  u.samples = 300;
  u.compute_efficiency_scale = Range{0.8, 1.0, 1.1, "test"};
  u.comm_efficiency_scale = Range{0.9, 1.0, 1.2, "test"};
  u.expert_load_imbalance = Range{1.0, 1.1, 1.3, "test"};
  u.failures_per_gpu_hour = Range{1e-5, 2e-5, 4e-5, "test"};
  u.checkpoint_write_s = Range{30, 60, 300, "test"};
  u.restart_s = Range{300, 600, 1800, "test"};
  u.micro_batches = {1, 2};
  u.micro_batch_source = "test";
  return s;
}

// Toy metric: 1000 / compute + 100 / comm + 500 x imbalance + 1e6 x failure rate per GPU-hour
// + restart seconds / 10 + 50 x micro_batch.
double metric(const Perturbation& p) {
  return 1000.0 / p.compute_scale + 100.0 / p.comm_scale + 500.0 * p.expert_load_imbalance +
         1e6 * p.goodput.failures_per_gpu.value() * 3600.0 + p.goodput.restart.value() / 10.0 +
         50.0 * static_cast<double>(p.micro_batch);
}

}  // namespace

TEST_CASE("Percentiles by linear interpolation (Hyndman-Fan 7)", "[run]") {
  const std::vector<double> v = {1, 2, 3, 4, 5};
  // h = 4 q: q = 0.1 -> 0.4 -> 1.4; q = 0.5 -> 2 -> 3; q = 0.9 -> 3.6 -> 4.6.
  CHECK(percentile(v, 0.1) == Approx(1.4));
  CHECK(percentile(v, 0.5) == Approx(3.0));
  CHECK(percentile(v, 0.9) == Approx(4.6));
}

TEST_CASE("Triangular draws stay in range and centre on the mode", "[run]") {
  Rng rng(7);
  double sum = 0;
  for (int i = 0; i < 20000; ++i) {
    const double x = triangular(rng, 0.0, 0.0, 3.0);
    REQUIRE(x >= 0.0);
    REQUIRE(x <= 3.0);
    sum += x;
  }
  // Mean of triangular(0, 0, 3) = (0 + 0 + 3) / 3 = 1.
  CHECK(sum / 20000 == Approx(1.0).epsilon(0.02));
}

TEST_CASE("Monte Carlo is deterministic for a seed", "[run]") {
  const Scenario s = toy();
  const Interval a = monte_carlo(s, metric, 300, 42);
  const Interval b = monte_carlo(s, metric, 300, 42);
  CHECK(a.p10 == b.p10);
  CHECK(a.p50 == b.p50);
  CHECK(a.p90 == b.p90);
  CHECK(a.p10 < a.p50);
  CHECK(a.p50 < a.p90);
  const Interval c = monte_carlo(s, metric, 300, 43);
  CHECK(c.p50 != a.p50);
}

TEST_CASE("Nominal perturbation takes the scenario's values", "[run]") {
  const Perturbation p = nominal_perturbation(toy());
  // 1000 + 100 + 550 + 20 + 60 + 50 = 1780.
  CHECK(metric(p) == Approx(1780.0));
}

TEST_CASE("Tornado: swings by hand, sorted largest first", "[run]") {
  const auto t = tornado(toy(), metric);
  REQUIRE(t.size() == 7);
  // compute: 1000/0.8 - 1000/1.1 = 1250 - 909.09 = 340.91 (largest).
  CHECK(t[0].input == "compute_efficiency_scale");
  CHECK(t[0].low == Approx(1780.0 + 250.0));
  CHECK(t[0].swing() == Approx(340.909));
  // failures: 1e6 x (4e-5 - 1e-5) = 30; restart: (1800 - 300) / 10 = 150;
  // imbalance: 500 x 0.3 = 150; comm: 100/0.9 - 100/1.2 = 27.78; micro_batch: 50; checkpoint: 0.
  CHECK(t[1].swing() == Approx(150.0));
  CHECK(t[2].swing() == Approx(150.0));
  CHECK(t[1].input == "expert_load_imbalance");  // tie with restart_time, broken by name
  CHECK(t[2].input == "restart_time");
  CHECK(t[3].input == "micro_batch");
  CHECK(t[4].input == "failures_per_gpu_hour");
  CHECK(t[5].input == "comm_efficiency_scale");
  CHECK(t[6].input == "checkpoint_write_time");
  CHECK(t[6].swing() == 0.0);
}
