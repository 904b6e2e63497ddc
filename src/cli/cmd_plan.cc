// trainsim plan MODEL --tokens 15T [--budget "$6M" | --deadline "60 days"]
//   [--hardware h800,h100-sxm] [--gpus 512,1024] [--seq-len 4096]
//   [--global-batch N] [--top N] [--rank cost|time] [--cost-basis rent|own]
//   [--format text|json|md] [-o FILE]
//
// Which cluster, parallel layout and schedule train MODEL on TOKENS tokens,
// in what time and at what cost, what fits in memory, and rent or buy
// (planner/planner.h).
#include <map>
#include <ostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/error.h"
#include "core/strings.h"
#include "planner/planner.h"
#include "report/table.h"
#include "report/validation.h"
#include "run/output.h"

namespace trainsim::cli {
namespace {

using json = nlohmann::ordered_json;
using report::Align;
using report::Table;

const char* kDefaultHardware = "h100-sxm,h800";
const char* kDefaultGpus = "512,1024,2048";

// One trillion -> "1T", 14.8 trillion -> "14.8T", 300 billion -> "300B".
std::string tokens_text(double t) {
  const std::pair<double, const char*> scales[] = {
      {units::kTera, "T"}, {units::kGiga, "B"}, {units::kMega, "M"}, {units::kKilo, "k"}};
  for (const auto& [f, s] : scales) {
    if (t >= f) return fmt::format("{:.4g}{}", t / f, s);
  }
  return fmt::format("{:.4g}", t);
}

std::string money(Dollars d) { return "$" + report::with_commas(d.value()); }

std::string basis_name(planner::CostBasis b) { return b == planner::CostBasis::kRent ? "rent" : "own"; }

std::string header(const planner::PlanReport& r) {
  const auto& q = r.request;
  std::string out;
  out += fmt::format("plan {}: {} tokens at sequence length {}, global batch {} sequences ({} tokens per "
                     "step{})\n",
                     r.model.name, tokens_text(q.tokens), q.seq_len, r.global_batch,
                     tokens_text(static_cast<double>(r.global_batch * q.seq_len)),
                     q.global_batch > 0 ? "" : "; default: 4M tokens per step, Llama 3 arXiv:2407.21783 §3.4.1");
  std::string cons;
  if (q.budget) cons += fmt::format("budget {} ({} cost)", money(*q.budget), basis_name(q.basis));
  if (q.deadline) cons += fmt::format("{}deadline {:.4g} days", cons.empty() ? "" : ", ", in_days(*q.deadline));
  out += fmt::format("constraints: {}; ranked by {}\n", cons.empty() ? "none" : cons,
                     q.rank == planner::RankBy::kCost ? basis_name(q.basis) + " cost" : "wall time");
  return out;
}

std::string search_summary(const planner::PlanReport& r) {
  std::string out = "\nSearch (each accelerator x GPU count a generic DGX-style cluster)\n";
  for (const auto& c : r.clusters) {
    if (!c.error.empty()) {
      out += fmt::format("  {} x {}: skipped: {}\n", c.gpus, c.accelerator, c.error);
      continue;
    }
    int64_t rejected = 0;
    for (const auto& x : c.rejected) rejected += x.count;
    out += fmt::format("  {} x {} ({}; tables {}): {} layouts, {} runnable, {} rejected, {} skipped as dominated\n",
                       c.gpus, c.accelerator, c.cluster, c.tables, c.enumerated, c.feasible, rejected, c.dominated);
    for (const auto& x : c.rejected) out += fmt::format("      {:>6} {}\n", x.count, x.reason);
    for (const auto& m : c.missing_prices) out += "      price missing: " + m + "\n";
  }
  out += "  pruning rules:\n";
  for (const auto& rule : r.rules) out += "    - " + rule + "\n";
  out += fmt::format("{} runnable layouts; {} meet the constraints", r.feasible, r.meeting);
  if (r.request.budget) out += fmt::format(", {} over budget", r.over_budget);
  if (r.request.deadline) out += fmt::format(", {} past the deadline", r.over_deadline);
  if (r.unpriced) out += fmt::format(", {} without the price the budget needs", r.unpriced);
  if (r.failed_run) out += fmt::format(", {} refused by the run model", r.failed_run);
  out += "\n";
  return out;
}

Table options_table(const planner::PlanReport& r) {
  Table t({"#", "accelerator", "GPUs", "layout", "schedule", "recompute", "precision", "memory/GPU", "step",
           "MFU", "days", "GPU-hours", "rent", "own"},
          {Align::kRight, Align::kLeft, Align::kRight, Align::kLeft, Align::kLeft, Align::kLeft, Align::kLeft,
           Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kRight});
  int i = 0;
  for (const auto& o : r.options) {
    const auto& p = o.candidate.plan;
    const auto& ph = o.run.phases.front();
    t.add_row({std::to_string(++i), o.accelerator, std::to_string(o.gpus), planner::layout_string(p),
               plan::to_string(p.schedule), plan::to_string(p.recompute), o.candidate.precision,
               fmt::format("{:.1f}/{:.1f} GiB", in_gibibytes(o.memory.total()), in_gibibytes(o.hbm_capacity)),
               report::fixed(o.candidate.step.step_time.value(), 3) + " s",
               report::percent(o.candidate.step.mfu_causal), report::fixed(in_days(ph.wall), 1),
               report::with_commas(in_hours(ph.gpu_time)), o.has_rent ? money(ph.cost.rental) : "n/a",
               o.has_own ? money(ph.cost.own_total()) : "n/a"});
  }
  return t;
}

// What each option would take were trainsim's step off on it as on the
// published runs it is validated against (report::track_record: the runs on
// the option's compute die, or all runs when that die has fewer than
// report::kMinBandRuns): days and cost / (1 + step error) at the errors'
// median and 10th percentile (the longest tenth). The ranking and the
// constraints above use the prediction alone.
struct OptionRecord {
  const report::TrackRecord* record = nullptr;
  report::TrackRecordBand days;
  report::TrackRecordBand cost;  // of the ranked cost basis
  bool has_cost = false;
};

class OptionRecords {
 public:
  explicit OptionRecords(const planner::PlanReport& r) : r_(r) {
    const report::TrackRecords all;
    for (const auto& o : r.options) {
      if (!records_.count(o.accelerator)) records_.emplace(o.accelerator, all.of(o.accelerator));
    }
  }
  const std::map<std::string, report::TrackRecord>& by_accelerator() const { return records_; }
  OptionRecord of(const planner::PlanOption& o) const {
    OptionRecord x;
    x.record = &records_.at(o.accelerator);
    if (!x.record->missing.empty()) return x;
    const auto& ph = o.run.phases.front();
    const auto& t = x.record->band_basis();
    x.days = report::track_record_band(t, in_days(ph.wall));
    const bool rent = r_.request.basis == planner::CostBasis::kRent;
    x.has_cost = rent ? o.has_rent : o.has_own;
    if (x.has_cost) x.cost = report::track_record_band(t, (rent ? ph.cost.rental : ph.cost.own_total()).value());
    return x;
  }

 private:
  const planner::PlanReport& r_;
  std::map<std::string, report::TrackRecord> records_;
};

std::string record_basis(const report::TrackRecord& t) {
  const report::TimeErrorSummary& b = t.band_basis();
  return fmt::format("{} runs{}: {}", b.stats.n,
                     t.band_on_die() ? " on its compute die" : fmt::format(" (only {} on its compute die)", t.die.stats.n),
                     report::step_error_range(b));
}

std::string track_record_section(const planner::PlanReport& r, const OptionRecords& records) {
  const auto& q = r.request;
  std::string out =
      "\nTrack record: if trainsim's step erred on these options as it does on the published runs it is validated "
      "against (`trainsim validate`), days and cost would be the predicted ones / (1 + step error). The ranking and "
      "the constraints above use the prediction alone.\n";
  for (const auto& [acc, t] : records.by_accelerator()) {
    out += fmt::format("  {}: {}\n", acc, t.missing.empty() ? record_basis(t) : "not available (" + t.missing + ")");
  }
  int i = 0;
  for (const auto& o : r.options) {
    ++i;
    const OptionRecord x = records.of(o);
    if (!x.record->missing.empty()) continue;
    std::string line = fmt::format("  {}. {} days at the median error, {} at P10 (the longest tenth)", i,
                                   report::fixed(x.days.median, 1), report::fixed(x.days.high, 1));
    if (x.has_cost) {
      line += fmt::format("; {} {} / {}", basis_name(q.basis), money(Dollars(x.cost.median)), money(Dollars(x.cost.high)));
    }
    std::vector<std::string> verdicts;
    if (q.deadline) {
      const double limit = in_days(*q.deadline);
      verdicts.push_back(x.days.high <= limit   ? "within the deadline at P10"
                         : x.days.median <= limit ? "within the deadline at the median, not at P10"
                                                  : "past the deadline at the median");
    }
    if (q.budget && x.has_cost) {
      const double limit = q.budget->value();
      verdicts.push_back(x.cost.high <= limit   ? "within the budget at P10"
                         : x.cost.median <= limit ? "within the budget at the median, not at P10"
                                                  : "over the budget at the median");
    }
    if (!verdicts.empty()) line += ": " + join(verdicts, "; ");
    out += line + "\n";
  }
  return out;
}

std::string footer(const planner::PlanReport& r) {
  std::string out;
  if (!r.options.empty()) {
    out += "\nRent or buy\n";
    int i = 0;
    for (const auto& o : r.options) {
      ++i;
      out += fmt::format("  {}. {}\n", i,
                         o.has_rent && o.has_own ? o.rent_or_buy.summary
                                                 : std::string("not computed: a price is missing (see above)"));
    }
  }
  if (!r.options.empty()) out += track_record_section(r, OptionRecords(r));
  const auto& g = r.defaults.goodput;
  out += fmt::format(
      "\nGoodput and economics inputs (from scenario {}): failures {:.3g} per GPU-hour, checkpoint write {:.0f} s, "
      "restart {:.0f} s, checkpoint interval {}; hardware life {:.3g} years; datacenter {}/GPU-hour; GPU power "
      "{:.0f}%..{:.0f}% of TDP idle..busy{}\n",
      r.defaults.scenario, g.failures_per_gpu.value() * units::kSecondsPerHour, g.checkpoint_write.value(),
      g.restart.value(), g.checkpoint_interval ? fmt::format("{:.0f} s", g.checkpoint_interval->value()) : "Daly optimum",
      r.defaults.amortisation_life.value() / units::kSecondsPerYear,
      fmt::format("${:.2f}", in_dollars_per_hour(r.defaults.datacenter_per_gpu)), 100 * r.defaults.idle_fraction_of_tdp,
      100 * r.defaults.busy_fraction_of_tdp,
      r.model.moe ? fmt::format("; routing imbalance {:.2g}", r.defaults.expert_load_imbalance) : "");
  out += "MFU: model FLOPs (causal) / (step time x GPUs x dense BF16 peak), also for FP8 layouts. Days and GPU-hours "
         "include goodput losses. Rent = GPU-hours x the profile's rental price; own = the run's share of owning "
         "(capital over the life, electricity x PUE, datacenter).\n";
  return out;
}

json plan_json(const planner::PlanReport& r, const std::vector<std::string>& args) {
  const auto& q = r.request;
  json clusters = json::array();
  for (const auto& c : r.clusters) {
    json rej = json::array();
    for (const auto& x : c.rejected) rej.push_back({{"reason", x.reason}, {"count", x.count}, {"example", x.example}});
    json jc{{"accelerator", c.accelerator}, {"gpus", c.gpus}};
    if (!c.error.empty()) {
      jc["error"] = c.error;
    } else {
      jc["cluster"] = c.cluster;
      jc["tables"] = c.tables;
      jc["enumerated"] = c.enumerated;
      jc["runnable"] = c.feasible;
      jc["dominated_skipped"] = c.dominated;
      jc["rejected"] = rej;
      jc["missing_prices"] = c.missing_prices;
    }
    clusters.push_back(jc);
  }
  const OptionRecords records(r);
  json options = json::array();
  for (const auto& o : r.options) {
    const auto& p = o.candidate.plan;
    const auto& ph = o.run.phases.front();
    json jo{{"accelerator", o.accelerator},
            {"cluster", o.cluster},
            {"gpus", o.gpus},
            {"layout",
             {{"tp", p.tp},
              {"pp", p.pp},
              {"vpp", p.vpp},
              {"dp", p.dp},
              {"ep", p.ep},
              {"cp", p.cp},
              {"sequence_parallel", p.sequence_parallel},
              {"zero_stage", p.zero_stage},
              {"micro_batch", p.micro_batch},
              {"global_batch", p.global_batch},
              {"schedule", plan::to_string(p.schedule)},
              {"recompute", plan::to_string(p.recompute)},
              {"precision", o.candidate.precision},
              {"comm_sms", p.comm_sms}}},
            {"memory_gib", run::to_json(o.memory, o.hbm_capacity)},
            {"step_time_s", run::sig(o.candidate.step.step_time.value())},
            {"mfu_causal", run::sig(o.candidate.step.mfu_causal)},
            {"steps", run::sig(ph.steps)},
            {"days", run::sig(in_days(ph.wall))},
            {"ideal_days", run::sig(in_days(ph.ideal_wall))},
            {"goodput", run::sig(ph.goodput.goodput())},
            {"gpu_hours", run::sig(in_hours(ph.gpu_time))},
            {"energy_mwh", run::sig(in_megawatt_hours(ph.energy))}};
    jo["rent_usd"] = o.has_rent ? json(run::sig(ph.cost.rental.value())) : json(nullptr);
    jo["own_usd"] = o.has_own ? json(run::sig(ph.cost.own_total().value())) : json(nullptr);
    if (o.has_rent && o.has_own) {
      const auto& rb = o.rent_or_buy;
      jo["rent_or_buy"] = {{"capital_usd", run::sig(rb.capital.value())},
                           {"run_share_of_life", run::sig(rb.run_share_of_life)},
                           {"breakeven_utilisation",
                            rb.breakeven_utilisation ? json(run::sig(*rb.breakeven_utilisation)) : json(nullptr)},
                           {"summary", rb.summary}};
    }
    const OptionRecord x = records.of(o);
    if (!x.record->missing.empty()) {
      jo["track_record"] = {{"available", false}, {"reason", x.record->missing}};
    } else {
      const report::TimeErrorSummary& b = x.record->band_basis();
      jo["track_record"] = {{"available", true},
                            {"runs", x.record->band_on_die() ? "same_compute_die" : "all_runs"},
                            {"n", b.stats.n},
                            {"runs_on_die", x.record->die.stats.n},
                            {"step_time_error_p10_pct", run::sig(b.p10_time_error_pct)},
                            {"step_time_error_median_pct", run::sig(b.median_time_error_pct)},
                            {"step_time_error_p90_pct", run::sig(b.p90_time_error_pct)},
                            {"days_median", run::sig(x.days.median)},
                            {"days_p10", run::sig(x.days.high)},
                            {"cost_median_usd", x.has_cost ? json(run::sig(x.cost.median)) : json(nullptr)},
                            {"cost_p10_usd", x.has_cost ? json(run::sig(x.cost.high)) : json(nullptr)},
                            {"note", "predicted / (1 + step-time error) at the validation errors' median and P10; "
                                     "not used by the ranking or the constraints"}};
    }
    options.push_back(jo);
  }
  json req{{"model", r.model.name},
           {"tokens", run::sig(q.tokens)},
           {"seq_len", q.seq_len},
           {"global_batch", r.global_batch},
           {"global_batch_default", q.global_batch <= 0},
           {"hardware", q.hardware},
           {"gpus", q.gpu_counts},
           {"budget_usd", q.budget ? json(run::sig(q.budget->value())) : json(nullptr)},
           {"deadline_days", q.deadline ? json(run::sig(in_days(*q.deadline))) : json(nullptr)},
           {"rank", q.rank == planner::RankBy::kCost ? "cost" : "time"},
           {"cost_basis", basis_name(q.basis)},
           {"top", q.top}};
  return json{{"command", "trainsim plan " + join(args, " ")},
              {"request", req},
              {"search", {{"clusters", clusters}, {"rules", r.rules}}},
              {"runnable", r.feasible},
              {"meeting_constraints", r.meeting},
              {"over_budget", r.over_budget},
              {"over_deadline", r.over_deadline},
              {"unpriced", r.unpriced},
              {"refused_by_run_model", r.failed_run},
              {"options", options},
              {"defaults_scenario", r.defaults.scenario},
              {"assumptions", run::assumptions_json(r.defaults.assumptions)}};
}

}  // namespace

int cmd_plan(const std::vector<std::string>& args, Io& io) {
  po::options_description desc("options");
  desc.add_options()("model", po::value<std::string>(), "model name or config path")(
      "tokens", po::value<std::string>(), "training tokens: 15T, 14.8e12, 300B (required)")(
      "budget", po::value<std::string>(), "keep options costing at most this: \"$6M\", \"250k USD\"")(
      "deadline", po::value<std::string>(), "keep options finishing within this: \"60 days\"")(
      "hardware", po::value<std::string>()->default_value(kDefaultHardware), "accelerators, comma-separated")(
      "gpus", po::value<std::string>()->default_value(kDefaultGpus), "GPU counts, comma-separated")(
      "seq-len", po::value<int64_t>()->default_value(4096), "sequence length")(
      "global-batch", po::value<int64_t>(), "sequences per step (default: 4M tokens / seq-len)")(
      "top", po::value<int>()->default_value(5), "options to show")(
      "rank", po::value<std::string>()->default_value("cost"), "cost|time")(
      "cost-basis", po::value<std::string>()->default_value("rent"), "rent|own: the cost ranked and budgeted")(
      "defaults", po::value<std::string>()->default_value("deepseek-v3"),
      "scenario giving goodput, hardware life, datacenter and power inputs")(
      "format", po::value<std::string>()->default_value("text"), "text|json|md")(
      "output,o", po::value<std::string>(), "write to FILE (atomically) instead of stdout");
  po::positional_options_description pos;
  pos.add("model", 1);
  const std::string usage =
      "trainsim plan MODEL --tokens N [--budget \"$X\" | --deadline \"D days\"] [--hardware LIST] [--gpus LIST] "
      "[--seq-len N] [--global-batch N] [--top N] [--rank cost|time] [--cost-basis rent|own] [--format "
      "text|json|md] [-o FILE]";
  po::variables_map vm;
  if (!parse_options(args, desc, pos, vm, usage,
                     "trainsim plan llama3_8b --tokens 1T --gpus 64,128 --hardware h100-sxm,a100-sxm-80gb", io)) {
    return kExitOk;
  }
  if (!vm.count("model")) {
    throw UsageError(fmt::format("missing MODEL (one of {})\nusage: {}", join(model::list_models()), usage));
  }
  if (!vm.count("tokens")) throw UsageError("missing --tokens (e.g. --tokens 15T)\nusage: " + usage);
  const std::string format = checked_format(vm, {"text", "json", "md"});
  planner::PlanRequest q;
  q.model = vm["model"].as<std::string>();
  q.tokens = planner::parse_token_count(vm["tokens"].as<std::string>());
  if (vm.count("budget")) q.budget = planner::parse_budget(vm["budget"].as<std::string>());
  if (vm.count("deadline")) q.deadline = planner::parse_deadline(vm["deadline"].as<std::string>());
  q.hardware = planner::parse_hardware_list(vm["hardware"].as<std::string>());
  q.gpu_counts = planner::parse_gpu_counts(vm["gpus"].as<std::string>());
  q.seq_len = vm["seq-len"].as<int64_t>();
  if (vm.count("global-batch")) {
    q.global_batch = vm["global-batch"].as<int64_t>();
    if (q.global_batch < 1) throw UsageError(fmt::format("--global-batch: expected >= 1; found {}", q.global_batch));
  }
  q.top = vm["top"].as<int>();
  const std::string rank = vm["rank"].as<std::string>();
  if (rank != "cost" && rank != "time") {
    throw UsageError(fmt::format("--rank {}: expected cost|time{}", rank, did_you_mean(rank, {"cost", "time"})));
  }
  q.rank = rank == "cost" ? planner::RankBy::kCost : planner::RankBy::kTime;
  const std::string basis = vm["cost-basis"].as<std::string>();
  if (basis != "rent" && basis != "own") {
    throw UsageError(fmt::format("--cost-basis {}: expected rent|own{}", basis, did_you_mean(basis, {"rent", "own"})));
  }
  q.basis = basis == "rent" ? planner::CostBasis::kRent : planner::CostBasis::kOwn;
  q.defaults_scenario = vm["defaults"].as<std::string>();

  const planner::PlanReport r = planner::make_plan(q);
  if (format == "json") {
    emit(vm, plan_json(r, args).dump(2) + "\n", io);
    return kExitOk;
  }
  std::string out = header(r) + search_summary(r);
  if (r.options.empty()) {
    out += "\nNo option meets the constraints.\n";
  } else {
    out += fmt::format("\nTop {} by {}\n", r.options.size(),
                       q.rank == planner::RankBy::kCost ? basis + " cost" : "wall time");
    const Table t = options_table(r);
    out += format == "md" ? t.to_markdown() : t.to_text();
  }
  out += footer(r);
  emit(vm, out, io);
  return kExitOk;
}

}  // namespace trainsim::cli
