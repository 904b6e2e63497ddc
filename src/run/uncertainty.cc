#include "run/uncertainty.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/error.h"

namespace trainsim::run {

Perturbation nominal_perturbation(const Scenario& s) {
  Perturbation p;
  p.compute_scale = s.uncertainty.compute_efficiency_scale.nominal;
  p.comm_scale = s.uncertainty.comm_efficiency_scale.nominal;
  p.expert_load_imbalance = s.plan.expert_load_imbalance;
  p.goodput = s.goodput;
  p.micro_batch = s.plan.micro_batch;
  return p;
}

double triangular(Rng& rng, double low, double mode, double high) {
  const double u = rng.uniform();
  if (!(high > low)) return low;
  // Inverse CDF of the triangular distribution.
  const double fc = (mode - low) / (high - low);
  if (u < fc) return low + std::sqrt(u * (high - low) * (mode - low));
  return high - std::sqrt((1.0 - u) * (high - low) * (high - mode));
}

double percentile(const std::vector<double>& sorted, double q) {
  TRAINSIM_CHECK(!sorted.empty() && q >= 0 && q <= 1, "percentile of {} values at {}",
                 sorted.size(), q);
  // Hyndman & Fan definition 7: h = (n - 1) q, interpolate between floor and ceil.
  const double h = (static_cast<double>(sorted.size()) - 1.0) * q;
  const size_t lo = static_cast<size_t>(std::floor(h));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

namespace {


Hertz per_gpu_hour(double v) { return Hertz(v / units::kSecondsPerHour); }

}  // namespace

double Interval::fraction_at_or_below(double x) const {
  if (sorted.empty()) return 0;
  const auto it = std::upper_bound(sorted.begin(), sorted.end(), x);
  return static_cast<double>(it - sorted.begin()) / static_cast<double>(sorted.size());
}

Perturbation sample_perturbation(const Scenario& s, Rng& rng) {
  const UncertaintySpec& u = s.uncertainty;
  Perturbation p = nominal_perturbation(s);
  auto tri = [&](const Range& r) { return triangular(rng, r.low, r.nominal, r.high); };
  p.compute_scale = tri(u.compute_efficiency_scale);
  p.comm_scale = tri(u.comm_efficiency_scale);
  p.expert_load_imbalance = tri(u.expert_load_imbalance);
  p.goodput.failures_per_gpu = per_gpu_hour(tri(u.failures_per_gpu_hour));
  p.goodput.checkpoint_write = Seconds(tri(u.checkpoint_write_s));
  p.goodput.restart = Seconds(tri(u.restart_s));
  if (!u.micro_batches.empty()) {
    p.micro_batch = u.micro_batches[rng.below(u.micro_batches.size())];
  }
  return p;
}

Interval monte_carlo(const Scenario& s, const RunMetric& metric, int samples, uint64_t seed) {
  TRAINSIM_CHECK(samples >= 1, "samples = {}", samples);
  Rng rng(seed);
  std::vector<double> values;
  values.reserve(static_cast<size_t>(samples));
  double sum = 0;
  for (int i = 0; i < samples; ++i) {
    const double v = metric(sample_perturbation(s, rng));
    TRAINSIM_CHECK(std::isfinite(v), "Monte Carlo sample {} is not finite", i);
    values.push_back(v);
    sum += v;
  }
  std::sort(values.begin(), values.end());
  Interval r;
  r.p10 = percentile(values, 0.1);
  r.p50 = percentile(values, 0.5);
  r.p90 = percentile(values, 0.9);
  r.mean = sum / samples;
  r.samples = samples;
  r.seed = seed;
  r.sorted = std::move(values);
  return r;
}

std::vector<Sensitivity> tornado(const Scenario& s, const RunMetric& metric) {
  const UncertaintySpec& u = s.uncertainty;
  const Perturbation nominal = nominal_perturbation(s);
  std::vector<Sensitivity> out;
  auto sweep = [&](const std::string& name, const Range& r, auto set, auto show) {
    Perturbation lo = nominal;
    Perturbation hi = nominal;
    set(lo, r.low);
    set(hi, r.high);
    out.push_back(Sensitivity{name, show(r.low), show(r.high), metric(lo), metric(hi), r.source});
  };
  auto plain = [](double v) { return fmt::format("{:g}", v); };
  auto secs = [](double v) { return fmt::format("{:g} s", v); };
  sweep("compute_efficiency_scale", u.compute_efficiency_scale,
        [](Perturbation& p, double v) { p.compute_scale = v; }, plain);
  sweep("comm_efficiency_scale", u.comm_efficiency_scale,
        [](Perturbation& p, double v) { p.comm_scale = v; }, plain);
  sweep("expert_load_imbalance", u.expert_load_imbalance,
        [](Perturbation& p, double v) { p.expert_load_imbalance = v; }, plain);
  sweep("failures_per_gpu_hour", u.failures_per_gpu_hour,
        [](Perturbation& p, double v) { p.goodput.failures_per_gpu = per_gpu_hour(v); }, plain);
  sweep("checkpoint_write_time", u.checkpoint_write_s,
        [](Perturbation& p, double v) { p.goodput.checkpoint_write = Seconds(v); }, secs);
  sweep("restart_time", u.restart_s, [](Perturbation& p, double v) { p.goodput.restart = Seconds(v); },
        secs);
  if (u.micro_batches.size() >= 2) {
    const auto [mn, mx] = std::minmax_element(u.micro_batches.begin(), u.micro_batches.end());
    Perturbation lo = nominal;
    Perturbation hi = nominal;
    lo.micro_batch = *mn;
    hi.micro_batch = *mx;
    out.push_back(Sensitivity{"micro_batch", fmt::format("{}", *mn), fmt::format("{}", *mx),
                              metric(lo), metric(hi), u.micro_batch_source});
  }
  std::stable_sort(out.begin(), out.end(), [](const Sensitivity& a, const Sensitivity& b) {
    if (a.swing() != b.swing()) return a.swing() > b.swing();
    return a.input < b.input;
  });
  return out;
}

}  // namespace trainsim::run
