// Fitting efficiency tables to measurements.
//
// Each parameter group of calib::EfficiencyTables is fitted by least squares
// on relative time residuals r_i = t_model,i / t_measured,i - 1 with a small
// bounded Levenberg-Marquardt solver (Levenberg 1944, Marquardt 1963; forward-
// difference Jacobian, box bounds by projection). Which parameters are free
// depends on what the rows can identify (e.g. a GEMM's per-tile overhead needs
// several K values; a link's latency needs small messages); the others keep the
// base table's values (default or carried), and the group's basis says which.
// GEMM tile sizes are discrete: every tile in a small grid is tried and the
// one with the least squared residual kept.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "calib/measurements.h"
#include "calib/power.h"
#include "calib/tables.h"
#include "hardware/hardware.h"

namespace trainsim::calib {

// One bounded least-squares problem: minimise sum residuals(theta)^2.
struct LeastSquaresResult {
  std::vector<double> theta;
  double cost = 0;  // sum of squares at theta
  int iterations = 0;
};
LeastSquaresResult levenberg_marquardt(
    const std::function<std::vector<double>(const std::vector<double>&)>& residuals,
    std::vector<double> theta, const std::vector<double>& lower, const std::vector<double>& upper,
    int max_iterations = 200);

struct FitResult {
  EfficiencyTables tables;
  std::vector<Residual> residuals;  // one per fitted operator kind
  std::vector<std::string> log;     // what was fitted from what, what was kept
  // One line per precision with a sustained series (how the factor was
  // formed, from which rows), or why a series was not used; printed with the
  // residuals. Empty when the files hold no sustained rows.
  std::vector<std::string> sustained;
};

// Sustained factor of one series (sustained rows of one precision and shape,
// any order): the mean achieved throughput of the windows whose elapsed is at
// least half the last window's elapsed, divided by the achieved throughput of
// the earliest window. Needs at least kMinSustainedWindows windows with
// distinct elapsed times (ConfigError naming the row otherwise; callers check
// the count). `used` receives the rows in the mean, earliest first;
// `earliest` the reference window.
inline constexpr size_t kMinSustainedWindows = 3;
double sustained_factor(const std::vector<const Measurement*>& series, const std::string& file,
                        std::vector<const Measurement*>* used = nullptr, const Measurement** earliest = nullptr);

// Fits `base` (default or carried tables for `accelerator`) to the rows of
// `files` that describe this part; groups without rows keep base values.
// The accelerator gives peaks, SM count, HBM and link bandwidths.
FitResult fit_tables(const std::vector<MeasurementFile>& files, const hardware::Accelerator& accelerator,
                     EfficiencyTables base);

// Carries a table fitted on `from` to `to`: efficiencies stay fractions of the
// target's datasheet rates; each adjustment is recorded in provenance. A
// sustained GEMM factor is kept at the same TDP; with `power`, scaled by its
// elasticity for a part of the same die (SM count and dense peak) with a lower
// TDP; otherwise dropped (no measurement).
EfficiencyTables carry_tables(const EfficiencyTables& source, const hardware::Accelerator& from,
                              const hardware::Accelerator& to, const PowerElasticity* power = nullptr);

// Model time of one measurement row under `tables` (for residuals and tests).
Seconds model_time(const Measurement& m, const EfficiencyTables& tables, const hardware::Accelerator& a);
// The row's measured time, from time / achieved / bandwidth.
Seconds measured_time(const Measurement& m);

}  // namespace trainsim::calib
