// trainsim claim NAME [--set PATH=VALUE]... [--format text|json|md] [-o FILE] [--seed N]
//
// Checks a published training-cost claim (model_configs/scenarios/claims/NAME.json)
// against trainsim's prediction for the scenario the claim names. The
// prediction (run::predict) reads only the scenario; the reported numbers are
// loaded separately (run::load_reported) and meet the prediction only in
// run::compare, after it is made.
#include <filesystem>
#include <map>
#include <ostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/error.h"
#include "core/paths.h"
#include "core/strings.h"
#include "hardware/hardware.h"
#include "report/csv.h"
#include "report/table.h"
#include "report/validation.h"
#include "run/claim.h"
#include "run/output.h"
#include "run/scenario.h"
#include "sim/simulator.h"

namespace trainsim::cli {
namespace {

using json = nlohmann::ordered_json;
using report::Align;
using report::Table;

constexpr const char* kMfuConvention =
    "model FLOPs that trainsim counts for the pre-training tokens (operator graph, causal attention, "
    "MTP included, forward + backward, no recompute; per-token FLOPs at each phase's batch) divided "
    "by (GPU-hours x 3600 s x dense BF16 peak of the accelerator), even though DeepSeek-V3 runs its "
    "linear GEMMs in FP8";

std::string mh(double hours) { return report::with_commas(hours); }
std::string millions(double hours) { return fmt::format("{:.3f}M", hours / units::kMega); }

using report::kValidationRuns;
using ModelError = report::TrackRecord;

ModelError model_error(const hardware::Accelerator& acc) { return report::TrackRecords().of(acc); }

std::string model_error_line(const ModelError& e, const std::string& accelerator) {
  if (!e.missing.empty()) return "trainsim's validated error: not available here (" + e.missing + ")";
  auto shorter = [](double pct) {
    return fmt::format("{:.0f}% {}", std::abs(pct), pct < 0 ? "shorter" : "longer");
  };
  std::string s = fmt::format(
      "on the {} published runs it is validated against ({}, `trainsim validate`), trainsim's analytic "
      "engine's step time is off by {:.1f}% on average (MAPE of the step time; median APE {:.1f}%), a "
      "median {} than measured",
      e.all.stats.n, kValidationRuns, e.all.stats.mape_pct, e.all.stats.median_ape_pct,
      shorter(e.all.median_time_error_pct));
  if (e.die.stats.n > 0) {
    s += fmt::format("; on the {} runs on the compute die of the {} ({}) {:.1f}%, step times a median {}",
                     e.die.stats.n, accelerator, join(e.die.hardware, ", "), e.die.stats.mape_pct,
                     shorter(e.die.median_time_error_pct));
  } else {
    s += fmt::format("; none of them ran on the compute die of the {}", accelerator);
  }
  return s + ". The prediction does not use these runs.";
}

// The run's GPU-hours were trainsim's step time off on it as on the
// validation runs: actual = predicted / (1 + step error), at the errors' 10th
// percentile, median and 90th percentile, over TrackRecord::band_basis(). A
// statement about trainsim's track record, not a prediction: the published
// rows enter only through their errors, never the model.

struct ErrorBand {
  const report::TimeErrorSummary* basis = nullptr;  // the runs read; null when there is no record
  bool same_die = false;
  report::TrackRecordBand hours;  // GPU-hours at the errors' P90, median and P10
  std::string reported_where;     // "inside", "above", "below"
};

ErrorBand error_band(const ModelError& e, double predicted_hours, double reported_hours) {
  ErrorBand b;
  if (!e.missing.empty() || e.band_basis().stats.n == 0) return b;
  b.basis = &e.band_basis();
  b.same_die = e.band_on_die();
  b.hours = report::track_record_band(*b.basis, predicted_hours);
  b.reported_where = reported_hours < b.hours.low ? "below" : reported_hours > b.hours.high ? "above" : "inside";
  return b;
}

std::string error_band_line(const ErrorBand& b, const std::string& accelerator, double reported_hours) {
  if (!b.basis) return "error band: not available (no validated error)";
  return fmt::format(
      "error band: if trainsim's step time erred on this run as it does on the {} runs {} ({}), the run would "
      "take {} to {} GPU-hours (median {}): predicted / (1 + error). The reported {} lies {} that band. The band "
      "is trainsim's track record on other runs; the prediction above does not use it.",
      b.basis->stats.n, b.same_die ? "on the compute die of the " + accelerator : std::string("validated"),
      report::step_error_range(*b.basis), millions(b.hours.low), millions(b.hours.high), millions(b.hours.median),
      millions(reported_hours), b.reported_where);
}

json error_band_json(const ErrorBand& b) {
  if (!b.basis) return json{{"available", false}};
  return json{{"available", true},
              {"runs", b.same_die ? "same_compute_die" : "all_runs"},
              {"n", b.basis->stats.n},
              {"step_time_error_p10_pct", run::sig(b.basis->p10_time_error_pct)},
              {"step_time_error_median_pct", run::sig(b.basis->median_time_error_pct)},
              {"step_time_error_p90_pct", run::sig(b.basis->p90_time_error_pct)},
              {"gpu_hours_low", run::sig(b.hours.low)},
              {"gpu_hours_median", run::sig(b.hours.median)},
              {"gpu_hours_high", run::sig(b.hours.high)},
              {"reported", b.reported_where},
              {"note", "predicted total GPU-hours / (1 + step-time error) at the validation errors' P90, median "
                       "and P10; trainsim's track record on published runs, not an input to the prediction"}};
}

json model_error_json(const ModelError& e) {
  if (!e.missing.empty()) return json{{"available", false}, {"reason", e.missing}};
  auto part = [](const report::TimeErrorSummary& t) {
    return json{{"runs", t.stats.n},
                {"hardware", t.hardware},
                {"step_time_mape_pct", run::sig(t.stats.mape_pct)},
                {"step_time_median_ape_pct", run::sig(t.stats.median_ape_pct)},
                {"median_step_time_error_pct", run::sig(t.median_time_error_pct)}};
  };
  return json{{"available", true},
              {"file", kValidationRuns},
              {"engine", "analytic"},
              {"all_runs", part(e.all)},
              {"same_compute_die", part(e.die)},
              {"note", "validation rows are not inputs to the prediction; step-time error < 0: trainsim's "
                       "step is shorter than the published one"}};
}

struct Inputs {
  run::Scenario scenario;
  run::Reported reported;
  run::Prediction prediction;
  run::Comparison comparison;
  calib::EfficiencyTables tables;
  std::string command;
  // Cross-check of the main phase's step by the discrete-event simulator
  // (representative replica), beside the analytic step the prediction uses.
  Seconds des_step;
  ModelError model_error;  // trainsim's validated error, reported beside the verdict
};

// The claim's accelerator as a reader knows it ("NVIDIA H800 SXM5 80GB").
std::string accelerator_label(const Inputs& in) {
  const hardware::Accelerator& a = in.scenario.cluster.accelerator;
  return a.display_name.empty() ? a.name : a.display_name;
}

// The DES step over the analytic step of the main phase (1 = the engines agree).
double des_ratio(const Inputs& in) {
  const run::PhaseResult& m = run::main_phase(in.prediction.run);
  return in.des_step / m.step.step_time;
}

ErrorBand band_of(const Inputs& in) {
  return error_band(in.model_error, in_hours(in.prediction.run.total_gpu_time()), in_hours(in.reported.total));
}

std::string band_line(const Inputs& in) {
  return error_band_line(band_of(in), accelerator_label(in), in_hours(in.reported.total));
}

json claim_json(const Inputs& in) {
  const auto& s = in.scenario;
  const auto& p = in.prediction;
  const auto& r = in.reported;
  const auto& c = in.comparison;
  const run::PhaseResult& m = run::main_phase(p.run);
  const run::CostBreakdown cost = p.run.total_cost();
  auto hrs = [](Seconds t) { return run::sig(in_hours(t)); };
  json predicted{
      {"gpu_hours",
       {{"pretraining", hrs(p.run.gpu_time(run::PhaseKind::kPretraining))},
        {"context_extension", hrs(p.run.gpu_time(run::PhaseKind::kContextExtension))},
        {"post_training", hrs(p.run.gpu_time(run::PhaseKind::kPostTraining))},
        {"total", hrs(p.run.total_gpu_time())}}},
      {"ideal_gpu_hours_without_failures", hrs(p.run.total_ideal_gpu_time())},
      {"step_time_s", run::sig(m.step.step_time.value())},
      {"mfu", run::sig(m.step.mfu_causal)},
      {"mfu_noncausal", run::sig(m.step.mfu_noncausal)},
      {"pretraining_average_mfu", run::sig(c.predicted_pretraining_mfu)},
      {"tokens_per_second_per_gpu", run::sig(m.step.tokens_per_second_per_gpu)},
      {"cost_usd", run::sig(cost.rental.value())},
      {"cost_own_usd", run::sig(cost.own_total().value())},
      {"energy_mwh", run::sig(in_megawatt_hours(p.run.total_energy()))},
      {"wall_days", run::sig(in_days(p.run.total_wall()))}};
  json phases = json::array();
  for (const auto& ph : p.run.phases) phases.push_back(run::to_json(ph));
  predicted["phases"] = phases;
  predicted["cross_check"] = {
      {"engine", "discrete-event simulator, representative replica, one DP bucket per layer"},
      {"des_step_time_s", run::sig(in.des_step.value())},
      {"analytic_step_time_s", run::sig(m.step.step_time.value())},
      {"des_over_analytic", run::sig(des_ratio(in))},
      {"pretraining_gpu_hours_at_des_step",
       run::sig(in_hours(p.run.gpu_time(run::PhaseKind::kPretraining)) * des_ratio(in))}};
  return json{
      {"command", in.command},
      {"claim", r.claim},
      {"scenario", s.name},
      {"predicted", predicted},
      {"reported",
       {{"gpu_hours_total", run::sig(in_hours(r.total))},
        {"gpu_hours",
         {{"pretraining", run::sig(in_hours(r.pretraining))},
          {"context_extension", run::sig(in_hours(r.context_extension))},
          {"post_training", run::sig(in_hours(r.post_training))},
          {"total", run::sig(in_hours(r.total))}}},
        {"cost_usd", run::sig(r.total_cost.value())},
        {"rental_usd_per_gpu_hour", run::sig(in_dollars_per_hour(r.rental_price))},
        {"source", r.source}}},
      {"ratio_reported_to_predicted", run::sig(c.ratio)},
      {"implied_mfu_of_claim", run::sig(c.implied_mfu_of_claim)},
      {"mfu_convention", kMfuConvention},
      {"interval",
       {{"p10", run::sig(p.interval.p10)},
        {"p50", run::sig(p.interval.p50)},
        {"p90", run::sig(p.interval.p90)},
        {"samples", p.interval.samples},
        {"seed", p.interval.seed}}},
      {"fraction_of_samples_below_claim", run::sig(c.fraction_of_samples_below_claim)},
      {"sensitivities", run::to_json(p.sensitivities)},
      {"assumptions", run::assumptions_json(s.assumptions)},
      {"calibration", run::to_json(in.tables)},
      {"verdict", c.verdict},
      {"validated_error", model_error_json(in.model_error)},
      {"validated_error_band", error_band_json(band_of(in))}};
}

Table stage_table(const Inputs& in) {
  const auto& p = in.prediction;
  const auto& r = in.reported;
  Table t({"stage", "predicted GPU-h", "reported GPU-h", "reported / predicted"},
          {Align::kLeft, Align::kRight, Align::kRight, Align::kRight});
  auto row = [&](const char* name, Seconds pred, Seconds rep) {
    t.add_row({name, mh(in_hours(pred)), mh(in_hours(rep)),
               pred.value() > 0 ? report::fixed(rep / pred, 2) : "-"});
  };
  row("pre-training", p.run.gpu_time(run::PhaseKind::kPretraining), r.pretraining);
  row("context extension", p.run.gpu_time(run::PhaseKind::kContextExtension), r.context_extension);
  row("post-training", p.run.gpu_time(run::PhaseKind::kPostTraining), r.post_training);
  t.add_separator();
  row("total", p.run.total_gpu_time(), r.total);
  return t;
}

Table tornado_table(const Inputs& in) {
  Table t({"input", "low", "high", "GPU-h at low", "GPU-h at high", "swing"},
          {Align::kLeft, Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kRight});
  for (const auto& s : in.prediction.sensitivities) {
    t.add_row({s.input, s.low_value, s.high_value, mh(s.low), mh(s.high), mh(s.swing())});
  }
  return t;
}

std::string summary_lines(const Inputs& in) {
  const auto& p = in.prediction;
  const auto& c = in.comparison;
  const run::PhaseResult& m = run::main_phase(p.run);
  std::string out;
  out += fmt::format("predicted total {} GPU-hours (P10 {} / P50 {} / P90 {}, {} samples, seed {})\n",
                     millions(c.predicted_total_gpu_hours), millions(p.interval.p10),
                     millions(p.interval.p50), millions(p.interval.p90), p.interval.samples,
                     p.interval.seed);
  out += fmt::format("reported  total {} GPU-hours ({} of Monte Carlo samples lie at or below it)\n",
                     millions(c.reported_total_gpu_hours),
                     report::percent(c.fraction_of_samples_below_claim, 0));
  out += fmt::format(
      "predicted pre-training step {:.2f} s at batch {} x {}: MFU {} (causal; {} non-causal), "
      "{} tokens/s/GPU; whole pre-training average MFU {}\n",
      m.step.step_time.value(), m.plan.global_batch, m.plan.seq_len, report::percent(m.step.mfu_causal),
      report::percent(m.step.mfu_noncausal), report::with_commas(m.step.tokens_per_second_per_gpu),
      report::percent(c.predicted_pretraining_mfu));
  out += fmt::format("MFU implied by the reported pre-training GPU-hours: {}\n",
                     report::percent(c.implied_mfu_of_claim));
  out += fmt::format(
      "cross-check: the discrete-event simulator gives a {:.2f} s pre-training step ({:+.1f}% vs the analytic "
      "{:.2f} s, which the prediction uses); at that step pre-training would take {} GPU-hours\n",
      in.des_step.value(), (des_ratio(in) - 1.0) * 100.0, m.step.step_time.value(),
      millions(in_hours(p.run.gpu_time(run::PhaseKind::kPretraining)) * des_ratio(in)));
  const run::CostBreakdown cost = p.run.total_cost();
  out += fmt::format("predicted cost: ${} rented at ${:g}/GPU-h, ${} owned; reported ${}\n",
                     report::with_commas(cost.rental.value()),
                     in_dollars_per_hour(in.scenario.prices.rental_per_gpu),
                     report::with_commas(cost.own_total().value()),
                     report::with_commas(in.reported.total_cost.value()));
  out += fmt::format("predicted energy {} MWh, wall time {:.1f} days\n",
                     report::fixed(in_megawatt_hours(p.run.total_energy()), 0), in_days(p.run.total_wall()));
  return out;
}

std::string calibration_line(const calib::EfficiencyTables& t) {
  if (t.is_default()) {
    return fmt::format("efficiency tables for {}: stated defaults ({})", t.profile,
                       t.provenance.default_reason);
  }
  std::string s = fmt::format("efficiency tables for {} fitted from {}", t.profile,
                              join(t.provenance.fitted_from));
  if (!t.provenance.carried_from.empty()) s += " (carried from " + t.provenance.carried_from + ")";
  return s;
}

std::string text_report(const Inputs& in) {
  std::string out;
  out += fmt::format("claim {}: scenario {}\n", in.reported.claim, in.scenario.name);
  out += summary_lines(in) + "\n";
  out += stage_table(in).to_text();
  out += "\nverdict: " + in.comparison.verdict + "\n";
  out += "how sure: " + model_error_line(in.model_error, accelerator_label(in)) + "\n";
  out += band_line(in) + "\n";
  out += "\nWhat drives the answer (one input at a time, total GPU-hours):\n";
  out += tornado_table(in).to_text();
  out += "\n" + calibration_line(in.tables) + "\n";
  out += fmt::format("{} assumptions with sources: see --format json or md\n",
                     in.scenario.assumptions.size());
  out += std::string("MFU convention: ") + kMfuConvention + "\n";
  return out;
}

std::string md_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '|') out += "\\|";
    else if (ch == '\n') out += ' ';
    else out += ch;
  }
  return out;
}

std::string md_report(const Inputs& in) {
  const auto& s = in.scenario;
  std::string out;
  out += fmt::format("# Is the {} training cost plausible?\n\n", in.reported.claim);
  out += fmt::format("Generated by `{}`. Do not edit by hand.\n\n", in.command);
  out += "## Verdict\n\n" + in.comparison.verdict + "\n\n";
  out += "How sure: " + model_error_line(in.model_error, accelerator_label(in)) + "\n\n";
  std::string band = band_line(in);
  band[0] = 'E';
  out += band + "\n\n";
  out += "## Prediction vs report\n\n";
  std::string summary = summary_lines(in);
  for (size_t pos = 0; (pos = summary.find('\n', pos)) != std::string::npos; pos += 2) {
    summary.replace(pos, 1, "  \n");
    ++pos;
  }
  out += summary + "\n";
  out += stage_table(in).to_markdown() + "\n";
  out += fmt::format("Reported numbers: {} (file `{}`). They are compared against only; the "
                     "prediction reads the scenario `{}` alone.\n\n",
                     in.reported.source, "model_configs/scenarios/claims/" + in.reported.claim + ".json",
                     s.name);
  out += std::string("MFU convention: ") + kMfuConvention + ".\n\n";
  out += "## Phases\n\n";
  Table pt({"phase", "GPUs", "layout", "tokens", "steps", "step time (s)", "MFU", "ideal GPU-h",
            "GPU-h", "goodput"},
           {Align::kLeft, Align::kRight, Align::kLeft, Align::kRight, Align::kRight, Align::kRight,
            Align::kRight, Align::kRight, Align::kRight, Align::kRight});
  for (const auto& p : in.prediction.run.phases) {
    const bool stated = p.amount == run::PhaseAmount::kStatedGpuHours;
    pt.add_row({p.name, std::to_string(p.gpus),
                stated ? "-"
                       : fmt::format("PP{} DP{} EP{} CP{}{}, mb {}, batch {} x {}", p.plan.pp, p.plan.dp,
                                     p.plan.ep, p.plan.cp,
                                     p.plan.cp > 1 && p.plan.cp_ring == graph::CpRing::kLatent ? " (latent ring)" : "",
                                     p.plan.micro_batch, p.plan.global_batch, p.plan.seq_len),
                stated ? "-" : fmt::format("{:.4g}", p.tokens), stated ? "-" : mh(p.steps),
                stated ? "stated" : report::fixed(p.step.step_time.value(), 2),
                stated ? "-" : report::percent(p.step.mfu_causal), mh(in_hours(p.ideal_gpu_time)),
                mh(in_hours(p.gpu_time)), report::percent(p.goodput.goodput())});
  }
  out += pt.to_markdown() + "\n";
  const run::PhaseResult& m = run::main_phase(in.prediction.run);
  out += fmt::format("Pre-training step breakdown at the full batch: compute {:.2f} s (recompute "
                     "{:.2f} s), exposed communication {:.2f} s, bubble {:.2f} s, exposed DP "
                     "reduction {:.2f} s, optimizer {:.3f} s.\n\n",
                     m.step.breakdown.compute.value(), m.step.breakdown.recompute.value(),
                     m.step.breakdown.exposed_comm.value(), m.step.breakdown.bubble.value(),
                     m.step.breakdown.dp_exposed.value(), m.step.breakdown.optimizer.value());
  out += "## What drives the answer\n\n";
  out += "Each uncertain input moved alone from its low to its high value, the others at nominal; "
         "total GPU-hours. Monte Carlo draws all of them together (triangular distributions).\n\n";
  out += tornado_table(in).to_markdown() + "\n";
  Table src({"input", "range source"}, {Align::kLeft, Align::kLeft});
  for (const auto& x : in.prediction.sensitivities) src.add_row({x.input, md_escape(x.source)});
  out += src.to_markdown() + "\n";
  out += "## How each efficiency was obtained\n\n";
  out += calibration_line(in.tables) + ".\n\n";
  Table cal({"parameter group", "basis"}, {Align::kLeft, Align::kLeft});
  const json basis = run::to_json(in.tables)["basis"];
  for (auto it = basis.begin(); it != basis.end(); ++it) {
    cal.add_row({it.key(), md_escape(it.value().get<std::string>())});
  }
  out += cal.to_markdown() + "\n";
  out += "## Assumptions\n\n";
  Table at({"name", "value", "source"}, {Align::kLeft, Align::kLeft, Align::kLeft});
  for (const auto& a : s.assumptions) at.add_row({a.name, md_escape(a.value), md_escape(a.source)});
  out += at.to_markdown() + "\n";
  out += "## Step-model notes\n\n";
  for (const auto& n : m.step.notes) out += "- " + md_escape(n) + "\n";
  return out;
}

}  // namespace

int cmd_claim(const std::vector<std::string>& args, Io& io) {
  po::options_description desc("options");
  desc.add_options()("claim", po::value<std::string>(), "claim name (deepseek-v3) or .json path")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "override PATH=VALUE in the claim's scenario (plan.expert_load_imbalance=1.2) or its hardware")(
      "format", po::value<std::string>()->default_value("text"), "text|json|md")(
      "output,o", po::value<std::string>(), "write to FILE (atomically) instead of stdout")(
      "seed", po::value<uint64_t>()->default_value(1), "Monte Carlo seed");
  po::positional_options_description pos;
  pos.add("claim", 1);
  const std::string usage =
      "trainsim claim NAME [--set PATH=VALUE]... [--format text|json|md] [-o FILE] [--seed N]";
  po::variables_map vm;
  if (!parse_options(args, desc, pos, vm, usage,
                     "trainsim claim deepseek-v3 --format md -o reports/deepseek_v3_claim.md", io)) {
    return kExitOk;
  }
  if (!vm.count("claim")) {
    throw UsageError(fmt::format("missing NAME (one of {})\nusage: {}", join(run::list_claims()), usage));
  }
  const std::string format = checked_format(vm, {"text", "json", "md"});
  std::vector<hardware::Override> overrides;
  if (vm.count("set")) overrides = hardware::parse_overrides(vm["set"].as<std::vector<std::string>>());

  Inputs in;
  in.command = "trainsim claim " + join(args, " ");
  const std::string claim = vm["claim"].as<std::string>();
  const std::string scenario_name = run::claim_scenario(claim);  // the name only, no reported number
  // 1. Predict from the scenario alone.
  in.scenario = run::load_scenario(scenario_name, overrides);
  const auto steps = run::analytic_step_model(in.scenario);
  in.tables = steps->tables();
  in.prediction = run::predict(in.scenario, *steps, vm["seed"].as<uint64_t>());
  {
    const run::PhaseResult& m = run::main_phase(in.prediction.run);
    const cost::CostModel cost(in.scenario.cluster, in.tables);
    in.des_step = sim::simulate(in.scenario.model, m.plan, cost, sim::SimulateOptions::per_layer()).step_time;
  }
  // 2. Only now read the reported numbers and compare.
  in.reported = run::load_reported(claim);
  in.comparison = run::compare(in.scenario, in.prediction, in.reported);
  // 3. trainsim's own error on published runs, beside the verdict.
  in.model_error = model_error(in.scenario.cluster.accelerator);

  std::string text;
  if (format == "json") {
    text = claim_json(in).dump(2) + "\n";
  } else if (format == "md") {
    text = md_report(in);
  } else {
    text = text_report(in);
  }
  emit(vm, text, io);
  return kExitOk;
}

}  // namespace trainsim::cli
