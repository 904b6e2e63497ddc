// Bucketed DP gradient reduction (sim/pipeline.h): each bucket starts when
// the segment of the last micro-batch's weight-gradient chunk that produces
// it finishes, and overlaps the remaining backward.
#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

#include "calib/tables.h"
#include "cost/cost_model.h"
#include "run/scenario.h"
#include "sim/pipeline.h"
#include "sim/schedule.h"
#include "sim/workload.h"
#include "unit/sim/segments.h"

using namespace trainsim;
using namespace trainsim::sim;
using plan::Schedule;

namespace {

using testing::compute;
using testing::kMs;

// A bucket whose transfer alone takes `t` on a 1 GB/s NIC.
Segment bucket(Tick t) { return testing::transfer(t); }

// One stage: F = B = 1 ms; the weight gradient is two 1 ms segments (one per
// layer group), each producing one bucket; the full backward is B then the
// two weight segments.
PipelineWork one_stage(Tick bucket0, Tick bucket1, bool triggers) {
  PipelineWork w;
  w.stages.resize(1);
  StageWork& st = w.stages[0];
  st.chunk[static_cast<size_t>(ChunkType::kForward)] = {compute(kMs)};
  st.chunk[static_cast<size_t>(ChunkType::kBackwardInput)] = {compute(kMs)};
  st.chunk[static_cast<size_t>(ChunkType::kBackwardWeight)] = {compute(kMs), compute(kMs)};
  st.chunk[static_cast<size_t>(ChunkType::kBackwardFull)] = {compute(kMs), compute(kMs), compute(kMs)};
  st.grad_sync = {bucket(bucket0), bucket(bucket1)};
  if (triggers) st.grad_bucket_after = {0, 1};
  return w;
}

ClusterShape one_gbps() {
  ClusterShape shape;
  shape.nic = gigabytes_per_second(1);
  return shape;
}

}  // namespace

TEST_CASE("DP buckets overlap the last weight gradient: only the last bucket is exposed", "[sim]") {
  // ZB-H1 on one stage, 2 micro-batches: the GPU computes F, B, W (2 ms) per
  // micro-batch, 4 ms each, so compute ends at T = 8 ms. The last W's first
  // segment ends at T - 1 ms: bucket 0 (0.5 ms on the idle NIC) runs
  // T - 1 .. T - 0.5 under the second segment; bucket 1 is released at T
  // and runs T .. T + 0.5 with nothing left to hide it. Step 8.5 ms, exposed
  // DP time 0.5 ms (not the 1.0 ms of one sync after the last W).
  const PipelineSchedule s = build_schedule(Schedule::kZeroBubbleH1, 1, 2);
  const SimOutput o = run_pipeline(s, one_stage(kMs / 2, kMs / 2, true), one_gbps());
  CHECK(o.gpus[0].compute == 8 * kMs);
  CHECK(o.step == 8 * kMs + kMs / 2);
  CHECK(o.gpus[0].exposed_comm == kMs / 2);
  CHECK(o.gpus[0].idle == 0);

  // Without triggers both buckets go after the last W ends (the old single
  // sync): 8 + 0.5 + 0.5 = 9 ms, 1.0 ms exposed.
  const SimOutput late = run_pipeline(s, one_stage(kMs / 2, kMs / 2, false), one_gbps());
  CHECK(late.step == 9 * kMs);
  CHECK(late.gpus[0].exposed_comm == kMs);
}

TEST_CASE("a bucket longer than the remaining compute is exposed by the difference", "[sim]") {
  // As above, bucket 0 takes 1.5 ms: it runs T - 1 .. T + 0.5, exposed by
  // 1.5 - 1.0 = 0.5 ms; bucket 1 (0.5 ms), released at T, waits for it on
  // the GPU's one communication stream and runs T + 0.5 .. T + 1.0. Step
  // 9 ms, exposed 0.5 + 0.5 = 1.0 ms.
  const PipelineSchedule s = build_schedule(Schedule::kZeroBubbleH1, 1, 2);
  const SimOutput o = run_pipeline(s, one_stage(3 * kMs / 2, kMs / 2, true), one_gbps());
  CHECK(o.step == 9 * kMs);
  CHECK(o.gpus[0].exposed_comm == kMs);
  // Bucket 0 alone, 2.5 ms: exposed by 2.5 - 1.0 = 1.5 ms, then bucket 1
  // 0.5 ms: step 8 + 1.5 + 0.5 = 10 ms.
  const SimOutput longer = run_pipeline(s, one_stage(5 * kMs / 2, kMs / 2, true), one_gbps());
  CHECK(longer.step == 10 * kMs);
  CHECK(longer.gpus[0].exposed_comm == 2 * kMs);
}

TEST_CASE("DP buckets trigger inside a full backward chunk", "[sim]") {
  // 1F1B on one stage runs full backward chunks B, W0, W1 (3 ms): compute
  // ends at T = 2 x (1 + 3) = 8 ms; bucket 0 is released when W0 (segment 1
  // of the full chunk, shift 3 - 2 = 1) ends at T - 1 ms and hides; bucket 1
  // is exposed: step 8.5 ms.
  const PipelineSchedule s = build_schedule(Schedule::k1F1B, 1, 2);
  const SimOutput o = run_pipeline(s, one_stage(kMs / 2, kMs / 2, true), one_gbps());
  CHECK(o.step == 8 * kMs + kMs / 2);
  CHECK(o.gpus[0].exposed_comm == kMs / 2);
}

TEST_CASE("a DP bucket shares the NIC max-min fairly with a pipeline send", "[sim]") {
  // 1F1B, 2 stages, 1 micro-batch, both stages as above; activations and
  // gradients between stages 2 MB (2 ms alone at 1 GB/s). Device 0: F 0..1,
  // send 1..3. Device 1: F 3..4, full backward 4..7 (B, W0 ends 6, W1 ends
  // 7): bucket 0 runs 6..6.5 alone. At 7 the full chunk ends: its gradient
  // send and bucket 1 (0.5 MB) start together on device 1's NIC transmit
  // link and get 0.5 GB/s each: bucket 1 ends at 8 (device 1 ends at 8, not
  // 7.5); the send has moved 0.5 MB, its last 1.5 MB take 1.5 ms alone:
  // arrival 9.5. Device 0: full backward 9.5..12.5, bucket 0 11.5..12,
  // bucket 1 12.5..13 = step.
  const PipelineSchedule s = build_schedule(Schedule::k1F1B, 2, 1);
  PipelineWork w = one_stage(kMs / 2, kMs / 2, true);
  w.stages.push_back(w.stages[0]);
  w.p2p_bytes = Bytes(2e6);
  const SimOutput o = run_pipeline(s, w, one_gbps());
  CHECK(o.gpus[1].end == 8 * kMs);
  CHECK(o.step == 13 * kMs);
}

TEST_CASE("the DeepSeek-V3 workload has one DP bucket per layer group, released in backward order", "[sim]") {
  const run::Scenario s = run::load_scenario("deepseek-v3");
  plan::Plan p = run::phase_plan(s, s.phases.front());
  for (const auto& ph : s.phases) {
    if (ph.kind == run::PhaseKind::kPretraining) p = run::phase_plan(s, ph);
  }
  const cost::CostModel cost(s.cluster, calib::load_tables_for(s.cluster.accelerator));
  const Workload w = build_workload(s.model, p, cost, WorkloadOptions{});
  size_t buckets = 0;
  for (const StageWork& st : w.work.stages) {
    // Every stage holds weights, so it has buckets, each with a trigger inside
    // its weight-gradient chunk, and the last bucket waits for the chunk's end.
    REQUIRE(!st.grad_sync.empty());
    REQUIRE(st.grad_bucket_after.size() == st.grad_sync.size());
    const auto& wgt = st.chunk[static_cast<size_t>(ChunkType::kBackwardWeight)];
    CHECK(st.grad_bucket_after.back() == wgt.size() - 1);
    for (size_t k = 1; k < st.grad_bucket_after.size(); ++k) {
      CHECK(st.grad_bucket_after[k - 1] < st.grad_bucket_after[k]);
    }
    buckets += st.grad_sync.size();
  }
  // DualPipe on PP 16: 16 stages. Merged layer groups: the embedding and
  // the 3 dense layers on stage 0 (2 groups), MoE layers alone on stages
  // 1-14 (1 group each), MoE layers, the MTP module and the head on stage 15
  // (3 groups): 2 + 14 + 3 = 19 buckets.
  CHECK(w.work.stages.size() == 16);
  CHECK(w.work.stages.front().grad_sync.size() == 2);
  CHECK(w.work.stages.back().grad_sync.size() == 3);
  CHECK(buckets == 19);
  bool noted = false;
  for (const std::string& n : w.notes) noted = noted || n.rfind("DP gradient sync: bucketed", 0) == 0;
  CHECK(noted);
}

TEST_CASE("a reduction after the forward-backward waits for all the stages a GPU holds", "[sim]") {
  // Interleaved 1F1B on 2 GPUs with 2 stages each (4 stages, vpp 2), 2
  // micro-batches; every stage: F = B = W = 1 ms, one 5 ms bucket.
  const PipelineSchedule s = build_schedule(Schedule::kInterleaved1F1B, 2, 2, 2);
  PipelineWork w;
  w.stages.resize(4);
  for (StageWork& st : w.stages) {
    st.chunk[static_cast<size_t>(ChunkType::kForward)] = {compute(kMs)};
    st.chunk[static_cast<size_t>(ChunkType::kBackwardInput)] = {compute(kMs)};
    st.chunk[static_cast<size_t>(ChunkType::kBackwardWeight)] = {compute(kMs)};
    st.chunk[static_cast<size_t>(ChunkType::kBackwardFull)] = {compute(kMs), compute(kMs)};
    st.grad_sync = {bucket(5 * kMs)};
  }
  // Per stage (the overlapped default): a GPU's earlier-finished stage
  // reduces while its other stage still computes, so less than its two
  // buckets (10 ms) is exposed on at least one GPU.
  const SimOutput per_stage = run_pipeline(s, w, one_gbps());
  CHECK(std::min(per_stage.gpus[0].exposed_comm, per_stage.gpus[1].exposed_comm) < 10 * kMs);
  // After the forward-backward: both buckets of a GPU start after its last
  // weight gradient, one after the other on its stream, so none of their
  // 10 ms overlaps its compute (more when the two GPUs' transfers share the
  // link), and the step grows.
  w.grad_sync_after_forward_backward = true;
  const SimOutput after = run_pipeline(s, w, one_gbps());
  for (size_t g = 0; g < after.gpus.size(); ++g) {
    CHECK(after.gpus[g].exposed_comm >= 10 * kMs);
    CHECK(after.gpus[g].exposed_comm >= per_stage.gpus[g].exposed_comm);
    CHECK(after.gpus[g].compute == 12 * kMs);  // 2 micro-batches x 2 stages x (F + B + W)
  }
  CHECK(after.step > per_stage.step);
}
