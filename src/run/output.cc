#include "run/output.h"

#include <cmath>

#include <fmt/format.h>

#include "core/error.h"

namespace trainsim::run {

using json = nlohmann::ordered_json;

double sig(double v, int digits) {
  TRAINSIM_CHECK(std::isfinite(v), "non-finite value in output");
  if (v == 0) return 0;
  return std::stod(fmt::format("{:.{}g}", v, digits));
}

namespace {
double h(Seconds s) { return sig(in_hours(s)); }
double gib(Bytes b) { return sig(in_gibibytes(b)); }
}  // namespace

json to_json(const analytic::StepEstimate& e) {
  const auto& b = e.breakdown;
  return json{
      {"step_time_s", sig(e.step_time.value())},
      {"breakdown_s",
       {{"compute", sig(b.compute.value())},
        {"recompute_part_of_compute", sig(b.recompute.value())},
        {"exposed_comm", sig(b.exposed_comm.value())},
        {"bubble", sig(b.bubble.value())},
        {"dp_exposed", sig(b.dp_exposed.value())},
        {"optimizer", sig(b.optimizer.value())}}},
      {"micro_batches_per_replica", e.micro_batches},
      {"tokens_per_second_per_gpu", sig(e.tokens_per_second_per_gpu)},
      {"mfu_causal", sig(e.mfu_causal)},
      {"mfu_noncausal", sig(e.mfu_noncausal)},
      {"hfu", sig(e.hfu)},
      {"bubble_fraction", sig(e.bubble_fraction)},
      {"model_flops_per_step", sig(e.model_flops_per_step.value())},
      {"notes", e.notes}};
}

json to_json(const plan::MemoryBreakdown& m, Bytes capacity) {
  return json{{"pipeline_rank", m.pipeline_rank},
              {"weights", gib(m.weights)},
              {"gradients", gib(m.gradients)},
              {"optimizer_states", gib(m.optimizer_states)},
              {"activations", gib(m.activations)},
              {"recompute_buffers", gib(m.recompute_buffers)},
              {"communication_buffers", gib(m.communication_buffers)},
              {"total", gib(m.total())},
              {"capacity", gib(capacity)},
              {"inflight_chunks", m.inflight_micro_batches}};
}

json to_json(const PhaseResult& p) {
  json j{{"name", p.name},
         {"kind", to_string(p.kind)},
         {"gpus", p.gpus},
         {"ideal_gpu_hours", h(p.ideal_gpu_time)},
         {"gpu_hours", h(p.gpu_time)},
         {"wall_days", sig(in_days(p.wall))},
         {"energy_mwh", sig(in_megawatt_hours(p.energy))},
         {"cost_usd", {{"rental", sig(p.cost.rental.value())}, {"own", sig(p.cost.own_total().value())}}}};
  if (p.amount == PhaseAmount::kStatedGpuHours) {
    j["stated"] = true;
    return j;
  }
  j["plan"] = {{"tp", p.plan.tp},       {"pp", p.plan.pp},
               {"dp", p.plan.dp},       {"ep", p.plan.ep},
               {"cp", p.plan.cp},       {"micro_batch", p.plan.micro_batch},
               {"global_batch", p.plan.global_batch}, {"seq_len", p.plan.seq_len},
               {"schedule", plan::to_string(p.plan.schedule)}, {"cp_ring", graph::to_string(p.plan.cp_ring)}};
  j["tokens"] = sig(p.tokens);
  j["steps"] = sig(p.steps);
  j["step_time_s"] = sig(p.step.step_time.value());
  j["mfu_causal"] = sig(p.step.mfu_causal);
  j["tokens_per_second_per_gpu"] = sig(p.step.tokens_per_second_per_gpu);
  j["compute_fraction"] = sig(p.utilisation);
  const GoodputResult& g = p.goodput;
  j["goodput"] = {{"fraction", sig(g.goodput())},
                  {"job_mtbf_h", h(g.mtbf)},
                  {"checkpoint_interval_s", sig(g.checkpoint_interval.value())},
                  {"expected_failures", sig(g.expected_failures)},
                  {"checkpoint_wall_h", h(g.checkpoint_overhead)},
                  {"lost_work_wall_h", h(g.lost_work)},
                  {"restart_wall_h", h(g.restarts)}};
  if (!p.ramp.empty()) {
    json ramp = json::array();
    for (const RampPoint& r : p.ramp) {
      ramp.push_back({{"batch", r.batch},
                      {"evaluated_batch", r.evaluated_batch},
                      {"step_time_s", sig(r.step_time.value())}});
    }
    j["ramp"] = ramp;
  }
  return j;
}

json totals_json(const RunEstimate& r) {
  const CostBreakdown c = r.total_cost();
  auto by_kind = [&](auto f) {
    return json{{"pretraining", h(f(PhaseKind::kPretraining))},
                {"context_extension", h(f(PhaseKind::kContextExtension))},
                {"post_training", h(f(PhaseKind::kPostTraining))}};
  };
  json gh = by_kind([&](PhaseKind k) { return r.gpu_time(k); });
  gh["total"] = h(r.total_gpu_time());
  json ideal = by_kind([&](PhaseKind k) { return r.ideal_gpu_time(k); });
  ideal["total"] = h(r.total_ideal_gpu_time());
  return json{{"gpu_hours", gh},
              {"ideal_gpu_hours", ideal},
              {"goodput_fraction", sig(r.total_ideal_gpu_time() / r.total_gpu_time())},
              {"wall_days", sig(in_days(r.total_wall()))},
              {"energy_mwh", sig(in_megawatt_hours(r.total_energy()))},
              {"cost_usd",
               {{"rental", sig(c.rental.value())},
                {"own",
                 {{"capital", sig(c.own_capital.value())},
                  {"energy", sig(c.own_energy.value())},
                  {"datacenter", sig(c.own_datacenter.value())},
                  {"total", sig(c.own_total().value())}}}}}};
}

json assumptions_json(const std::vector<Assumption>& a) {
  json arr = json::array();
  for (const auto& x : a) arr.push_back({{"name", x.name}, {"value", x.value}, {"source", x.source}});
  return arr;
}

json to_json(const std::vector<Sensitivity>& t) {
  json arr = json::array();
  for (const auto& s : t) {
    arr.push_back({{"input", s.input},
                   {"low", sig(s.low)},
                   {"high", sig(s.high)},
                   {"low_value", s.low_value},
                   {"high_value", s.high_value},
                   {"swing", sig(s.swing())},
                   {"source", s.source}});
  }
  return arr;
}

json to_json(const calib::EfficiencyTables& t) {
  const auto& p = t.provenance;
  json j{{"profile", t.profile},
         {"is_default", p.is_default},
         {"gpu", p.gpu},
         {"date", p.date},
         {"fitted_from", p.fitted_from}};
  if (!p.carried_from.empty()) {
    j["carried_from"] = p.carried_from;
    j["adjustments"] = p.adjustments;
  }
  if (p.is_default) j["default_reason"] = p.default_reason;
  json basis = json::object();
  for (const auto& [prec, g] : t.gemm) basis[std::string("gemm/") + to_string(prec)] = g.full_basis();
  for (const auto& [prec, g] : t.grouped_gemm) {
    basis[std::string("grouped_gemm/") + to_string(prec)] = g.basis;
  }
  basis["attention_fwd"] = t.attention_fwd.basis;
  basis["attention_bwd"] = t.attention_bwd.basis;
  basis["attention_flash2_fwd"] = t.flash2_fwd.basis;
  basis["attention_flash2_bwd"] = t.flash2_bwd.basis;
  basis["memory"] = t.memory.basis;
  basis["scale_up/collective"] = t.scale_up.collective.basis;
  basis["scale_up/all_to_all"] = t.scale_up.all_to_all.basis;
  basis["scale_out/collective"] = t.scale_out.collective.basis;
  basis["scale_out/all_to_all"] = t.scale_out.all_to_all.basis;
  basis["interference"] = t.interference.basis;
  j["basis"] = basis;
  return j;
}

std::unique_ptr<AnalyticStepModel> analytic_step_model(const Scenario& s) {
  return std::make_unique<AnalyticStepModel>(s.model, s.cluster,
                                             calib::load_tables_for(s.cluster.accelerator));
}

const PhaseResult& main_phase(const RunEstimate& r) {
  TRAINSIM_CHECK(!r.phases.empty(), "a run without phases");
  return r.phases[main_phase_index(r.phases)];
}

}  // namespace trainsim::run
