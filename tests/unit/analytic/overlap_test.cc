// ZeRO-3 per-layer gather exposure and TP communication overlap; expected
// values derived by hand beside each check.
#include <catch2/catch.hpp>

#include <algorithm>

#include "unit/fixtures.h"
#include "analytic/step.h"
#include "calib/collectives.h"
#include "calib/tables.h"
#include "cost/cost_model.h"
#include "hardware/hardware.h"
#include "model/model.h"
#include "plan/plan.h"

using namespace trainsim;

namespace {

// Hidden 1024 (16 heads of 64), FFN 4096, 4 layers.
model::Model overlap_model() { return testing::toy_llama(4, 16, 2048); }

plan::Plan overlap_plan(int tp, int dp, int zero) {
  plan::Plan p;
  p.tp = tp;
  p.dp = dp;
  p.zero_stage = zero;
  p.micro_batch = 1;
  p.global_batch = dp;  // one micro-batch per replica
  p.seq_len = 2048;
  return p;
}

}  // namespace

TEST_CASE("ZeRO-3 exposure of one phase with prefetch", "[analytic][zero3]") {
  // n layers, per-layer comm c, compute p: time = c + (n-1) max(c, p) + p... =
  // n max(c, p) + min(c, p); exposed = that - n p.
  // Comm-bound: C = 10 ms, P = 4 ms, n = 4 (c 2.5, p 1): 4 x 2.5 + 1 - 4 = 7 ms.
  CHECK(analytic::zero3_exposed(milliseconds(10), milliseconds(4), 4, 1.0).value() == Approx(milliseconds(7).value()));
  // Compute-bound: C = 2 ms, P = 8 ms, n = 4 (c 0.5, p 2): 4 x 2 + 0.5 - 8 = 0.5 ms,
  // the first layer's gather, which nothing hides.
  CHECK(analytic::zero3_exposed(milliseconds(2), milliseconds(8), 4, 1.0).value() == Approx(milliseconds(0.5).value()));
  // One layer: nothing overlaps, all of it is exposed: C = 3, P = 5 -> 0 + 3 = 3 ms.
  CHECK(analytic::zero3_exposed(milliseconds(3), milliseconds(5), 1, 1.0).value() == Approx(milliseconds(3).value()));
}

TEST_CASE("Compute beside a data-parallel collective runs at the overlap rate", "[analytic][overlap]") {
  // overlap_exposed(C, P, idle, r): stretch = min(C (1 - r), P (1 - r) / r);
  // added = max(0, C - P - idle, stretch).
  // Compute-bound, C = 2 ms beside P = 8 ms at r = 0.8: the compute loses
  // 0.2 of each of the 2 ms: stretch = min(0.4, 2) = 0.4 ms; added 0.4 ms.
  CHECK(analytic::overlap_stretch(milliseconds(2), milliseconds(8), 0.8).value() == Approx(milliseconds(0.4).value()));
  CHECK(analytic::overlap_exposed(milliseconds(2), milliseconds(8), Seconds::zero(), 0.8).value() ==
        Approx(milliseconds(0.4).value()));
  // The collective outlasts the slowed compute: C = 10, P = 4, r = 0.8:
  // compute takes 4 / 0.8 = 5 ms < 10 ms, stretch = min(2, 1) = 1 ms; the
  // step waits for the collective: added max(6, 1) = 6 ms, as at r = 1.
  CHECK(analytic::overlap_exposed(milliseconds(10), milliseconds(4), Seconds::zero(), 0.8).value() ==
        Approx(milliseconds(6).value()));
  // In between: C = 4.5, P = 4, r = 0.8: compute does 0.8 x 4.5 = 3.6 ms of
  // work while the collective runs, the other 0.4 ms after it: 4.9 ms, so
  // added 0.9 ms = stretch min(0.9, 1) (> C - P = 0.5).
  CHECK(analytic::overlap_exposed(milliseconds(4.5), milliseconds(4), Seconds::zero(), 0.8).value() ==
        Approx(milliseconds(0.9).value()));
  // Idle time after the compute (a 1F1B rank's cool-down) hides the
  // collective's tail, not the stretch (the slowed backward is on the
  // pipeline's chain): C = 2, P = 8, idle 0.3 or 1 ms: still 0.4 ms.
  CHECK(analytic::overlap_exposed(milliseconds(2), milliseconds(8), milliseconds(0.3), 0.8).value() ==
        Approx(milliseconds(0.4).value()));
  CHECK(analytic::overlap_exposed(milliseconds(2), milliseconds(8), milliseconds(1), 0.8).value() ==
        Approx(milliseconds(0.4).value()));
  // ... and a comm-bound tail: C = 10, P = 4, idle 3: max(10 - 4 - 3, 1) = 3 ms.
  CHECK(analytic::overlap_exposed(milliseconds(10), milliseconds(4), milliseconds(3), 0.8).value() ==
        Approx(milliseconds(3).value()));
  // No compute beside it (reduction after the whole backward): all of C
  // past the idle, no stretch: C = 2, P = 0, idle 0.5 -> 1.5 ms.
  CHECK(analytic::overlap_exposed(milliseconds(2), Seconds::zero(), milliseconds(0.5), 0.8).value() ==
        Approx(milliseconds(1.5).value()));
  // ZeRO-3 phase: C/n + max((C - P)(1 - 1/n), stretch(C (1 - 1/n), P (1 - 1/n))).
  // Compute-bound, C = 2, P = 8, n = 4, r = 0.8: 0.5 + max(-4.5,
  // min(1.5 x 0.2, 6 x 0.25) = 0.3) = 0.8 ms (sim/zero3_test.cc's timeline
  // gives the same).
  CHECK(analytic::zero3_exposed(milliseconds(2), milliseconds(8), 4, 0.8).value() ==
        Approx(milliseconds(0.8).value()));
  // Comm-bound: C = 10, P = 4, n = 4: 2.5 + max(4.5, min(1.5, 0.75)) = 7 ms,
  // as at r = 1.
  CHECK(analytic::zero3_exposed(milliseconds(10), milliseconds(4), 4, 0.8).value() ==
        Approx(milliseconds(7).value()));
  // In between (r C < P < C), c = 1.125, p = 1 per layer, n = 4: each of the
  // 3 overlapped layers takes max(c, p + min(c x 0.2, p x 0.25)) =
  // max(1.125, 1.225) = 1.225 ms: 1.125 + 3 x 1.225 + 1 = 5.8 ms for 4 ms of
  // compute, exposed 1.8 ms = 1.125 + max(0.375, min(0.675, 0.75)).
  CHECK(analytic::zero3_exposed(milliseconds(4.5), milliseconds(4), 4, 0.8).value() ==
        Approx(milliseconds(1.8).value()));
  // At rate 1 the old form, max(0, C - P) + min(C, P)/n: 4.5 - 4 + 4/4 = 1.5 ms.
  CHECK(analytic::zero3_exposed(milliseconds(4.5), milliseconds(4), 4, 1.0).value() ==
        Approx(milliseconds(1.5).value()));
}

TEST_CASE("The overlap slowdown enters the DP exposure from the cost model's file", "[analytic][overlap]") {
  // Same plan, cost models that differ only in the overlap slowdown: the
  // compute is unchanged, the exposed DP time grows by the stretch of the
  // backward beside the gradient reduce-scatter (ZeRO-1, overlapped).
  const model::Model m = overlap_model();
  const hardware::Cluster c = hardware::generic_cluster("a100-sxm-80gb", 32);
  calib::CollectiveOverlap none;  // slowdown 0
  calib::CollectiveOverlap slow;
  slow.compute_slowdown = 0.25;  // rate 0.8
  const cost::CostModel c0(c, calib::load_tables_for(c.accelerator), calib::nccl_collective_latency(), none);
  const cost::CostModel c1(c, calib::load_tables_for(c.accelerator), calib::nccl_collective_latency(), slow);
  plan::Plan p = overlap_plan(1, 32, 1);
  p.overlap_grad_reduce = true;
  const analytic::StepEstimate e0 = analytic::estimate_step(m, p, c0);
  const analytic::StepEstimate e1 = analytic::estimate_step(m, p, c1);
  CHECK(e1.breakdown.compute.value() == Approx(e0.breakdown.compute.value()));
  const analytic::RankTimes& r = e1.ranks.at(0);
  REQUIRE(r.dp_comm.value() > 0);
  // One micro-batch per replica: the reduce-scatter runs beside the whole
  // backward B, the all-gather beside the next forward F; each stretches
  // its compute by min(comm x 0.2, compute x 0.25) unless comm-bound.
  CHECK(e1.breakdown.dp_exposed.value() > e0.breakdown.dp_exposed.value());
  CHECK(e1.step_time.value() > e0.step_time.value());
  CHECK(e1.breakdown.dp_exposed.value() - e0.breakdown.dp_exposed.value() <= r.dp_comm.value() * 0.2 * 1.000001);
}

TEST_CASE("ZeRO-3 gathers are exposed per layer, not hidden behind the next step", "[analytic][zero3]") {
  const model::Model m = overlap_model();
  const hardware::Cluster c = hardware::generic_cluster("a100-sxm-80gb", 32);  // 32 GPUs, 4 nodes
  const cost::CostModel cost(c, calib::load_tables_for(c.accelerator));
  const analytic::StepEstimate z0 = analytic::estimate_step(m, overlap_plan(1, 32, 0), cost);
  const analytic::StepEstimate z3 = analytic::estimate_step(m, overlap_plan(1, 32, 3), cost);
  const analytic::RankTimes& r = z3.ranks.at(0);
  // Same compute either way; ZeRO-3 moves gather (forward) + gather and
  // reduce-scatter (backward) = dp_comm, of which at least the first layer's
  // gather and at most all of it is exposed.
  CHECK(z3.breakdown.compute.value() == Approx(z0.breakdown.compute.value()));
  CHECK(r.dp_comm.value() > 0);
  CHECK(r.dp_exposed.value() > 0);
  CHECK(r.dp_exposed.value() <= r.dp_comm.value());
  CHECK(r.dp_exposed.value() >= r.dp_comm.value() / 3.0 / 4.0 * 0.999);  // >= one layer's gather (of 3 transfers, 4 layers)
}

TEST_CASE("TP overlap hides TP collectives under the pass's GEMMs", "[analytic][tp_overlap]") {
  const model::Model m = overlap_model();
  const hardware::Cluster c = hardware::generic_cluster("h100-sxm", 8);
  const cost::CostModel cost(c, calib::load_tables_for(c.accelerator));
  plan::Plan off = overlap_plan(8, 1, 0);
  plan::Plan on = off;
  on.tp_comm_overlap = true;
  const analytic::StepEstimate e_off = analytic::estimate_step(m, off, cost);
  const analytic::StepEstimate e_on = analytic::estimate_step(m, on, cost);
  const analytic::RankTimes& r = e_off.ranks.at(0);
  // Without overlap (pp = 1, no EP): every TP collective is exposed.
  CHECK(r.tp_comm.value() > 0);
  CHECK(e_off.breakdown.exposed_comm.value() == Approx(r.tp_comm.value()));
  // With overlap, exposed = max(0, TPf - F) + max(0, TPb - (B + W)). One
  // micro-batch, one stage: the unoverlapped forward chunk is F + TPf, so
  // TPf = chunk_f - F and TPb = tp_comm - TPf.
  const double f = r.forward.value(), b = (r.backward_input + r.backward_weight + r.recompute).value();
  const double tp_f = r.chunk_f.value() - f, tp_b = r.tp_comm.value() - tp_f;
  REQUIRE(tp_f > 0);
  REQUIRE(tp_b > 0);
  const double expected = std::max(0.0, tp_f - f) + std::max(0.0, tp_b - b);
  CHECK(e_on.breakdown.exposed_comm.value() == Approx(expected));
  CHECK(e_on.breakdown.exposed_comm.value() < e_off.breakdown.exposed_comm.value());
  CHECK(e_on.breakdown.compute.value() == Approx(e_off.breakdown.compute.value()));
}
