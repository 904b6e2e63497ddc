// Text, Markdown and JSON renderings of a ValidationReport (validation.h).
// Numbers are formatted with fixed decimals, so the same report gives the
// same bytes.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/strings.h"
#include "report/table.h"
#include "report/validation.h"

namespace trainsim::report {
namespace {

using nlohmann::ordered_json;

const char* schedule_name(plan::Schedule s) {
  switch (s) {
    case plan::Schedule::kGpipe: return "gpipe";
    case plan::Schedule::k1F1B: return "1f1b";
    case plan::Schedule::kInterleaved1F1B: return "interleaved-1f1b";
    case plan::Schedule::kZeroBubbleH1: return "zero-bubble";
    case plan::Schedule::kDualPipe: return "dualpipe";
    case plan::Schedule::kDualPipeV: return "dualpipev";
  }
  return "?";
}

ordered_json opt(const std::optional<double>& v) { return v ? ordered_json(*v) : ordered_json(nullptr); }

ordered_json stats_json(const ErrorStats& s) {
  ordered_json j;
  j["n"] = s.n;
  if (s.n == 0) {
    j["mape_pct"] = j["median_ape_pct"] = j["max_ape_pct"] = j["mean_signed_error_pct"] = j["within_10pct"] = nullptr;
    j["worst_id"] = j["published_metric_mape_pct"] = nullptr;
    return j;
  }
  j["mape_pct"] = s.mape_pct;
  j["median_ape_pct"] = s.median_ape_pct;
  j["max_ape_pct"] = s.max_ape_pct;
  j["mean_signed_error_pct"] = s.mean_error_pct;
  j["within_10pct"] = s.within_10pct;
  j["worst_id"] = s.worst_id;
  j["published_metric_mape_pct"] = s.metric_mape_pct;
  return j;
}

std::string layout(const plan::Plan& p) {
  std::string s = fmt::format("tp{} pp{} dp{}", p.tp, p.pp, p.dp);
  if (p.cp > 1) s += fmt::format(" cp{}", p.cp);
  if (p.ep > 1) s += fmt::format(" ep{}", p.ep);
  if (p.vpp > 1) s += fmt::format(" vpp{}", p.vpp);
  s += fmt::format(" mb{} gb{}", p.micro_batch, p.global_batch);
  return s;
}

// A metric value with its customary precision.
std::string metric_value(Metric m, double v) {
  switch (m) {
    case Metric::kStepTime: return fmt::format("{:.3f} s", v);
    case Metric::kTokensPerSecPerGpu: return fmt::format("{} tok/s", with_commas(v, 0));
    case Metric::kTflopsPerGpu: return fmt::format("{:.1f} TFLOP/s", v);
    case Metric::kMfu:
    case Metric::kHfu: return percent(v, 1);
    case Metric::kGpuHours: return fmt::format("{} GPU-h", with_commas(v, 0));
    case Metric::kNone: return "-";
  }
  return "-";
}

constexpr const char* kErrorExplained =
    "Errors: metric error = (predicted - published) / published on the published figure; step error = "
    "predicted step / the step the published figure implies - 1 (the metric error for a time, 1/(1 + e) - 1 "
    "for tokens/s, TFLOP/s, MFU or HFU, which fall as the step grows). A negative step error is a step predicted "
    "too short. The statistics are of the step error: trainsim predicts time and cost, and one scale keeps a "
    "row's weight from depending on which figure its source printed. The tables' \"metric MAPE\" is the same "
    "rows' MAPE of the metric error.";

std::string signed_pct(double e) { return fmt::format("{:+.1f}%", e); }

std::string stats_line(const ErrorStats& s) {
  if (s.n == 0) return "no rows compared";
  return fmt::format("n={}, MAPE {:.1f}%, median APE {:.1f}%, max APE {:.1f}% ({}), within 10%: {:.0f}%", s.n,
                     s.mape_pct, s.median_ape_pct, s.max_ape_pct, s.worst_id, 100.0 * s.within_10pct);
}

// Step-time statistics per group, with the MAPE of the same rows on their
// published metrics' own scale beside them.
Table stats_table(const std::string& first, const std::map<std::string, ErrorStats>& groups) {
  Table t({first, "n", "MAPE", "median APE", "max APE", "mean signed", "within 10%", "metric MAPE", "worst row"},
          {Align::kLeft, Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kRight,
           Align::kRight, Align::kLeft});
  for (const auto& [name, s] : groups) {
    t.add_row({name, std::to_string(s.n), fmt::format("{:.1f}%", s.mape_pct), fmt::format("{:.1f}%", s.median_ape_pct),
               fmt::format("{:.1f}%", s.max_ape_pct), signed_pct(s.mean_error_pct),
               fmt::format("{:.0f}%", 100.0 * s.within_10pct),
               fmt::format("{:.1f}%", s.metric_mape_pct), s.worst_id});
  }
  return t;
}

// The compared rows of one group (validation.h RowGroup). Whole-run GPU-hours
// rows have one error column: the metric error is the step error there.
Table rows_table(const ValidationReport& r, RowGroup group) {
  const bool gpu_hours = group == RowGroup::kGpuHours;
  std::vector<std::string> head = {"id", "hw", "layout", "metric", "published", "predicted"};
  std::vector<Align> align = {Align::kLeft, Align::kLeft, Align::kLeft, Align::kLeft, Align::kRight, Align::kRight};
  if (gpu_hours) {
    head.push_back("error");
    align.push_back(Align::kRight);
  } else {
    head.insert(head.end(), {"metric error", "step error"});
    align.insert(align.end(), {Align::kRight, Align::kRight});
  }
  head.push_back("defaults used");
  align.push_back(Align::kLeft);
  Table t(head, align);
  for (const auto& row : r.rows) {
    if (row.status != RowStatus::kOk || group_of(row) != group) continue;
    std::vector<std::string> cells = {row.id, row.hw, layout(*row.plan), to_string(row.metric),
                                      metric_value(row.metric, row.published_value),
                                      metric_value(row.metric, row.predicted_value)};
    if (!gpu_hours) cells.push_back(signed_pct(*row.metric_error_pct));
    cells.push_back(signed_pct(*row.error_pct));
    cells.push_back(row.defaults_used.empty() ? "-" : join(row.defaults_used, "; "));
    t.add_row(cells);
  }
  return t;
}

Table skipped_table(const ValidationReport& r) {
  Table t({"id", "line", "reason"}, {Align::kLeft, Align::kRight, Align::kLeft});
  for (const auto& row : r.rows) {
    if (row.status == RowStatus::kSkipped) t.add_row({row.id, std::to_string(row.line), row.reason});
  }
  return t;
}

Table worst_table(const ValidationReport& r, size_t count) {
  std::vector<const RowResult*> ok;
  for (const auto& row : r.rows) {
    if (row.status == RowStatus::kOk && group_of(row) == RowGroup::kMain) ok.push_back(&row);
  }
  std::stable_sort(ok.begin(), ok.end(), [](const RowResult* a, const RowResult* b) {
    return std::fabs(*a->error_pct) > std::fabs(*b->error_pct);
  });
  Table t({"id", "family", "metric", "published", "predicted", "metric error", "step error"},
          {Align::kLeft, Align::kLeft, Align::kLeft, Align::kRight, Align::kRight, Align::kRight, Align::kRight});
  for (size_t i = 0; i < ok.size() && i < count; ++i) {
    const RowResult& row = *ok[i];
    t.add_row({row.id, row.family, to_string(row.metric), metric_value(row.metric, row.published_value),
               metric_value(row.metric, row.predicted_value), signed_pct(*row.metric_error_pct),
               signed_pct(*row.error_pct)});
  }
  return t;
}

Table defaults_table() {
  Table t({"default", "applies to", "value", "why"}, {Align::kLeft, Align::kLeft, Align::kLeft, Align::kLeft});
  for (const auto& d : default_rules()) t.add_row({d.key, d.column, d.value, d.why});
  return t;
}

std::string defaults_list() {
  std::string out;
  for (const auto& d : default_rules()) out += fmt::format("  {} ({}): {}\n      {}\n", d.key, d.column, d.value, d.why);
  return out;
}

// Rows whose modelled memory exceeded the HBM (they are still predicted).
std::vector<std::string> memory_overflow_rows(const ValidationReport& r) {
  std::vector<std::string> ids;
  for (const auto& row : r.rows) {
    for (const auto& n : row.notes) {
      if (n.rfind("memory model:", 0) == 0) ids.push_back(row.id);
    }
  }
  return ids;
}

std::string notes_section(const ValidationReport& r, const char* bullet) {
  std::string out;
  for (const auto& n : r.engine_notes) out += fmt::format("{}{}\n", bullet, n);
  const auto mem = memory_overflow_rows(r);
  if (!mem.empty()) {
    out += fmt::format("{}{} simulated rows exceed the accelerator's HBM in trainsim's memory model although the "
                       "published runs ran; they are predicted anyway and flagged in their JSON notes: {}\n",
                       bullet, mem.size(), join(mem, ", "));
  }
  return out;
}

std::string headline(const ValidationReport& r) {
  std::string s = fmt::format("{} rows: {} simulated, {} skipped (listed with reasons); {} compared on step time, "
                              "throughput or utilisation, {} on whole-run GPU-hours only",
                              r.rows.size(), r.rows_ok(), r.rows_skipped(), r.overall.n, r.gpu_hours.n);
  if (r.uncalibrated.n > 0) {
    s += fmt::format(", {} on hardware without calibration data (reported apart)", r.uncalibrated.n);
  }
  return s;
}

constexpr const char* kUncalibratedExplained =
    "Rows on hardware without calibration data were predicted with the stated default efficiencies (the "
    "engine notes name them), not with measured ones: a guess, not a calibrated prediction, so they are "
    "kept out of every statistic above.";

}  // namespace

std::string to_json(const ValidationReport& r) {
  ordered_json root;
  root["file"] = r.file;
  root["command"] = r.command;
  root["engine"] = to_string(r.engine);
  ordered_json rows = ordered_json::array();
  for (const auto& row : r.rows) {
    ordered_json j;
    j["id"] = row.id;
    j["line"] = row.line;
    j["family"] = row.family;
    j["hw"] = row.hw;
    j["status"] = row.status == RowStatus::kOk ? "ok" : "skipped";
    j["reason"] = row.status == RowStatus::kOk ? ordered_json(nullptr) : ordered_json(row.reason);
    j["metric"] = row.status == RowStatus::kOk ? ordered_json(to_string(row.metric)) : ordered_json(nullptr);
    if (row.predicted) {
      ordered_json p;
      p["step_time_s"] = row.predicted->step_time.value();
      p["tokens_per_s_per_gpu"] = row.predicted->tokens_per_s_per_gpu;
      p["mfu"] = row.predicted->mfu;
      p["hfu"] = row.predicted->hfu;
      p["metric_value"] = row.predicted_value;
      ordered_json b = ordered_json::object();
      for (const auto& [name, t] : row.predicted->breakdown) b[name + "_s"] = t.value();
      p["breakdown"] = b;
      j["predicted"] = p;
    } else {
      j["predicted"] = nullptr;
    }
    ordered_json pub;
    pub["step_time_s"] = opt(row.published.step_time_s);
    pub["tokens_per_s_per_gpu"] = opt(row.published.tokens_per_s_per_gpu);
    pub["tflops_per_gpu"] = opt(row.published.tflops_per_gpu);
    pub["mfu"] = opt(row.published.mfu);
    pub["hfu"] = opt(row.published.hfu);
    pub["gpu_hours"] = opt(row.published.gpu_hours);
    pub["gpu_hours_per_T_tokens"] = opt(row.published.gpu_hours_per_trillion_tokens);
    pub["wall_clock_days"] = opt(row.published.wall_clock_days);
    pub["flops_convention"] = to_string(row.published.convention);
    pub["metric_value"] = row.status == RowStatus::kOk ? ordered_json(row.published_value) : ordered_json(nullptr);
    pub["implied_step_time_s"] = opt(row.implied_step_time_s);
    j["published"] = pub;
    j["error_pct"] = opt(row.error_pct);
    j["metric_error_pct"] = opt(row.metric_error_pct);
    // Which summary the row counts in (validation.h RowGroup); null when skipped.
    if (row.status != RowStatus::kOk) {
      j["summary_group"] = nullptr;
    } else {
      j["summary_group"] = to_string(group_of(row));
    }
    j["defaults_used"] = row.defaults_used;
    j["derived"] = row.derived;
    j["notes"] = row.notes;
    if (row.plan) {
      const plan::Plan& p = *row.plan;
      ordered_json pl;
      pl["tp"] = p.tp;
      pl["pp"] = p.pp;
      pl["dp"] = p.dp;
      pl["cp"] = p.cp;
      pl["ep"] = p.ep;
      pl["vpp"] = p.vpp;
      pl["micro_batch"] = p.micro_batch;
      pl["global_batch"] = p.global_batch;
      pl["seq_len"] = p.seq_len;
      pl["schedule"] = schedule_name(p.schedule);
      pl["recompute"] = plan::to_string(p.recompute);
      pl["zero"] = p.zero_stage;
      pl["linear_gemms"] = to_string(p.precision.linear_gemms);
      j["plan"] = pl;
    } else {
      j["plan"] = nullptr;
    }
    rows.push_back(j);
  }
  root["rows"] = rows;
  ordered_json s = stats_json(r.overall);
  s["rows"] = r.rows.size();
  s["simulated"] = r.rows_ok();
  s["skipped"] = r.rows_skipped();
  s["error"] = "step time: predicted step / the step the published figure implies - 1";
  s["published_metric"] = stats_json(r.overall_metric);
  ordered_json fam = ordered_json::object();
  for (const auto& [k, v] : r.by_family) fam[k] = stats_json(v);
  s["by_family"] = fam;
  ordered_json hw = ordered_json::object();
  for (const auto& [k, v] : r.by_hardware) hw[k] = stats_json(v);
  s["by_hardware"] = hw;
  ordered_json met = ordered_json::object();
  for (const auto& [k, v] : r.by_metric) met[k] = stats_json(v);
  s["by_metric"] = met;
  ordered_json gh = stats_json(r.gpu_hours);
  gh["goodput"] = kAssumedGoodput;
  s["gpu_hours_only"] = gh;
  ordered_json unc = stats_json(r.uncalibrated);
  unc["note"] = kUncalibratedExplained;
  s["uncalibrated_hardware"] = unc;
  ordered_json defs = ordered_json::array();
  for (const auto& d : default_rules()) {
    defs.push_back({{"default", d.key}, {"applies_to", d.column}, {"value", d.value}, {"why", d.why}});
  }
  s["defaults"] = defs;
  root["summary"] = s;
  // CSV cells are bytes as found; invalid UTF-8 becomes U+FFFD rather than
  // an exception from nlohmann::json.
  return root.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string to_text(const ValidationReport& r) {
  std::string out;
  out += fmt::format("trainsim validate: {} (engine {})\n", r.file, to_string(r.engine));
  out += headline(r) + "\n\n";
  out += "Overall, error of the step time: " + stats_line(r.overall) + "\n";
  out += "  the same rows on their published metrics' own scale: " + stats_line(r.overall_metric) + "\n";
  if (r.gpu_hours.n > 0) {
    out += fmt::format("Whole-run GPU-hours (goodput {:.2f}): {}\n", kAssumedGoodput, stats_line(r.gpu_hours));
  }
  if (r.uncalibrated.n > 0) {
    out += "Hardware without calibration data (default efficiencies): " + stats_line(r.uncalibrated) + "\n";
  }
  out += "\n" + std::string(kErrorExplained) + "\n";
  out += "\nBy family (step-time error):\n" + stats_table("family", r.by_family).to_text();
  out += "\nBy hardware (step-time error):\n" + stats_table("hardware", r.by_hardware).to_text();
  out += "\nBy compared metric (step-time error):\n" + stats_table("metric", r.by_metric).to_text();
  out += "\nRows:\n" + rows_table(r, RowGroup::kMain).to_text();
  if (r.gpu_hours.n > 0) {
    out += fmt::format("\nWhole-run GPU-hours, after an assumed goodput of {:.2f}:\n", kAssumedGoodput) +
           rows_table(r, RowGroup::kGpuHours).to_text();
  }
  if (r.uncalibrated.n > 0) {
    out += "\nOn hardware without calibration data (default efficiencies; in no statistic above):\n" +
           rows_table(r, RowGroup::kUncalibrated).to_text();
  }
  if (r.rows_skipped() > 0) out += "\nSkipped rows:\n" + skipped_table(r).to_text();
  const std::string notes = notes_section(r, "  - ");
  if (!notes.empty()) out += "\nNotes:\n" + notes;
  out += "\nDefaults for unstated inputs (one value for every row):\n" + defaults_list();
  return out;
}

std::string to_markdown(const ValidationReport& r) {
  std::string out;
  out += "# Validation against published training runs\n\n";
  out += fmt::format("Generated by `{}` (engine: {}). Do not edit by hand.\n\n", r.command, to_string(r.engine));
  out += "Each row of the input is a published training configuration with a measured outcome. trainsim predicts "
         "the step from the row's architecture, hardware and parallel layout, and compares with the published "
         "figure in this order of preference: iteration time, tokens/s/GPU, TFLOP/s/GPU or MFU recomputed with "
         "the row's own FLOP convention. No parameter of trainsim is fitted to these rows.\n\n";
  out += std::string(kErrorExplained) + "\n\n";
  out += headline(r) + ".\n\n";
  out += "## Summary\n\n";
  out += "- Overall, error of the step time: " + stats_line(r.overall) + "\n";
  out += "- The same rows on their published metrics' own scale: " + stats_line(r.overall_metric) + "\n";
  if (r.gpu_hours.n > 0) {
    out += fmt::format("- Whole-run GPU-hours (goodput {:.2f}, reported separately): {}\n", kAssumedGoodput,
                       stats_line(r.gpu_hours));
  }
  if (r.uncalibrated.n > 0) {
    out += "- Hardware without calibration data (default efficiencies, reported separately): " +
           stats_line(r.uncalibrated) + "\n";
  }
  out += "\n### By family (step-time error)\n\n" + stats_table("family", r.by_family).to_markdown();
  out += "\n### By hardware (step-time error)\n\n" + stats_table("hardware", r.by_hardware).to_markdown();
  out += "\n### By compared metric (step-time error)\n\n" + stats_table("metric", r.by_metric).to_markdown();
  out += "\n## Worst rows\n\n" + worst_table(r, 10).to_markdown();
  out += "\n## Skipped rows\n\n";
  out += r.rows_skipped() > 0 ? skipped_table(r).to_markdown() : std::string("None.\n");
  out += "\n## Defaults for unstated inputs\n\nOne value for every row; each row lists the ones it used.\n\n" +
         defaults_table().to_markdown();
  const std::string notes = notes_section(r, "- ");
  if (!notes.empty()) out += "\n## Notes\n\n" + notes;
  out += "\n## All compared rows\n\n" + rows_table(r, RowGroup::kMain).to_markdown();
  if (r.gpu_hours.n > 0) {
    out += fmt::format("\n## Whole-run GPU-hours (goodput {:.2f})\n\n", kAssumedGoodput) +
           rows_table(r, RowGroup::kGpuHours).to_markdown();
  }
  if (r.uncalibrated.n > 0) {
    out += std::string("\n## Hardware without calibration data\n\n") + kUncalibratedExplained + "\n\n" +
           rows_table(r, RowGroup::kUncalibrated).to_markdown();
  }
  return out;
}

}  // namespace trainsim::report
