// The layout search: exactly which layouts of a small dense model are valid
// on one 8-GPU node, and why the others are not.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "calib/tables.h"
#include "core/error.h"
#include "hardware/hardware.h"
#include "model/model.h"
#include "planner/search.h"

using namespace trainsim;

namespace {

// A ~0.4B-parameter Llama-style model: 6 layers, 16 heads, 4 KV heads.
model::Model small_model() {
  const std::string json = R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 2048,
    "num_hidden_layers": 6, "num_attention_heads": 16, "num_key_value_heads": 4,
    "intermediate_size": 5632, "vocab_size": 32000, "max_position_embeddings": 4096})";
  return model::parse_model(json, "small.json", "small");
}

int64_t count_of(const planner::SearchResult& r, const std::string& reason) {
  for (const auto& x : r.rejected) {
    if (x.reason == reason) return x.count;
  }
  return 0;
}

}  // namespace

TEST_CASE("search on one 8-GPU node: the valid layouts by hand", "[planner]") {
  const model::Model m = small_model();
  const hardware::Cluster c = hardware::generic_cluster("h100-sxm", 8);  // one node, NVLink domain 8
  const run::AnalyticStepModel steps(m, c, calib::load_tables_for(c.accelerator));
  planner::SearchOptions o;
  o.seq_len = 1024;
  o.global_batch = 16;
  o.micro_batches = {1, 2, 4};
  o.only_bf16 = true;
  const planner::SearchResult r = planner::search_layouts(m, c, steps, o);

  // tp: divisors of the domain (8) dividing 8 GPUs: {1, 2, 4, 8}.
  CHECK(planner::tp_options(c, 1) == std::vector<int>{1, 2, 4, 8});
  // pp: divisors of 8 / tp up to 6 layers: tp 1 {1,2,4}, tp 2 {1,2,4}, tp 4 {1,2}, tp 8 {1}
  //   -> 9 (tp, pp) pairs. Schedules: pp 1 only 1f1b; pp > 1 also interleaved (vpp 2).
  //   (tp,pp,schedule) triples: tp1 1+2+2, tp2 1+2+2, tp4 1+2, tp8 1 = 14; x 3 micro-batches = 42.
  // Why rejected:
  //   tp 8: 4 KV heads not divisible by 8 -> 1 triple x 3 mb x 3 recompute = 9.
  CHECK(count_of(r, "heads not divisible by tp") == 9);
  //   interleaved: 6 layers are not divisible by pp x 2 (4 or 8); with one slot each
  //   for the embedding and the loss, 8 slots divide 4 stages (pp 2: 2 slots a stage,
  //   the first and last holding one layer) but not 8 stages with a layer each
  //   (pp 4: 1 slot a stage) -> the 2 pp-4 triples (tp 1, tp 2) x 3 mb x 3 = 18.
  CHECK(count_of(r, "layers not divisible by pp x vpp (interleaved)") == 18);
  //   tp 1 pp 1 (dp 8) micro-batch 4: 16 % 32 != 0 -> 1 x 3 recompute = 3.
  CHECK(count_of(r, "global batch not divisible by dp x micro-batch") == 3);
  //   interleaved tp 1 pp 2 (dp 4) micro-batch 4: 16 / (4 x 4) = 1 micro-batch,
  //   not divisible by pp 2 -> 1 x 3 recompute = 3.
  CHECK(count_of(r, "micro-batches not divisible by pp (interleaved)") == 3);
  CHECK(r.rejected.size() == 4);  // nothing else: the 0.4B model fits easily in 80 GB
  // Feasible: 1f1b triples 9 - 1 (tp 8) = 8, x 3 mb = 24, minus tp1 pp1 mb4 = 23;
  // interleaved pp 2 at tp 1 (mb 1, 2), tp 2 and tp 4 (mb 1, 2, 4) = 8; each with
  // recompute none at ZeRO-1; selective and full skipped as dominated: 2 x 31 = 62.
  CHECK(r.feasible.size() == 31);
  CHECK(r.dominated == 62);
  // Enumerated (validated): 31 feasible + 9 + 18 + 3 + 3 rejected = 64.
  CHECK(r.enumerated == 64);

  std::set<std::tuple<int, int, int64_t>> got;
  int interleaved = 0;
  for (const auto& cand : r.feasible) {
    if (cand.plan.schedule == plan::Schedule::kInterleaved1F1B) {
      ++interleaved;
      CHECK(cand.plan.pp == 2);
      CHECK(cand.plan.vpp == 2);
      continue;
    }
    CHECK(cand.plan.schedule == plan::Schedule::k1F1B);
    CHECK(cand.plan.recompute == plan::Recompute::kNone);
    CHECK(cand.plan.zero_stage == 1);
    CHECK(cand.precision == "bf16");
    CHECK(cand.plan.sequence_parallel == (cand.plan.tp > 1));
    CHECK(cand.plan.gpus() == 8);
    CHECK(cand.step.step_time.value() > 0);
    got.insert({cand.plan.tp, cand.plan.pp, cand.plan.micro_batch});
  }
  std::set<std::tuple<int, int, int64_t>> want;
  for (auto [tp, pp] : {std::pair{1, 1}, {1, 2}, {1, 4}, {2, 1}, {2, 2}, {2, 4}, {4, 1}, {4, 2}}) {
    for (int64_t mb : {1, 2, 4}) {
      if (tp == 1 && pp == 1 && mb == 4) continue;
      want.insert({tp, pp, mb});
    }
  }
  CHECK(got == want);
  CHECK(interleaved == 8);
  // Sorted by step time.
  for (size_t i = 1; i < r.feasible.size(); ++i) {
    CHECK(r.feasible[i - 1].step.step_time <= r.feasible[i].step.step_time);
  }
}

TEST_CASE("search: FP8 tried only where the chip has it", "[planner]") {
  planner::SearchOptions o;
  // H100: dense FP8 1979 TFLOP/s in its profile; A100: no FP8 rate.
  CHECK(planner::precision_options(hardware::load_accelerator("h100-sxm"), o) ==
        std::vector<std::string>{"bf16", "deepseek-fp8"});
  CHECK(planner::precision_options(hardware::load_accelerator("a100-sxm-80gb"), o) ==
        std::vector<std::string>{"bf16"});
  o.precisions = {"deepseek-fp8"};
  CHECK(planner::precision_options(hardware::load_accelerator("a100-sxm-80gb"), o).empty());
}

TEST_CASE("search under tight memory: lowest ZeRO stage that fits, rejections by memory", "[planner]") {
  const model::Model m = small_model();
  // Same node with 1.5 GB per GPU: ~0.4B parameters x 16 bytes (mixed-precision
  // Adam) = 6.7 GB un-sharded, 0.84 GB over 8 GPUs at ZeRO-3, so only sharded
  // layouts with few activations fit, and some fit nowhere.
  const hardware::Cluster c = hardware::generic_cluster("h100-sxm", 8, {{"h100-sxm.memory.capacity", "1.5 GB"}});
  const run::AnalyticStepModel steps(m, c, calib::load_tables_for(c.accelerator));
  planner::SearchOptions o;
  o.seq_len = 1024;
  o.global_batch = 16;
  o.only_bf16 = true;
  const planner::SearchResult r = planner::search_layouts(m, c, steps, o);
  REQUIRE(!r.feasible.empty());
  for (const auto& x : r.rejected) INFO(x.reason << " " << x.count);
  CHECK(count_of(r, "memory over HBM capacity (even at ZeRO-3)") > 0);
  for (const auto& cand : r.feasible) {
    CHECK(plan::memory_per_gpu(cand.plan, m).total() <= c.accelerator.hbm_capacity);
    if (cand.plan.zero_stage > 1) {
      // A lower stage of the same plan must be over capacity.
      plan::Plan lower = cand.plan;
      lower.zero_stage = cand.plan.zero_stage - 1;
      CHECK_THROWS_AS(plan::validate_plan(lower, m, c), PlanError);
    }
  }
}

TEST_CASE("rejection reasons are categorised", "[planner]") {
  CHECK(planner::rejection_reason("plan rejected: 32 attention heads are not divisible by tp 3") ==
        "heads not divisible by tp");
  CHECK(planner::rejection_reason("plan rejected: needs 90.1 GB per GPU on pipeline rank 0 but h800 has 80.0 GB") ==
        "memory over HBM capacity (even at ZeRO-3)");
  CHECK(planner::rejection_reason("plan rejected: something new") == "something new");
}

TEST_CASE("search candidates run the kernels and ring the options name", "[planner]") {
  // A re-plan (compare on another chip) must keep its scenario's attention
  // kernel, elementwise kernels and ZeRO-3 implementation, not the defaults.
  const model::Model m = small_model();
  const hardware::Cluster c = hardware::generic_cluster("h100-sxm", 8);
  const run::AnalyticStepModel steps(m, c, calib::load_tables_for(c.accelerator));
  planner::SearchOptions o;
  o.seq_len = 1024;
  o.global_batch = 16;
  o.micro_batches = {1};
  o.only_bf16 = true;
  o.attention = graph::AttentionImpl::kFlash2;
  o.elementwise = graph::ElementwiseImpl::kEager;
  const planner::SearchResult r = planner::search_layouts(m, c, steps, o);
  REQUIRE(!r.feasible.empty());
  for (const auto& cand : r.feasible) {
    CHECK(cand.plan.attention == graph::AttentionImpl::kFlash2);
    CHECK(cand.plan.elementwise == graph::ElementwiseImpl::kEager);
    CHECK(cand.plan.cp_ring == graph::CpRing::kKeyValue);
  }
}
