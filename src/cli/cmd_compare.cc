// trainsim compare SCENARIO [--hardware LIST] [--scale-up-sweep "900 GB/s,400 GB/s"]
//   [--format text|json|md] [-o FILE]
//
// The same training run on each listed accelerator (same GPU count), with
// each chip's export-control metrics and verdicts; with --scale-up-sweep, the
// scenario's chip with its scale-up bandwidth capped (planner/compare.h).
#include <map>
#include <ostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/paths.h"
#include "core/error.h"
#include "core/strings.h"
#include "planner/compare.h"
#include "report/table.h"
#include "report/validation.h"
#include "run/output.h"

namespace trainsim::cli {
namespace {

using json = nlohmann::ordered_json;
using report::Align;
using report::Table;

const std::vector<std::string> kRules = {"us-2022-10", "us-2023-10", "us-2025-04-letters", "us-2026-01"};

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (item.empty()) throw UsageError(fmt::format("empty item in list \"{}\"", text));
    out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string verdict_cell(const hardware::Verdict& v) {
  std::string s = v.controlled ? "controlled" : "not controlled";
  if (v.eccn && !v.eccn->empty()) s += " (" + *v.eccn + ")";
  if (v.review && !v.review->empty()) s += " (" + *v.review + ")";
  return s;
}

std::string gbs(BytesPerSecond b) { return report::fixed(in_gigabytes_per_second(b), 0) + " GB/s"; }

// How far trainsim's step times were off on the published runs on each
// chip's compute die (report::track_record); empty summaries where none ran.
std::map<std::string, report::TrackRecord> track_records(const planner::CompareReport& r) {
  const report::TrackRecords all;
  std::map<std::string, report::TrackRecord> out;
  for (const auto& c : r.chips) out.emplace(c.accelerator, all.of(c.accelerator));
  return out;
}

std::string validated_cell(const report::TrackRecord& t) {
  if (!t.missing.empty()) return "n/a";
  if (t.die.stats.n == 0) return "none on its die";
  return fmt::format("{} runs, median {}", t.die.stats.n, report::signed_whole_percent(t.die.median_time_error_pct));
}

std::string text_report(const planner::CompareReport& r, bool md) {
  std::string out;
  out += fmt::format("compare {}: model {} on {} GPUs of each accelerator\n", r.scenario, r.model, r.gpus);
  for (const auto& n : r.notes) out += "  " + n + "\n";
  out += "\nTraining run per accelerator\n";
  const auto records = track_records(r);
  Table t({"accelerator", "cluster", "GPU-hours", "days", "rent", "MFU", "step", "validated (step error)",
           "main layout"},
          {Align::kLeft, Align::kLeft, Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kRight,
           Align::kLeft, Align::kLeft});
  for (const auto& c : r.chips) {
    const std::string validated = validated_cell(records.at(c.accelerator));
    if (!c.error.empty()) {
      t.add_row({c.accelerator, c.cluster, "-", "-", "-", "-", "-", validated, "not runnable (see below)"});
      continue;
    }
    t.add_row({c.accelerator, c.cluster, report::with_commas(in_hours(c.run.total_gpu_time())),
               report::fixed(in_days(c.run.total_wall()), 1),
               c.has_rent ? "$" + report::with_commas(c.run.total_cost().rental.value()) : "n/a",
               report::percent(c.main_step.mfu_causal), report::fixed(c.main_step.step_time.value(), 2) + " s",
               validated, c.main_layout});
  }
  out += md ? t.to_markdown() : t.to_text();
  out += "  validated: the published runs on the chip's compute die that `trainsim validate` compares, and the "
         "median of trainsim's step-time errors on them (< 0: steps predicted short); \"none\" means the chip's "
         "numbers rest on its kernel calibration (or stated defaults) alone\n";
  for (const auto& [acc, tr] : records) {
    if (!tr.missing.empty()) out += fmt::format("  {}: validated: not available ({})\n", acc, tr.missing);
  }
  for (const auto& c : r.chips) {
    if (!c.error.empty()) out += fmt::format("  {}: not runnable: {}\n", c.accelerator, c.error);
    for (const auto& ch : c.plan_changes) out += fmt::format("  {}: plan changed: {}\n", c.accelerator, ch);
    for (const auto& m : c.missing_prices) out += fmt::format("  price missing: {}\n", m);
    if (c.error.empty() && c.tables.rfind("defaults", 0) == 0) {
      out += fmt::format("  {}: no calibration measurements; stated default efficiencies\n", c.accelerator);
    }
    if (c.error.empty() && !c.assumed_gemm.empty()) {
      out += fmt::format("  {}: {} efficiency a stated default (no measurement); the other GEMMs measured\n",
                         c.accelerator, fmt::join(c.assumed_gemm, ", "));
    }
  }

  out += "\nExport-control metrics and verdicts (not legal advice; rules from " + paths::shown(r.rules_file) + ")\n";
  Table e({"accelerator", "TPP", "PD", "I/O", "us-2022-10", "us-2023-10", "us-2025-04-letters", "us-2026-01"},
          {Align::kLeft, Align::kRight, Align::kRight, Align::kRight, Align::kLeft, Align::kLeft, Align::kLeft,
           Align::kLeft});
  for (const auto& c : r.chips) {
    if (c.classification.verdicts.empty()) continue;
    const auto& m = c.classification.metrics;
    std::vector<std::string> row = {c.accelerator, report::with_commas(m.tpp),
                                    report::fixed(m.performance_density, 2) +
                                        (c.classification.die_area_estimated ? " (est. area)" : ""),
                                    gbs(m.io_bidirectional)};
    for (const auto& id : kRules) row.push_back(verdict_cell(c.classification.verdict(id)));
    e.add_row(row);
  }
  out += md ? e.to_markdown() : e.to_text();
  for (const auto& c : r.chips) {
    if (!c.classification.note.empty()) out += fmt::format("  {}: {}\n", c.accelerator, c.classification.note);
  }

  if (!r.sweep.empty()) {
    out += fmt::format(
        "\nScale-up bandwidth sweep on {} (override {}.scale_up.bandwidth_per_direction; plan kept)\n",
        r.scenario_chip, r.scenario_chip);
    Table s({"per direction", "I/O (bidir.)", "GPU-hours", "main step", "exposed comm", "us-2022-10"},
            {Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kLeft});
    for (const auto& w : r.sweep) {
      if (!w.error.empty()) {
        s.add_row({w.value, "-", "-", "-", "-", "refused: " + w.error});
        continue;
      }
      s.add_row({w.value, gbs(w.io_bidirectional), report::with_commas(in_hours(w.gpu_time)),
                 report::fixed(w.step_time.value(), 2) + " s", report::percent(w.exposed_comm_share),
                 w.controlled_2022 ? "controlled" : "under the I/O threshold (not controlled)"});
    }
    out += md ? s.to_markdown() : s.to_text();
    out += fmt::format("  us-2022-10 controls a chip with TPP >= its threshold AND I/O >= {:.0f} GB/s "
                       "(bidirectional); exposed comm = (exposed TP/EP/PP/CP + exposed DP) / step time\n",
                       r.io_threshold_2022 / units::kGiga);
  }
  return out;
}

json report_json(const planner::CompareReport& r, const std::vector<std::string>& args) {
  const auto records = track_records(r);
  json chips = json::array();
  for (const auto& c : r.chips) {
    json j{{"accelerator", c.accelerator}, {"display_name", c.display_name}, {"cluster", c.cluster}};
    const report::TrackRecord& tr = records.at(c.accelerator);
    if (!tr.missing.empty()) {
      j["validated"] = {{"available", false}, {"reason", tr.missing}};
    } else {
      j["validated"] = {{"available", true},
                        {"runs_on_die", tr.die.stats.n},
                        {"hardware", tr.die.hardware},
                        {"step_time_error_median_pct",
                         tr.die.stats.n > 0 ? json(run::sig(tr.die.median_time_error_pct)) : json(nullptr)},
                        {"step_time_mape_pct", tr.die.stats.n > 0 ? json(run::sig(tr.die.stats.mape_pct)) : json(nullptr)}};
    }
    if (!c.error.empty()) {
      j["error"] = c.error;
    } else {
      const auto cost = c.run.total_cost();
      json phases = json::array();
      for (const auto& p : c.run.phases) {
        phases.push_back({{"name", p.name},
                          {"gpu_hours", run::sig(in_hours(p.gpu_time))},
                          {"days", run::sig(in_days(p.wall))},
                          {"step_time_s", run::sig(p.step.step_time.value())}});
      }
      j["tables"] = c.tables;
      j["assumed_gemm"] = c.assumed_gemm;
      j["gpu_hours"] = run::sig(in_hours(c.run.total_gpu_time()));
      j["days"] = run::sig(in_days(c.run.total_wall()));
      j["rent_usd"] = c.has_rent ? json(run::sig(cost.rental.value())) : json(nullptr);
      j["mfu_causal"] = run::sig(c.main_step.mfu_causal);
      j["step_time_s"] = run::sig(c.main_step.step_time.value());
      j["main_layout"] = c.main_layout;
      j["plan_kept"] = c.plan_changes.empty();
      j["missing_prices"] = c.missing_prices;
      j["phases"] = phases;
    }
    j["plan_changes"] = c.plan_changes;
    if (!c.classification.verdicts.empty()) {
      const auto& m = c.classification.metrics;
      json verdicts = json::object();
      for (const auto& v : c.classification.verdicts) {
        json jv{{"controlled", v.controlled}, {"reason", v.reason}};
        if (v.eccn) jv["eccn"] = *v.eccn;
        if (v.review) jv["review"] = *v.review;
        verdicts[v.rule_id] = jv;
      }
      j["export_control"] = {{"tpp", run::sig(m.tpp)},
                             {"tpp_format", hardware::to_string(m.tpp_format)},
                             {"performance_density", run::sig(m.performance_density)},
                             {"die_area_estimated", c.classification.die_area_estimated},
                             {"io_bidirectional_gb_s", run::sig(in_gigabytes_per_second(m.io_bidirectional))},
                             {"verdicts", verdicts}};
    }
    chips.push_back(j);
  }
  json sweep = json::array();
  for (const auto& w : r.sweep) {
    json j{{"bandwidth_per_direction", w.value}};
    if (!w.error.empty()) {
      j["error"] = w.error;
    } else {
      j["gpu_hours"] = run::sig(in_hours(w.gpu_time));
      j["step_time_s"] = run::sig(w.step_time.value());
      j["exposed_comm_share"] = run::sig(w.exposed_comm_share);
      j["io_bidirectional_gb_s"] = run::sig(in_gigabytes_per_second(w.io_bidirectional));
      j["us_2022_10_controlled"] = w.controlled_2022;
      j["us_2022_10_reason"] = w.reason_2022;
      j["applied_overrides"] = w.applied_overrides;
    }
    sweep.push_back(j);
  }
  json out{{"command", "trainsim compare " + join(args, " ")},
           {"scenario", r.scenario},
           {"model", r.model},
           {"gpus", r.gpus},
           {"notes", r.notes},
           {"chips", chips}};
  if (!r.sweep.empty()) {
    out["scale_up_sweep"] = {{"accelerator", r.scenario_chip},
                             {"io_threshold_2022_gb_s", run::sig(r.io_threshold_2022 / units::kGiga)},
                             {"rows", sweep}};
  }
  return out;
}

}  // namespace

int cmd_compare(const std::vector<std::string>& args, Io& io) {
  po::options_description desc("options");
  desc.add_options()("scenario", po::value<std::string>(), "scenario name or .json path")(
      "hardware", po::value<std::string>(),
      "accelerators, comma-separated (default h800,h100-sxm,h20,a800,a100-sxm-80gb,h200,b200,ascend-910b)")(
      "scale-up-sweep", po::value<std::string>(),
      "scale-up bandwidths per direction for the scenario's chip, comma-separated: \"400 GB/s,200 GB/s\"")(
      "format", po::value<std::string>()->default_value("text"), "text|json|md")(
      "output,o", po::value<std::string>(), "write to FILE (atomically) instead of stdout");
  po::positional_options_description pos;
  pos.add("scenario", 1);
  const std::string usage =
      "trainsim compare SCENARIO [--hardware LIST] [--scale-up-sweep LIST] [--format text|json|md] [-o FILE]";
  po::variables_map vm;
  if (!parse_options(args, desc, pos, vm, usage,
                     "trainsim compare deepseek-v3 --scale-up-sweep \"400 GB/s,200 GB/s,100 GB/s\"", io)) {
    return kExitOk;
  }
  if (!vm.count("scenario")) {
    throw UsageError(fmt::format("missing SCENARIO (one of {})\nusage: {}", join(run::list_scenarios()), usage));
  }
  const std::string format = checked_format(vm, {"text", "json", "md"});
  planner::CompareRequest q;
  q.scenario = vm["scenario"].as<std::string>();
  if (vm.count("hardware")) q.hardware = planner::parse_hardware_list(vm["hardware"].as<std::string>());
  if (vm.count("scale-up-sweep")) q.scale_up_sweep = split_list(vm["scale-up-sweep"].as<std::string>());
  const planner::CompareReport r = planner::make_compare(q);
  emit(vm, format == "json" ? report_json(r, args).dump(2) + "\n" : text_report(r, format == "md"), io);
  return kExitOk;
}

}  // namespace trainsim::cli
