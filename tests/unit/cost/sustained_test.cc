// The sustained factor in the cost model: compute time of GEMMs, grouped GEMMs
// and attention divided by the factor of their precision; nothing changes
// without one. Expected values by hand beside each check.
#include <catch2/catch.hpp>

#include "unit/fixtures.h"

#include "calib/tables.h"
#include "cost/cost_model.h"

namespace trainsim::cost {
namespace {

hardware::Cluster cluster() { return testing::test_cluster({.name = "test-h800", .fp8_tflops = 1979.0}, 1); }

calib::EfficiencyTables with_sustained(double bf16) {
  calib::EfficiencyTables t = calib::default_tables("test-h800", "test");
  t.gemm[Precision::kBF16].sustained = bf16;
  return t;
}

}  // namespace

TEST_CASE("A sustained factor of 0.8 makes compute-bound GEMM time 1/0.8 longer", "[cost][sustained]") {
  const CostModel burst(cluster(), calib::default_tables("test-h800", "test"));
  const CostModel sustained(cluster(), with_sustained(0.8));
  const OpContext ctx;
  // 8192^3 BF16, default tables (eta 0.75, 128x128 tiles, k_overhead 256, launch 5 us):
  // 64 x 64 = 4096 tiles over 132 SMs -> 32 waves; tile 2*128*128*(8192+256) = 276824064 FLOP
  // at 989e12 * 0.75 / 132 per SM -> 49.26 us; x 32 = 1.5764 ms. Memory bound: 8192^2 x 6 B =
  // 402.6 MB / (3350e9 x 0.85) = 0.141 ms, far below: compute-bound.
  const Bytes bytes(8192.0 * 8192.0 * 6.0);
  const graph::GemmShape s{8192, 8192, 8192, 1};
  const double t0 = burst.gemm_time(s, Precision::kBF16, bytes, false, ctx).value();
  const double t1 = sustained.gemm_time(s, Precision::kBF16, bytes, false, ctx).value();
  const double launch = 5e-6;
  CHECK(t0 - launch == Approx(276824064.0 / (989e12 * 0.75 / 132) * 32).epsilon(1e-9));
  CHECK(t1 - launch == Approx((t0 - launch) / 0.8).epsilon(1e-12));
  // Grouped GEMM (4 groups) takes the dense BF16 factor: its compute time also / 0.8.
  const graph::GemmShape g{2048, 4096, 7168, 4};
  const double g0 = burst.gemm_time(g, Precision::kBF16, Bytes(1e6), true, ctx).value();
  const double g1 = sustained.gemm_time(g, Precision::kBF16, Bytes(1e6), true, ctx).value();
  CHECK(g1 - launch == Approx((g0 - launch) / 0.8).epsilon(1e-12));
  // FP8 has no factor of its own (its entry has none): unchanged.
  CHECK(sustained.gemm_time(s, Precision::kFP8, bytes, false, ctx) == burst.gemm_time(s, Precision::kFP8, bytes, false, ctx));
}

TEST_CASE("Attention compute time divides by the BF16 sustained factor", "[cost][sustained]") {
  const CostModel burst(cluster(), calib::default_tables("test-h800", "test"));
  const CostModel sustained(cluster(), with_sustained(0.8));
  graph::Operator op;
  op.kind = graph::OpKind::kAttention;
  op.attention = {1, 4096, 4096, 128, 128, 192, 128, true};
  // Compute-bound: 1e12 FLOP vs 1 MB of traffic.
  op.fwd.flops = Flops(1e12);
  op.fwd.bytes = Bytes(1e6);
  const double launch = 5e-6;  // the BF16 GEMM launch overhead, added once
  const double a0 = burst.op_time(op, Pass::kForward, {}).value();
  const double a1 = sustained.op_time(op, Pass::kForward, {}).value();
  CHECK(a1 - launch == Approx((a0 - launch) / 0.8).epsilon(1e-12));
}

TEST_CASE("Without a sustained measurement GEMM times are bit-identical", "[cost][sustained]") {
  // sustained 1.0 written explicitly equals absent: x / 1.0 == x exactly in IEEE arithmetic.
  const CostModel absent(cluster(), calib::default_tables("test-h800", "test"));
  const CostModel one(cluster(), with_sustained(1.0));
  const graph::GemmShape s{4096, 7168, 2048, 1};
  CHECK(absent.gemm_time(s, Precision::kBF16, Bytes(1e7), false, {}).value() ==
        one.gemm_time(s, Precision::kBF16, Bytes(1e7), false, {}).value());
}

}  // namespace trainsim::cost
