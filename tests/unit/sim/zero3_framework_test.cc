// ZeRO-3 by parameter tensor in the simulator (sim/workload.h; plan
// zero3_framework "deepspeed-zero3-2021"): per layer and every micro-batch,
// a blocking gather segment in the chunk itself before the layer's forward
// and again before its backward; the layer's reduce-scatters after its
// weight gradient of every micro-batch (StageWork::grad_sync_every_chunk).
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

TEST_CASE("the simulator and the analytic estimate agree on per-tensor ZeRO-3 steps", "[sim][zero3]") {
  // Both charge every micro-batch the blocking gathers before each forward and backward (same per-tensor
  // call times, analytic::add_zero3_tensor_calls) and hide the
  // reduce-scatters; with 4 x 4K-token micro-batches the backward compute
  // (about 30 ms per micro-batch) exceeds the reduce-scatters (about 19 ms,
  // mostly list-form copy kernels: ~147 tensors x 16 copies), so the
  // analytic max(0, R - backward) is 0 and the simulator hides them too
  // except the step's last bucket, and gathers and reduce-scatters sharing
  // the NIC. Within 3% at 50 and 400 GB/s NICs, 1 or 4 micro-batches
  // (observed when written: 0.8% with 1 micro-batch, 0.4% with 4).
  const model::Model m = testing::toy_llama(16);
  for (const double nic : {50.0, 400.0}) {
    const cost::CostModel cost = testing::two_node_cost(nic);
    for (int64_t mbs : {1, 4}) {
      plan::Plan p = deepspeed_plan(mbs, 4096);
      p.micro_batch = 4;
      p.global_batch *= 4;
      const testing::BothEngines s = testing::step_by_both(m, p, cost);
      INFO("NIC " << nic << " GB/s, " << mbs << " micro-batches: simulated " << s.simulated << " s, analytic "
                  << s.analytic << " s");
      CHECK(s.relative_gap() < 0.03);
    }
  }
}

TEST_CASE("per-tensor ZeRO-3 with reduce-scatters longer than backward: the simulator hides more", "[sim][zero3]") {
  // 1 x 1K-token micro-batches: backward compute ~3 ms per micro-batch,
  // reduce-scatters ~19 ms. The analytic estimate exposes R - backward
  // (overlap with backward compute only); the simulator's DP stream also
  // runs them under the blocking gathers' host overhead (CPU time, the
  // network idle) and the next forward, so its step is shorter, but by no
  // more than the reduce-scatters: a - R <= sim <= a.
  const model::Model m = testing::toy_llama(16);
  const cost::CostModel cost = testing::two_node_cost(50);
  const plan::Plan p = deepspeed_plan(4, 1024);
  const SimReport r = simulate(m, p, cost, SimulateOptions{});
  const analytic::StepEstimate e = analytic::estimate_step(m, p, cost);
  const calib::Zero3Framework fw = calib::load_zero3_framework(p.zero3_framework);
  // R per step = dp_comm - forward and backward gathers; reconstruct R from the shared calls.
  analytic::Zero3TensorCalls calls;
  const plan::StageLayout layout = plan::stage_layout(p, m);
  const graph::Graph g = plan::plan_graph(p, m, true);
  const plan::RankParams rp = plan::rank_params(p, m, layout, 0);
  for (const plan::BlockUse& u : plan::stage_blocks(g, plan::stage_content(layout, 0, m))) {
    analytic::add_zero3_tensor_calls(calls, *u.block, static_cast<double>(u.count), m, p, cost, fw, rp, 8);
  }
  const double reduces = calls.reduce.value() * 4;
  const double a = e.step_time.value(), sv = r.step_time.value();
  INFO("simulated " << sv << " s, analytic " << a << " s, reduce-scatters " << reduces << " s");
  CHECK(sv <= a);
  CHECK(sv >= a - reduces);
  // The shared calls are what the estimate charges: dp_comm = m x (G_f + G_b + R).
  CHECK(e.ranks[0].dp_comm.value() ==
        Approx(4 * (calls.gather.value() + calls.backward_gather.value() + calls.reduce.value())));
}
