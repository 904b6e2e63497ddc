// Sustained ceilings ("bound": "sustained-ceiling", e.g. mamf-finder's MSMF):
// parsing, and the cap they put on the sustained factor. Expected values by
// hand beside each assertion.
#include <catch2/catch.hpp>

#include "unit/fixtures.h"
#include "unit/calib/measurement_text.h"

#include <string>

#include "calib/fit.h"
#include "calib/measurements.h"
#include "calib/tables.h"
#include "core/error.h"

namespace trainsim::calib {
namespace {

// BF16 dense peak 989 TFLOP/s, FP8 1979 TFLOP/s.
hardware::Accelerator cap_gpu() { return testing::test_accelerator({.fp8_tflops = 1979, .domain = 1}); }

std::string file_text(const std::string& rows) { return testing::measurement_file(rows); }

std::string row(const std::string& precision, const std::string& bound, double tflops, const std::string& extra = "") {
  return "{\"kind\": \"gemm\", \"precision\": \"" + precision + "\", \"m\": 2816, \"n\": 1536, \"k\": 6144, "
         "\"bound\": \"" + bound + "\", " + extra + "\"achieved\": \"" + std::to_string(tflops) + " TFLOP/s\"}";
}

std::string series(const std::vector<double>& tflops) { return testing::sustained_series_rows(tflops); }

// The JSON pointer and message of the ConfigError that parsing `text` throws.
testing::ParseFailure parse_failure(const std::string& text) { return testing::measurement_parse_failure(text); }

FitResult fit(const std::string& rows) {
  return fit_tables({parse_measurements(file_text(rows), "cap.json")}, cap_gpu(), default_tables("test-gpu", "base"));
}

}  // namespace

TEST_CASE("Sustained-ceiling rows parse; elapsed and grouped GEMMs refuse them", "[calib][sustained]") {
  const MeasurementFile f = parse_measurements(file_text(row("bf16", "sustained-ceiling", 749)), "ok.json");
  const Measurement& m = f.measurements.at(0);
  CHECK(m.sustained_ceiling);
  CHECK_FALSE(m.ceiling);
  CHECK_FALSE(m.sustained);
  CHECK_FALSE(m.elapsed.has_value());
  // "elapsed" belongs to sustained windows only: the error points at the field.
  {
    const auto failure = parse_failure(file_text(row("bf16", "sustained-ceiling", 749, "\"elapsed\": \"2 s\", ")));
    CHECK(failure.pointer == "/measurements/0/elapsed");
  }
  // Grouped GEMMs know only "ceiling" and "shape".
  {
    const auto failure = parse_failure(file_text("{\"kind\": \"grouped_gemm\", \"precision\": \"bf16\", \"groups\": 8, "
                                                 "\"m\": 64, \"n\": 64, \"k\": 64, \"bound\": \"sustained-ceiling\", "
                                                 "\"time\": \"1 ms\"}"));
    CHECK(failure.pointer == "/measurements/0/bound");
  }
}

TEST_CASE("A sustained ceiling caps the best shape's sustained efficiency", "[calib][sustained]") {
  // A burst ceiling of 791.2 TFLOP/s sets eta_max = 791.2 / 989 = 0.8; a sustained
  // ceiling of 712.08 TFLOP/s = 0.72 of peak caps the factor at 0.72 / 0.8 = 0.9.
  const FitResult r = fit(row("bf16", "ceiling", 791.2) + ", " + row("bf16", "sustained-ceiling", 712.08));
  const GemmParams& g = r.tables.gemm.at(Precision::kBF16);
  CHECK(g.eta_max == Approx(0.8).epsilon(1e-9));  // the sustained ceiling is not a burst ceiling
  REQUIRE(g.sustained.has_value());
  CHECK(*g.sustained == Approx(0.9).epsilon(1e-9));
  CHECK(g.sustained_basis.find("capped at 0.9 = sustained ceiling 0.72 of peak / eta_max 0.8 (cap.json rows 1)") !=
        std::string::npos);
  REQUIRE(r.sustained.size() == 1);
  CHECK(r.sustained[0].rfind("gemm/bf16 sustained 0.9 ", 0) == 0);
  // The residual of the burst fit covers the burst ceiling only: 1 row.
  REQUIRE(r.residuals.size() == 1);
  CHECK(r.residuals[0].rows == 1);

  // FP8 with no burst rows: the cap is taken against the base eta_max (0.65 assumed):
  // 1187.4 / 1979 = 0.6 of peak -> 0.6 / 0.65 = 0.923077.
  const FitResult f8 = fit(row("fp8", "sustained-ceiling", 1187.4));
  CHECK(*f8.tables.gemm.at(Precision::kFP8).sustained == Approx(0.6 / 0.65).epsilon(1e-9));
  CHECK_FALSE(f8.tables.gemm.at(Precision::kBF16).sustained.has_value());  // BF16 untouched
}

TEST_CASE("A sustained ceiling lowers a series factor but never raises it", "[calib][sustained]") {
  // Series 800, 800, 780, 760, 750, 750 TFLOP/s at 1..6 s: factor 760 / 800 = 0.95
  // (sustained_test.cc). Base eta_max 0.75 (no burst rows).
  const std::string s = series({800, 800, 780, 760, 750, 750});
  // Ceiling 593.4 TFLOP/s = 0.6 of peak: cap 0.6 / 0.75 = 0.8 < 0.95 -> 0.8.
  const FitResult low = fit(s + ", " + row("bf16", "sustained-ceiling", 593.4));
  CHECK(*low.tables.gemm.at(Precision::kBF16).sustained == Approx(0.8).epsilon(1e-9));
  // Ceiling 731.86 TFLOP/s = 0.74 of peak: cap 0.74 / 0.75 = 0.98667 > 0.95 -> the series' 0.95.
  const FitResult high = fit(s + ", " + row("bf16", "sustained-ceiling", 731.86));
  const GemmParams& g = high.tables.gemm.at(Precision::kBF16);
  CHECK(*g.sustained == Approx(0.95).epsilon(1e-9));
  CHECK(g.sustained_basis.find("at or above eta_max 0.75 x 0.95: no cap") != std::string::npos);
}

TEST_CASE("A sustained ceiling replaces a base table's factor and its text", "[calib][sustained]") {
  // Base BF16: eta_max 0.75 with a carried factor 0.97 and its own basis. A sustained ceiling of
  // 593.4 TFLOP/s = 0.6 of peak: cap 0.6 / 0.75 = 0.8 < 1 -> 0.8, replacing 0.97 (not 0.97 x 0.8).
  EfficiencyTables base = default_tables("test-gpu", "base");
  base.gemm[Precision::kBF16].sustained = 0.97;
  base.gemm[Precision::kBF16].basis = "carried";
  base.gemm[Precision::kBF16].sustained_basis = "sustained 0.97 (old run)";
  const FitResult r = fit_tables({parse_measurements(file_text(row("bf16", "sustained-ceiling", 593.4)), "cap.json")},
                                 cap_gpu(), base);
  const GemmParams& g = r.tables.gemm.at(Precision::kBF16);
  CHECK(*g.sustained == Approx(0.8).epsilon(1e-9));
  CHECK(g.basis == "carried");                                 // the group's own basis is untouched
  CHECK(g.sustained_basis.rfind("sustained 0.8 (", 0) == 0);  // the old factor's text is gone
  CHECK(g.sustained_basis.find("old run") == std::string::npos);
  CHECK(g.sustained_basis.find("replaces the factor 0.97 of the base table") != std::string::npos);
}

TEST_CASE("Replacing a base factor keeps the rest of a fitted basis", "[calib][sustained]") {
  // Base BF16 factor 0.97. One 8192^3 shape row at 700 TFLOP/s fits eta_max above the burst
  // ceiling of 593.4 TFLOP/s = 0.6 of peak, so eta_max is capped at 0.6 (said in the basis);
  // the sustained ceiling 534.06 TFLOP/s = 0.54 of peak gives 0.54 / 0.6 = 0.9, replacing 0.97.
  EfficiencyTables base = default_tables("test-gpu", "base");
  base.gemm[Precision::kBF16].sustained = 0.97;
  const std::string shape = "{\"kind\": \"gemm\", \"precision\": \"bf16\", \"m\": 8192, \"n\": 8192, \"k\": 8192, "
                            "\"achieved\": \"700 TFLOP/s\"}";
  const FitResult r = fit_tables({parse_measurements(file_text(shape + ", " + row("bf16", "ceiling", 593.4) + ", " +
                                                               row("bf16", "sustained-ceiling", 534.06)),
                                                     "cap.json")},
                                 cap_gpu(), base);
  const GemmParams& g = r.tables.gemm.at(Precision::kBF16);
  CHECK(g.eta_max == Approx(0.6).epsilon(1e-9));
  CHECK(*g.sustained == Approx(0.9).epsilon(1e-9));
  CHECK(g.basis.find("eta_max capped at the best-of-search ceiling of cap.json rows 1") != std::string::npos);
  CHECK(g.basis.find("sustained") == std::string::npos);  // the factor's text lives in sustained_basis
  CHECK(g.sustained_basis.find("replaces the factor 0.97 of the base table") != std::string::npos);
}

TEST_CASE("A sustained ceiling may leave out its shape when the source states only the rate", "[calib][sustained]") {
  const std::string shapeless = "{\"kind\": \"gemm\", \"precision\": \"bf16\", \"bound\": \"sustained-ceiling\", ";
  // 593.4 TFLOP/s = 0.6 of the 989 TFLOP/s peak; base eta_max 0.75: factor 0.6 / 0.75 = 0.8.
  const MeasurementFile f = parse_measurements(file_text(shapeless + "\"achieved\": \"593.4 TFLOP/s\"}"), "ok.json");
  CHECK(f.measurements.at(0).m == 0);
  const FitResult r = fit_tables({f}, cap_gpu(), default_tables("test-gpu", "base"));
  CHECK(*r.tables.gemm.at(Precision::kBF16).sustained == Approx(0.8).epsilon(1e-9));
  // Without a shape a time cannot become a rate: "time" is refused at its path.
  {
    const auto failure = parse_failure(file_text(shapeless + "\"time\": \"1 ms\"}"));
    CHECK(failure.pointer == "/measurements/0/time");
  }
  // A partial shape is still an error: m without n names the row and the missing "n".
  {
    const auto failure = parse_failure(file_text(shapeless + "\"m\": 64, \"achieved\": \"1 TFLOP/s\"}"));
    CHECK(failure.pointer == "/measurements/0");
    CHECK(failure.message.find("\"n\"") != std::string::npos);
  }
  // Other bounds keep the shape required.
  {
    const auto failure = parse_failure(file_text("{\"kind\": \"gemm\", \"precision\": \"bf16\", \"bound\": \"ceiling\", "
                                                 "\"achieved\": \"1 TFLOP/s\"}"));
    CHECK(failure.pointer == "/measurements/0");
    CHECK(failure.message.find("\"m\"") != std::string::npos);
  }
}

TEST_CASE("Partly measured tables name the GEMM groups still at stated defaults", "[calib]") {
  // default_tables: every group's basis begins "default (no measurement ...)".
  const hardware::Accelerator gpu = cap_gpu();  // BF16 and FP8 peaks
  EfficiencyTables t = default_tables("test-gpu", "because");
  CHECK(assumed_gemm_groups(t, gpu) == std::vector<std::string>{"gemm/bf16", "gemm/fp8"});
  // A BF16 ceiling fit measures BF16 only; its basis still mentions the defaults it kept
  // for tile and launch, which does not make the group assumed.
  const FitResult r = fit(row("bf16", "ceiling", 791.2));
  CHECK(r.tables.gemm.at(Precision::kBF16).basis.find("kept from: default (base)") != std::string::npos);
  CHECK(assumed_gemm_groups(r.tables, gpu) == std::vector<std::string>{"gemm/fp8"});
  // Carried groups count by what they were where they came from.
  t.gemm[Precision::kFP8].basis = "carried from h100-sxm: fitted (eta_max) from x.json rows 0";
  t.gemm[Precision::kBF16].basis = "carried from h100-sxm: default (no measurement for this parameter group): 0.75";
  CHECK(assumed_gemm_groups(t, gpu) == std::vector<std::string>{"gemm/bf16"});
  // A precision the accelerator lacks is not listed.
  hardware::Accelerator no_fp8 = gpu;
  no_fp8.dense_peak.erase(hardware::Format::kFP8);
  CHECK(assumed_gemm_groups(default_tables("x", "y"), no_fp8) == std::vector<std::string>{"gemm/bf16"});
}

}  // namespace trainsim::calib
