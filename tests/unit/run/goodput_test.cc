#include <catch2/catch.hpp>

#include "core/error.h"
#include "run/goodput.h"

using namespace trainsim;
using namespace trainsim::run;

TEST_CASE("Young interval by hand", "[run]") {
  // delta = 5 min = 300 s, MTBF = 24 h = 86400 s: sqrt(2 * 300 * 86400) = sqrt(51,840,000) = 7200 s.
  CHECK(young_interval(seconds(300), hours(24)).value() == Approx(7200.0));
}

TEST_CASE("Daly higher-order interval by hand", "[run]") {
  // x = delta / 2M = 300 / 172800 = 0.00173611; sqrt(x) = 0.0416667.
  // tau = 7200 (1 + 0.0416667/3 + 0.00173611/9) - 300 = 7200 * 1.0140818 - 300 = 7001.39 s.
  CHECK(daly_interval(seconds(300), hours(24)).value() == Approx(7001.389).epsilon(1e-6));
  // delta >= 2M: tau = M.
  CHECK(daly_interval(seconds(200), seconds(100)).value() == Approx(100.0));
}

TEST_CASE("Job MTBF from a per-GPU failure rate", "[run]") {
  // 1e-5 failures per GPU-hour x 1000 GPUs = 0.01 per hour -> M = 100 h = 360,000 s.
  CHECK(job_mtbf(Hertz(1e-5 / 3600.0), 1000).value() == Approx(360000.0));
}

TEST_CASE("Goodput wall time by hand (Daly first-order model)", "[run]") {
  // T = 100 h = 360,000 s on 1000 GPUs, M = 360,000 s, delta = 300 s, R = 600 s, tau = 3600 s.
  GoodputInputs in{Hertz(1e-5 / 3600.0), seconds(300), seconds(600), seconds(3600)};
  const GoodputResult r = apply_goodput(seconds(360000), 1000, in);
  // checkpoint overhead = T delta / tau = 360000 * 300 / 3600 = 30,000 s.
  CHECK(r.checkpoint_overhead.value() == Approx(30000.0));
  // per failure = R + (tau + delta)/2 = 600 + 1950 = 2550 s; W = 390000 / (1 - 2550/360000)
  //             = 390000 / 0.99291667 = 392,782.2 s.
  CHECK(r.wall.value() == Approx(392782.2073));
  // failures = W / M = 1.0910617; lost = 1.0910617 * 1950 = 2127.57 s; restarts = 654.64 s.
  CHECK(r.expected_failures == Approx(1.0910617));
  CHECK(r.lost_work.value() == Approx(2127.5703));
  CHECK(r.restarts.value() == Approx(654.6370));
  // The parts add up: 360000 + 30000 + 2127.57 + 654.64 = 392782.2.
  CHECK((r.ideal + r.checkpoint_overhead + r.lost_work + r.restarts).value() ==
        Approx(r.wall.value()));
  CHECK(r.goodput() == Approx(360000.0 / 392782.2073));
}

TEST_CASE("Goodput uses Daly's optimum when no interval is stated", "[run]") {
  // 2048 GPUs at 1 / (2048 * 24 h) per GPU-hour -> M = 24 h; delta = 300 s -> tau = 7001.39 s.
  GoodputInputs in{Hertz(1.0 / (2048.0 * 24.0) / 3600.0), seconds(300), seconds(600), std::nullopt};
  const GoodputResult r = apply_goodput(hours(100), 2048, in);
  CHECK(r.mtbf.value() == Approx(86400.0));
  CHECK(r.checkpoint_interval.value() == Approx(7001.389).epsilon(1e-6));
}

TEST_CASE("No failures: wall = ideal + checkpoint stalls", "[run]") {
  GoodputInputs in{Hertz(0), seconds(60), seconds(600), seconds(3600)};
  const GoodputResult r = apply_goodput(seconds(36000), 8, in);
  // 36000 * 60 / 3600 = 600 s of checkpoint stalls.
  CHECK(r.wall.value() == Approx(36600.0));
  CHECK(r.expected_failures == 0.0);
}

TEST_CASE("Failures faster than progress are refused", "[run]") {
  // M = 1 h on 1 GPU; restart 2 h > M.
  GoodputInputs in{Hertz(1.0 / 3600.0), seconds(60), hours(2), std::nullopt};
  CHECK_THROWS_AS(apply_goodput(hours(10), 1, in), PlanError);
}
