// ZeRO-3 / FSDP parameter gathers in the simulator (sim/pipeline.h,
// StageWork::param_gather; sim/workload.h): per layer group, all-gathered
// before its forward in the stage's first micro-batch and before its
// backward in the last one, prefetched one group ahead on the GPU's DP
// stream; gradients reduce-scattered per group after its weight gradient.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "analytic/step.h"
#include "calib/tables.h"
#include "cost/cost_model.h"
#include "model/model.h"
#include "sim/pipeline.h"
#include "sim/schedule.h"
#include "sim/simulator.h"
#include "sim/workload.h"
#include "unit/sim/segments.h"
#include "unit/fixtures.h"
#include "unit/sim/zero3_fixtures.h"

using namespace trainsim;
using namespace trainsim::sim;
using plan::Schedule;

namespace {

using testing::compute;
using testing::kMs;
using testing::transfer;

// One stage of n layers, each p of forward and p of backward compute (one
// segment per layer, no weight-gradient chunk), each with a gather of c.
PipelineWork layers(int n, Tick p, Tick c) {
  PipelineWork w;
  w.stages.resize(1);
  StageWork& st = w.stages[0];
  for (int k = 0; k < n; ++k) {
    st.chunk[static_cast<size_t>(ChunkType::kForward)].push_back(compute(p));
    st.chunk[static_cast<size_t>(ChunkType::kBackwardInput)].push_back(compute(p));
    st.param_gather.push_back(transfer(c));
    st.gather_before_f.push_back(static_cast<uint32_t>(k));
    // Backward runs layer n-1 first: layer k starts at segment n-1-k.
    st.gather_before_b.push_back(static_cast<uint32_t>(n - 1 - k));
  }
  st.chunk[static_cast<size_t>(ChunkType::kBackwardFull)] = st.chunk[static_cast<size_t>(ChunkType::kBackwardInput)];
  return w;
}

ClusterShape one_gbps() {
  ClusterShape shape;
  shape.nic = gigabytes_per_second(1);
  return shape;
}

// A small dense Llama-style model (16 layers, hidden 512).
model::Model toy_model() { return testing::toy_llama(16); }

double seconds_of(Tick t) { return to_seconds(t).value(); }
// Time of a NIC transfer segment alone.
// A communication segment's time when it runs alone: its latency (work),
// then its bytes over the NIC.
double transfer_seconds(const Segment& s, BytesPerSecond nic) {
  return seconds_of(s.work) + (s.scale_out / nic).value();
}
double compute_seconds(const std::vector<Segment>& segs, size_t from, size_t to) {
  double t = 0;
  for (size_t i = from; i < to; ++i) {
    if (segs[i].kind == Segment::Kind::kCompute) t += seconds_of(segs[i].work);
  }
  return t;
}

}  // namespace

TEST_CASE("ZeRO-3 gathers: comm-bound layers take c + (n-1) max(c, p) + p per phase", "[sim][zero3]") {
  // n = 4 layers, gather c = 2 ms, compute p = 1 ms, one stage, one
  // micro-batch (1F1B: F then the full backward). Forward: gather 0 runs
  // 0..2; layer 0 computes 2..3 while gather 1 runs 2..4; layer 1 4..5,
  // gather 2 4..6; layer 2 6..7, gather 3 6..8; layer 3 8..9. Phase =
  // c + (n-1) max(c, p) + p = 2 + 3 x 2 + 1 = 9 ms. Backward the same with
  // the layers in reverse: 9 ms. Step 18 ms; compute 8 ms; exposed 10 ms
  // (the stream idles while gathers run). The analytic per-phase exposure
  // agrees: max(0, C - P) + min(C, P)/n = (8 - 4) + 4/4 = 5 ms per phase.
  const PipelineSchedule s = build_schedule(Schedule::k1F1B, 1, 1);
  const SimOutput o = run_pipeline(s, layers(4, kMs, 2 * kMs), one_gbps());
  CHECK(o.step == 18 * kMs);
  CHECK(o.gpus[0].compute == 8 * kMs);
  CHECK(o.gpus[0].exposed_comm == 10 * kMs);
  CHECK(analytic::zero3_exposed(milliseconds(8), milliseconds(4), 4, 1.0).value() * 2 ==
        Approx(seconds_of(o.gpus[0].exposed_comm)));
}

TEST_CASE("ZeRO-3 gathers: compute-bound layers hide all but the first gather", "[sim][zero3]") {
  // n = 4, c = 0.5 ms, p = 1 ms: per phase c + (n-1) max(c, p) + p =
  // 0.5 + 3 + 1 = 4.5 ms, of which 0.5 ms (the first gather) is exposed;
  // step 9 ms, exposed 1 ms = 2 x zero3_exposed(C = 2, P = 4, n = 4) =
  // 2 x (0 + 2/4) ms.
  const PipelineSchedule s = build_schedule(Schedule::k1F1B, 1, 1);
  const SimOutput o = run_pipeline(s, layers(4, kMs, kMs / 2), one_gbps());
  CHECK(o.step == 9 * kMs);
  CHECK(o.gpus[0].exposed_comm == kMs);
  CHECK(analytic::zero3_exposed(milliseconds(2), milliseconds(4), 4, 1.0).value() * 2 ==
        Approx(seconds_of(o.gpus[0].exposed_comm)));
}

TEST_CASE("ZeRO-3 gathers slow the compute beside them to the overlap rate", "[sim][zero3][overlap]") {
  // n = 4, c = 0.5 ms, p = 2 ms, compute at 0.8 beside an interfering
  // gather. Forward: gather 0 alone 0..0.5; layer 0 from 0.5 with gather 1
  // beside it until 1.0 (0.4 ms of work done), the other 1.6 ms at full
  // rate: ends 2.6; layers 1 and 2 the same (2.1 ms each, to 6.8); layer 3
  // has no gather beside it: 8.8 ms. Phase = 8 + 0.5 + 3 x 0.1 = 8.8 ms;
  // backward the same: step 17.6 ms, compute busy 17.6 - 2 x 0.5 = 16.6 ms.
  // The analytic per-phase exposure agrees: zero3_exposed(C = 2, P = 8,
  // n = 4, 0.8) = 0.8 ms (analytic/overlap_test.cc).
  const PipelineSchedule s = build_schedule(Schedule::k1F1B, 1, 1);
  PipelineWork w = layers(4, 2 * kMs, kMs / 2);
  for (Segment& g : w.stages[0].param_gather) g.interferes = true;
  w.overlap_compute_rate = 0.8;
  const SimOutput o = run_pipeline(s, w, one_gbps());
  CHECK(o.step == Approx(17.6 * kMs).margin(2));
  CHECK(seconds_of(o.gpus[0].compute) == Approx(16.6e-3).epsilon(1e-6));
  CHECK(seconds_of(o.step - 16 * kMs) ==
        Approx(analytic::zero3_exposed(milliseconds(2), milliseconds(8), 4, 0.8).value() * 2).epsilon(1e-6));
  // Without `interferes` the same work runs at full rate: 2 x (8 + 0.5).
  PipelineWork plain = layers(4, 2 * kMs, kMs / 2);
  plain.overlap_compute_rate = 0.8;
  CHECK(run_pipeline(s, plain, one_gbps()).step == 17 * kMs);

  // Between compute- and comm-bound (0.8 c < p < c): c = 1.125 ms, p = 1 ms.
  // Gather 0 alone to 1.125; layer 0 beside gather 1 (1.125 ms) does 0.9 ms
  // of work by 2.25, its last 0.1 ms alone: ends 2.35, gather 1 done at 2.25;
  // layers 1 and 2 the same (1.225 ms each, to 4.8); layer 3 alone: 5.8 ms.
  // Exposed 1.8 ms per phase = zero3_exposed(C = 4.5, P = 4, n = 4, 0.8).
  PipelineWork mid = layers(4, kMs, kMs * 9 / 8);
  for (Segment& g : mid.stages[0].param_gather) g.interferes = true;
  mid.overlap_compute_rate = 0.8;
  const SimOutput om = run_pipeline(s, mid, one_gbps());
  CHECK(om.step == Approx(11.6 * kMs).margin(2));
  CHECK(seconds_of(om.step - 8 * kMs) ==
        Approx(analytic::zero3_exposed(milliseconds(4.5), milliseconds(4), 4, 0.8).value() * 2).epsilon(1e-6));
}

TEST_CASE("ZeRO-3 gathers only in the first forward and the last backward of a step", "[sim][zero3]") {
  // As the comm-bound case, 2 micro-batches: 1F1B on one stage runs F0 B0
  // F1 B1. F0 carries the gathers (9 ms), B0 and F1 do not (4 ms each: the
  // parameters stay gathered), B1, the last backward, carries them (9 ms):
  // 9 + 4 + 4 + 9 = 26 ms (every chunk carrying them would take 36 ms).
  const PipelineSchedule s = build_schedule(Schedule::k1F1B, 1, 2);
  const SimOutput o = run_pipeline(s, layers(4, kMs, 2 * kMs), one_gbps());
  CHECK(o.step == 26 * kMs);
  CHECK(o.gpus[0].compute == 16 * kMs);
}

TEST_CASE("a layer with no segments in a chunk waits for its gather at the chunk's end", "[sim][zero3]") {
  // Forward: layer 0 has no segment (its gather is before segment 0 like
  // layer 1's), so the chunk waits for gather 0 (0..2), then for gather 1
  // (issued at 2 when layer 0 "starts": 2..4), computes 4..5. Backward:
  // layer 1's gather 5..7, its compute 7..8 (gather 0 issued at 7, 7..9),
  // layer 0 starts at the chunk's end: the chunk ends at 9.
  PipelineWork w;
  w.stages.resize(1);
  StageWork& st = w.stages[0];
  st.chunk[static_cast<size_t>(ChunkType::kForward)] = {compute(kMs)};
  st.chunk[static_cast<size_t>(ChunkType::kBackwardInput)] = {compute(kMs)};
  st.chunk[static_cast<size_t>(ChunkType::kBackwardFull)] = {compute(kMs)};
  st.param_gather = {transfer(2 * kMs), transfer(2 * kMs)};
  st.gather_before_f = {0, 0};
  st.gather_before_b = {1, 0};
  const SimOutput o = run_pipeline(build_schedule(Schedule::k1F1B, 1, 1), w, one_gbps());
  CHECK(o.step == 9 * kMs);
}

TEST_CASE("a comm-bound ZeRO-3 workload: gathers back to back, step by hand", "[sim][zero3]") {
  // The toy model (16 layers) on a 0.05 GB/s NIC: every gather and reduce-scatter takes
  // longer than any layer group's compute in any pass (checked below), so:
  //  - forward: gathers run back to back (each is issued when the previous
  //    group starts, i.e. when the previous gather ends): the head's gather
  //    ends at G = sum of gathers, then the head computes p_head: G + p_head;
  //  - full backward (each group's input then weight gradient, groups in
  //    reverse): the DP stream never idles: the head's gather, then group
  //    k+1's gather is queued when group k starts (after group k's gather)
  //    and group k's reduce-scatter when its backward ends (before group
  //    k+1's gather ends, compute being shorter), so the stream runs
  //    gather(head), gather(L15), RS(head), gather(L14), RS(L15), ...,
  //    gather(embedding), RS(L0), RS(embedding) back to back: G + R (R = all
  //    reduce-scatters); the embedding's own backward ends inside RS(L0);
  //  - the tail: the optimizer, opt.
  // Step = 2 G + p_head + R + opt.
  const model::Model m = toy_model();
  const plan::Plan p = testing::zero3_plan(1, 1024);
  const cost::CostModel cost = testing::two_node_cost(0.05);
  const Workload w = build_workload(m, p, cost, WorkloadOptions{});
  REQUIRE(w.work.stages.size() == 1);
  const StageWork& st = w.work.stages[0];
  // One gather (and one reduce-scatter) per layer group with parameters:
  // embedding, 16 layers, head = 18.
  REQUIRE(st.param_gather.size() == 18);
  REQUIRE(st.grad_sync.size() == 18);
  const BytesPerSecond nic = w.shape.nic;
  // A layer's gather: its parameters in BF16 (2 bytes), all-gathered over
  // the 16 replicas, 8 per node (as the analytic estimate's dense group).
  int64_t layer_params = 0;
  for (const graph::Block& b : plan::plan_graph(p, m, true).blocks) {
    if (b.kind != graph::BlockKind::kDenseLayer) continue;
    for (const graph::Operator& op : b.ops) layer_params += op.params;
  }
  const Seconds layer_gather = cost.collective_time(cost::CollectiveOp::kAllGather,
                                                    Bytes(static_cast<double>(layer_params) * 2.0), cost::Group{16, 8});
  CHECK(transfer_seconds(st.param_gather[1], nic) == Approx(layer_gather.value()));
  // The times the hand formula reads.
  double g_sum = 0, r_sum = 0, min_comm = 1e30;
  for (const Segment& sg : st.param_gather) {
    g_sum += transfer_seconds(sg, nic);
    min_comm = std::min(min_comm, transfer_seconds(sg, nic));
  }
  for (const Segment& sg : st.grad_sync) {
    r_sum += transfer_seconds(sg, nic);
    min_comm = std::min(min_comm, transfer_seconds(sg, nic));
  }
  const auto& fwd = st.chunk[static_cast<size_t>(ChunkType::kForward)];
  const auto& wgt = st.chunk[static_cast<size_t>(ChunkType::kBackwardWeight)];
  const auto& bwd = st.chunk[static_cast<size_t>(ChunkType::kBackwardInput)];
  double max_group = 0;
  for (const auto* chunk : {&fwd, &wgt, &bwd}) {
    for (const Segment& sg : *chunk) max_group = std::max(max_group, seconds_of(sg.work));
  }
  REQUIRE(max_group < min_comm);  // comm-bound everywhere
  REQUIRE(st.gather_before_b.front() == bwd.size());  // the embedding has no input-gradient work
  const double p_head = compute_seconds(fwd, st.gather_before_f.back(), fwd.size());
  REQUIRE(w.work.tail.size() == 1);  // the optimizer; no all-gather after it under ZeRO-3
  const double opt = seconds_of(w.work.tail[0].work);
  const SimOutput o = run_pipeline(w.schedule, w.work, w.shape);
  CHECK(seconds_of(o.step) == Approx(2 * g_sum + p_head + r_sum + opt).epsilon(1e-6));

  // The notes say how ZeRO-3 is handled.
  bool noted = false;
  for (const std::string& n : w.notes) noted = noted || n.rfind("ZeRO-3 parameter gathers: per layer", 0) == 0;
  CHECK(noted);
}

TEST_CASE("the simulator and the analytic estimate agree on ZeRO-3 steps", "[sim][zero3]") {
  // The analytic estimate (analytic/step.cc zero3()) splits the rank's
  // parameters evenly over its 16 transformer layers; the simulator gathers
  // each layer group's own (embedding and head apart: 18 collectives instead
  // of 16, so 2 more latencies), and exposes the last reduce-scatter after the
  // weight gradients, where the analytic estimate's per-phase formula puts
  // min(C, P)/n. Both move the same bytes: within 3% of the step, comm-bound
  // (0.05 GB/s NIC) or compute-bound (400 GB/s, 4K sequences), with 1 or 4
  // micro-batches (observed when written: comm-bound 0.03%; compute-bound
  // 2.3% with 1 micro-batch, 0.6% with 4: the simulator exposes the edge
  // groups' transfers, which have almost no compute to hide behind).
  const model::Model m = toy_model();
  for (const auto& [nic, seq] : std::vector<std::pair<double, int64_t>>{{0.05, 1024}, {400.0, 4096}}) {
    const cost::CostModel cost = testing::two_node_cost(nic);
    for (int64_t mbs : {1, 4}) {
      const testing::BothEngines s = testing::step_by_both(m, testing::zero3_plan(mbs, seq), cost);
      INFO("NIC " << nic << " GB/s, " << mbs << " micro-batches: simulated " << s.simulated << " s, analytic "
                  << s.analytic << " s");
      CHECK(s.relative_gap() < 0.03);
    }
  }
}

TEST_CASE("compute-bound ZeRO-3: nearly all of the gathers and reduce-scatters are hidden", "[sim][zero3]") {
  // 400 GB/s NIC, 8K sequences: each layer's gather is shorter than its
  // compute, so only what cannot overlap is exposed: at least the first
  // gather of the step (nothing runs before it), and in all well under a
  // tenth of the ZeRO-3 traffic (2 G + R; G = all gathers, R = all
  // reduce-scatters).
  model::Model m = toy_model();
  m.max_seq_len = 8192;
  const plan::Plan p = testing::zero3_plan(1, 8192);
  const cost::CostModel cost = testing::two_node_cost(400);
  const Workload w = build_workload(m, p, cost, WorkloadOptions{});
  const StageWork& st = w.work.stages.at(0);
  REQUIRE(st.param_gather.size() == 18);
  // A layer's gather is shorter than its forward compute.
  const auto& fwd = st.chunk[static_cast<size_t>(ChunkType::kForward)];
  REQUIRE(transfer_seconds(st.param_gather[1], w.shape.nic) <
          compute_seconds(fwd, st.gather_before_f[1], st.gather_before_f[2]));
  double g_sum = 0, r_sum = 0;
  for (const Segment& sg : st.param_gather) g_sum += transfer_seconds(sg, w.shape.nic);
  for (const Segment& sg : st.grad_sync) r_sum += transfer_seconds(sg, w.shape.nic);
  const SimOutput o = run_pipeline(w.schedule, w.work, w.shape);
  const double exposed = seconds_of(o.gpus[0].exposed_comm);
  INFO("exposed " << exposed << " s of " << 2 * g_sum + r_sum << " s");
  CHECK(exposed >= transfer_seconds(st.param_gather.front(), w.shape.nic) * 0.999);
  CHECK(exposed < 0.1 * (2 * g_sum + r_sum));
}
