#include <catch2/catch.hpp>

#include <map>

#include "unit/fixtures.h"

#include "core/error.h"
#include "graph/graph.h"
#include "hardware/hardware.h"
#include "model/model.h"
#include "plan/plan.h"

using namespace trainsim;
using Catch::Matchers::Contains;

namespace {

plan::Plan deepseek_v3_plan() { return testing::deepseek_v3_plan(); }

// ZeRO paper's mixed-precision Adam: fp16 weights and gradients, fp32 master
// weights, momentum and variance (K = 12).
plan::PrecisionPolicy zero_paper_policy() {
  plan::PrecisionPolicy p = plan::bf16_policy();
  p.gradients = Precision::kBF16;
  p.master_weights = Precision::kFP32;
  p.optimizer_moments = Precision::kFP32;
  return p;
}

}  // namespace

TEST_CASE("schedule families: paired chunks, and the last backward as one chain", "[plan]") {
  // Each schedule by name: DualPipe and DualPipeV pair a forward and a
  // backward chunk (V3TR 3.2.1); GPipe, 1F1B and interleaved 1F1B run the last
  // micro-batch's backward rank pp-1 -> 0 with W inside B; ZB-H1 splits W off.
  const std::map<std::string, std::pair<bool, bool>> expected = {
      {"gpipe", {false, true}},  {"1f1b", {false, true}},      {"interleaved-1f1b", {false, true}},
      {"zb-h1", {false, false}}, {"dualpipe", {true, false}}, {"dualpipev", {true, false}}};
  REQUIRE(plan::schedule_names().size() == expected.size());
  for (const std::string& name : plan::schedule_names()) {
    INFO(name);
    const plan::Schedule s = plan::parse_schedule(name);
    CHECK(plan::overlapped(s) == expected.at(name).first);
    CHECK(plan::backward_chain(s) == expected.at(name).second);
  }
}

TEST_CASE("schedule and recompute words parse and reject typos", "[plan]") {
  for (const std::string& s : plan::schedule_names()) CHECK(plan::to_string(plan::parse_schedule(s)) == s);
  for (const std::string& s : plan::recompute_names()) CHECK(plan::to_string(plan::parse_recompute(s)) == s);
  CHECK(plan::parse_schedule("zero-bubble") == plan::Schedule::kZeroBubbleH1);
  CHECK(plan::parse_schedule("interleaved") == plan::Schedule::kInterleaved1F1B);
  CHECK_THROWS_AS(plan::parse_schedule("dualpip"), UsageError);
  CHECK_THROWS_WITH(plan::parse_schedule("dualpip"), Contains("did you mean \"dualpipe\""));
  CHECK_THROWS_WITH(plan::parse_recompute("ful"), Contains("unknown recompute policy") && Contains("full"));
  // Attention kernels: "flash", "flash2" and "unfused" round-trip; a typo gets a suggestion.
  CHECK(plan::attention_names() == std::vector<std::string>{"flash", "flash2", "unfused"});
  for (const std::string& s : plan::attention_names()) CHECK(graph::to_string(plan::parse_attention(s)) == s);
  CHECK_THROWS_WITH(plan::parse_attention("unfsued"), Contains("did you mean \"unfused\""));
  // Elementwise kernels: "fused" and "eager" likewise; fused is the plan default.
  CHECK(plan::elementwise_names() == std::vector<std::string>{"fused", "eager"});
  for (const std::string& s : plan::elementwise_names()) CHECK(graph::to_string(plan::parse_elementwise(s)) == s);
  CHECK_THROWS_WITH(plan::parse_elementwise("eagre"), Contains("did you mean \"eager\""));
  CHECK(plan::Plan{}.elementwise == graph::ElementwiseImpl::kFused);
  // ZeRO-3 by parameter tensor only at stage 3 with a framework file, not the FSDP default.
  plan::Plan z;
  CHECK(z.zero3_framework == plan::kFsdpZero3);
  z.zero_stage = 3;
  CHECK_FALSE(z.zero3_per_tensor());
  z.zero3_framework = "deepspeed-zero3-2021";
  CHECK(z.zero3_per_tensor());
  z.zero_stage = 1;
  CHECK_FALSE(z.zero3_per_tensor());
}

TEST_CASE("precision policies", "[plan]") {
  const plan::PrecisionPolicy d = plan::deepseek_fp8_policy();
  CHECK(d.linear_gemms == Precision::kFP8);
  CHECK(d.attention == Precision::kBF16);
  CHECK(d.embedding_head == Precision::kBF16);
  CHECK(d.master_weights == Precision::kFP32);
  CHECK(d.gradients == Precision::kFP32);
  CHECK(d.optimizer_moments == Precision::kBF16);
  CHECK(d.dispatch == Precision::kFP8);
  CHECK(d.combine == Precision::kBF16);
  CHECK(plan::bf16_policy().linear_gemms == Precision::kBF16);
}

TEST_CASE("ZeRO model states match the ZeRO paper's Figure 1", "[plan][zero]") {
  // Rajbhandari et al. (SC'20) Fig. 1: Psi = 7.5B, Nd = 64, K = 12.
  const double psi = 7.5e9;
  const auto pol = zero_paper_policy();
  auto total = [&](int stage) {
    const plan::ModelStateBytes s = plan::zero_model_states(psi, 64, stage, pol);
    return in_gigabytes(s.weights + s.gradients + s.optimizer_states);
  };
  // Stage 0: (2 + 2 + 12) Psi = 16 * 7.5e9 = 120 GB.
  CHECK(total(0) == Approx(120.0));
  // Stage 1 (P_os): 2Psi + 2Psi + 12Psi/64 = 15 + 15 + 1.40625 = 31.40625 GB ("31.4 GB").
  CHECK(total(1) == Approx(31.40625));
  // Stage 2 (P_os+g): 2Psi + 14Psi/64 = 15 + 1.640625 = 16.640625 GB ("16.6 GB").
  CHECK(total(2) == Approx(16.640625));
  // Stage 3 (P_os+g+p): 16Psi/64 = 1.875 GB ("1.9 GB").
  CHECK(total(3) == Approx(1.875));
  // DeepSeek policy, ZeRO-1: BF16 weights 2, FP32 gradients 4, optimizer
  // FP32 master + BF16 moments = 4 + 2 + 2 = 8 bytes over Nd.
  const plan::ModelStateBytes ds = plan::zero_model_states(1e9, 4, 1, plan::deepseek_fp8_policy());
  CHECK(in_gigabytes(ds.weights) == Approx(2.0));
  CHECK(in_gigabytes(ds.gradients) == Approx(4.0));
  CHECK(in_gigabytes(ds.optimizer_states) == Approx(2.0));  // 8 GB / 4
}

TEST_CASE("stage layout: even, uneven with embedding/head slots, DualPipe pairs", "[plan][layout]") {
  model::Model m;
  m.layers = 32;
  plan::Plan p;
  p.pp = 4;
  // 32 / 4 = 8 each.
  plan::StageLayout l = plan::stage_layout(p, m);
  CHECK(l.layers_per_stage == std::vector<int64_t>{8, 8, 8, 8});
  CHECK(l.first_layer == std::vector<int64_t>{0, 8, 16, 24});
  // 10 layers over 4 stages: 10 + embedding + head = 12 slots, 3 each; the
  // first stage loses one to the embedding, the last one to the head: 2,3,3,2.
  m.layers = 10;
  l = plan::stage_layout(p, m);
  CHECK(l.layers_per_stage == std::vector<int64_t>{2, 3, 3, 2});
  // DeepSeek-V3: 61 layers + embedding + head + 1 MTP = 64 slots, 4 per stage
  // over 16: stage 0 = 3 layers (+ embedding), stage 15 = 2 (+ head + MTP).
  const model::Model ds = model::load_model("deepseek_v3");
  const plan::Plan dp = deepseek_v3_plan();
  l = plan::stage_layout(dp, ds);
  REQUIRE(l.stages() == 16);
  CHECK(l.layers_per_stage.front() == 3);
  CHECK(l.layers_per_stage.back() == 2);
  CHECK(l.layers_per_stage[7] == 4);
  int64_t sum = 0;
  for (int64_t n : l.layers_per_stage) sum += n;
  CHECK(sum == 61);
  // DualPipe: rank 0 holds stages 0 and 15, rank 7 holds 7 and 8, two copies.
  CHECK(l.stages_of_rank[0] == std::vector<int>{0, 15});
  CHECK(l.stages_of_rank[7] == std::vector<int>{7, 8});
  CHECK(l.copies == 2);
  // Stage 0 of DeepSeek-V3: the first 3 layers are dense (first_k_dense = 3).
  const plan::StageContent c0 = plan::stage_content(l, 0, ds);
  CHECK(c0.dense_layers == 3);
  CHECK(c0.moe_layers == 0);
  CHECK(c0.embedding);
  const plan::StageContent c15 = plan::stage_content(l, 15, ds);
  CHECK(c15.moe_layers == 2);
  CHECK(c15.head);
  CHECK(c15.mtp);
  // Interleaved pp 4, vpp 2: rank 1 holds stages 1 and 5.
  p.schedule = plan::Schedule::kInterleaved1F1B;
  p.vpp = 2;
  m.layers = 32;
  l = plan::stage_layout(p, m);
  CHECK(l.stages() == 8);
  CHECK(l.stages_of_rank[1] == std::vector<int>{1, 5});
}

TEST_CASE("in-flight activation chunks by schedule", "[plan][memory]") {
  model::Model m;
  m.layers = 32;
  plan::Plan p;
  p.pp = 4;
  p.dp = 1;
  p.global_batch = 8;  // m = 8 micro-batches
  auto count = [&](int rank) {
    const plan::StageLayout l = plan::stage_layout(p, m);
    int64_t n = 0;
    for (int64_t k : plan::inflight_per_stage(p, l, rank)) n += k;
    return n;
  };
  // GPipe: all 8 forwards before the first backward.
  p.schedule = plan::Schedule::kGpipe;
  CHECK(count(0) == 8);
  // 1F1B: pp - rank: 4 on rank 0, 1 on rank 3 (Narayanan et al. §2.2).
  p.schedule = plan::Schedule::k1F1B;
  CHECK(count(0) == 4);
  CHECK(count(3) == 1);
  p.schedule = plan::Schedule::kZeroBubbleH1;
  CHECK(count(0) == 4);
  // Interleaved p = 4, v = 2: (4-0-1)*2 + (2-1)*4 + 1 = 11 = pv + p - 1 chunks.
  p.schedule = plan::Schedule::kInterleaved1F1B;
  p.vpp = 2;
  CHECK(count(0) == 11);
  // rank 3: 0*2 + 4 + 1 = 5.
  CHECK(count(3) == 5);
  // DualPipe pp 16, m = 120: PP + 1 = 17 on every rank; rank 0 splits it
  // 16 (stage 0) + 1 (stage 15), rank 7 splits 9 (stage 7) + 8 (stage 8).
  const model::Model ds = model::load_model("deepseek_v3");
  const plan::Plan dp = deepseek_v3_plan();
  const plan::StageLayout l = plan::stage_layout(dp, ds);
  CHECK(plan::inflight_per_stage(dp, l, 0) == std::vector<int64_t>{16, 1});
  CHECK(plan::inflight_per_stage(dp, l, 7) == std::vector<int64_t>{9, 8});
  // Rank 15 holds stages {15, 0}: 1 of stage 15, 16 of stage 0 (h = 0).
  CHECK(plan::inflight_per_stage(dp, l, 15) == std::vector<int64_t>{1, 16});
}

TEST_CASE("recompute rules on a hand-built layer", "[plan][recompute]") {
  // One layer: norm (saves 100 B), a GEMM (50 B), an attention core of
  // batch 1, 4 queries and keys, 1 head, qk dim 2, v dim 2, saving Q K V O
  // LSE = 16 + 16 + 16 + 16 + 16 = 80 B, an MLA up-projection marker, the
  // o_proj GEMM (16 B), an activation (40 B) and the down GEMM (20 B).
  graph::Block b;
  b.kind = graph::BlockKind::kDenseLayer;
  auto op = [](graph::OpKind k, graph::RecomputeClass rc, double saved) {
    graph::Operator o;
    o.kind = k;
    o.recompute_class = rc;
    o.activation_bytes_saved = Bytes(saved);
    return o;
  };
  b.ops.push_back(op(graph::OpKind::kNorm, graph::RecomputeClass::kNorm, 100));
  b.ops.push_back(op(graph::OpKind::kGemm, graph::RecomputeClass::kMlaUpProj, 50));
  graph::Operator att = op(graph::OpKind::kAttention, graph::RecomputeClass::kAttentionCore, 80);
  att.attention = {1, 4, 4, 1, 1, 2, 2, true};  // Q = K = V = O = 4*2*2 B = 16 B; LSE = 4*4 B = 16 B
  b.ops.push_back(att);
  b.ops.push_back(op(graph::OpKind::kGemm, graph::RecomputeClass::kNone, 16));
  b.ops.push_back(op(graph::OpKind::kActivation, graph::RecomputeClass::kActivation, 40));
  b.ops.push_back(op(graph::OpKind::kGemm, graph::RecomputeClass::kNone, 20));
  model::Model m;
  m.hidden = 3;
  plan::Plan p;
  p.micro_batch = 1;
  p.seq_len = 4;
  // none: 100 + 50 + (80 - 16 for O, counted on o_proj) + 16 + 40 + 20 = 290.
  plan::BlockActivations a = plan::block_activations(b, plan::Recompute::kNone, p, m);
  CHECK(a.kept.value() == Approx(290));
  CHECK(a.dropped.value() == Approx(0));
  // selective: the core's LSE (16 B) freed: 274 kept.
  a = plan::block_activations(b, plan::Recompute::kSelective, p, m);
  CHECK(a.kept.value() == Approx(274));
  CHECK(a.dropped.value() == Approx(16));
  // deepseek: norm 100, Q K V 48, the down GEMM's input 20 (SwiGLU output)
  // freed = 168; kept 290 - 168 = 122.
  a = plan::block_activations(b, plan::Recompute::kDeepSeek, p, m);
  CHECK(a.dropped.value() == Approx(168));
  CHECK(a.kept.value() == Approx(122));
  // full: only the layer input, 4 tokens x hidden 3 x 2 B = 24 B; 290 - 24 freed.
  a = plan::block_activations(b, plan::Recompute::kFull, p, m);
  CHECK(a.kept.value() == Approx(24));
  CHECK(a.dropped.value() == Approx(266));
}

TEST_CASE("memory of a data-parallel dense model follows ZeRO", "[plan][memory]") {
  const model::Model m = model::load_model("llama3_8b");
  plan::Plan p;
  p.dp = 64;
  p.global_batch = 64;
  p.seq_len = 1024;
  p.zero_stage = 1;
  p.precision = zero_paper_policy();
  const plan::MemoryBreakdown mem = plan::memory_per_gpu(p, m);
  const double psi = static_cast<double>(mem.params_on_gpu);
  // The GPU holds every parameter (no TP/PP), the graph's count = count_params' total within 0.1%.
  CHECK(psi == Approx(static_cast<double>(model::count_params(m).total)).epsilon(1e-3));
  // ZeRO-1: 2 Psi + 2 Psi + 12 Psi / 64.
  CHECK(mem.weights.value() == Approx(2 * psi));
  CHECK(mem.gradients.value() == Approx(2 * psi));
  CHECK(mem.optimizer_states.value() == Approx(12 * psi / 64));
  // 1F1B without PP: one micro-batch in flight; no pipeline or EP buffers.
  CHECK(mem.inflight_micro_batches == 1);
  CHECK(mem.communication_buffers.value() == 0);
  CHECK(mem.activations.value() == Approx(mem.activations_per_micro_batch.value()));
}

TEST_CASE("DeepSeek-V3 memory: expert states sharded over EP, DualPipe's two copies", "[plan][memory]") {
  const model::Model m = model::load_model("deepseek_v3");
  const plan::Plan p = deepseek_v3_plan();
  const plan::StageLayout l = plan::stage_layout(p, m);
  // Rank 7 holds stages 7 and 8: 8 MoE layers. Experts per GPU per layer =
  // 256 / 64 = 4, each 3 x 7168 x 2048 = 44,040,192 -> 8 x 4 x 44,040,192.
  const plan::RankParams rp = plan::rank_params(p, m, l, 7);
  CHECK(rp.expert_on_gpu == 8LL * 4 * 44040192);
  // Holders = 2 copies x 128 DP = 256; expert replicas = 256 / 64 = 4;
  // non-expert replicas = 256.
  CHECK(rp.expert_replicas == Approx(4));
  CHECK(rp.dense_replicas == Approx(256));
  const std::vector<plan::MemoryBreakdown> ranks = plan::memory_per_rank(p, m);
  REQUIRE(ranks.size() == 16);
  const plan::MemoryBreakdown& r7 = ranks[7];
  const double ps = static_cast<double>(rp.dense_on_gpu + rp.expert_on_gpu);
  // BF16 weights and FP32 gradients for everything held; optimizer 8 B over the replicas.
  CHECK(r7.weights.value() == Approx(2 * ps));
  CHECK(r7.gradients.value() == Approx(4 * ps));
  CHECK(r7.optimizer_states.value() ==
        Approx(8.0 * rp.dense_on_gpu / 256 + 8.0 * rp.expert_on_gpu / 4));
  CHECK(r7.inflight_micro_batches == 17);  // PP + 1
  for (const plan::MemoryBreakdown& r : ranks) CHECK(in_gigabytes(r.total()) < 80.0);
}

TEST_CASE("plans that cannot run are rejected with the reason and the numbers", "[plan][validate]") {
  const model::Model llama = model::load_model("llama3_8b");  // 32 layers, 32 heads, 8 kv heads
  const hardware::Cluster c64 = hardware::generic_cluster("h100-sxm", 64);
  plan::Plan p;
  p.tp = 1;
  p.pp = 1;
  p.dp = 64;
  p.global_batch = 512;
  p.seq_len = 2048;
  p.zero_stage = 1;
  REQUIRE_NOTHROW(plan::validate_plan(p, llama, c64));

  SECTION("degrees not multiplying to the GPUs") {
    p.tp = 2;
    p.pp = 2;
    p.dp = 8;  // 2 x 2 x 8 x 1 = 32
    CHECK_THROWS_AS(plan::validate_plan(p, llama, c64), PlanError);
    CHECK_THROWS_WITH(plan::validate_plan(p, llama, c64), Contains("2 x 2 x 8 x 1 = 32 GPUs") && Contains("has 64"));
  }
  SECTION("kv heads not divisible by tp") {
    p.tp = 16;
    p.dp = 4;
    CHECK_THROWS_WITH(plan::validate_plan(p, llama, c64), Contains("8 key/value heads are not divisible by tp 16"));
  }
  SECTION("multi-query attention's one key/value head is replicated over tp") {
    model::Model mqa = llama;
    mqa.kv_heads = 1;
    p.tp = 8;
    p.dp = 8;
    CHECK_NOTHROW(plan::validate_plan(p, mqa, c64));
  }
  SECTION("global batch not divisible by dp x micro_batch") {
    p.global_batch = 100;
    CHECK_THROWS_WITH(plan::validate_plan(p, llama, c64),
                      Contains("global batch 100") && Contains("64 x 1 = 64"));
  }
  SECTION("interleaved: layers over pp x vpp") {
    p.pp = 4;
    p.dp = 16;
    p.vpp = 3;
    p.schedule = plan::Schedule::kInterleaved1F1B;
    CHECK_THROWS_WITH(plan::validate_plan(p, llama, c64), Contains("32 layers, 4 x 3 = 12 stages"));
  }
  SECTION("interleaved: micro-batches divisible by pp") {
    p.pp = 4;
    p.dp = 16;
    p.vpp = 2;
    p.global_batch = 96;  // 96 / 16 = 6 micro-batches, 6 % 4 != 0
    p.schedule = plan::Schedule::kInterleaved1F1B;
    CHECK_THROWS_WITH(plan::validate_plan(p, llama, c64), Contains("6 micro-batches") && Contains("pp 4"));
  }
  SECTION("vpp without the interleaved schedule") {
    p.vpp = 2;
    CHECK_THROWS_WITH(plan::validate_plan(p, llama, c64), Contains("vpp 2 needs the interleaved-1f1b schedule"));
  }
  SECTION("DualPipe: too few micro-batches") {
    p.pp = 4;
    p.dp = 16;
    p.global_batch = 96;  // 6 micro-batches < 2 x 4
    p.schedule = plan::Schedule::kDualPipe;
    CHECK_THROWS_WITH(plan::validate_plan(p, llama, c64), Contains("6 micro-batches") && Contains("pp 4"));
  }
  SECTION("DualPipe: odd pp") {
    const hardware::Cluster c24 = hardware::generic_cluster("h100-sxm", 24);
    p.pp = 3;
    p.dp = 8;
    p.global_batch = 64;
    p.schedule = plan::Schedule::kDualPipe;
    CHECK_THROWS_WITH(plan::validate_plan(p, llama, c24), Contains("even number of pipeline stages (pp is 3"));
  }
  SECTION("more stages than layers") {
    p.pp = 64;
    p.dp = 1;
    p.global_batch = 64;
    CHECK_THROWS_WITH(plan::validate_plan(p, llama, c64), Contains("32 layers cannot fill 64 pipeline stages"));
  }
  SECTION("expert parallelism on a dense model") {
    p.ep = 8;
    CHECK_THROWS_WITH(plan::validate_plan(p, llama, c64), Contains("has no routed experts"));
  }
  SECTION("FP8 on a part without FP8") {
    const hardware::Cluster a100 = hardware::generic_cluster("a100-sxm-80gb", 64);
    p.precision = plan::deepseek_fp8_policy();
    CHECK_THROWS_WITH(plan::validate_plan(p, llama, a100), Contains("FP8 GEMMs") && Contains("a100-sxm-80gb"));
  }
  SECTION("memory over capacity, with the breakdown") {
    const hardware::Cluster c8 = hardware::generic_cluster("h100-sxm", 8);
    const model::Model big = model::load_model("llama3_70b");
    p.dp = 8;
    p.zero_stage = 0;  // ~70.6B x 16 B = ~1.1 TB per GPU
    p.global_batch = 8;
    CHECK_THROWS_WITH(plan::validate_plan(p, big, c8),
                      Contains("per GPU on pipeline rank 0") && Contains("weights 141") && Contains("optimizer states"));
  }
}

TEST_CASE("expert plans: divisibility of experts and of the data-parallel group", "[plan][validate]") {
  const model::Model mixtral = model::load_model("mixtral_8x7b");  // 8 experts
  const hardware::Cluster c64 = hardware::generic_cluster("h100-sxm", 64);
  plan::Plan p;
  p.tp = 4;
  p.pp = 1;
  p.dp = 16;
  p.ep = 16;
  p.global_batch = 64;
  p.seq_len = 1024;
  p.zero_stage = 3;
  CHECK_THROWS_WITH(plan::validate_plan(p, mixtral, c64), Contains("8 routed experts are not divisible by ep 16"));
  const model::Model lite = model::load_model("deepseek_v2_lite");  // 64 experts, 16 heads
  p.tp = 1;
  p.pp = 4;
  p.dp = 16;
  p.ep = 32;  // 32 does not divide dp x cp x tp = 16
  CHECK_THROWS_WITH(plan::validate_plan(p, lite, c64),
                    Contains("ep 32 must divide dp x cp x tp = 16 x 1 x 1 = 16"));
}

TEST_CASE("selective recompute frees the unfused core's 5as^2b and keeps Q, K, V", "[plan][recompute][attention]") {
  // GPT-3 175B at seq 2048, one sequence, TP 8 (12 heads per GPU): the
  // score-sized tensors are P (2 B), the dropout mask (1 B) and P' (2 B) per
  // element, 5 x 12 x 2048^2 = 251,658,240 B (Korthikanti §4.1 and §5: the
  // 5as^2b term selective recompute removes, a = 12 heads on this GPU).
  const model::Model m = model::load_model("gpt3_175b");
  plan::Plan p;
  p.tp = 8;
  p.global_batch = 1;
  p.seq_len = 2048;
  p.attention = graph::AttentionImpl::kUnfused;
  const graph::Graph g = plan::plan_graph(p, m, true);
  const graph::Block* layer = nullptr;
  for (const graph::Block& b : g.blocks) {
    if (b.kind == graph::BlockKind::kDenseLayer) layer = &b;
  }
  REQUIRE(layer != nullptr);
  const plan::BlockActivations none = plan::block_activations(*layer, plan::Recompute::kNone, p, m);
  const plan::BlockActivations sel = plan::block_activations(*layer, plan::Recompute::kSelective, p, m);
  CHECK(none.dropped.value() == 0);
  CHECK(sel.dropped.value() == Approx(251658240.0));
  CHECK((none.kept - sel.kept).value() == Approx(251658240.0));
  // Selective recompute re-runs the four core kernels in backward.
  int recomputed = 0;
  for (const graph::Operator& op : layer->ops) recomputed += plan::is_recomputed(op, *layer, plan::Recompute::kSelective);
  CHECK(recomputed == 4);
  // FP8 linear layers leave the core's batched GEMMs in BF16.
  p.precision.linear_gemms = Precision::kFP8;
  const graph::Graph g8 = plan::plan_graph(p, m, true);
  for (const graph::Block& b : g8.blocks) {
    for (const graph::Operator& op : b.ops) {
      if (op.name == "attn.scores" || op.name == "attn.context") CHECK(op.precision == Precision::kBF16);
      if (op.name == "attn.qkv_proj") CHECK(op.precision == Precision::kFP8);
    }
  }
}

TEST_CASE("torchtitan's selective modes: every second matmul of a layer, or every second layer", "[plan][recompute]") {
  // Llama toy: 8 heads and 8 KV heads of 64 (q, k, v 512 wide each), hidden
  // 512, FFN 2048. torchtitan counts aten.mm calls per block: q 1, k 2, v 3,
  // o 4, gate (w1) 5, up (w3) 6, down (w2) 7; even counts are recomputed:
  // qkv 512 of 1536 = 1/3, o 1, up_gate 2048 of 4096 = 1/2, down 0. Every
  // non-matmul op is recomputed; the attention kernel is saved.
  const model::Model m = testing::toy_llama(2);
  const graph::Graph g = graph::build_graph(m, 1024, 1);
  const graph::Block* layer = nullptr;
  const graph::Block* head = nullptr;
  for (const graph::Block& b : g.blocks) {
    if (b.kind == graph::BlockKind::kDenseLayer) layer = &b;
    if (b.kind == graph::BlockKind::kHead) head = &b;
  }
  REQUIRE(layer != nullptr);
  REQUIRE(head != nullptr);
  auto frac = [&](const std::string& name, plan::Recompute r) {
    for (const graph::Operator& op : layer->ops) {
      if (op.name == name) return plan::recompute_fraction(op, *layer, r);
    }
    FAIL("no operator " << name);
    return -1.0;
  };
  const auto op = plan::Recompute::kSelectiveOp;
  CHECK(frac("attn.qkv_proj", op) == Approx(1.0 / 3.0));
  CHECK(frac("attn.o_proj", op) == 1.0);
  CHECK(frac("ffn.up_gate", op) == Approx(0.5));
  CHECK(frac("ffn.down", op) == 0.0);
  CHECK(frac("attn.core", op) == 0.0);
  CHECK(frac("attn.norm", op) == 1.0);
  CHECK(frac("ffn.act", op) == 1.0);
  CHECK(frac("attn.rope", op) == 1.0);
  // Outside transformer layers nothing is recomputed.
  for (const graph::Operator& o : head->ops) CHECK(plan::recompute_fraction(o, *head, op) == 0.0);
  // every-other-layer: half of every layer operator, none of the head.
  CHECK(frac("attn.qkv_proj", plan::Recompute::kEveryOtherLayer) == 0.5);
  CHECK(frac("attn.core", plan::Recompute::kEveryOtherLayer) == 0.5);
  for (const graph::Operator& o : head->ops) {
    CHECK(plan::recompute_fraction(o, *head, plan::Recompute::kEveryOtherLayer) == 0.0);
  }
  // Memory: every-other-layer frees half of what full recompute frees.
  plan::Plan p;
  p.global_batch = 1;
  p.seq_len = 1024;
  const plan::BlockActivations full = plan::block_activations(*layer, plan::Recompute::kFull, p, m);
  const plan::BlockActivations half = plan::block_activations(*layer, plan::Recompute::kEveryOtherLayer, p, m);
  CHECK(half.dropped.value() == Approx(full.dropped.value() / 2));
  CHECK((half.kept + half.dropped).value() == Approx((full.kept + full.dropped).value()));
  // selective-op frees less than full and more than nothing.
  const plan::BlockActivations sop = plan::block_activations(*layer, op, p, m);
  CHECK(sop.dropped.value() > 0);
  CHECK(sop.dropped.value() < full.dropped.value());
  // The words parse and print.
  CHECK(plan::parse_recompute("selective-op") == op);
  CHECK(std::string(plan::to_string(plan::Recompute::kEveryOtherLayer)) == "every-other-layer");
}

TEST_CASE("interleaved 1F1B over layers plus the embedding and loss slots", "[plan][layout]") {
  const hardware::Cluster c = hardware::generic_cluster("h100-sxm", 8);
  plan::Plan p;
  p.pp = 4;
  p.vpp = 2;
  p.dp = 2;
  p.global_batch = 16;  // 8 micro-batches per replica, divisible by pp 4
  p.seq_len = 1024;
  p.schedule = plan::Schedule::kInterleaved1F1B;
  // 14 layers over 4 x 2 = 8 stages: 14 % 8 != 0, but 14 + 2 slots = 16 = 2 a
  // stage: the first stage holds the embedding and 1 layer, the last 1 layer
  // and the loss, the six between 2 layers each (as Llama 3's 126 layers, 128
  // slots over 16 stages, Dubey et al. 2024 §3.3.2).
  const model::Model m14 = testing::toy_llama(14);
  REQUIRE_NOTHROW(plan::validate_plan(p, m14, c));
  const plan::StageLayout l = plan::stage_layout(p, m14);
  CHECK(l.layers_per_stage == std::vector<int64_t>{1, 2, 2, 2, 2, 2, 2, 1});
  // 6 layers: 8 slots over 8 stages leave the first and last stage no layer.
  const model::Model m6 = testing::toy_llama(6);
  CHECK_THROWS_WITH(plan::validate_plan(p, m6, c),
                    Contains("6 layers, 4 x 2 = 8 stages") && Contains("8 layer slots") && Contains("at least 2"));
}
