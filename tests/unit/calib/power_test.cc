// The GEMM power elasticity (calibrate/power/gemm-power-elasticity.json) and
// how carrying uses it: a sustained factor moves to a part of the same die
// with a lower power limit, scaled by (tdp_target / tdp_source)^e. Expected
// values derived by hand beside each assertion.
#include <catch2/catch.hpp>

#include "unit/fixtures.h"

#include <cmath>
#include <string>

#include "calib/fit.h"
#include "calib/power.h"
#include "calib/tables.h"
#include "core/error.h"
#include "core/file_io.h"

namespace trainsim::calib {
namespace {

std::string pair_file(const std::string& low_tdp, const std::string& low_rate, const std::string& source = "s") {
  return R"({"format": "trainsim-power-elasticity/1", "description": "test", "pairs": [{"die": "d",
    "high": {"part": "hi", "tdp": {"value": "400 W", "source": "s"}, "achieved": {"value": "271.2 TFLOP/s", "source": "s"}},
    "low": {"part": "lo", "tdp": {"value": ")" + low_tdp + R"(", "source": "s"},
            "achieved": {"value": ")" + low_rate + R"(", "source": ")" + source + R"("}}}]})";
}

// The JSON pointer of the ConfigError that loading `text` throws ("" if none).
std::string load_error(const std::string& text) {
  const std::string path = "/tmp/trainsim_power_test.json";
  write_file_atomic(path, text);
  try {
    load_power_elasticity(path);
  } catch (const ConfigError& e) {
    return e.pointer();
  }
  return "";
}

}  // namespace

TEST_CASE("the shipped power elasticity comes from the A100 SXM / PCIe pair", "[calib][power]") {
  const PowerElasticity p = load_power_elasticity(power_elasticity_path());
  REQUIRE(p.pairs.size() == 1);
  // e = ln(252.9 / 271.2) / ln(300 / 400) = -0.069865 / -0.287682 = 0.24285.
  CHECK(p.elasticity == Approx(0.24285).epsilon(1e-4));
  // 700 W -> 500 W: (5/7)^0.24285 = exp(0.24285 x -0.336472) = exp(-0.081713) = 0.92154.
  CHECK(p.ratio(Watts(700), Watts(500)) == Approx(0.92154).epsilon(1e-4));
  CHECK(p.ratio(Watts(700), Watts(700)) == 1.0);
  CHECK(p.basis().find("A100 PCIe") != std::string::npos);
  CHECK(p.pairs[0].sources.size() == 4);  // each TDP and rate with its source
}

TEST_CASE("a malformed power pair is refused at its JSON path", "[calib][power]") {
  CHECK(load_error(pair_file("300 W", "252.9 TFLOP/s")).empty());
  // The low side's limit must be below the high side's.
  CHECK(load_error(pair_file("450 W", "252.9 TFLOP/s")) == "/pairs/0/low/tdp");
  // A lower limit that speeds the GEMM up: e = ln(280/271.2)/ln(0.75) = -0.111 < 0.
  CHECK(load_error(pair_file("300 W", "280 TFLOP/s")) == "/pairs/0/low/achieved");
  // Throughput falling faster than power: ln(150/271.2)/ln(0.75) = 2.06 > 1.
  CHECK(load_error(pair_file("300 W", "150 TFLOP/s")) == "/pairs/0/low/achieved");
  // A value without its source.
  CHECK(load_error(pair_file("300 W", "252.9 TFLOP/s", "")) == "/pairs/0/low/achieved/source");
  // No pairs at all.
  CHECK(load_error(R"({"format": "trainsim-power-elasticity/1", "description": "t", "pairs": []})") == "/pairs");
}

TEST_CASE("carrying scales a sustained factor to a lower power limit of the same die", "[calib][power]") {
  hardware::Accelerator from = testing::test_accelerator({.fp8_tflops = 1979, .domain = 1});
  from.name = "h100-sxm";
  from.tdp = Watts(700);
  hardware::Accelerator capped = from;  // same SMs and peaks, 500 W
  capped.name = "h100-sxm-96gb-500w";
  capped.tdp = Watts(500);
  hardware::Accelerator other = capped;  // a different die: fewer SMs, lower peak
  other.name = "h100-pcie";
  other.sm_count = 114;
  other.dense_peak[hardware::Format::kBF16] = teraflops_per_second(756);
  hardware::Accelerator hotter = from;  // same die, higher limit
  hotter.name = "gh200";
  hotter.tdp = Watts(900);
  EfficiencyTables src = default_tables("h100-sxm", "r");
  src.gemm[Precision::kBF16].sustained = 0.9427;
  src.gemm[Precision::kBF16].sustained_basis = "sustained 0.9427 (MSMF)";
  const PowerElasticity power = load_power_elasticity(power_elasticity_path());
  // Same die, 700 -> 500 W: 0.9427 x 0.92154 = 0.86874.
  const EfficiencyTables scaled = carry_tables(src, from, capped, &power);
  CHECK(scaled.sustained_for(Precision::kBF16) == Approx(0.86874).epsilon(1e-4));
  CHECK(scaled.gemm.at(Precision::kBF16).sustained_basis.find("sustained 0.9427 (MSMF); x 0.9215") !=
        std::string::npos);
  REQUIRE(scaled.provenance.adjustments.size() == 5);
  CHECK(scaled.provenance.adjustments[4].find("scaled to 0.8687") != std::string::npos);
  // Another die, or a higher limit (no measurement there): dropped to burst, as without the file.
  CHECK_FALSE(carry_tables(src, from, other, &power).gemm.at(Precision::kBF16).sustained.has_value());
  CHECK_FALSE(carry_tables(src, from, hotter, &power).gemm.at(Precision::kBF16).sustained.has_value());
  // Without the elasticity the lower limit drops the factor too.
  CHECK_FALSE(carry_tables(src, from, capped).gemm.at(Precision::kBF16).sustained.has_value());
  // The shipped 500 W table holds the scaled factor: 0.9427 x 0.9215 = 0.8687.
  const EfficiencyTables shipped = load_tables(tables_path_for("h100-sxm-96gb-500w"));
  CHECK(shipped.sustained_for(Precision::kBF16) == Approx(0.8687).epsilon(1e-3));
}

}  // namespace trainsim::calib
