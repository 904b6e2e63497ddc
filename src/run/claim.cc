#include "run/claim.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "core/error.h"
#include "core/file_io.h"
#include "core/json_reader.h"
#include "core/paths.h"
#include "core/strings.h"

namespace trainsim::run {

namespace {

std::string claims_dir() { return paths::scenarios_dir() + "/claims"; }

}  // namespace

std::vector<std::string> list_claims() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(claims_dir(), ec)) {
    if (e.is_regular_file() && e.path().extension() == ".json") names.push_back(e.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string claim_path(const std::string& name_or_path) {
  if (name_or_path.find('/') != std::string::npos || name_or_path.ends_with(".json")) {
    if (!file_exists(name_or_path)) throw IoError(fmt::format("{}: no such claim file", name_or_path));
    return name_or_path;
  }
  const std::string p = claims_dir() + "/" + name_or_path + ".json";
  if (file_exists(p)) return p;
  const auto names = list_claims();
  throw UsageError(fmt::format("unknown claim \"{}\"{}; known claims: {}", name_or_path,
                               did_you_mean(name_or_path, names), join(names)));
}

Reported load_reported(const std::string& claim_name_or_path) {
  const std::string path = claim_path(claim_name_or_path);
  const JsonDocument doc = JsonDocument::load(path);
  const JsonView root = doc.root();
  root.check_keys({"format", "name", "scenario", "reported", "note"});
  if (root.at("format").string() != kClaimFormat) {
    root.at("format").fail(fmt::format("expected \"{}\"; found {}", kClaimFormat,
                                       root.at("format").describe_found()));
  }
  Reported r;
  r.file = path;
  r.claim = root.at("name").string();
  r.scenario = root.at("scenario").string();
  const JsonView rep = root.at("reported");
  rep.check_keys({"source", "gpu_hours", "rental_price", "total_cost"});
  r.source = rep.at("source").string();
  if (r.source.empty()) rep.at("source").fail("expected a non-empty source");
  const JsonView g = rep.at("gpu_hours");
  g.check_keys({"pretraining", "context_extension", "post_training", "total"});
  r.pretraining = g.at("pretraining").quantity<Seconds>();
  r.context_extension = g.at("context_extension").quantity<Seconds>();
  r.post_training = g.at("post_training").quantity<Seconds>();
  r.total = g.at("total").quantity<Seconds>();
  if (!(r.pretraining.value() > 0 && r.total.value() > 0)) {
    g.fail("expected positive pre-training and total GPU-hours");
  }
  r.rental_price = rep.at("rental_price").quantity<DollarsPerSecond>();
  r.total_cost = rep.at("total_cost").quantity<Dollars>();
  return r;
}

std::string claim_scenario(const std::string& claim_name_or_path) {
  const JsonDocument doc = JsonDocument::load(claim_path(claim_name_or_path));
  return doc.root().at("scenario").string();
}

Prediction predict(const Scenario& s, const StepModel& steps, uint64_t seed) {
  const auto t0 = std::chrono::steady_clock::now();
  Prediction p;
  p.run = evaluate_run(s, nominal_perturbation(s), steps);
  const RunMetric total_hours = [&](const Perturbation& q) {
    return in_hours(evaluate_run(s, q, steps).total_gpu_time());
  };
  p.interval = monte_carlo(s, total_hours, s.uncertainty.samples, seed);
  p.sensitivities = tornado(s, total_hours);
  p.seconds_elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return p;
}

Comparison compare(const Scenario& s, const Prediction& p, const Reported& r) {
  Comparison c;
  c.predicted_total_gpu_hours = in_hours(p.run.total_gpu_time());
  c.reported_total_gpu_hours = in_hours(r.total);
  c.ratio = c.reported_total_gpu_hours / c.predicted_total_gpu_hours;
  const auto peak = hardware::utilisation_peak(s.cluster.accelerator);
  TRAINSIM_CHECK(peak.has_value() && peak->value() > 0, "no 16-bit dense peak for {}",
                 s.cluster.accelerator.name);
  const Flops pre_flops = p.run.model_flops(PhaseKind::kPretraining);
  // MFU = model FLOPs / (GPU-seconds x dense BF16 peak).
  c.implied_mfu_of_claim = pre_flops / (*peak * r.pretraining);
  const Seconds predicted_pre = p.run.gpu_time(PhaseKind::kPretraining);
  c.predicted_pretraining_mfu = predicted_pre.value() > 0 ? pre_flops / (*peak * predicted_pre) : 0;
  c.fraction_of_samples_below_claim = p.interval.fraction_at_or_below(c.reported_total_gpu_hours);
  const double rep = c.reported_total_gpu_hours;
  const Interval& iv = p.interval;
  auto millions = [](double h) { return fmt::format("{:.3f}M", h / units::kMega); };
  if (rep >= iv.p10 && rep <= iv.p90) {
    const double off = rep / iv.p50 - 1.0;
    c.verdict = fmt::format(
        "plausible: the reported {} GPU-hours lie inside trainsim's P10-P90 interval ({}-{}), "
        "{:.0f}% {} the P50 prediction of {}.",
        millions(rep), millions(iv.p10), millions(iv.p90), std::abs(off) * 100.0,
        off < 0 ? "below" : "above", millions(iv.p50));
  } else if (rep < iv.p10) {
    c.verdict = fmt::format(
        "optimistic by {:.0f}%: the reported {} GPU-hours lie below trainsim's P10 of {} "
        "(P50 {}); the claim needs higher efficiency than trainsim's inputs allow.",
        (1.0 - rep / iv.p10) * 100.0, millions(rep), millions(iv.p10), millions(iv.p50));
  } else {
    c.verdict = fmt::format(
        "conservative by {:.0f}%: the reported {} GPU-hours lie above trainsim's P90 of {} "
        "(P50 {}); the run used more GPU time than trainsim predicts.",
        (rep / iv.p90 - 1.0) * 100.0, millions(rep), millions(iv.p90), millions(iv.p50));
  }
  return c;
}

}  // namespace trainsim::run
