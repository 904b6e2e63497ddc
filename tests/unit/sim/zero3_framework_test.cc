// ZeRO-3 by parameter tensor in the simulator (sim/workload.h; plan
// zero3_framework "deepspeed-zero3-2021"): per layer and every micro-batch,
// a blocking gather segment in the chunk itself before the layer's forward
// and again before its backward, which waits for the DP stream to drain
// (the framework's device-wide synchronize); the layer's reduce-scatters
// after its weight gradient of every micro-batch
// (StageWork::grad_sync_every_chunk).
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "analytic/step.h"
#include "calib/frameworks.h"
#include "calib/tables.h"
#include "cost/cost_model.h"
#include "model/model.h"
#include "sim/pipeline.h"
#include "sim/schedule.h"
#include "sim/simulator.h"
#include "sim/workload.h"
#include "unit/fixtures.h"
#include "unit/sim/zero3_fixtures.h"
#include "unit/sim/segments.h"

using namespace trainsim;
using namespace trainsim::sim;
using plan::Schedule;

namespace {

using testing::compute;
using testing::kMs;
using testing::transfer;

// A latency-only communication of `t` (no bytes: copies and host overhead).
Segment latency(Tick t) {
  Segment s;
  s.kind = Segment::Kind::kComm;
  s.work = t;
  return s;
}

// One stage of two layers as the workload builds it for a per-tensor
// framework: each chunk starts each layer with its blocking gather (a
// transfer of c), then the layer's compute p; the full backward runs layer 1
// (gather, input and weight gradient) then layer 0; each layer's
// reduce-scatter (latency r) is released after its weight gradient.
PipelineWork two_layers(Tick c, Tick p, Tick r) {
  PipelineWork w;
  w.stages.resize(1);
  StageWork& st = w.stages[0];
  st.chunk[static_cast<size_t>(ChunkType::kForward)] = {transfer(c), compute(p), transfer(c), compute(p)};
  st.chunk[static_cast<size_t>(ChunkType::kBackwardInput)] = {transfer(c), compute(p), transfer(c), compute(p)};
  st.chunk[static_cast<size_t>(ChunkType::kBackwardWeight)] = {compute(p), compute(p)};
  st.chunk[static_cast<size_t>(ChunkType::kBackwardFull)] = {transfer(c), compute(p), compute(p),
                                                             transfer(c), compute(p), compute(p)};
  st.grad_sync = {latency(r), latency(r)};
  st.grad_bucket_after = {0, 1};
  st.grad_bucket_after_full = {2, 5};
  st.grad_sync_every_chunk = true;
  return w;
}

ClusterShape one_gbps() {
  ClusterShape shape;
  shape.nic = gigabytes_per_second(1);
  return shape;
}

plan::Plan deepspeed_plan(int64_t micro_batches, int64_t seq_len) {
  plan::Plan p = testing::zero3_plan(micro_batches, seq_len);
  p.zero3_framework = "deepspeed-zero3-2021";
  return p;
}

}  // namespace

TEST_CASE("per-tensor ZeRO-3: blocking gathers in every micro-batch, step by hand", "[sim][zero3]") {
  // c = 2 ms gathers, p = 1 ms compute per layer and pass, r = 0.5 ms
  // reduce-scatters (latency only), 2 micro-batches, one stage, 1F1B: F0 B0
  // F1 B1. F: gather 0..2, layer 0 2..3, gather 3..5, layer 1 5..6 = 6 ms
  // (nothing prefetched). Full B: gather, B1, W1 (2 x p), then layer 1's
  // reduce-scatter is released on the DP stream and overlaps layer 0's
  // gather; gather, B0, W0: 2 + 2 + 2 + 2 = 8 ms; layer 0's reduce-scatter
  // overlaps F1 in micro-batch 0, and after B1 it is exposed: r = 0.5 ms.
  // Step = compute 2 x (2 + 4) = 12 + 2 micro-batches x (2 + 2 gathers of
  // 2 ms) = 16 + 0.5 = 28.5 ms. Four reduce-scatters run (two per
  // micro-batch), not two.
  SimOptions o;
  o.trace = true;
  const SimOutput out = run_pipeline(build_schedule(Schedule::k1F1B, 1, 2), two_layers(2 * kMs, kMs, kMs / 2),
                                     one_gbps(), o);
  CHECK(out.step == 28 * kMs + kMs / 2);
  CHECK(out.gpus[0].compute == 12 * kMs);
  // Exposed: 8 gathers of 2 ms + the last reduce-scatter 0.5 ms.
  CHECK(out.gpus[0].exposed_comm == 16 * kMs + kMs / 2);
  int syncs = 0;
  for (const TraceInterval& t : out.trace) syncs += t.thread == 4 ? 1 : 0;
  CHECK(syncs == 4);
}

TEST_CASE("per-tensor ZeRO-3: a draining gather waits for the reduce-scatters in flight, step by hand",
          "[sim][zero3]") {
  // The same work with every gather draining the DP stream first (the
  // framework's torch.cuda.synchronize()). Micro-batch 0: F 0..6 as before;
  // full B: gather 6..8, B1 8..9, W1 9..10, layer 1's reduce-scatter 10..10.5,
  // and layer 0's gather waits for it: 10.5..12.5, B0, W0 to 14.5, layer 0's
  // reduce-scatter 14.5..15; F1's first gather waits for that one: 15..17,
  // F1 ends at 21; B1 repeats B0 from 21: 21..29.5 and its last
  // reduce-scatter 29.5..30. Step 30 ms: the three reduce-scatters that hid
  // before (under a gather or F1) are now exposed, 28.5 + 3 x 0.5.
  PipelineWork w = two_layers(2 * kMs, kMs, kMs / 2);
  for (auto& chunk : w.stages[0].chunk) {
    for (Segment& sg : chunk) sg.drains_dp_stream = sg.kind == Segment::Kind::kComm;
  }
  const SimOutput out = run_pipeline(build_schedule(Schedule::k1F1B, 1, 2), w, one_gbps(), SimOptions{});
  CHECK(out.step == 30 * kMs);
  CHECK(out.gpus[0].compute == 12 * kMs);
}

TEST_CASE("per-tensor ZeRO-3: without every-chunk release, buckets go once per step", "[sim][zero3]") {
  // Same work with grad_sync_every_chunk off: only B1 releases the two
  // reduce-scatters, so 2 run (not 4); the step is unchanged, 28.5 ms
  // (B0's would have been hidden by F1 anyway).
  PipelineWork w = two_layers(2 * kMs, kMs, kMs / 2);
  w.stages[0].grad_sync_every_chunk = false;
  SimOptions o;
  o.trace = true;
  const SimOutput out = run_pipeline(build_schedule(Schedule::k1F1B, 1, 2), w, one_gbps(), o);
  CHECK(out.step == 28 * kMs + kMs / 2);
  int syncs = 0;
  for (const TraceInterval& t : out.trace) syncs += t.thread == 4 ? 1 : 0;
  CHECK(syncs == 2);
}

TEST_CASE("per-tensor ZeRO-3 workload: gather segments carry the shared per-tensor call times", "[sim][zero3]") {
  // Toy Llama (16 layers, hidden 512), dp 16 over 2 nodes of 8: a layer's
  // gather segment = analytic::add_zero3_tensor_calls of the layer block,
  // its latency the copies + host overhead (>= 380 us per large tensor),
  // its bytes the ring all-gathers at the NIC's rate.
  const model::Model m = testing::toy_llama(16);
  const plan::Plan p = deepspeed_plan(2, 1024);
  const cost::CostModel cost = testing::two_node_cost(50);
  const Workload w = build_workload(m, p, cost, WorkloadOptions{});
  const StageWork& st = w.work.stages[0];
  CHECK(st.param_gather.empty());
  CHECK(st.grad_sync_every_chunk);
  int gathers_f = 0;
  for (const Segment& s : st.chunk[static_cast<size_t>(ChunkType::kForward)]) gathers_f += s.label == 7 ? 1 : 0;
  int gathers_b = 0;
  for (const Segment& s : st.chunk[static_cast<size_t>(ChunkType::kBackwardFull)]) gathers_b += s.label == 7 ? 1 : 0;
  // 16 layers + embedding + head each have a tensor >= 1e5 elements.
  CHECK(gathers_f == 18);
  CHECK(gathers_b == 18);
}

TEST_CASE("per-tensor ZeRO-3 workload under full recompute: backward gathers carry the regathers", "[sim][zero3]") {
  // toy_llama(2, 128) (hidden 8192): under full recompute qkv and o are past
  // the file's 1e9-element reuse distance and are gathered again for the
  // backward (analytic step_test derives it). The layers' gather segments in
  // the full backward hold the shared backward_gather time, those in the
  // forward the shared gather time (latency as work, the rest as NIC bytes).
  const model::Model m = testing::toy_llama(2, 128);
  plan::Plan p = deepspeed_plan(1, 1024);
  p.recompute = plan::Recompute::kFull;
  const cost::CostModel cost = testing::two_node_cost(50);
  const Workload w = build_workload(m, p, cost, WorkloadOptions{});
  const calib::Zero3Framework fw = calib::load_zero3_framework(p.zero3_framework);
  const plan::StageLayout layout = plan::stage_layout(p, m);
  const graph::Graph g = plan::plan_graph(p, m, true);
  const plan::RankParams rp = plan::rank_params(p, m, layout, 0);
  analytic::Zero3TensorCalls calls;
  for (const plan::BlockUse& u : plan::stage_blocks(g, plan::stage_content(layout, 0, m))) {
    analytic::add_zero3_tensor_calls(calls, *u.block, static_cast<double>(u.count), m, p, cost, fw, rp, 8);
  }
  REQUIRE(calls.backward_gather.value() > calls.gather.value() * 1.1);
  auto gather_time = [&](ChunkType c) {
    double t = 0;
    for (const Segment& s : w.work.stages[0].chunk[static_cast<size_t>(c)]) {
      if (s.label == 7) t += to_seconds(s.work).value() + s.scale_out.value() / w.shape.nic.value();
    }
    return t;
  };
  CHECK(gather_time(ChunkType::kForward) == Approx(calls.gather.value()).epsilon(1e-6));
  CHECK(gather_time(ChunkType::kBackwardFull) == Approx(calls.backward_gather.value()).epsilon(1e-6));
}

TEST_CASE("per-tensor ZeRO-3: the engines differ by at most the reduce-scatters the analytic estimate hides", "[sim][zero3]") {
  // Both charge every micro-batch the blocking gathers before each forward
  // and backward (same per-tensor call times, analytic::add_zero3_tensor_calls)
  // and the reduce-scatters, which each blocking gather's device-wide
  // synchronize drains: the analytic estimate hides them only under the
  // backward of the operators that gather nothing (norms, rotary, attention
  // core, activations, residual adds: hidden = dp_comm - dp_exposed), the
  // simulator, releasing a layer's reduce-scatters after its whole weight
  // gradient, under none of it. So a <= sim <= a + hidden, up to gathers and
  // reduce-scatters sharing the NIC (1%), at 50 and 400 GB/s NICs and 1 or 4
  // micro-batches of 4 x 4K tokens.
  const model::Model m = testing::toy_llama(16);
  for (const double nic : {50.0, 400.0}) {
    const cost::CostModel cost = testing::two_node_cost(nic);
    for (int64_t mbs : {1, 4}) {
      plan::Plan p = deepspeed_plan(mbs, 4096);
      p.micro_batch = 4;
      p.global_batch *= 4;
      const double sv = simulate(m, p, cost, SimulateOptions{}).step_time.value();
      const analytic::StepEstimate e = analytic::estimate_step(m, p, cost);
      const double a = e.step_time.value();
      const double hidden = e.ranks[0].dp_comm.value() - e.ranks[0].dp_exposed.value();
      INFO("NIC " << nic << " GB/s, " << mbs << " micro-batches: simulated " << sv << " s, analytic " << a
                  << " s, hidden in the analytic estimate " << hidden << " s");
      REQUIRE(hidden > 0);
      CHECK(sv >= a * 0.99);
      CHECK(sv <= (a + hidden) * 1.01);
    }
  }
}

TEST_CASE("per-tensor ZeRO-3 with reduce-scatters longer than backward: the gathers drain them", "[sim][zero3]") {
  // 1 x 1K-token micro-batches: backward compute ~3 ms per micro-batch,
  // reduce-scatters ~19 ms. Each blocking gather first synchronises the
  // device (DeepSpeed 2021: torch.cuda.synchronize() in every all-gather),
  // so the reduce-scatters in flight finish before it starts: they cannot
  // hide under the gathers or the next forward. The analytic estimate hides
  // them only under the backward of operators gathering nothing (R - that
  // backward exposed), the simulator under none of it: a <= sim <= a + the
  // part the estimate hides.
  const model::Model m = testing::toy_llama(16);
  const cost::CostModel cost = testing::two_node_cost(50);
  const plan::Plan p = deepspeed_plan(4, 1024);
  const SimReport r = simulate(m, p, cost, SimulateOptions{});
  const analytic::StepEstimate e = analytic::estimate_step(m, p, cost);
  const calib::Zero3Framework fw = calib::load_zero3_framework(p.zero3_framework);
  REQUIRE(fw.blocking_gathers);
  // R per step = dp_comm - forward and backward gathers; reconstruct R from the shared calls.
  analytic::Zero3TensorCalls calls;
  const plan::StageLayout layout = plan::stage_layout(p, m);
  const graph::Graph g = plan::plan_graph(p, m, true);
  const plan::RankParams rp = plan::rank_params(p, m, layout, 0);
  for (const plan::BlockUse& u : plan::stage_blocks(g, plan::stage_content(layout, 0, m))) {
    analytic::add_zero3_tensor_calls(calls, *u.block, static_cast<double>(u.count), m, p, cost, fw, rp, 8);
  }
  const double reduces = calls.reduce.value() * 4;
  const double hidden = e.ranks[0].dp_comm.value() - e.ranks[0].dp_exposed.value();
  const double a = e.step_time.value(), sv = r.step_time.value();
  INFO("simulated " << sv << " s, analytic " << a << " s, reduce-scatters " << reduces << " s, hidden " << hidden);
  // The estimate hides some, less than all, of the reduce-scatters.
  CHECK(hidden > 0);
  CHECK(hidden < reduces);
  CHECK(sv >= a * 0.999);
  CHECK(sv <= (a + hidden) * 1.01);
  // The shared calls are what the estimate charges: dp_comm = m x (G_f + G_b + R).
  CHECK(e.ranks[0].dp_comm.value() ==
        Approx(4 * (calls.gather.value() + calls.backward_gather.value() + calls.reduce.value())));
}

TEST_CASE("per-tensor ZeRO-3 under DualPipe: both paired chunks may wait for the DP stream to drain",
          "[sim][zero3]") {
  // DualPipe and DualPipeV run a forward and a backward chunk of a pair at
  // once on two lanes; both can reach a draining gather while a
  // reduce-scatter runs. Each must resume when the stream empties (a single
  // waiter slot lost one and the step never finished: "simulation deadlock").
  // PP 2 x DP 8 over the two nodes, 8 micro-batches per replica.
  const model::Model m = testing::toy_llama(16);
  const cost::CostModel cost = testing::two_node_cost(50);
  for (const Schedule sched : {Schedule::kDualPipe, Schedule::kDualPipeV}) {
    INFO(plan::to_string(sched));
    plan::Plan p = deepspeed_plan(8, 1024);
    p.pp = 2;
    p.dp = 8;
    p.global_batch = 8 * 8;
    p.schedule = sched;
    SimReport r;
    REQUIRE_NOTHROW(r = simulate(m, p, cost, SimulateOptions{}));
    // Every micro-batch's work was done: the step holds at least the
    // analytic estimate's compute of the slowest rank.
    CHECK(r.step_time.value() >= r.analytic.breakdown.compute.value());
  }
}
