#include "run/training_run.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/error.h"
#include "cost/cost_model.h"

namespace trainsim::run {

calib::EfficiencyTables scaled(const calib::EfficiencyTables& t, double compute_scale,
                               double comm_scale) {
  TRAINSIM_CHECK(compute_scale > 0 && comm_scale > 0, "scales must be > 0 ({}, {})", compute_scale,
                 comm_scale);
  calib::EfficiencyTables s = t;
  for (auto& [precision, g] : s.gemm) g.eta_max *= compute_scale;
  for (auto& [precision, g] : s.grouped_gemm) g.eta_max *= compute_scale;
  for (calib::AttentionParams* a : {&s.attention_fwd, &s.attention_bwd, &s.flash2_fwd, &s.flash2_bwd}) {
    a->eta_max *= compute_scale;
  }
  for (calib::TierParams* tier : {&s.scale_up, &s.scale_out}) {
    tier->collective.eta *= comm_scale;
    tier->all_to_all.eta *= comm_scale;
  }
  return s;
}

AnalyticStepModel::AnalyticStepModel(model::Model m, hardware::Cluster c,
                                     calib::EfficiencyTables t)
    : model_(std::move(m)), cluster_(std::move(c)), tables_(std::move(t)) {}

namespace {

std::string plan_key(const plan::Plan& p, double cs, double cm) {
  const auto& q = p.precision;
  return fmt::format(
      "{} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {:.17g} {} {} {} {} {} {} {} {} {} {:.17g} "
      "{:.17g} {} {}",
      p.tp, p.pp, p.vpp, p.dp, p.ep, p.cp, p.sequence_parallel, p.zero_stage, p.micro_batch,
      p.global_batch, p.seq_len, static_cast<int>(p.schedule), static_cast<int>(p.recompute),
      p.comm_sms, p.max_nodes_per_token, p.expert_load_imbalance,
      static_cast<int>(q.linear_gemms), static_cast<int>(q.attention),
      static_cast<int>(q.embedding_head), static_cast<int>(q.weights),
      static_cast<int>(q.master_weights), static_cast<int>(q.gradients),
      static_cast<int>(q.optimizer_moments),
      static_cast<int>(q.dispatch) * 16 + static_cast<int>(q.combine),
      static_cast<int>(p.tp_comm_overlap) * 16 + static_cast<int>(p.attention), cs, cm, p.zero3_framework,
      static_cast<int>(p.elementwise) * 16 + static_cast<int>(p.cp_ring) + 256 * static_cast<int>(p.overlap_grad_reduce) +
          512 * static_cast<int>(p.gradient_accumulation_fusion) + 1024 * static_cast<int>(p.overlap_p2p_comm));
}

}  // namespace

analytic::StepEstimate AnalyticStepModel::step(const plan::Plan& p, double compute_scale,
                                               double comm_scale) const {
  const std::string key = plan_key(p, compute_scale, comm_scale);
  if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  const cost::CostModel cost(cluster_, scaled(tables_, compute_scale, comm_scale));
  analytic::StepEstimate e = analytic::estimate_step(model_, p, cost);
  TRAINSIM_CHECK(std::isfinite(e.step_time.value()) && e.step_time.value() > 0,
                 "step time {} s is not positive and finite", e.step_time.value());
  cache_.emplace(key, e);
  return e;
}

namespace {

int64_t batch_quantum(const plan::Plan& p) {
  // DualPipe feeds micro-batches from both ends: their count must be even (V3TR §3.2.1);
  // interleaved 1F1B needs a multiple of pp (Megatron-LM).
  const int64_t per_mb = static_cast<int64_t>(p.dp) * p.micro_batch;
  if (plan::overlapped(p.schedule)) return per_mb * 2;
  if (p.schedule == plan::Schedule::kInterleaved1F1B) return per_mb * p.pp;
  return per_mb;
}

int64_t min_batch(const plan::Plan& p) {
  // DualPipe needs at least 2 x pp micro-batches (DualPipe dualpipe.py step());
  // interleaved 1F1B needs a multiple of pp (Megatron-LM).
  const int64_t per_mb = static_cast<int64_t>(p.dp) * p.micro_batch;
  if (plan::overlapped(p.schedule)) return per_mb * 2 * p.pp;
  if (p.schedule == plan::Schedule::kInterleaved1F1B) return per_mb * p.pp;
  return per_mb;
}

}  // namespace

RunEstimate evaluate_run(const Scenario& s, const Perturbation& pert, const StepModel& steps) {
  RunEstimate run;
  double last_utilisation = 1.0;
  for (const PhaseSpec& ph : s.phases) {
    PhaseResult r;
    r.name = ph.name;
    r.kind = ph.kind;
    r.amount = ph.amount;
    r.plan = phase_plan(s, ph, pert.micro_batch);
    if (!ph.plan.expert_load_imbalance) r.plan.expert_load_imbalance = pert.expert_load_imbalance;
    r.gpus = r.plan.gpus();
    if (ph.amount == PhaseAmount::kStatedGpuHours) {
      // Taken as stated: no step model and no goodput; power at the last computed phase's utilisation.
      r.ideal_gpu_time = ph.stated_gpu_time;
      r.gpu_time = ph.stated_gpu_time;
      r.ideal_wall = ph.stated_gpu_time / static_cast<double>(r.gpus);
      r.wall = r.ideal_wall;
      r.goodput.ideal = r.ideal_wall;
      r.goodput.wall = r.wall;
      r.utilisation = last_utilisation;
      r.energy = energy(r.gpu_time, r.utilisation, s.power);
      r.cost = cost(r.gpu_time, r.energy, s.prices);
      run.phases.push_back(std::move(r));
      continue;
    }
    r.step = steps.step(r.plan, pert.compute_scale, pert.comm_scale);
    const double tokens_per_step =
        static_cast<double>(r.plan.global_batch) * static_cast<double>(r.plan.seq_len);
    double ideal = 0;
    if (ph.amount == PhaseAmount::kSteps) {
      r.steps = static_cast<double>(ph.steps);
      r.tokens = r.steps * tokens_per_step;
      ideal = r.steps * r.step.step_time.value();
    } else {
      r.tokens = ph.tokens;
      double rest_tokens = ph.tokens;
      if (ph.ramp) {
        const plan::Plan base = r.plan;
        const RampIntegral ri = integrate_ramp(
            ph.ramp->start_batch, ph.global_batch, ph.ramp->tokens, ph.seq_len, ph.ramp->shape,
            ph.ramp->points, batch_quantum(base), [&](int64_t batch) {
              plan::Plan q = base;
              q.global_batch = batch;
              return steps.step(q, pert.compute_scale, pert.comm_scale).step_time;
            },
            min_batch(base));
        r.ramp = ri.points;
        r.steps += ri.steps;
        ideal += ri.time.value();
        rest_tokens -= ph.ramp->tokens;
      }
      const double rest_steps = rest_tokens / tokens_per_step;
      r.steps += rest_steps;
      ideal += rest_steps * r.step.step_time.value();
    }
    ideal *= ph.compute_multiplier;
    r.ideal_wall = Seconds(ideal);
    r.goodput = apply_goodput(r.ideal_wall, r.gpus, pert.goodput);
    r.wall = r.goodput.wall;
    const double g = static_cast<double>(r.gpus);
    r.ideal_gpu_time = r.ideal_wall * g;
    r.gpu_time = r.wall * g;
    r.utilisation = r.step.breakdown.compute / r.step.step_time;
    last_utilisation = r.utilisation;
    // GPUs compute during ideal time and redone work; they idle while
    // checkpointing and restarting.
    const Seconds busy = (r.ideal_wall + r.goodput.lost_work) * g;
    const Seconds idle = (r.goodput.checkpoint_overhead + r.goodput.restarts) * g;
    r.energy = energy(busy, r.utilisation, s.power) + energy(idle, 0.0, s.power);
    r.cost = cost(r.gpu_time, r.energy, s.prices);
    run.phases.push_back(std::move(r));
  }
  return run;
}

Seconds RunEstimate::gpu_time(PhaseKind k) const {
  Seconds t;
  for (const auto& p : phases) {
    if (p.kind == k) t += p.gpu_time;
  }
  return t;
}

Seconds RunEstimate::ideal_gpu_time(PhaseKind k) const {
  Seconds t;
  for (const auto& p : phases) {
    if (p.kind == k) t += p.ideal_gpu_time;
  }
  return t;
}

Seconds RunEstimate::total_gpu_time() const {
  Seconds t;
  for (const auto& p : phases) t += p.gpu_time;
  return t;
}

Seconds RunEstimate::total_ideal_gpu_time() const {
  Seconds t;
  for (const auto& p : phases) t += p.ideal_gpu_time;
  return t;
}

Seconds RunEstimate::total_wall() const {
  Seconds t;
  for (const auto& p : phases) t += p.wall;
  return t;
}

Joules RunEstimate::total_energy() const {
  Joules e;
  for (const auto& p : phases) e += p.energy;
  return e;
}

CostBreakdown RunEstimate::total_cost() const {
  CostBreakdown c;
  for (const auto& p : phases) {
    c.rental += p.cost.rental;
    c.own_capital += p.cost.own_capital;
    c.own_energy += p.cost.own_energy;
    c.own_datacenter += p.cost.own_datacenter;
  }
  return c;
}

Flops RunEstimate::model_flops(PhaseKind k) const {
  Flops f;
  for (const auto& p : phases) {
    if (p.kind != k || p.amount == PhaseAmount::kStatedGpuHours) continue;
    const double tokens_per_step =
        static_cast<double>(p.plan.global_batch) * static_cast<double>(p.plan.seq_len);
    f += p.step.model_flops_per_step * (p.tokens / tokens_per_step);
  }
  return f;
}

}  // namespace trainsim::run
