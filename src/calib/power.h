// How a GEMM's sustained throughput changes with the power limit, read from
// calibrate/power/gemm-power-elasticity.json: pairs of parts with the same die
// (same SM count, boost clock and dense peak; carry_tables() checks the SM
// count and the dense peak, which with it fixes the clock) and different power limits,
// each with a measured best-of-search GEMM rate and its source.
//
// The elasticity e = ln(rate_low / rate_high) / ln(tdp_low / tdp_high), the
// mean over the pairs, lets carry_tables() move a measured sustained factor
// to a part with the same die and a lower power limit:
//   sustained_target = sustained_source x (tdp_target / tdp_source)^e.
#pragma once

#include <string>
#include <vector>

#include "core/units.h"

namespace trainsim::calib {

struct PowerPair {
  std::string die;
  std::string high_part, low_part;
  Watts high_tdp, low_tdp;
  FlopsPerSecond high_rate, low_rate;
  std::vector<std::string> sources;  // one line per value
  double elasticity() const;         // ln(low_rate / high_rate) / ln(low_tdp / high_tdp)
};

struct PowerElasticity {
  std::string file;
  std::vector<PowerPair> pairs;
  double elasticity = 0;  // mean over pairs
  // Throughput ratio of the same die at `to` against `from` (<= 1 when to < from).
  double ratio(Watts from, Watts to) const;
  // "e = 0.243 from <pairs>": what reports and table bases quote.
  std::string basis() const;
};

// The measurement file, relative to calibrate/, and its full path
// (calibrate/power/gemm-power-elasticity.json).
inline constexpr const char* kPowerElasticityFile = "power/gemm-power-elasticity.json";
std::string power_elasticity_path();
// ConfigError with the file and JSON path on anything malformed (a pair whose
// low power limit is not below its high one, a rate <= 0, an elasticity
// outside [0, 1]).
PowerElasticity load_power_elasticity(const std::string& path);

}  // namespace trainsim::calib
