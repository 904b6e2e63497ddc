#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "calib/tables.h"
#include "cost/cost_model.h"
#include "hardware/hardware.h"
#include "model/model.h"
#include "run/scenario.h"
#include "sim/simulator.h"
#include "sim/trace.h"

using namespace trainsim;

namespace {
// Llama-3 8B on `gpus` generic H100 SXMs with their calibrated tables, and
// its plan: BF16, full recompute, micro-batch 1 (degrees 1, ZeRO 0).
struct Llama8b {
  model::Model m = model::load_model("llama3_8b");
  hardware::Cluster c;
  cost::CostModel cost;
  explicit Llama8b(int gpus)
      : c(hardware::generic_cluster("h100-sxm", gpus)), cost(c, calib::load_tables_for(c.accelerator)) {}
  static plan::Plan plan(int64_t global_batch, int64_t seq_len) {
    plan::Plan p;
    p.micro_batch = 1;
    p.global_batch = global_batch;
    p.seq_len = seq_len;
    p.precision = plan::bf16_policy();
    p.recompute = plan::Recompute::kFull;
    return p;
  }
};

plan::Plan pretraining_plan(const run::Scenario& s) {
  for (const auto& p : s.phases) {
    if (p.kind == run::PhaseKind::kPretraining) return run::phase_plan(s, p);
  }
  return run::phase_plan(s, s.phases.front());
}
}  // namespace

TEST_CASE("DeepSeek-V3 trace is Chrome JSON whose last event ends at the step time", "[sim]") {
  const run::Scenario s = run::load_scenario("deepseek-v3");
  const plan::Plan p = pretraining_plan(s);
  const cost::CostModel cost(s.cluster, calib::load_tables_for(s.cluster.accelerator));
  sim::SimulateOptions o;
  o.trace = true;
  const sim::SimReport r = sim::simulate(s.model, p, cost, o);
  const auto j = nlohmann::json::parse(sim::chrome_trace_json(r.out, r.devices));
  REQUIRE(j.contains("traceEvents"));
  double end_us = 0;
  size_t complete = 0;
  for (const auto& e : j["traceEvents"]) {
    if (e["ph"] == "X") {
      ++complete;
      end_us = std::max(end_us, e["ts"].get<double>() + e["dur"].get<double>());
    }
  }
  CHECK(complete > 1000);
  // Timestamps are printed to the picosecond in microseconds, so the end is
  // the step time to double precision.
  CHECK(end_us * 1e-6 == Approx(r.step_time.value()).epsilon(1e-12));
  // 16 pipeline ranks of one replica; 120 micro-batches (15360 / 128).
  CHECK(r.out.gpus.size() == 16);
  CHECK(r.micro_batches == 120);
  // Every component is finite and adds up per rank.
  for (const auto& g : r.out.gpus) CHECK(g.compute + g.exposed_comm + g.idle == r.out.step);
  // Where the simulator and the analytic estimate differ, the comparison says why.
  for (const auto& c : r.comparison) {
    if (std::abs(c.simulated.value() - c.analytic.value()) > 0.01 * r.step_time.value()) CHECK(!c.why.empty());
  }
}

TEST_CASE("DeepSeek-V3 replica and all-ranks agree when the expert load is the plan's", "[sim][.slow]") {
  const run::Scenario s = run::load_scenario("deepseek-v3");
  const plan::Plan p = pretraining_plan(s);
  const cost::CostModel cost(s.cluster, calib::load_tables_for(s.cluster.accelerator));
  sim::SimulateOptions o;
  const sim::SimReport a = sim::simulate(s.model, p, cost, o);
  o.workload.all_ranks = true;
  // Symmetric network: every replica is the representative one, exactly.
  o.workload.network = sim::NetworkModel::kSymmetric;
  const sim::SimReport b = sim::simulate(s.model, p, cost, o);
  CHECK(b.out.gpus.size() == 2048);
  CHECK(a.out.step == b.out.step);
  // Node pairs (the default for every rank) moves the same bytes; it differs
  // in how pipeline sends share a NIC with seven pair flows instead of one
  // exchange, and in starting a group's flows together. Measured 0.4%
  // shorter; checked loosely.
  o.workload.network = sim::NetworkModel::kAuto;
  const sim::SimReport c = sim::simulate(s.model, p, cost, o);
  CHECK(std::abs(c.step_time.value() - a.step_time.value()) < 0.02 * a.step_time.value());
}

TEST_CASE("sampled expert load is seeded and deterministic", "[sim]") {
  const run::Scenario s = run::load_scenario("deepseek-v3");
  const plan::Plan p = pretraining_plan(s);
  const cost::CostModel cost(s.cluster, calib::load_tables_for(s.cluster.accelerator));
  sim::SimulateOptions o;
  o.workload.load = sim::LoadModel::kSampled;
  o.workload.seed = 7;
  const sim::SimReport a = sim::simulate(s.model, p, cost, o);
  const sim::SimReport b = sim::simulate(s.model, p, cost, o);
  CHECK(a.out.step == b.out.step);
  o.workload.seed = 8;
  const sim::SimReport c = sim::simulate(s.model, p, cost, o);
  CHECK(c.out.step != a.out.step);
}

TEST_CASE("on a dense plan without overlap the simulator and the analytic estimate agree within 5%", "[sim]") {
  // Llama-3 8B, 1F1B over 4 stages, 16 micro-batches of one 4K sequence, no
  // TP/EP: both sum the same operator times; they differ only in how the
  // bubble and the pipeline sends are counted (executed vs closed form).
  const model::Model m = model::load_model("llama3_8b");
  const hardware::Cluster c = hardware::generic_cluster("h100-sxm", 8);
  const cost::CostModel cost(c, calib::load_tables_for(c.accelerator));
  for (auto sched : {plan::Schedule::k1F1B, plan::Schedule::kGpipe}) {
    plan::Plan p;
    p.pp = 4;
    p.dp = 2;
    p.micro_batch = 1;
    p.global_batch = 32;
    p.seq_len = 4096;
    p.schedule = sched;
    p.precision = plan::bf16_policy();
    const sim::SimReport r = sim::simulate(m, p, cost, sim::SimulateOptions{});
    const double a = r.analytic.step_time.value();
    const double sv = r.step_time.value();
    INFO("simulated " << sv << " s, analytic " << a << " s");
    CHECK(std::abs(sv - a) / a < 0.05);
  }
}

TEST_CASE("a DP reduction after the forward-backward costs the simulator what it costs the analytic estimate",
          "[sim]") {
  // Llama-3 8B, pure data parallelism over two nodes: with the reduction
  // overlapping the last backward most of it hides; issued after the whole
  // forward-backward all of it shows. Both engines add about the same time.
  // One DP bucket per layer (merge_layers off), so buckets can overlap the
  // backward at all in the simulator.
  const Llama8b l(16);
  const model::Model& m = l.m;
  const cost::CostModel& cost = l.cost;
  plan::Plan p = Llama8b::plan(32, 4096);
  p.dp = 16;
  p.zero_stage = 1;
  sim::SimulateOptions o;
  o.workload.merge_layers = false;
  p.overlap_grad_reduce = true;
  const sim::SimReport on = sim::simulate(m, p, cost, o);
  p.overlap_grad_reduce = false;
  const sim::SimReport off = sim::simulate(m, p, cost, o);
  const double sim_added = off.step_time.value() - on.step_time.value();
  const double analytic_added = off.analytic.step_time.value() - on.analytic.step_time.value();
  INFO("simulator adds " << sim_added << " s, analytic " << analytic_added << " s");
  REQUIRE(analytic_added > 0);
  CHECK(sim_added > 0);
  CHECK(std::abs(sim_added - analytic_added) / analytic_added < 0.25);
}

TEST_CASE("a DP reduction after the forward-backward: each GPU reduces only the stages it holds", "[sim]") {
  // Llama-3 8B on 32 GPUs: TP 8 x PP 2 x DP 2, each DP pair across two
  // nodes. Issued after the forward-backward, each GPU all-reduces the
  // gradients of the stage it holds, nothing else: its DP sync time in the
  // trace is the analytic estimate's reduction of that pipeline rank
  // (RankTimes::dp_comm, ZeRO 0: the all-reduce alone), the buckets running
  // one after another on their own once the compute is done. Were every GPU
  // to reduce every stage's buckets, each would take the sum of both ranks'.
  const Llama8b l(32);
  plan::Plan p = Llama8b::plan(8, 4096);  // 4 micro-batches per replica
  p.tp = 8;
  p.pp = 2;
  p.dp = 2;
  p.sequence_parallel = true;
  p.overlap_grad_reduce = false;
  sim::SimulateOptions o;
  o.trace = true;
  const sim::SimReport r = sim::simulate(l.m, p, l.cost, o);
  const auto j = nlohmann::json::parse(sim::chrome_trace_json(r.out, r.devices));
  std::vector<double> sync_us(2, 0.0);
  for (const auto& e : j["traceEvents"]) {
    if (e["ph"] == "X" && e["name"] == "dp-grad-sync") {
      const int pid = e["pid"].get<int>();
      REQUIRE(pid >= 0);
      REQUIRE(pid < 2);
      sync_us[static_cast<size_t>(pid)] += e["dur"].get<double>();
    }
  }
  REQUIRE(r.analytic.ranks.size() == 2);
  for (size_t rank = 0; rank < 2; ++rank) {
    const double analytic_s = r.analytic.ranks[rank].dp_comm.value();
    INFO("pipeline rank " << rank << ": simulated sync " << sync_us[rank] * 1e-6 << " s, analytic " << analytic_s);
    REQUIRE(analytic_s > 0);
    CHECK(sync_us[rank] * 1e-6 == Approx(analytic_s).epsilon(0.02));
  }
}

TEST_CASE("unfused gradient accumulation: the simulator adds what the analytic estimate adds", "[sim]") {
  // One GPU, 2 micro-batches, no communication: both engines add the same
  // per-micro-batch add kernels to the weight-gradient pass, so their steps
  // grow by the same amount.
  const Llama8b l(1);
  plan::Plan p = Llama8b::plan(2, 1024);
  sim::SimulateOptions o;
  p.gradient_accumulation_fusion = true;
  const sim::SimReport fused = sim::simulate(l.m, p, l.cost, o);
  p.gradient_accumulation_fusion = false;
  const sim::SimReport unfused = sim::simulate(l.m, p, l.cost, o);
  const double sim_added = unfused.step_time.value() - fused.step_time.value();
  const double analytic_added = unfused.analytic.step_time.value() - fused.analytic.step_time.value();
  INFO("simulator adds " << sim_added << " s, analytic " << analytic_added << " s");
  // 2 x 8,030,261,248 parameters x 10 B = 160.605 GB at 3.35 TB/s x eta
  // 0.9056 = 3.0338 TB/s: 0.052939 s; plus the 4 us kernel latency of each
  // add: 6 weighted operators per layer x 32 + embedding, final norm and
  // head = 195 per micro-batch, 390 x 4 us = 0.00156 s; 0.054499 s in all.
  CHECK(analytic_added == Approx(0.054499).epsilon(1e-4));
  CHECK(sim_added == Approx(analytic_added).epsilon(1e-6));
}
