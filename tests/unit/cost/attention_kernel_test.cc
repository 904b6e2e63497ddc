// The attention core is timed with the efficiency group of the kernel its
// operator names: FlashAttention-2 (AttentionImpl::kFlash2) with the tables'
// FlashAttention-2 group, kFlash with the fastest kernel's. Expected values by
// hand beside each check.
#include <catch2/catch.hpp>

#include "unit/fixtures.h"

#include "calib/tables.h"
#include "cost/cost_model.h"
#include "graph/graph.h"

namespace trainsim::cost {

TEST_CASE("FlashAttention-2 operators take the FlashAttention-2 efficiency group", "[cost][attention]") {
  calib::EfficiencyTables t = calib::default_tables("test-h800", "test");
  // Fastest kernel 0.6 of peak, FlashAttention-2 0.3; no sequence or head-dim loss.
  t.attention_fwd.eta_max = 0.6;
  t.flash2_fwd.eta_max = 0.3;
  for (calib::AttentionParams* a : {&t.attention_fwd, &t.flash2_fwd}) a->seq_half = a->head_dim_half = 0;
  t.attention_bwd.eta_max = 0.5;
  t.flash2_bwd.eta_max = 0.25;
  for (calib::AttentionParams* a : {&t.attention_bwd, &t.flash2_bwd}) a->seq_half = a->head_dim_half = 0;
  const CostModel cost(testing::test_cluster({.name = "test-h800", .fp8_tflops = 1979.0}, 1), t);
  graph::Operator op;
  op.kind = graph::OpKind::kAttention;
  op.attention = {1, 4096, 4096, 32, 32, 128, 128, true, graph::AttentionImpl::kFlash};
  op.fwd.flops = Flops(989e9);  // 1 ms of work at the 989 TFLOP/s peak
  op.fwd.bytes = Bytes(1e6);
  op.bwd_input.flops = Flops(2.0 * 989e9);
  op.bwd_input.bytes = Bytes(1e6);
  const double launch = 5e-6;  // the BF16 GEMM launch overhead, added once
  // Fastest kernel: forward 1 ms / 0.6 = 1.6667 ms; backward 2 ms / 0.5 = 4 ms.
  CHECK(cost.op_time(op, Pass::kForward, {}).value() - launch == Approx(1e-3 / 0.6).epsilon(1e-12));
  CHECK(cost.op_time(op, Pass::kBackwardInput, {}).value() - launch == Approx(2e-3 / 0.5).epsilon(1e-12));
  // FlashAttention-2: forward 1 ms / 0.3 = 3.3333 ms; backward 2 ms / 0.25 = 8 ms.
  op.attention.impl = graph::AttentionImpl::kFlash2;
  CHECK(cost.op_time(op, Pass::kForward, {}).value() - launch == Approx(1e-3 / 0.3).epsilon(1e-12));
  CHECK(cost.op_time(op, Pass::kBackwardInput, {}).value() - launch == Approx(2e-3 / 0.25).epsilon(1e-12));
}

}  // namespace trainsim::cost
