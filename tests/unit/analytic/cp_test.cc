// Context parallelism's key/value ring (analytic::cp_exchange) and what the
// step estimate and the simulator make of it; expected values derived by hand
// beside each check.
#include <catch2/catch.hpp>

#include "unit/fixtures.h"
#include "analytic/step.h"
#include "calib/tables.h"
#include "cost/cost_model.h"
#include "graph/graph.h"
#include "model/model.h"
#include "plan/plan.h"
#include "sim/simulator.h"

using namespace trainsim;

namespace {

// An attention core of one micro-batch: 1 x 8192 tokens on this GPU, 8 KV
// heads, head dims 128/128 (Llama 3 8B's GQA core at CP 2, seq 16384).
graph::Operator core(double fwd_flops) {
  graph::Operator op;
  op.kind = graph::OpKind::kAttention;
  op.attention = {1, 8192, 16384, 32, 8, 128, 128, true, graph::AttentionImpl::kFlash};
  op.fwd.flops = Flops(fwd_flops);
  op.fwd.bytes = Bytes(1e6);
  op.bwd_input.flops = Flops(2.0 * fwd_flops);
  op.bwd_input.bytes = Bytes(1e6);
  return op;
}

plan::Plan cp_plan(int tp, int cp) {
  plan::Plan p;
  p.tp = tp;
  p.cp = cp;
  p.dp = 1;
  p.seq_len = 16384;
  return p;
}

// DeepSeek-V2-Lite (27 MLA layers, 16 heads, qk 128 + 64, v 128,
// kv_lora_rank 512) at seq 8192, one sequence, CP 4: 2048 tokens per GPU.
plan::Plan v2_lite_cp4(graph::CpRing ring) {
  plan::Plan p = cp_plan(1, 4);
  p.seq_len = 8192;
  p.micro_batch = 1;
  p.global_batch = 1;
  p.cp_ring = ring;
  return p;
}

// The first operator called `name` (the first layer's), or null.
const graph::Operator* find_op(const graph::Graph& g, const std::string& name) {
  for (const graph::Block& b : g.blocks) {
    for (const graph::Operator& op : b.ops) {
      if (op.name == name) return &op;
    }
  }
  return nullptr;
}

}  // namespace

TEST_CASE("the KV ring: cp-1 steps of the chunk's K and V, hidden under one chunk's attention each",
          "[analytic][cp]") {
  // Default tables: scale-up 0.8 x 450 GB/s = 360 GB/s and 5 us per message;
  // scale-out 0.8 x 50 GB/s = 40 GB/s and 8 us.
  const cost::CostModel cost(testing::test_cluster({}, 4), calib::default_tables("test-gpu", "test"));
  // K and V of 8192 tokens x 8 heads x (128 + 128) x 2 B = 33,554,432 B per step.
  const double kv = 8192.0 * 8 * 256 * 2;
  const double up_step = 5e-6 + kv / 360e9;  // 98.21 us inside the node
  const double out_step = 8e-6 + kv / 40e9;  // 846.9 us across nodes
  // A light core (1 GFLOP forward): its time is the cost model's own (tested
  // elsewhere); the ring's exposed part is what a step exceeds 1/cp of it.
  const graph::Operator light = core(1e9);
  const Seconds t_f = cost.op_time(light, cost::Pass::kForward, {});
  const Seconds t_b = cost.op_time(light, cost::Pass::kBackwardInput, {});
  // CP 2, TP 1: one step inside the node. Forward exposed = step - t_f / 2;
  // backward moves K, V and dK, dV, twice the bytes: 2 x step - t_b / 2.
  const analytic::CpExchange two = analytic::cp_exchange(light, cp_plan(1, 2), cost, 8, t_f, t_b);
  CHECK(two.forward_total.value() == Approx(up_step));
  CHECK(two.backward_total.value() == Approx(2 * up_step));
  CHECK(two.forward.value() == Approx(up_step - t_f.value() / 2));
  CHECK(two.backward.value() == Approx(2 * up_step - t_b.value() / 2));
  // CP 4 with TP 4: 16 ranks > 8 per node, the ring crosses nodes: 3 steps at NIC speed.
  const analytic::CpExchange four = analytic::cp_exchange(light, cp_plan(4, 4), cost, 8, t_f, t_b);
  CHECK(four.forward_total.value() == Approx(3 * out_step));
  CHECK(four.forward.value() == Approx(3 * (out_step - t_f.value() / 4)));
  // A heavy core (1 PFLOP forward) hides every transfer: nothing exposed.
  const graph::Operator heavy = core(1e15);
  const Seconds h_f = cost.op_time(heavy, cost::Pass::kForward, {});
  const Seconds h_b = cost.op_time(heavy, cost::Pass::kBackwardInput, {});
  const analytic::CpExchange hidden = analytic::cp_exchange(heavy, cp_plan(1, 2), cost, 8, h_f, h_b);
  CHECK(hidden.forward.value() == 0);
  CHECK(hidden.backward.value() == 0);
  CHECK(hidden.forward_total.value() == Approx(up_step));
  // Under DualPipe the ring is charged whole: the paired chunk's computation,
  // not the core's own attention, is what hides it (with the all-to-alls on
  // the same links).
  plan::Plan dual = cp_plan(1, 2);
  dual.schedule = plan::Schedule::kDualPipe;
  const analytic::CpExchange paired = analytic::cp_exchange(heavy, dual, cost, 8, h_f, h_b);
  CHECK(paired.forward.value() == Approx(up_step));
  CHECK(paired.backward.value() == Approx(2 * up_step));
  // No CP, or not an attention core: nothing.
  CHECK(analytic::cp_exchange(light, cp_plan(1, 1), cost, 8, t_f, t_b).forward_total.value() == 0);
  graph::Operator gemm = light;
  gemm.kind = graph::OpKind::kGemm;
  CHECK(analytic::cp_exchange(gemm, cp_plan(1, 2), cost, 8, t_f, t_b).forward_total.value() == 0);
}

TEST_CASE("a CP step costs its exposed ring time in both engines", "[analytic][cp]") {
  // Llama-style toy (4 layers, 16 heads of 64, hidden 1024) at seq 16384 over
  // 2 nodes x 8 GPUs; CP 16 with TP 1 crosses the node boundary. A second
  // cluster with a 1000x faster NIC hides the ring; the step difference is
  // the ring's exposed time.
  // Collectives without per-step latency (calib::CollectiveLatency{}): the
  // engines bucket the data-parallel gradient reduction differently (one
  // collective per step against one per layer group), and on this 4 ms toy
  // step NCCL's ~150 us per cross-node all-reduce would blur the CP ring
  // comparison this test is about.
  const model::Model m = testing::toy_llama(4, 16, 16384);
  const cost::CostModel slow(testing::test_cluster({}, 2), calib::default_tables("test-gpu", "test"),
                             calib::CollectiveLatency{});
  const cost::CostModel fast(testing::test_cluster({.nic_gbps = 50000}, 2), calib::default_tables("test-gpu", "test"),
                             calib::CollectiveLatency{});
  plan::Plan p = cp_plan(1, 16);
  p.micro_batch = 1;
  p.global_batch = 1;
  const analytic::StepEstimate a = analytic::estimate_step(m, p, slow);
  const analytic::StepEstimate b = analytic::estimate_step(m, p, fast);
  REQUIRE(a.ranks.size() == 1);
  // The ring is reported on its own, counts as exposed communication, and is
  // what makes the slow-NIC step longer (compute is the same).
  CHECK(a.ranks[0].cp_comm.value() > 0);
  CHECK(a.breakdown.compute.value() == Approx(b.breakdown.compute.value()));
  // (The slow NIC also slows the gradient reduction over the 16 CP ranks, so
  // compare the exposed communication, which holds the ring alone.)
  const double ring = a.ranks[0].cp_comm.value() - b.ranks[0].cp_comm.value();
  CHECK(a.breakdown.exposed_comm.value() - b.breakdown.exposed_comm.value() == Approx(ring).epsilon(1e-9));
  bool noted = false;
  for (const auto& n : a.notes) noted = noted || n.find("CP 16") != std::string::npos;
  CHECK(noted);
  // The simulator charges the ring on its chunks too: its step grows by at
  // least the ring (plus its own gradient sync), and each simulated step
  // stays within 10% of the analytic one.
  const sim::SimReport sa = sim::simulate(m, p, slow, sim::SimulateOptions{});
  const sim::SimReport sb = sim::simulate(m, p, fast, sim::SimulateOptions{});
  CHECK(sa.step_time.value() - sb.step_time.value() >= 0.95 * ring);
  CHECK(sa.step_time.value() == Approx(a.step_time.value()).epsilon(0.10));
  CHECK(sb.step_time.value() == Approx(b.step_time.value()).epsilon(0.10));
}

TEST_CASE("context parallelism needs a fused attention kernel", "[analytic][cp]") {
  const model::Model m = testing::toy_llama(4, 16, 16384);
  plan::Plan p = cp_plan(1, 2);
  p.dp = 4;
  p.micro_batch = 1;
  p.global_batch = 4;
  p.attention = graph::AttentionImpl::kUnfused;
  hardware::Cluster c = testing::test_cluster({}, 1);
  c.accelerator.hbm_capacity = gigabytes(80);
  CHECK_THROWS_WITH(plan::validate_plan(p, m, c), Catch::Contains("cp 2 needs a fused attention kernel"));
  p.attention = graph::AttentionImpl::kFlash2;
  CHECK_NOTHROW(plan::validate_plan(p, m, c));
}

TEST_CASE("the KV ring's buffers count in the memory per GPU", "[analytic][cp]") {
  // Toy Llama (16 heads of 64, all of them KV heads) at seq 16384, CP 2:
  // 8192 tokens per GPU; one K+V chunk = 8192 x 16 x (64 + 64) x 2 B =
  // 33,554,432 B; four of them (attended, arriving, and their gradients in
  // backward) = 134,217,728 B over the plan without CP's buffers.
  const model::Model m = testing::toy_llama(4, 16, 16384);
  plan::Plan p = cp_plan(1, 2);
  p.micro_batch = 1;
  p.global_batch = 1;
  const Bytes with = plan::memory_per_gpu(p, m).communication_buffers;
  p.cp = 1;
  p.dp = 2;
  p.global_batch = 2;
  const Bytes without = plan::memory_per_gpu(p, m).communication_buffers;
  CHECK((with - without).value() == Approx(4.0 * 8192 * 16 * 128 * 2));
}

TEST_CASE("an MLA latent ring passes the compressed latent and up-projects every chunk", "[analytic][cp]") {
  const model::Model m = model::load_model("deepseek_v2_lite");
  plan::Plan p = v2_lite_cp4(graph::CpRing::kKeyValue);
  const graph::Graph kv_graph = plan::plan_graph(p, m, true);
  p.cp_ring = graph::CpRing::kLatent;
  const graph::Graph latent_graph = plan::plan_graph(p, m, true);
  const graph::Operator* core = find_op(latent_graph, "attn.core");
  const graph::Operator* up_kv = find_op(kv_graph, "attn.kv_b_proj");
  const graph::Operator* up_latent = find_op(latent_graph, "attn.kv_b_proj");
  REQUIRE(core != nullptr);
  REQUIRE(up_kv != nullptr);
  REQUIRE(up_latent != nullptr);
  // The core knows its latent: 512 + 64 = 576 values per token.
  CHECK(core->attention.latent_dim == 576);
  // Every GPU up-projects all 4 chunks: kv_b_proj over 8192 rows, not 2048,
  // so 4x the FLOPs (2 x 8192 x 512 x 16 x (128 + 128) forward).
  CHECK(up_kv->gemm.m == 2048);
  CHECK(up_latent->gemm.m == 8192);
  CHECK(up_latent->fwd.flops.value() == Approx(2.0 * 8192 * 512 * 16 * 256));
  // One ring step: latent 2048 x 576 x 2 B = 2,359,296 B, against the
  // up-projected 2048 x 16 x (192 + 128) x 2 B = 20,971,520 B (8.9x more).
  CHECK(plan::cp_ring_chunk_bytes(*core, p).value() == Approx(2048.0 * 576 * 2));
  p.cp_ring = graph::CpRing::kKeyValue;
  CHECK(plan::cp_ring_chunk_bytes(*core, p).value() == Approx(2048.0 * 16 * 320 * 2));
  // Names round-trip; a latent ring needs MLA.
  CHECK(plan::cp_ring_names() == std::vector<std::string>{"kv", "latent"});
  CHECK(plan::parse_cp_ring("latent") == graph::CpRing::kLatent);
  plan::Plan llama = cp_plan(1, 2);
  llama.cp_ring = graph::CpRing::kLatent;
  llama.micro_batch = 1;
  llama.global_batch = 4;
  llama.dp = 4;
  hardware::Cluster c = testing::test_cluster({}, 1);
  c.accelerator.hbm_capacity = gigabytes(80);
  CHECK_THROWS_WITH(plan::validate_plan(llama, testing::toy_llama(4, 16, 16384), c),
                    Catch::Contains("cp_ring \"latent\" needs multi-head latent attention"));
}

TEST_CASE("under CP a GPU keeps only its own chunk for backward, and a latent ring's extra work counts in HFU",
          "[analytic][cp]") {
  const model::Model m = model::load_model("deepseek_v2_lite");
  plan::Plan p = v2_lite_cp4(graph::CpRing::kLatent);
  const graph::Graph g = plan::plan_graph(p, m, true);
  const graph::Operator* core = find_op(g, "attn.core");
  const graph::Operator* up = find_op(g, "attn.kv_b_proj");
  REQUIRE(core != nullptr);
  REQUIRE(up != nullptr);
  // Attention saves Q (2048 x 16 x 192), O (2048 x 16 x 128), LSE (2048 x 16
  // FP32) and only its own K (2048 x 16 x 192) and V (2048 x 16 x 128), not
  // the whole sequence's: (2 x 2048 x 16 x 320) x 2 B + 2048 x 16 x 4 B.
  CHECK(core->activation_bytes_saved.value() == Approx(2.0 * 2048 * 16 * 320 * 2 + 2048.0 * 16 * 4));
  // kv_b_proj runs over all 8192 rows but keeps only its own 2048 x 512 latent.
  CHECK(up->gemm.m == 8192);
  CHECK(up->activation_bytes_saved.value() == Approx(2048.0 * 512 * 2));
  // Hardware FLOPs: each layer's up-projection 2 x 8192 x 512 x (16 x 256) =
  // 34,359,738,368 FLOP forward, x 3 with its two backward GEMMs, runs
  // cp - 1 = 3 more times, in 27 layers, for one micro-batch:
  // 34,359,738,368 x 3 x 3 x 27 = 8.349e12 FLOP more than the K/V ring.
  const cost::CostModel cost(testing::test_cluster({}, 1), calib::default_tables("test-gpu", "test"));
  const analytic::StepEstimate latent = analytic::estimate_step(m, p, cost);
  p.cp_ring = graph::CpRing::kKeyValue;
  const analytic::StepEstimate kv = analytic::estimate_step(m, p, cost);
  CHECK((latent.hardware_flops_per_step - kv.hardware_flops_per_step).value() ==
        Approx(34359738368.0 * 3 * 3 * 27));
  CHECK(latent.model_flops_per_step.value() == kv.model_flops_per_step.value());
}
