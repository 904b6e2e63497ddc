// Compute slowed beside data-parallel collectives (calibrate/collectives/
// overlap.json) under a pipeline: the simulator and the analytic estimate
// both put each rank's slowed last backward on the chain of the last
// micro-batch's backward (rank pp-1 -> 0).
#include <catch2/catch.hpp>

#include "analytic/step.h"
#include "calib/collectives.h"
#include "calib/tables.h"
#include "cost/cost_model.h"
#include "hardware/hardware.h"
#include "model/model.h"
#include "sim/simulator.h"
#include "unit/fixtures.h"

using namespace trainsim;

TEST_CASE("A pipeline's slowed last backwards add up along the chain, in both engines", "[sim][overlap]") {
  const model::Model m = testing::toy_llama(8);
  const hardware::Cluster c = hardware::generic_cluster("h100-sxm", 16);  // 2 nodes
  calib::CollectiveOverlap none;
  calib::CollectiveOverlap slow;
  slow.compute_slowdown = 0.25;  // rate 0.8
  const calib::EfficiencyTables tables = calib::load_tables_for(c.accelerator);
  const cost::CostModel c0(c, tables, calib::nccl_collective_latency(), none);
  const cost::CostModel c1(c, tables, calib::nccl_collective_latency(), slow);
  plan::Plan p;
  p.pp = 4;
  p.dp = 4;
  p.zero_stage = 0;
  p.micro_batch = 1;
  p.global_batch = 4 * 8;  // 8 micro-batches per replica
  p.seq_len = 2048;
  p.schedule = plan::Schedule::k1F1B;
  p.precision = plan::bf16_policy();
  p.overlap_grad_reduce = true;
  // Analytic: rank r's own DP exposure is the same under 1F1B and ZB-H1
  // (same chunks, same reduction, same cool-down idle r x B); 1F1B adds the
  // delays of the ranks after it, whose last backwards precede rank r's:
  // dp_exposed_r(1F1B) = dp_exposed_r(ZB-H1) + sum_{r' > r} delay_r'.
  const analytic::StepEstimate a1 = analytic::estimate_step(m, p, c1);
  plan::Plan zb = p;
  zb.schedule = plan::Schedule::kZeroBubbleH1;
  const analytic::StepEstimate z1 = analytic::estimate_step(m, zb, c1);
  REQUIRE(a1.ranks.size() == 4);
  Seconds downstream, largest, all;
  for (int r = 3; r >= 0; --r) {
    const analytic::RankTimes& t = a1.ranks[static_cast<size_t>(r)];
    INFO("rank " << r);
    CHECK(t.dp_backward_delay.value() > 0);
    CHECK(t.dp_backward_delay.value() == Approx(z1.ranks[static_cast<size_t>(r)].dp_backward_delay.value()));
    CHECK(t.dp_exposed.value() ==
          Approx((z1.ranks[static_cast<size_t>(r)].dp_exposed + downstream).value()).epsilon(1e-12));
    downstream += t.dp_backward_delay;
    largest = max(largest, t.dp_backward_delay);
  }
  all = downstream;
  // Without the slowdown no rank has a delay.
  for (const auto& t : analytic::estimate_step(m, p, c0).ranks) CHECK(t.dp_backward_delay.value() == 0);

  // Simulator: the step grows by more than any one rank's delay (the slowed
  // last backwards follow one another along the chain) and by no more than
  // all of them (a bucket's reduction starts during the last backward, so
  // the simulated overlap is at most the analytic one, the whole backward).
  const sim::SimReport s0 = sim::simulate(m, p, c0, sim::SimulateOptions::per_layer());
  const sim::SimReport s1 = sim::simulate(m, p, c1, sim::SimulateOptions::per_layer());
  const double grew = (s1.step_time - s0.step_time).value();
  CHECK(grew > 1.5 * largest.value());
  CHECK(grew <= all.value() * 1.000001);
}
