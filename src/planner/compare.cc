#include "planner/compare.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "calib/tables.h"
#include "core/error.h"
#include "core/strings.h"

namespace trainsim::planner {
namespace {

std::string phase_precision(const run::Scenario& s, const run::PhaseSpec& ph) {
  return ph.plan.precision ? *ph.plan.precision : s.precision_policy;
}

// A patch that sets every field of `p` (so phase_plan() returns exactly p,
// apart from seq_len and global batch, which the phase sets).
run::PlanPatch full_patch(const plan::Plan& p, const std::string& precision,
                          const std::optional<double>& imbalance) {
  run::PlanPatch q;
  q.tp = p.tp;
  q.pp = p.pp;
  q.vpp = p.vpp;
  q.dp = p.dp;
  q.ep = p.ep;
  q.cp = p.cp;
  q.cp_ring = p.cp_ring;
  q.attention = p.attention;
  q.elementwise = p.elementwise;
  q.zero3_framework = p.zero3_framework;
  q.overlap_grad_reduce = p.overlap_grad_reduce;
  q.gradient_accumulation_fusion = p.gradient_accumulation_fusion;
  q.overlap_p2p_comm = p.overlap_p2p_comm;
  q.zero_stage = p.zero_stage;
  q.comm_sms = p.comm_sms;
  q.max_nodes_per_token = p.max_nodes_per_token;
  q.sequence_parallel = p.sequence_parallel;
  q.micro_batch = p.micro_batch;
  q.schedule = p.schedule;
  q.recompute = p.recompute;
  q.precision = precision;
  q.expert_load_imbalance = imbalance;
  return q;
}

std::string describe(const plan::Plan& p, const std::string& precision) {
  return fmt::format("{} {} recompute {} {}", layout_string(p), plan::to_string(p.schedule),
                     plan::to_string(p.recompute), precision);
}

size_t main_phase_index(const run::Scenario& s) { return run::main_phase_index(s.phases); }

std::optional<std::string> validation_error(const plan::Plan& p, const model::Model& m,
                                            const hardware::Cluster& c) {
  try {
    plan::validate_plan(p, m, c);
    return std::nullopt;
  } catch (const PlanError& e) {
    return std::string(e.what());
  }
}

// Re-targets `base` (validated on its own cluster) to `cluster`; fills row.plan_changes,
// or row.error when some phase has no runnable layout.
run::Scenario retarget(const run::Scenario& base, const hardware::Cluster& cluster,
                       const run::AnalyticStepModel& steps, ChipRow& row) {
  run::Scenario s = base;
  s.cluster = cluster;
  const size_t main = main_phase_index(base);
  std::vector<size_t> order = {main};
  for (size_t i = 0; i < base.phases.size(); ++i) {
    if (i != main) order.push_back(i);
  }
  bool base_changed = false;
  for (size_t i : order) {
    const run::PhaseSpec& ph = base.phases[i];
    if (ph.amount == run::PhaseAmount::kStatedGpuHours) {
      row.plan_changes.push_back(fmt::format("{}: stated GPU-hours taken as is (measured on {}, not re-estimated)",
                                             ph.name, base.cluster.accelerator.name));
      continue;
    }
    const std::string prec = phase_precision(base, ph);
    const plan::Plan original = run::phase_plan(base, ph);
    const auto err = validation_error(original, base.model, cluster);
    if (!err) continue;  // kept as is
    if (base_changed) {
      const plan::Plan follow = run::phase_plan(s, ph);
      if (!validation_error(follow, s.model, cluster)) {
        s.phases[i].plan = full_patch(follow, phase_precision(s, s.phases[i]), ph.plan.expert_load_imbalance);
        row.plan_changes.push_back(fmt::format("{}: {} -> {} (the original is not runnable: {}; follows the new "
                                               "pre-training layout)",
                                               ph.name, describe(original, prec),
                                               describe(follow, phase_precision(s, s.phases[i])),
                                               rejection_reason(*err)));
        continue;
      }
    }
    SearchOptions o;
    o.seq_len = ph.seq_len;
    o.global_batch = ph.global_batch;
    o.cp = original.cp;
    o.cp_ring = original.cp_ring;
    o.attention = original.attention;
    o.elementwise = original.elementwise;
    o.zero3_framework = original.zero3_framework;
    o.overlap_grad_reduce = original.overlap_grad_reduce;
    o.gradient_accumulation_fusion = original.gradient_accumulation_fusion;
    o.overlap_p2p_comm = original.overlap_p2p_comm;
    o.micro_batches = {original.micro_batch};
    o.precisions = {prec};
    if (prec == "deepseek-fp8" && !cluster.accelerator.peak(Precision::kFP8)) o.precisions = {"bf16"};
    o.expert_load_imbalance = original.expert_load_imbalance;
    o.max_nodes_per_token = original.max_nodes_per_token;
    const SearchResult sr = search_layouts(s.model, cluster, steps, o);
    if (sr.feasible.empty()) {
      std::vector<std::string> reasons;
      for (const auto& r : sr.rejected) reasons.push_back(fmt::format("{} x {}", r.count, r.reason));
      row.error = fmt::format("{}: no runnable layout on {} x {} (original: {}; searched {} layouts with cp {} "
                              "and micro-batch {}: {})",
                              ph.name, cluster.total_accelerators(), cluster.accelerator.name,
                              rejection_reason(*err), sr.enumerated, o.cp, original.micro_batch, join(reasons, ", "));
      return s;
    }
    const Candidate& best = sr.feasible.front();
    if (i == main) {
      s.plan = best.plan;
      s.plan.global_batch = base.plan.global_batch;
      s.plan.seq_len = base.plan.seq_len;
      s.precision_policy = best.precision;
      base_changed = true;
    }
    s.phases[i].plan = full_patch(best.plan, best.precision, ph.plan.expert_load_imbalance);
    row.plan_changes.push_back(fmt::format("{}: {} -> {} (the original is not runnable: {}; fastest of {} runnable "
                                           "layouts found by the planner search)",
                                           ph.name, describe(original, prec), describe(best.plan, best.precision),
                                           rejection_reason(*err), sr.feasible.size()));
  }
  return s;
}

}  // namespace

std::vector<std::string> default_compare_hardware() {
  return {"h800", "h100-sxm", "h20", "a800", "a100-sxm-80gb", "h200", "b200", "ascend-910b"};
}

CompareReport make_compare(const CompareRequest& req) {
  const run::Scenario base = run::load_scenario(req.scenario);
  // Stated GPU-hours are carried to every chip as they are: a scenario with
  // nothing else has nothing that differs between accelerators.
  if (std::all_of(base.phases.begin(), base.phases.end(),
                  [](const run::PhaseSpec& ph) { return ph.amount == run::PhaseAmount::kStatedGpuHours; })) {
    throw ConfigError(base.file, "/phases",
                      "expected at least one phase given by tokens or steps; found only stated GPU-hours, which "
                      "compare carries to every accelerator unchanged (they were measured on one chip)");
  }
  const hardware::ExportRules rules = hardware::load_export_rules();
  CompareReport rep;
  rep.scenario = base.name;
  rep.model = base.model.name;
  rep.gpus = base.cluster.total_accelerators();
  rep.scenario_chip = base.cluster.accelerator.name;
  rep.rules_file = rules.file;
  rep.io_threshold_2022 = rules.at("us-2022-10").thresholds.at("io_bidirectional");
  const RunDefaults defaults = run_defaults_of(base);
  const std::vector<std::string> chips = req.hardware.empty() ? default_compare_hardware() : req.hardware;
  rep.notes.push_back(fmt::format(
      "same model, tokens, phases, goodput inputs, hardware life and datacenter overhead as scenario {}; same GPU "
      "count ({}); the scenario's own cluster ({}) for {}, a generic DGX-style fat-tree cluster for the others",
      base.name, rep.gpus, base.cluster.name, rep.scenario_chip));
  rep.notes.push_back("cost = rental at each chip's profile price per GPU-hour (the scenario's own prices for its "
                      "chip), GPU-hours including goodput losses");

  for (const std::string& chip : chips) {
    ChipRow row;
    row.accelerator = chip;
    try {
      const bool own = chip == base.cluster.accelerator.name;
      const hardware::Cluster cluster = own ? base.cluster : hardware::generic_cluster(chip, rep.gpus);
      row.cluster = cluster.name;
      row.display_name = cluster.accelerator.display_name;
      row.classification = hardware::classify(cluster.accelerator, rules);
      const calib::EfficiencyTables tables = calib::load_tables_for(cluster.accelerator);
      row.tables = tables.is_default() ? "defaults (no measurement)" : tables.profile;
      if (!tables.is_default()) row.assumed_gemm = calib::assumed_gemm_groups(tables, cluster.accelerator);
      const run::AnalyticStepModel steps(base.model, cluster, tables);
      run::Scenario s = retarget(base, cluster, steps, row);
      if (!row.error.empty()) {
        rep.chips.push_back(std::move(row));
        continue;
      }
      if (!own) {
        const ClusterPrices prices = cluster_prices(cluster, defaults);
        s.prices = prices.prices;
        row.has_rent = prices.has_rental;
        row.missing_prices = prices.missing;
        s.power.gpu_tdp = cluster.accelerator.tdp;
        s.power.node_overhead = cluster.node_overhead_power;
        s.power.gpus_per_node = cluster.accelerators_per_node;
        s.power.pue = cluster.pue;
      } else {
        row.has_rent = true;
      }
      row.run = run::evaluate_run(s, run::nominal_perturbation(s), steps);
      const size_t main = main_phase_index(s);
      row.main_step = row.run.phases.at(main).step;
      const plan::Plan& mp = row.run.phases.at(main).plan;
      row.main_layout = fmt::format("{} {} recompute {}", layout_string(mp), plan::to_string(mp.schedule),
                                    plan::to_string(mp.recompute));
    } catch (const PlanError& e) {
      row.error = e.what();
    }
    rep.chips.push_back(std::move(row));
  }

  for (const std::string& value : req.scale_up_sweep) {
    SweepRow sw;
    sw.value = value;
    try {
      sw.bandwidth_per_direction = parse_quantity<BytesPerSecond>(value);
    } catch (const UnitError& e) {
      throw UsageError(fmt::format("--scale-up-sweep: \"{}\" is not a bandwidth ({})", value, e.what()));
    }
    if (!(sw.bandwidth_per_direction.value() > 0)) {
      throw UsageError(fmt::format("--scale-up-sweep: \"{}\" must be > 0", value));
    }
    const hardware::Override ov{rep.scenario_chip + ".scale_up.bandwidth_per_direction", value};
    try {
      const run::Scenario s = run::load_scenario(req.scenario, {ov});
      sw.applied_overrides = s.cluster.applied_overrides;
      const hardware::Classification cls = hardware::classify(s.cluster.accelerator, rules);
      sw.io_bidirectional = cls.metrics.io_bidirectional;
      const hardware::Verdict& v = cls.verdict("us-2022-10");
      sw.controlled_2022 = v.controlled;
      sw.reason_2022 = v.reason;
      const run::AnalyticStepModel steps(s.model, s.cluster, calib::load_tables_for(s.cluster.accelerator));
      const run::RunEstimate r = run::evaluate_run(s, run::nominal_perturbation(s), steps);
      sw.gpu_time = r.total_gpu_time();
      const auto& step = r.phases.at(main_phase_index(s)).step;
      sw.step_time = step.step_time;
      sw.exposed_comm_share = (step.breakdown.exposed_comm + step.breakdown.dp_exposed) / step.step_time;
    } catch (const PlanError& e) {
      sw.error = e.what();
    }
    rep.sweep.push_back(std::move(sw));
  }
  return rep;
}

}  // namespace trainsim::planner
