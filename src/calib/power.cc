// Loading the GEMM power elasticity (see power.h).
#include "calib/power.h"

#include <cmath>

#include <fmt/format.h>

#include "core/error.h"
#include "core/json_reader.h"
#include "core/paths.h"
#include "core/strings.h"

namespace trainsim::calib {

double PowerPair::elasticity() const {
  return std::log(low_rate / high_rate) / std::log(low_tdp / high_tdp);
}

double PowerElasticity::ratio(Watts from, Watts to) const { return std::pow(to / from, elasticity); }

std::string PowerElasticity::basis() const {
  std::vector<std::string> parts;
  for (const PowerPair& p : pairs) {
    parts.push_back(fmt::format("{} {} at {} vs {} {} at {}: e = {:.3f}", p.low_part, to_string(p.low_rate),
                                to_string(p.low_tdp), p.high_part, to_string(p.high_rate), to_string(p.high_tdp),
                                p.elasticity()));
  }
  return fmt::format("power elasticity {:.3f} of GEMM throughput (calibrate/{}: {})", elasticity,
                     kPowerElasticityFile, join(parts, "; "));
}

std::string power_elasticity_path() { return paths::calibrate_dir() + "/" + kPowerElasticityFile; }

PowerElasticity load_power_elasticity(const std::string& path) {
  const JsonDocument doc = JsonDocument::load(path);
  const JsonView root = doc.root();
  root.check_keys({"format", "description", "pairs"});
  if (root.at("format").string() != "trainsim-power-elasticity/1") {
    root.at("format").fail_expected("\"trainsim-power-elasticity/1\"");
  }
  PowerElasticity out;
  out.file = path;
  const JsonView pairs = root.at("pairs");
  if (!pairs.is_array() || pairs.size() == 0) pairs.fail_expected("a non-empty array of pairs");
  double sum = 0;
  for (size_t i = 0; i < pairs.size(); ++i) {
    const JsonView v = pairs.at(i);
    v.check_keys({"die", "high", "low", "note"});
    PowerPair p;
    p.die = v.at("die").string();
    auto side = [&](const char* key, std::string& part, Watts& tdp, FlopsPerSecond& rate) {
      const JsonView s = v.at(key);
      s.check_keys({"part", "tdp", "achieved"});
      part = s.at("part").string();
      const auto t = s.at("tdp").sourced<Watts>();
      const auto r = s.at("achieved").sourced<FlopsPerSecond>();
      tdp = t.value;
      rate = r.value;
      if (!(tdp.value() > 0)) s.at("tdp").fail_expected("a power > 0");
      if (!(rate.value() > 0)) s.at("achieved").fail_expected("a rate > 0");
      p.sources.push_back(fmt::format("{} tdp: {}", part, t.source));
      p.sources.push_back(fmt::format("{} achieved: {}", part, r.source));
    };
    side("high", p.high_part, p.high_tdp, p.high_rate);
    side("low", p.low_part, p.low_tdp, p.low_rate);
    if (!(p.low_tdp < p.high_tdp)) {
      v.at("low").at("tdp").fail_expected(fmt::format("a power limit below the high side's {}", to_string(p.high_tdp)));
    }
    const double e = p.elasticity();
    if (!(e >= 0 && e <= 1)) {
      v.at("low").at("achieved").fail_expected(
          fmt::format("a rate giving an elasticity in [0, 1] (got {:.3f}: a lower power limit never speeds a GEMM up, "
                      "and throughput falls no faster than power)", e));
    }
    sum += e;
    out.pairs.push_back(p);
  }
  out.elasticity = sum / static_cast<double>(out.pairs.size());
  return out;
}

}  // namespace trainsim::calib
