#include <catch2/catch.hpp>

#include <cmath>

#include "run/training_run.h"

using namespace trainsim;
using namespace trainsim::run;

TEST_CASE("Ramp linear in tokens, step time linear in batch", "[run]") {
  // T(b) = 10 s + 0.001 s x b; b from 1000 to 3000 sequences of 1000 tokens over R = 4e9 tokens.
  auto t = [](int64_t b) { return seconds(10.0 + 0.001 * static_cast<double>(b)); };
  const RampIntegral r = integrate_ramp(1000, 3000, 4e9, 1000, RampShape::kLinearInTokens, 5, 1, t);
  // steps = R ln(b1/b0) / ((b1 - b0) s) = 4e9 x ln 3 / (2000 x 1000) = 2000 x 1.0986123 = 2197.2246.
  CHECK(r.steps == Approx(2197.2246));
  // time = R / ((b1 - b0) s) [a ln 3 + c (b1 - b0)] = 2000 x (10.986123 + 2) = 25,972.246 s.
  CHECK(r.time.value() == Approx(25972.246));
  REQUIRE(r.points.size() == 5);
  CHECK(r.points[1].batch == 1500);
}

TEST_CASE("Ramp linear in steps, step time linear in batch", "[run]") {
  auto t = [](int64_t b) { return seconds(10.0 + 0.001 * static_cast<double>(b)); };
  const RampIntegral r = integrate_ramp(1000, 3000, 4e9, 1000, RampShape::kLinearInSteps, 2, 1, t);
  // S = 2R / ((b0 + b1) s) = 8e9 / 4e6 = 2000 steps; mean batch 2000 -> T = 12 s -> 24,000 s.
  CHECK(r.steps == Approx(2000.0));
  CHECK(r.time.value() == Approx(24000.0));
}

TEST_CASE("Ramp points are rounded to runnable batches and scaled back per sequence", "[run]") {
  // T(b) = 0.002 s x b (time per sequence constant): rounding must not change the answer.
  auto t = [](int64_t b) { return seconds(0.002 * static_cast<double>(b)); };
  const RampIntegral r = integrate_ramp(100, 300, 1e6, 100, RampShape::kLinearInTokens, 3, 64, t);
  // Points 100, 200, 300 -> evaluated at 128 (1.5625 -> 2 x 64), 192 (3.125 -> 3), 320 (4.6875 -> 5).
  REQUIRE(r.points.size() == 3);
  CHECK(r.points[0].evaluated_batch == 128);
  CHECK(r.points[1].evaluated_batch == 192);
  CHECK(r.points[2].evaluated_batch == 320);
  // 1e6 tokens = 1e4 sequences x 0.002 s = 20 s.
  CHECK(r.time.value() == Approx(20.0));
}

TEST_CASE("A flat ramp is constant batch", "[run]") {
  auto t = [](int64_t) { return seconds(5.0); };
  const RampIntegral r = integrate_ramp(200, 200, 4e6, 100, RampShape::kLinearInTokens, 5, 1, t);
  // 4e6 / (200 x 100) = 200 steps x 5 s = 1000 s.
  CHECK(r.steps == Approx(200.0));
  CHECK(r.time.value() == Approx(1000.0));
}

TEST_CASE("Ramp points below the smallest runnable batch use its per-sequence time", "[run]") {
  // T(b) = 1 s + 0.001 s x b; points 1000, 2000, 3000 with min batch 2000 (quantum 1000):
  // the first point is evaluated at 2000 (T = 3 s, 1.5 ms per sequence) -> T(1000) := 1.5 s.
  auto t = [](int64_t b) { return seconds(1.0 + 0.001 * static_cast<double>(b)); };
  const RampIntegral r =
      integrate_ramp(1000, 3000, 4e9, 1000, RampShape::kLinearInSteps, 3, 1000, t, 2000);
  CHECK(r.points[0].evaluated_batch == 2000);
  CHECK(r.points[1].evaluated_batch == 2000);
  // Linear in steps, S = 2000 steps, 1000 per segment (each segment spans 1000 sequences):
  // segment 1: mean of T(1000) = 1.5 and T(2000) = 3 -> 2.25 s x 1000 = 2250 s;
  // segment 2: mean of 3 and 4 -> 3.5 s x 1000 = 3500 s; total 5750 s.
  CHECK(r.time.value() == Approx(5750.0));
}
