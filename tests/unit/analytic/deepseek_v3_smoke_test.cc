// DeepSeek-V3 on its 2048-H800 cluster (V3TR §3.1-§3.3, reference/deepseek_v3.md §2):
// PP16 DualPipe, EP64, ZeRO-1 DP128, no TP, 20 comm SMs, FP8 policy, DeepSeek
// recompute, node-limited routing M = 4, 120 sequences per DP rank
// (15360 / 128). The micro-batch size is unpublished: 1 sequence of 4096 tokens.
#include <catch2/catch.hpp>

#include "unit/fixtures.h"

#include <cmath>

#include "analytic/step.h"
#include "calib/tables.h"
#include "cost/cost_model.h"
#include "hardware/hardware.h"
#include "model/model.h"
#include "plan/plan.h"

using namespace trainsim;

namespace {

plan::Plan deepseek_plan() { return testing::deepseek_v3_plan(); }

}  // namespace

TEST_CASE("DeepSeek-V3 2048-H800 plan validates, fits and gives a finite step", "[analytic][deepseek]") {
  const model::Model m = model::load_model("deepseek_v3");
  const hardware::Cluster c = hardware::load_cluster("h800-2048-deepseek");
  const plan::Plan p = deepseek_plan();
  REQUIRE_NOTHROW(plan::validate_plan(p, m, c));
  const plan::MemoryBreakdown mem = plan::memory_per_gpu(p, m);
  // Fits in 80 GB (the check validate_plan makes against the profile's capacity).
  CHECK(in_gigabytes(mem.total()) < 80.0);
  for (const plan::MemoryBreakdown& r : plan::memory_per_rank(p, m)) {
    INFO("rank " << r.pipeline_rank << ": weights " << in_gigabytes(r.weights) << " grads "
                 << in_gigabytes(r.gradients) << " optimizer " << in_gigabytes(r.optimizer_states)
                 << " activations " << in_gigabytes(r.activations) << " (" << r.inflight_micro_batches << " x "
                 << in_gigabytes(r.activations_per_micro_batch) << ") recompute "
                 << in_gigabytes(r.recompute_buffers) << " comm " << in_gigabytes(r.communication_buffers)
                 << " total " << in_gigabytes(r.total()) << " params " << r.params_on_gpu);
    CHECK(r.total().value() > 0);
  }
  const cost::CostModel cost(c, calib::load_tables_for(c.accelerator));
  const analytic::StepEstimate e = analytic::estimate_step(m, p, cost);
  CHECK(std::isfinite(e.step_time.value()));
  CHECK(e.step_time.value() > 0);
  CHECK(e.mfu_causal > 0);
  CHECK(e.mfu_causal < 1);
  CHECK(e.hfu >= e.mfu_causal);
  CHECK(e.mfu_noncausal > e.mfu_causal);
}
