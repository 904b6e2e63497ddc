// Uncertainty and sensitivity of a training-run estimate.
//
// Each uncertain input has a range (low, nominal, high) with its source in the
// scenario (UncertaintySpec): the kernel-efficiency scale (GEMM and attention
// eta), the communication-efficiency scale, routing imbalance, the goodput
// inputs (failure rate, checkpoint write time, restart time) and the
// micro-batch size where it is unpublished.
// Monte Carlo: each sample draws every continuous input from a triangular
// distribution (low, nominal, high) and the micro-batch uniformly from its
// values, in a fixed order from a seeded Rng (core/random.h), so the same seed
// gives the same interval. Percentiles by linear interpolation between order
// statistics (Hyndman & Fan 1996, definition 7).
// Tornado: one input at a time at its low and its high value, the others at
// nominal; sorted by swing |high - low| (largest first), ties by name.
// Units: the metric is whatever the caller returns (GPU-hours for claims).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/random.h"
#include "run/scenario.h"
#include "run/training_run.h"

namespace trainsim::run {

// The quantity studied, e.g. total GPU-hours of the run under a perturbation.
using RunMetric = std::function<double(const Perturbation&)>;

struct Interval {
  double p10 = 0;
  double p50 = 0;
  double p90 = 0;
  double mean = 0;
  int samples = 0;
  uint64_t seed = 0;
  std::vector<double> sorted;  // every sample, ascending
  // Fraction of samples <= x (0..1).
  double fraction_at_or_below(double x) const;
};

struct Sensitivity {
  std::string input;       // "compute_efficiency_scale", ...
  std::string low_value;   // the input's value at the low end, as text
  std::string high_value;
  double low = 0;          // metric with the input at its low value
  double high = 0;         // metric with the input at its high value
  std::string source;
  double swing() const { return high > low ? high - low : low - high; }
};

// Triangular(low, mode, high) by inverse CDF from one uniform draw; low == high gives low.
double triangular(Rng& rng, double low, double mode, double high);

// q in [0, 1]; `sorted` ascending and non-empty.
double percentile(const std::vector<double>& sorted, double q);

// One random perturbation (draw order: compute, comm, imbalance, failures,
// checkpoint write, restart, micro-batch).
Perturbation sample_perturbation(const Scenario& s, Rng& rng);

Interval monte_carlo(const Scenario& s, const RunMetric& metric, int samples, uint64_t seed);

std::vector<Sensitivity> tornado(const Scenario& s, const RunMetric& metric);

}  // namespace trainsim::run
