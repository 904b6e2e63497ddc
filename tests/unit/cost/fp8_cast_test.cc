// FP8 quantisation kernels before FP8 GEMMs (memory-bound casts); expected
// values derived by hand beside each check.
#include <catch2/catch.hpp>

#include "unit/fixtures.h"

#include "calib/tables.h"
#include "cost/cost_model.h"

namespace trainsim::cost {
namespace {

hardware::Cluster cast_cluster(bool fp8) {
  return testing::test_cluster({.name = "test-h100", .fp8_tflops = fp8 ? 1979.0 : 0.0, .hbm_gbps = 3000}, 1);
}

calib::EfficiencyTables cast_tables() {
  calib::EfficiencyTables t = calib::default_tables("test-h100", "test");
  t.memory.eta = 0.75;                   // 0.75 x 3000 GB/s = 2250 GB/s achieved
  t.memory.latency = microseconds(4);    // per kernel
  return t;
}

}  // namespace

TEST_CASE("FP8 GEMM operands pay memory-bound cast kernels", "[cost][fp8]") {
  const CostModel cost(cast_cluster(true), cast_tables());
  // Forward C[m,n] = A[m,k] B[k,n], m = 4096, n = 2048, k = 1024.
  const graph::GemmShape s{4096, 2048, 1024, 1};
  // Forward: cast A with transpose, 4 B/element: 4 x 4096 x 1024 = 16,777,216 B
  //   -> 4 us + 16,777,216 / 2.25e12 s = 4 us + 7.4565 us = 11.4565 us;
  // cast B, 3 B/element: 3 x 1024 x 2048 = 6,291,456 B -> 4 us + 2.7962 us = 6.7962 us.
  // Total 18.2527 us.
  CHECK(cost.fp8_cast_time(s, Precision::kFP8, Pass::kForward).value() ==
        Approx(8e-6 + (16777216.0 + 6291456.0) / 2.25e12));
  // Input gradient: cast dC[m,n] with transpose, 4 x 4096 x 2048 = 33,554,432 B
  //   -> 4 us + 14.913 us.
  CHECK(cost.fp8_cast_time(s, Precision::kFP8, Pass::kBackwardInput).value() ==
        Approx(4e-6 + 33554432.0 / 2.25e12));
  // Weight gradient reuses the transposed copies: nothing to cast.
  CHECK(cost.fp8_cast_time(s, Precision::kFP8, Pass::kBackwardWeight).value() == 0);
  // BF16 GEMMs cast nothing.
  CHECK(cost.fp8_cast_time(s, Precision::kBF16, Pass::kForward).value() == 0);
}

TEST_CASE("no cast where FP8 GEMMs fall back to BF16", "[cost][fp8]") {
  // An accelerator without an FP8 peak runs FP8 requests at BF16: no quantisation.
  const CostModel cost(cast_cluster(false), cast_tables());
  CHECK(cost.fp8_cast_time({4096, 2048, 1024, 1}, Precision::kFP8, Pass::kForward).value() == 0);
}

TEST_CASE("an FP8 GEMM's op time includes its cast", "[cost][fp8]") {
  const CostModel cost(cast_cluster(true), cast_tables());
  graph::Operator op;
  op.kind = graph::OpKind::kGemm;
  op.precision = Precision::kFP8;
  op.gemm = {4096, 2048, 1024, 1};
  op.fwd.flops = Flops(2.0 * 4096 * 2048 * 1024);
  op.fwd.bytes = Bytes((4096.0 * 1024 + 1024.0 * 2048) * 1 + 4096.0 * 2048 * 2);
  OpContext ctx;
  ctx.gemm_precision = Precision::kFP8;
  // op_time = GEMM kernel + casts (the two are sequential kernels).
  const Seconds gemm = cost.gemm_time(op.gemm, Precision::kFP8, op.fwd.bytes, false, ctx);
  CHECK(cost.op_time(op, Pass::kForward, ctx).value() ==
        Approx(gemm.value() + cost.fp8_cast_time(op.gemm, Precision::kFP8, Pass::kForward).value()));
}

}  // namespace trainsim::cost
