#include <algorithm>
#include <string>

#include <catch2/catch.hpp>

#include "unit/fixtures.h"

#include "analytic/step.h"
#include "calib/frameworks.h"
#include "calib/tables.h"
#include "cost/cost_model.h"
#include "graph/graph.h"
#include "hardware/hardware.h"
#include "model/model.h"
#include "plan/plan.h"

using namespace trainsim;

namespace {

// A small Llama-style dense model, built by hand (hidden 512, FFN 2048).
model::Model toy_model(int64_t layers) { return testing::toy_llama(layers, 8, 1024); }

// Simple known tables: GEMM mainloop at 50% of peak, no tile overhead or
// launch cost, memory at the datasheet bandwidth with no latency.
calib::EfficiencyTables simple_tables() {
  calib::EfficiencyTables t = calib::default_tables("h100-sxm", "unit test: simple known tables");
  for (auto* table : {&t.gemm, &t.grouped_gemm}) {
    for (auto& [prec, g] : *table) {
      g.eta_max = 0.5;
      g.k_overhead = 0;
      g.launch_overhead = Seconds::zero();
    }
  }
  t.memory.eta = 1.0;
  t.memory.latency = Seconds::zero();
  return t;
}

plan::Plan toy_plan(int pp, int64_t micro_batches) {
  plan::Plan p;
  p.pp = pp;
  p.dp = 1;
  p.micro_batch = 1;
  p.global_batch = micro_batches;
  p.seq_len = 1024;
  return p;
}

// toy_plan over 16 DP ranks (two nodes of 8) with DeepSpeed's 2021 ZeRO-3.
plan::Plan deepspeed_toy_plan() {
  plan::Plan p = toy_plan(1, 1);
  p.dp = 16;
  p.global_batch = 16;
  p.zero_stage = 3;
  p.zero3_framework = "deepspeed-zero3-2021";
  return p;
}

// One blocking DeepSpeed 2021 gather of n BF16 elements over those 16 ranks:
// the ring all-gather, 16 list-form copy kernels of 2 x n / 16 elements (read
// and write) and the file's 380 us host overhead.
Seconds deepspeed_gather(const cost::CostModel& cost, double n) {
  return cost.collective_time(cost::CollectiveOp::kAllGather, Bytes(n * 2), cost::Group{16, 8}) +
         cost.memory_time(Bytes(2.0 * n / 16 * 2), Flops::zero()) * 16.0 + microseconds(380);
}

}  // namespace

TEST_CASE("published bubble formulas", "[analytic][bubble]") {
  // Narayanan et al. (SC'21): 1F1B/GPipe (p-1)/(m+p-1): p 4, m 8 -> 3/11.
  CHECK(analytic::bubble_fraction_1f1b(4, 8) == Approx(3.0 / 11.0));
  // Interleaved: (p-1)/(v m + p - 1): p 4, v 2, m 8 -> 3/19.
  CHECK(analytic::bubble_fraction_interleaved(4, 2, 8) == Approx(3.0 / 19.0));
  // DualPipe (V3TR Table 2): (PP/2 - 1)(F&B + B - 3W): PP 8, F&B 3 ms, B 2 ms,
  // W 1 ms -> 3 x (3 + 2 - 3) = 6 ms.
  CHECK(analytic::dualpipe_bubble(8, milliseconds(3), milliseconds(2), milliseconds(1)).value() ==
        Approx(milliseconds(6).value()));
  // ZB-H1 (V3TR Table 2): (PP - 1)(F + B - 2W): PP 4, F 1, B 2, W 1 ms -> 3 x 1 = 3 ms.
  CHECK(analytic::zb_h1_bubble(4, milliseconds(1), milliseconds(2), milliseconds(1)).value() ==
        Approx(milliseconds(3).value()));
}

TEST_CASE("a toy dense model's step is the hand sum of its operator times", "[analytic]") {
  const model::Model m = toy_model(4);
  const hardware::Cluster c = hardware::generic_cluster("h100-sxm", 1);
  const cost::CostModel cost(c, simple_tables());
  const plan::Plan p = toy_plan(1, 4);  // 4 micro-batches of 1 x 1024 tokens on one GPU
  REQUIRE_NOTHROW(plan::validate_plan(p, m, c));

  // One operator by hand: the o_proj GEMM, M = 1024 tokens, N = K = 512.
  // Tiles 128 x 128: 8 x 4 = 32 <= SMs, one wave; each tile runs
  // 2 * 128 * 128 * 512 FLOPs at 0.5 * peak / sm_count; memory time
  // (1024*512 + 512*512 + 1024*512) * 2 B / HBM is far smaller.
  const graph::Graph g = graph::build_graph(m, 1024, 1);
  const graph::Operator* o_proj = nullptr;
  for (const graph::Operator& op : g.blocks[1].ops) {
    if (op.name == "attn.o_proj") o_proj = &op;
  }
  REQUIRE(o_proj != nullptr);
  const double peak = c.accelerator.peak(Precision::kBF16)->value();
  const double sms = c.accelerator.sm_count;
  const double tile = 2.0 * 128 * 128 * 512 / (0.5 * peak / sms);
  CHECK(cost.op_time(*o_proj, cost::Pass::kForward, {}).value() == Approx(tile));

  // The step: 4 micro-batches x (F + B + W) of every operator (no pipeline,
  // no communication, no recompute) + the optimizer step on every parameter.
  double per_mb = 0;
  int64_t params = 0;
  for (const graph::Block& b : g.blocks) {
    for (const graph::Operator& op : b.ops) {
      const double t = cost.op_time(op, cost::Pass::kForward, {}).value() +
                       cost.op_time(op, cost::Pass::kBackwardInput, {}).value() +
                       cost.op_time(op, cost::Pass::kBackwardWeight, {}).value();
      per_mb += t * b.count;
      params += op.params * b.count;
    }
  }
  const double optimizer = cost.optimizer_time(params, Precision::kFP32).value();
  const analytic::StepEstimate e = analytic::estimate_step(m, p, cost);
  CHECK(e.breakdown.compute.value() == Approx(4 * per_mb));
  CHECK(e.breakdown.optimizer.value() == Approx(optimizer));
  CHECK(e.breakdown.bubble.value() == 0);
  CHECK(e.breakdown.exposed_comm.value() == 0);
  CHECK(e.breakdown.dp_exposed.value() == 0);
  CHECK(e.step_time.value() == Approx(4 * per_mb + optimizer));
  // MFU: graph FLOPs per token x 4096 tokens / (step x 1 GPU x BF16 peak).
  const double flops = graph::train_flops_per_token(m, 1024, true, true).value() * 4096;
  CHECK(e.model_flops_per_step.value() == Approx(flops));
  CHECK(e.mfu_causal == Approx(flops / (e.step_time.value() * peak)));
  CHECK(e.hfu == Approx(e.mfu_causal));  // no recompute
  CHECK(e.tokens_per_second_per_gpu == Approx(4096 / e.step_time.value()));
}

TEST_CASE("full recompute adds a forward and shows in HFU", "[analytic][recompute]") {
  const model::Model m = toy_model(4);
  const hardware::Cluster c = hardware::generic_cluster("h100-sxm", 1);
  const cost::CostModel cost(c, simple_tables());
  plan::Plan p = toy_plan(1, 4);
  const analytic::StepEstimate base = analytic::estimate_step(m, p, cost);
  p.recompute = plan::Recompute::kFull;
  const analytic::StepEstimate full = analytic::estimate_step(m, p, cost);
  // Full recompute redoes each layer's forward: recompute = layers' share of F.
  CHECK(full.breakdown.recompute.value() > 0);
  CHECK(full.breakdown.recompute < full.ranks[0].forward);
  CHECK(full.step_time.value() == Approx(base.step_time.value() + full.breakdown.recompute.value()));
  CHECK(full.mfu_causal < base.mfu_causal);
  CHECK(full.hfu > full.mfu_causal);
}

TEST_CASE("pipeline bubbles match the published fractions", "[analytic][bubble]") {
  const model::Model m = toy_model(4);
  const hardware::Cluster c = hardware::generic_cluster("h100-sxm", 4);
  const cost::CostModel cost(c, simple_tables());
  auto fraction = [](const analytic::RankTimes& r) {
    const double busy = (r.forward + r.backward_input + r.backward_weight + r.recompute + r.exposed_comm).value();
    return r.bubble.value() / (busy + r.bubble.value());
  };
  SECTION("1F1B and GPipe: (p-1)/(m+p-1) on every rank") {
    plan::Plan p = toy_plan(4, 8);
    for (auto s : {plan::Schedule::k1F1B, plan::Schedule::kGpipe}) {
      p.schedule = s;
      REQUIRE_NOTHROW(plan::validate_plan(p, m, c));
      const analytic::StepEstimate e = analytic::estimate_step(m, p, cost);
      // Each rank: steady m (F+B) and bubble (p-1)(F+B) -> 3/11.
      for (const analytic::RankTimes& r : e.ranks) CHECK(fraction(r) == Approx(3.0 / 11.0));
    }
  }
  SECTION("interleaved: (p-1)/(v m + p - 1)") {
    const hardware::Cluster c2 = hardware::generic_cluster("h100-sxm", 2);
    const cost::CostModel cost2(c2, simple_tables());
    plan::Plan p = toy_plan(2, 8);
    p.schedule = plan::Schedule::kInterleaved1F1B;
    p.vpp = 2;
    REQUIRE_NOTHROW(plan::validate_plan(p, m, c2));
    const analytic::StepEstimate e = analytic::estimate_step(m, p, cost2);
    // p 2, v 2, m 8: 1 / 17.
    for (const analytic::RankTimes& r : e.ranks) CHECK(fraction(r) == Approx(1.0 / 17.0));
  }
  SECTION("ZB-H1 uses (p-1)(F+B-2W), smaller than 1F1B's") {
    plan::Plan p = toy_plan(4, 8);
    const analytic::StepEstimate one = analytic::estimate_step(m, p, cost);
    p.schedule = plan::Schedule::kZeroBubbleH1;
    const analytic::StepEstimate zb = analytic::estimate_step(m, p, cost);
    for (const analytic::RankTimes& r : zb.ranks) {
      CHECK(r.bubble.value() == Approx(3 * (r.chunk_f + r.chunk_b - r.chunk_w * 2.0).value()));
      CHECK(r.chunk_w.value() > 0);
    }
    CHECK(zb.breakdown.bubble < one.breakdown.bubble);
  }
  SECTION("DualPipe uses (PP/2-1)(F&B+B-3W)") {
    plan::Plan p = toy_plan(4, 8);
    p.schedule = plan::Schedule::kDualPipe;
    REQUIRE_NOTHROW(plan::validate_plan(p, m, c));
    const analytic::StepEstimate e = analytic::estimate_step(m, p, cost);
    for (const analytic::RankTimes& r : e.ranks) {
      // PP 4: 1 x (F&B + B - 3W); F&B = the longer of the pair's compute and communication.
      CHECK(r.bubble.value() == Approx((r.chunk_fb + r.chunk_b - r.chunk_w * 3.0).value()));
      CHECK(r.chunk_fb >= r.chunk_f);
    }
  }
}

TEST_CASE("DeepSeek-V3 overlap rules: DualPipe hides, 1F1B exposes", "[analytic][deepseek]") {
  const model::Model m = model::load_model("deepseek_v3");
  const hardware::Cluster c = hardware::load_cluster("h800-2048-deepseek");
  const cost::CostModel cost(c, calib::load_tables_for(c.accelerator));
  plan::Plan p = testing::deepseek_v3_plan();
  const analytic::StepEstimate dual = analytic::estimate_step(m, p, cost);
  for (const analytic::RankTimes& r : dual.ranks) {
    CHECK(r.ep_comm.value() > 0);
    const Seconds comm = r.tp_comm + r.ep_comm + r.pp_comm;
    const Seconds compute = r.forward + r.backward_input + r.backward_weight + r.recompute;
    // exposed = max(0, comm - compute), summed over the 120 micro-batches.
    CHECK(r.exposed_comm.value() == Approx(max(Seconds::zero(), comm - compute).value()).margin(1e-9));
  }
  p.schedule = plan::Schedule::k1F1B;
  p.comm_sms = 0;
  const analytic::StepEstimate one = analytic::estimate_step(m, p, cost);
  for (const analytic::RankTimes& r : one.ranks) {
    CHECK(r.exposed_comm.value() == Approx((r.tp_comm + r.ep_comm + r.pp_comm).value()));
  }
  CHECK(dual.step_time < one.step_time);
}

TEST_CASE("ZeRO-3 as DeepSpeed 2021: one blocking gather per large tensor, one reduce-scatter per tensor",
          "[analytic][zero3]") {
  // toy_model(4): RMSNorm, no biases, untied head. Parameter tensors:
  //   per layer: attn.norm 512 and mlp.norm 512 (under the 1e5 persistence
  //   threshold: stay gathered), qkv 512 x 1536 = 786,432, o 512 x 512 =
  //   262,144, up_gate 512 x 4096 = 2,097,152, down 2048 x 512 = 1,048,576;
  //   embedding 1024 x 512 = 524,288, head 524,288, final norm 512.
  // Large tensors: 4 x 4 + 2 = 18; all tensors: 6 x 4 + 3 = 27.
  const model::Model m = toy_model(4);
  const hardware::Cluster c = testing::test_cluster(testing::AcceleratorSpec{}, 2);
  const cost::CostModel cost(c, simple_tables());
  const plan::Plan p = deepspeed_toy_plan();
  const analytic::StepEstimate e = analytic::estimate_step(m, p, cost);
  const analytic::StepEstimate fsdp = [&] {
    plan::Plan q = p;
    q.zero3_framework = "fsdp";
    return analytic::estimate_step(m, q, cost);
  }();
  // One call over the 16 DP ranks (8 per node): gathers of BF16 weights (2 B),
  // reduce-scatters of the policy's FP32 gradients (4 B); each with 16 copy
  // kernels of 2 x numel / 16 elements (list-form collectives), the gathers
  // with the file's 380 us host overhead.
  REQUIRE(bytes_per_element(p.precision.weights) == 2.0);
  REQUIRE(bytes_per_element(p.precision.gradients) == 4.0);
  const cost::Group g{16, 8};
  auto copies = [&](double n, double b) { return cost.memory_time(Bytes(2.0 * n / 16 * b), Flops::zero()) * 16.0; };
  auto gather = [&](double n) { return deepspeed_gather(cost, n); };
  auto reduce = [&](double n) {
    return cost.collective_time(cost::CollectiveOp::kReduceScatter, Bytes(n * 4), g) + copies(n, 4);
  };
  Seconds gathers, reduces;
  for (int l = 0; l < 4; ++l) {
    for (double n : {786432.0, 262144.0, 2097152.0, 1048576.0}) {
      gathers += gather(n);
      reduces += reduce(n);
    }
    reduces += reduce(512) * 2.0;
  }
  for (double n : {524288.0, 524288.0}) {
    gathers += gather(n);
    reduces += reduce(n);
  }
  reduces += reduce(512);
  const analytic::RankTimes& r = e.ranks.front();
  // Gathers before the forward and again before the backward: 2 x gathers.
  CHECK(r.dp_comm.value() == Approx((gathers * 2.0 + reduces).value()));
  // The 36 blocking gathers are exposed whole (36 x 380 us = 13.68 ms of host
  // time alone). Each synchronises the device first, draining the
  // reduce-scatters in flight, so these hide only under the backward of the
  // operators that gather nothing: the norms (512 elements, under the 1e5
  // threshold) and the weightless rope, core, residual adds, activation and
  // loss (one micro-batch, no recompute): exposed max(0, R - that backward).
  const graph::Graph graph = plan::plan_graph(p, m);
  Seconds ungathered;
  for (const graph::Block& b : graph.blocks) {
    for (const graph::Operator& op : b.ops) {
      if (op.params >= 100000) continue;
      ungathered += (cost.op_time(op, cost::Pass::kBackwardInput, {}) + cost.op_time(op, cost::Pass::kBackwardWeight, {})) *
                    static_cast<double>(b.count);
    }
  }
  REQUIRE(ungathered.value() > 0);
  REQUIRE(reduces.value() > ungathered.value());  // so the window matters
  CHECK(r.dp_exposed.value() == Approx((gathers * 2.0 + max(Seconds::zero(), reduces - ungathered)).value()));
  CHECK((gathers * 2.0).value() > 0.01368);
  // The FSDP default prefetches whole layers and hides most of the same traffic.
  CHECK(e.step_time.value() > fsdp.step_time.value() + 0.01368);
  bool noted = false;
  for (const auto& n : e.notes) noted = noted || n.find("deepspeed-zero3-2021") != std::string::npos;
  CHECK(noted);
}

TEST_CASE("ZeRO-3 as DeepSpeed 2021 under recompute: gathered for the recompute, again past the reuse distance",
          "[analytic][zero3]") {
  // toy_model(4)'s layer block in forward order: attn.norm (512), qkv
  // 786,432, rope, core, o 262,144, residual, ffn.norm (512), up_gate
  // 2,097,152, act, down 1,048,576, residual. The norms stay gathered (under
  // the 1e5 persistence threshold).
  const model::Model m = toy_model(4);
  const hardware::Cluster c = testing::test_cluster(testing::AcceleratorSpec{}, 2);
  const cost::CostModel cost(c, simple_tables());
  const plan::Plan p = deepspeed_toy_plan();
  calib::Zero3Framework fw = calib::load_zero3_framework(p.zero3_framework);
  REQUIRE(fw.max_reuse_distance == 1000000000);
  const plan::StageLayout layout = plan::stage_layout(p, m);
  const graph::Graph g = plan::plan_graph(p, m);
  const plan::RankParams rp = plan::rank_params(p, m, layout, 0);
  const graph::Block* layer = nullptr;
  for (const plan::BlockUse& u : plan::stage_blocks(g, plan::stage_content(layout, 0, m))) {
    if (u.block->kind == graph::BlockKind::kDenseLayer) layer = u.block;
  }
  REQUIRE(layer != nullptr);
  auto calls = [&](plan::Recompute r, int64_t reuse) {
    plan::Plan q = p;
    q.recompute = r;
    calib::Zero3Framework f = fw;
    f.max_reuse_distance = reuse;
    analytic::Zero3TensorCalls out;
    analytic::add_zero3_tensor_calls(out, *layer, 1.0, m, q, cost, f, rp, 8);
    return out;
  };
  const Seconds qkv = deepspeed_gather(cost, 786432), o = deepspeed_gather(cost, 262144),
                up = deepspeed_gather(cost, 2097152), down = deepspeed_gather(cost, 1048576);
  const Seconds once = qkv + o + up + down;
  // No recompute: one gather per tensor in forward, one in backward.
  const analytic::Zero3TensorCalls none = calls(plan::Recompute::kNone, 3000000);
  CHECK(none.gather.value() == Approx(once.value()));
  CHECK(none.backward_gather.value() == Approx(once.value()));
  // Full recompute, the file's reuse distance (1e9): every tensor is gathered
  // for the recompute and stays gathered for its backward (the whole layer
  // holds 4.2M elements, far under 1e9): still one backward gather each.
  CHECK(calls(plan::Recompute::kFull, 1000000000).backward_gather.value() == Approx(once.value()));
  // Full recompute. Between a tensor's recompute use and its backward use run
  // the ops after it twice (recompute forward, then backward in reverse):
  // qkv 2 x (262,144 + 512 + 2,097,152 + 1,048,576) = 6,816,768, o 2 x
  // 3,146,240 = 6,292,480, up_gate 2 x 1,048,576 = 2,097,152, down 0.
  // Reuse distance 3M: qkv and o gathered again, up_gate and down kept.
  const analytic::Zero3TensorCalls full = calls(plan::Recompute::kFull, 3000000);
  CHECK(full.backward_gather.value() == Approx((qkv * 2.0 + o * 2.0 + up + down).value()));
  CHECK(full.gather.value() == Approx(once.value()));
  // Reuse distance 5M: only the doubled distances pass it (6.8M and 6.3M;
  // the single ones, 3.4M and 3.1M, would not): still qkv and o.
  CHECK(calls(plan::Recompute::kFull, 5000000).backward_gather.value() ==
        Approx((qkv * 2.0 + o * 2.0 + up + down).value()));
  // Reuse distance 2M: up_gate's 2,097,152 passes too.
  CHECK(calls(plan::Recompute::kFull, 2000000).backward_gather.value() ==
        Approx((qkv * 2.0 + o * 2.0 + up * 2.0 + down).value()));
  // Every other layer recomputed: half the layers as full recompute, half as none:
  // qkv and o 1.5 gathers each in backward, up_gate and down 1.
  CHECK(calls(plan::Recompute::kEveryOtherLayer, 3000000).backward_gather.value() ==
        Approx((qkv * 1.5 + o * 1.5 + up + down).value()));
  // Selective policies recompute single ops just before their own backward,
  // the tensor already gathered for it: one backward gather each.
  for (plan::Recompute r : {plan::Recompute::kSelective, plan::Recompute::kSelectiveOp}) {
    CHECK(calls(r, 3000000).backward_gather.value() == Approx(once.value()));
  }
}

TEST_CASE("DeepSpeed 2021 ZeRO-3 regathers past the file's reuse distance in the estimate", "[analytic][zero3]") {
  // toy_llama(2, 128): hidden 8192, 128 heads of 64, FFN 32768 (gated),
  // vocab 1024. A layer: qkv 8192 x 24576 = 201,326,592, o 67,108,864,
  // up_gate 8192 x 65536 = 536,870,912, down 268,435,456 (norms 8192 each).
  // Under full recompute the reuse distances (twice the elements after the
  // op) are qkv 2 x 872,431,616 = 1.74e9 and o 2 x 805,322,752 = 1.61e9,
  // over the file's 1e9 (gathered again), up_gate 2 x 268,435,456 = 5.4e8
  // and down 0 (kept).
  const model::Model m = testing::toy_llama(2, 128);
  const hardware::Cluster c = testing::test_cluster(testing::AcceleratorSpec{}, 2);
  const cost::CostModel cost(c, simple_tables());
  plan::Plan p = deepspeed_toy_plan();
  p.recompute = plan::Recompute::kFull;
  const analytic::StepEstimate e = analytic::estimate_step(m, p, cost);
  // The shared calls of the rank's blocks.
  const calib::Zero3Framework fw = calib::load_zero3_framework(p.zero3_framework);
  const plan::StageLayout layout = plan::stage_layout(p, m);
  const graph::Graph g = plan::plan_graph(p, m);
  const plan::RankParams rp = plan::rank_params(p, m, layout, 0);
  analytic::Zero3TensorCalls calls;
  for (const plan::BlockUse& u : plan::stage_blocks(g, plan::stage_content(layout, 0, m))) {
    analytic::add_zero3_tensor_calls(calls, *u.block, static_cast<double>(u.count), m, p, cost, fw, rp, 8);
  }
  // Backward gathers exceed the forward's by one qkv and one o gather per layer.
  const Seconds extra = (deepspeed_gather(cost, 201326592) + deepspeed_gather(cost, 67108864)) * 2.0;
  CHECK(calls.backward_gather.value() == Approx((calls.gather + extra).value()));
  // One micro-batch: the estimate moves forward + backward gathers + reduce-scatters.
  CHECK(e.ranks[0].dp_comm.value() == Approx((calls.gather + calls.backward_gather + calls.reduce).value()));
}

TEST_CASE("pipeline sends: each TP rank sends 1/TP of the activation (Megatron's scatter/gather)",
          "[analytic][pipeline]") {
  // toy_model: hidden 512; micro-batch 1 x 1024 tokens; TP 4, PP 2, DP 1 on
  // one node of 8: neighbouring stages are tp*cp*dp = 4 ranks apart, inside
  // the node. Activation 1024 x 512 x 2 B = 1 MiB; each rank sends 256 KiB.
  const model::Model m = toy_model(4);
  const hardware::Cluster c = testing::test_cluster(testing::AcceleratorSpec{}, 1);
  const cost::CostModel cost(c, simple_tables());
  plan::Plan p = toy_plan(2, 4);
  p.tp = 4;
  const Bytes piece(1024.0 / 4 * 512 * 2);
  const Bytes whole(1024.0 * 512 * 2);
  // Without SP the receiver all-gathers the four pieces over NVLink.
  const Seconds expected = cost.p2p_time(piece, false) +
                           cost.collective_time(cost::CollectiveOp::kAllGather, whole, cost::Group{4, 4});
  CHECK(analytic::pipeline_send_time(m, p, cost, 8).value() == Approx(expected.value()));
  // Under SP the activation is already split: the send alone.
  p.sequence_parallel = true;
  CHECK(analytic::pipeline_send_time(m, p, cost, 8).value() == Approx(cost.p2p_time(piece, false).value()));
  // Across nodes (8 ranks apart with dp 2 on a 4-GPU node) the send takes the NIC.
  p.dp = 2;
  p.global_batch = 8;
  CHECK(analytic::pipeline_send_time(m, p, cost, 4).value() == Approx(cost.p2p_time(piece, true).value()));
  // No pipeline, no send.
  p.pp = 1;
  CHECK(analytic::pipeline_send_time(m, p, cost, 8).value() == 0.0);
}

TEST_CASE("MFU on a part without BF16 is against its dense FP16 peak", "[analytic]") {
  // V100 SXM2 has FP16 tensor cores (125 TFLOP/s dense) and no BF16: MFU and
  // HFU divide by the FP16 peak (hardware::utilisation_peak), as the
  // V100-era sources report utilisation, and a note says so.
  const model::Model m = toy_model(2);
  const hardware::Cluster c = hardware::generic_cluster("v100-sxm-32gb", 1);
  REQUIRE_FALSE(c.accelerator.peak(Precision::kBF16));
  const cost::CostModel cost(c, calib::default_tables("v100-sxm-32gb", "unit test"));
  plan::Plan p = toy_plan(1, 2);
  p.precision.linear_gemms = p.precision.attention = p.precision.embedding_head = p.precision.weights =
      Precision::kFP16;
  const analytic::StepEstimate e = analytic::estimate_step(m, p, cost);
  // 2 micro-batches x 1024 tokens on one GPU at 125 TFLOP/s.
  const double flops = graph::train_flops_per_token(m, 1024, true, true).value() * 2048;
  CHECK(e.mfu_causal == Approx(flops / (e.step_time.value() * 125e12)));
  CHECK(e.mfu_causal > 0);
  const bool noted = std::any_of(e.notes.begin(), e.notes.end(), [](const std::string& n) {
    return n.find("no BF16: MFU and HFU are against its dense FP16 peak") != std::string::npos;
  });
  CHECK(noted);
}

TEST_CASE("DP gradient reduction: overlapped with the last backward, or after the forward-backward", "[analytic]") {
  // 16 GPUs over two nodes, pure data parallelism (one stage, so no cool-down
  // window): the all-reduce of the gradients crosses the NICs.
  const model::Model m = toy_model(4);
  const hardware::Cluster c = hardware::generic_cluster("h100-sxm", 16);
  const cost::CostModel cost(c, simple_tables());
  plan::Plan p = toy_plan(1, 2 * 16);  // 2 micro-batches per replica
  p.dp = 16;
  REQUIRE_NOTHROW(plan::validate_plan(p, m, c));
  // One micro-batch's backward (input and weight gradients of every operator).
  const graph::Graph g = graph::build_graph(m, 1024, 1);
  double backward = 0;
  for (const graph::Block& b : g.blocks) {
    for (const graph::Operator& op : b.ops) {
      backward += (cost.op_time(op, cost::Pass::kBackwardInput, {}).value() +
                   cost.op_time(op, cost::Pass::kBackwardWeight, {}).value()) *
                  b.count;
    }
  }
  p.overlap_grad_reduce = true;
  const analytic::StepEstimate on = analytic::estimate_step(m, p, cost);
  p.overlap_grad_reduce = false;
  const analytic::StepEstimate off = analytic::estimate_step(m, p, cost);
  const double reduce = off.ranks.front().dp_comm.value();  // ZeRO 0: the all-reduce alone
  REQUIRE(reduce > 0);
  CHECK(on.ranks.front().dp_comm.value() == Approx(reduce));
  // Overlapped: the part longer than the last backward shows, or, if more,
  // the backward's lengthening while the all-reduce runs beside it at rate
  // r = 1 / 1.189 (calibrate/collectives/overlap.json):
  // max(reduce - backward, min(reduce (1 - r), backward (1 - r) / r)).
  const double r = 1.0 / 1.189;
  CHECK(cost.overlap().compute_rate() == Approx(r));
  const double stretch = std::min(reduce * (1 - r), backward * (1 - r) / r);
  CHECK(on.breakdown.dp_exposed.value() == Approx(std::max(reduce - backward, stretch)));
  CHECK(on.breakdown.dp_exposed.value() > 0);
  // After the forward-backward: all of it.
  CHECK(off.breakdown.dp_exposed.value() == Approx(reduce));
  CHECK(off.step_time.value() - on.step_time.value() ==
        Approx(off.breakdown.dp_exposed.value() - on.breakdown.dp_exposed.value()));
  CHECK(off.breakdown.dp_exposed.value() > on.breakdown.dp_exposed.value());
}

TEST_CASE("a layer recomputed whole redoes its forward TP collectives in backward", "[analytic]") {
  // TP 2, 4 layers: per micro-batch the forward runs 2 collectives per layer
  // + 1 for the embedding + 1 for the head, the backward 2 per layer + 1 for
  // the head: 4 x 4 + 3 = 19 collectives of one size (tp_one). Full
  // recompute re-runs each layer's forward with its 2 collectives: 8 more;
  // every other layer: half of them, 4; the attention core alone: none.
  const model::Model m = toy_model(4);
  const hardware::Cluster c = hardware::generic_cluster("h100-sxm", 2);
  const cost::CostModel cost(c, simple_tables());
  plan::Plan p = toy_plan(1, 2);  // 2 micro-batches
  p.tp = 2;
  auto tp_comm = [&](plan::Recompute r) {
    p.recompute = r;
    return analytic::estimate_step(m, p, cost).ranks.front().tp_comm.value();
  };
  const double none = tp_comm(plan::Recompute::kNone);
  REQUIRE(none > 0);
  const double one = none / (19.0 * 2);  // one collective
  CHECK(tp_comm(plan::Recompute::kFull) == Approx(one * (19 + 8) * 2));
  CHECK(tp_comm(plan::Recompute::kEveryOtherLayer) == Approx(one * (19 + 4) * 2));
  CHECK(tp_comm(plan::Recompute::kSelective) == Approx(none));
}

TEST_CASE("unfused gradient accumulation adds one memory-bound add per parameter and micro-batch", "[analytic]") {
  // The toy Llama (4 layers, h 512, SwiGLU FFN 2048, 8 heads = 8 KV heads,
  // vocab 1024, untied, RMSNorm without biases) has, by hand:
  //   per layer: attention 4 h^2 = 1,048,576; MLP 3 h f = 3,145,728; two
  //   norms 2 h = 1,024 -> 4,195,328; 4 layers: 16,781,312;
  //   embedding and head 2 x 1024 x 512 = 1,048,576; final norm 512;
  //   total 17,830,400 parameters on the one GPU.
  // Unfused, each micro-batch reads the BF16 gradient and reads and writes
  // the FP32 buffer: 2 + 4 + 4 = 10 bytes per parameter = 178,304,000 bytes,
  // at the H100 SXM's 3.35 TB/s (simple tables: memory at datasheet
  // bandwidth, no latency) 53.225 us; two micro-batches 106.45 us.
  const model::Model m = toy_model(4);
  const hardware::Cluster c = hardware::generic_cluster("h100-sxm", 1);
  const cost::CostModel cost(c, simple_tables());
  plan::Plan p = toy_plan(1, 2);  // 2 micro-batches
  REQUIRE_NOTHROW(plan::validate_plan(p, m, c));
  const graph::Graph g = plan::plan_graph(p, m);
  int64_t params = 0;
  for (const graph::Block& b : g.blocks) {
    for (const graph::Operator& op : b.ops) params += op.params * b.count;
  }
  REQUIRE(params == 17830400);
  p.gradient_accumulation_fusion = true;
  const analytic::StepEstimate fused = analytic::estimate_step(m, p, cost);
  p.gradient_accumulation_fusion = false;
  const analytic::StepEstimate unfused = analytic::estimate_step(m, p, cost);
  CHECK(unfused.step_time.value() - fused.step_time.value() == Approx(2 * 178304000.0 / 3.35e12));
  CHECK(unfused.ranks.front().backward_weight.value() - fused.ranks.front().backward_weight.value() ==
        Approx(106.45e-6).epsilon(1e-4));
  CHECK(std::any_of(unfused.notes.begin(), unfused.notes.end(),
                    [](const std::string& n) { return n.find("gradient accumulation unfused") != std::string::npos; }));
  CHECK(std::none_of(fused.notes.begin(), fused.notes.end(),
                     [](const std::string& n) { return n.find("gradient accumulation unfused") != std::string::npos; }));
  // One operator: the first layer's MLP down projection, h x f = 1,048,576
  // weights -> 10,485,760 bytes -> 3.13 us; weightless operators: nothing.
  const graph::Block& layer = g.blocks[1];
  const auto down = std::find_if(layer.ops.begin(), layer.ops.end(),
                                 [](const graph::Operator& op) { return op.name == "ffn.down"; });
  REQUIRE(down != layer.ops.end());
  CHECK(analytic::grad_accumulation_time(*down, p, cost).value() == Approx(10485760.0 / 3.35e12));
  const auto rope = std::find_if(layer.ops.begin(), layer.ops.end(),
                                 [](const graph::Operator& op) { return op.params == 0; });
  REQUIRE(rope != layer.ops.end());
  CHECK(analytic::grad_accumulation_time(*rope, p, cost).value() == 0);
  // ZeRO-3 reduce-scatters every micro-batch's gradient: no accumulation charged.
  p.zero_stage = 3;
  CHECK(analytic::grad_accumulation_time(*down, p, cost).value() == 0);
}

TEST_CASE("the per-operator compute of a rank adds up to the rank's compute", "[analytic]") {
  // The rows are the terms the rank's forward, input-gradient, weight-gradient
  // and recompute times sum, so the totals must match to rounding, for a dense
  // 1F1B pipeline with full recompute and unfused gradient accumulation and
  // for DeepSeek-V3's DualPipe (a rank holds two stages and does their mean).
  auto check = [](const model::Model& m, const plan::Plan& p, const cost::CostModel& cost) {
    const analytic::StepEstimate e = analytic::estimate_step(m, p, cost);
    for (const analytic::RankTimes& t : e.ranks) {
      const std::vector<analytic::OperatorTime> ops = analytic::operator_times(m, p, cost, t.rank);
      REQUIRE_FALSE(ops.empty());
      double f = 0, bi = 0, w = 0, rc = 0;
      for (const auto& o : ops) {
        f += o.forward.value();
        bi += o.backward_input.value();
        w += o.backward_weight.value();
        rc += o.recompute.value();
        CHECK(o.instances > 0);
        CHECK(o.total().value() >= 0);
      }
      INFO("rank " << t.rank);
      CHECK(f == Approx(t.forward.value()).epsilon(1e-9));
      CHECK(bi == Approx(t.backward_input.value()).epsilon(1e-9));
      CHECK(w == Approx(t.backward_weight.value()).epsilon(1e-9));
      CHECK(rc == Approx(t.recompute.value()).epsilon(1e-9));
    }
  };
  {
    const model::Model m = toy_model(4);
    const hardware::Cluster c = hardware::generic_cluster("h100-sxm", 2);
    const cost::CostModel cost(c, simple_tables());
    plan::Plan p = toy_plan(2, 4);
    p.recompute = plan::Recompute::kFull;
    p.gradient_accumulation_fusion = false;
    check(m, p, cost);
    // Rank 0 holds the embedding and layers 0-1: one "ffn.down" row for the
    // two layers (2 instances per micro-batch), none for the head.
    const auto ops = analytic::operator_times(m, p, cost, 0);
    const auto down = std::find_if(ops.begin(), ops.end(), [](const auto& o) { return o.name == "ffn.down"; });
    REQUIRE(down != ops.end());
    CHECK(down->instances == 2);
    CHECK(std::none_of(ops.begin(), ops.end(), [](const auto& o) { return o.name == "head"; }));
    // Its FLOPs over the step: 4 micro-batches x 2 layers x (forward twice
    // under full recompute + input and weight gradients) = 4 x 2 x 4 x the
    // forward's 2 x 1024 tokens x 2048 x 512 = 4 x 2 x 4 x 2,147,483,648.
    CHECK(down->flops.value() == Approx(4.0 * 2 * 4 * 2147483648.0));
  }
  {
    const model::Model m = model::load_model("deepseek_v3");
    const hardware::Cluster c = hardware::load_cluster("h800-2048-deepseek");
    const cost::CostModel cost(c, calib::load_tables_for(c.accelerator));
    plan::Plan p = testing::deepseek_v3_plan();
    p.global_batch = 128 * 40;  // 40 micro-batches per replica: enough for DualPipe, quicker
    check(m, p, cost);
  }
}

TEST_CASE("overlap_p2p_comm hides the pipeline sends under the next chunk's compute", "[analytic]") {
  // Toy Llama over PP 2 x VPP 2 (one GPU per pipeline rank, two chunks
  // each), interleaved 1F1B, 4 micro-batches. Each stage sends one activation
  // forward and one gradient backward per micro-batch (pipeline_send_time),
  // both far shorter than a chunk's compute here, so under overlap_p2p_comm
  // none is exposed: the exposed communication drops by exactly the rank's
  // pipeline sends. The bubble keeps them whole ((p - 1)(F + B) with the
  // sends in F and B): overlapping frees the sender, not the receiver waiting
  // for its input while the pipeline fills and drains.
  const model::Model m = toy_model(4);
  const hardware::Cluster c = hardware::generic_cluster("h100-sxm", 2);
  const cost::CostModel cost(c, simple_tables());
  plan::Plan p = toy_plan(2, 4);
  p.vpp = 2;
  p.schedule = plan::Schedule::kInterleaved1F1B;
  REQUIRE_NOTHROW(plan::validate_plan(p, m, c));
  const Seconds send = analytic::pipeline_send_time(m, p, cost, 8);
  REQUIRE(send.value() > 0);
  p.overlap_p2p_comm = false;
  const analytic::StepEstimate off = analytic::estimate_step(m, p, cost);
  p.overlap_p2p_comm = true;
  REQUIRE_NOTHROW(plan::validate_plan(p, m, c));
  const analytic::StepEstimate on = analytic::estimate_step(m, p, cost);
  for (size_t r = 0; r < 2; ++r) {
    INFO("rank " << r);
    // 4 micro-batches x 2 chunks x (one send forward + one backward).
    CHECK(off.ranks[r].pp_comm.value() == Approx(4 * 2 * 2 * send.value()));
    CHECK(on.ranks[r].pp_comm.value() == Approx(off.ranks[r].pp_comm.value()));
    CHECK(off.ranks[r].exposed_comm.value() - on.ranks[r].exposed_comm.value() ==
          Approx(off.ranks[r].pp_comm.value()));
    CHECK(on.ranks[r].bubble.value() == Approx(off.ranks[r].bubble.value()));
  }
  CHECK(on.step_time.value() < off.step_time.value());
  // Megatron-Core overlaps pipeline sends only in its interleaved schedule.
  p.vpp = 1;
  p.schedule = plan::Schedule::k1F1B;
  CHECK_THROWS_WITH(plan::validate_plan(p, m, c), Catch::Matchers::Contains("overlap_p2p_comm needs the interleaved-1f1b schedule"));
}
