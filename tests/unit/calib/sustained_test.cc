// Sustained GEMM series: validation of "bound": "sustained" rows, the
// sustained factor the fitter forms from them, its place in the efficiency
// table JSON, and how carrying treats it. Expected values by hand beside each.
#include <catch2/catch.hpp>

#include "unit/fixtures.h"
#include "unit/calib/measurement_text.h"

#include <string>
#include <vector>

#include "calib/fit.h"
#include "calib/measurements.h"
#include "calib/tables.h"
#include "core/error.h"
#include "core/file_io.h"

namespace trainsim::calib {
namespace {

hardware::Accelerator test_gpu() { return testing::test_accelerator({.fp8_tflops = 1979, .domain = 1}); }

// One measurement file: 8192^3 BF16 windows at 1..6 s achieving the given TFLOP/s.
std::string series_text(const std::vector<double>& tflops, const std::string& extra_row = "") {
  return testing::measurement_file(testing::sustained_series_rows(tflops) + (extra_row.empty() ? "" : ",\n" + extra_row));
}

// The JSON pointer of the ConfigError parsing `text` throws ("" if none).
std::string error_pointer(const std::string& text) {
  const testing::ParseFailure f = testing::measurement_parse_failure(text);
  if (!f.pointer.empty()) CHECK(f.file == "bad.json");
  return f.pointer;
}

const char* kRow = "{\"kind\": \"gemm\", \"precision\": \"bf16\", \"m\": 8192, \"n\": 8192, \"k\": 8192, ";

}  // namespace

TEST_CASE("Sustained rows parse with their elapsed time", "[calib][sustained]") {
  const MeasurementFile f = parse_measurements(series_text({800, 800, 780}), "s.json");
  REQUIRE(f.measurements.size() == 3);
  CHECK(f.measurements[2].sustained);
  CHECK_FALSE(f.measurements[2].ceiling);
  CHECK(f.measurements[2].elapsed->value() == 3.0);  // "3 s"
}

TEST_CASE("Malformed sustained rows are rejected with the JSON path", "[calib][sustained]") {
  // A sustained row without "elapsed": the missing key is named under its row.
  const std::string no_elapsed = "{\"format\": \"trainsim-measurements/1\", \"provenance\": {\"gpu\": \"t\", "
                                 "\"profile\": \"t\", \"source\": \"s\", \"date\": \"d\"}, \"measurements\": [" +
                                 std::string(kRow) + "\"bound\": \"sustained\", \"time\": \"1 ms\"}]}";
  CHECK(error_pointer(no_elapsed).rfind("/measurements/0", 0) == 0);
  CHECK_FALSE(error_pointer(no_elapsed).empty());
  // "elapsed" on a shape row (no bound) and on a ceiling row: forbidden, pointer at the field.
  // series_text puts the extra row after the 3 windows, at index 3.
  CHECK(error_pointer(series_text({1, 2, 3}, std::string(kRow) + "\"elapsed\": \"2 s\", \"time\": \"1 ms\"}")) ==
        "/measurements/3/elapsed");
  CHECK(error_pointer(series_text({1, 2, 3}, std::string(kRow) +
                                                 "\"bound\": \"ceiling\", \"elapsed\": \"2 s\", \"time\": \"1 ms\"}")) ==
        "/measurements/3/elapsed");
  // Elapsed must be a positive time, with a unit.
  CHECK(error_pointer(series_text({1, 2, 3}, std::string(kRow) +
                                                 "\"bound\": \"sustained\", \"elapsed\": \"0 s\", \"time\": \"1 ms\"}")) ==
        "/measurements/3/elapsed");
  CHECK(error_pointer(series_text({1, 2, 3}, std::string(kRow) +
                                                 "\"bound\": \"sustained\", \"elapsed\": \"4\", \"time\": \"1 ms\"}")) ==
        "/measurements/3/elapsed");
  // Grouped GEMMs have no sustained series: the bound is refused, and "elapsed" is an unknown field.
  const std::string grouped = "{\"kind\": \"grouped_gemm\", \"precision\": \"bf16\", \"groups\": 4, "
                              "\"m\": 64, \"n\": 64, \"k\": 64, \"bound\": \"sustained\", ";
  CHECK(error_pointer(series_text({1, 2, 3}, grouped + "\"time\": \"1 ms\"}")) == "/measurements/3/bound");
  CHECK(error_pointer(series_text({1, 2, 3}, grouped + "\"elapsed\": \"1 s\", \"time\": \"1 ms\"}")) ==
        "/measurements/3/elapsed");
}

TEST_CASE("Fitter forms the sustained factor from the late windows of a series", "[calib][sustained]") {
  // Windows at 1..6 s achieving 800, 800, 780, 760, 750, 750 TFLOP/s. Last elapsed 6 s, half 3 s:
  // windows at 3, 4, 5, 6 s (rows 2..5) -> mean (780 + 760 + 750 + 750) / 4 = 760; earliest
  // window (1 s) 800 -> 760 / 800 = 0.95.
  MeasurementFile f = parse_measurements(series_text({800, 800, 780, 760, 750, 750}), "synthetic.json");
  const EfficiencyTables base = default_tables("test-gpu", "base");
  const FitResult r = fit_tables({f}, test_gpu(), base);
  const GemmParams& g = r.tables.gemm.at(Precision::kBF16);
  REQUIRE(g.sustained.has_value());
  CHECK(*g.sustained == Approx(0.95).epsilon(1e-12));
  CHECK(r.tables.sustained_for(Precision::kBF16) == Approx(0.95).epsilon(1e-12));
  // Sustained rows never enter the shape fit: eta_max stays the base's 0.75 and no gemm residual.
  CHECK(g.eta_max == 0.75);
  CHECK(r.residuals.empty());
  // The factor's own basis names the rows in the mean and the earliest window; the
  // shape fit's basis does not mention it; the line is printed.
  CHECK(g.sustained_basis.find("synthetic.json rows 2,3,4,5") != std::string::npos);
  CHECK(g.sustained_basis.find("synthetic.json rows 0") != std::string::npos);
  CHECK(g.basis.find("sustained") == std::string::npos);
  REQUIRE(r.sustained.size() == 1);
  CHECK(r.sustained[0].rfind("gemm/bf16 sustained 0.95 ", 0) == 0);
  // FP8 has no series: no factor (1.0).
  CHECK_FALSE(r.tables.gemm.at(Precision::kFP8).sustained.has_value());
  CHECK(r.tables.sustained_for(Precision::kFP8) == 1.0);

  // Order does not matter; the same series reversed gives the same 0.95.
  std::vector<const Measurement*> rows;
  for (auto it = f.measurements.rbegin(); it != f.measurements.rend(); ++it) rows.push_back(&*it);
  std::vector<const Measurement*> used;
  CHECK(sustained_factor(rows, "synthetic.json", &used) == Approx(0.95).epsilon(1e-12));
  REQUIRE(used.size() == 4);
  CHECK(used.front()->pointer == "/measurements/2");  // the 3 s window, earliest in the mean
  // The reference is the 1 s window (800), whatever the order given.
  const Measurement* earliest = nullptr;
  CHECK(sustained_factor(rows, "synthetic.json", nullptr, &earliest) == Approx(0.95).epsilon(1e-12));
  REQUIRE(earliest != nullptr);
  CHECK(earliest->pointer == "/measurements/0");
}

TEST_CASE("A series of fewer than 3 windows gives no factor; duplicate elapsed is an error", "[calib][sustained]") {
  const FitResult r = fit_tables({parse_measurements(series_text({800, 700}), "two.json")}, test_gpu(),
                                 default_tables("test-gpu", "base"));
  CHECK_FALSE(r.tables.gemm.at(Precision::kBF16).sustained.has_value());
  REQUIRE(r.sustained.size() == 1);
  CHECK(r.sustained[0].find("2 windows, at least 3 needed; not used") != std::string::npos);
  // A fourth window repeating elapsed "3 s": the fitter names that row's elapsed.
  const MeasurementFile dup = parse_measurements(
      series_text({800, 790, 780}, std::string(kRow) + "\"bound\": \"sustained\", \"elapsed\": \"3 s\", "
                                                       "\"achieved\": \"770 TFLOP/s\"}"),
      "dup.json");
  try {
    fit_tables({dup}, test_gpu(), default_tables("test-gpu", "base"));
    FAIL("no error");
  } catch (const ConfigError& e) {
    // Sorted by elapsed, rows 2 and 3 tie at 3 s; either may be named.
    CHECK((e.pointer() == "/measurements/3/elapsed" || e.pointer() == "/measurements/2/elapsed"));
  }
}

TEST_CASE("Sustained factor round-trips through the table JSON; absent stays absent", "[calib][sustained]") {
  EfficiencyTables t = default_tables("x", "because");
  const std::string plain = tables_to_json(t);
  CHECK(plain.find("sustained") == std::string::npos);  // no measurement: no field, old bytes
  t.gemm[Precision::kBF16].sustained = 0.95;
  t.gemm[Precision::kBF16].sustained_basis = "sustained 0.95 (a run)";
  const std::string text = tables_to_json(t);
  CHECK(text.find("\"sustained\": 0.95") != std::string::npos);
  CHECK(text.find("\"sustained_basis\": \"sustained 0.95 (a run)\"") != std::string::npos);
  const std::string path = "/tmp/trainsim_calib_sustained_roundtrip_test.json";
  save_tables(t, path);
  const EfficiencyTables back = load_tables(path);
  CHECK(*back.gemm.at(Precision::kBF16).sustained == 0.95);
  CHECK(back.gemm.at(Precision::kBF16).sustained_basis == "sustained 0.95 (a run)");
  CHECK(back.sustained_for(Precision::kFP16) == 0.95);  // FP16 reads BF16's entry
  CHECK(tables_to_json(back) == text);
  // A factor without its basis, or a basis without its factor, is refused at the entry.
  auto load_error = [&](const std::string& from, const std::string& to) {
    std::string bad = text;
    bad.replace(bad.find(from), from.size(), to);
    write_file_atomic(path, bad);
    try {
      load_tables(path);
    } catch (const ConfigError& e) {
      return e.pointer();
    }
    return std::string();
  };
  CHECK(load_error(",\n      \"sustained_basis\": \"sustained 0.95 (a run)\"", "") == "/gemm/bf16");
  CHECK(load_error("\"sustained\": 0.95,", "") == "/gemm/bf16/sustained_basis");
}

TEST_CASE("Carrying keeps the sustained factor only at the same TDP", "[calib][sustained]") {
  hardware::Accelerator from = test_gpu();
  from.name = "h100-sxm";
  from.tdp = Watts(700);
  hardware::Accelerator same = from;
  same.name = "h800";
  hardware::Accelerator lower = from;
  lower.name = "h100-pcie";
  lower.tdp = Watts(350);
  EfficiencyTables src = default_tables("h100-sxm", "r");
  // Without a factor nothing is added: the 4 standard adjustment lines, as before.
  CHECK(carry_tables(src, from, lower).provenance.adjustments.size() == 4);
  src.gemm[Precision::kBF16].sustained = 0.9;
  src.gemm[Precision::kBF16].sustained_basis = "sustained 0.9 (run)";
  const EfficiencyTables kept = carry_tables(src, from, same);
  CHECK(kept.sustained_for(Precision::kBF16) == 0.9);
  CHECK(kept.gemm.at(Precision::kBF16).sustained_basis == "carried from h100-sxm: sustained 0.9 (run)");
  REQUIRE(kept.provenance.adjustments.size() == 5);
  CHECK(kept.provenance.adjustments[4].find("sustained factor bf16 0.9 kept") != std::string::npos);
  const EfficiencyTables dropped = carry_tables(src, from, lower);
  CHECK_FALSE(dropped.gemm.at(Precision::kBF16).sustained.has_value());
  CHECK(dropped.sustained_for(Precision::kBF16) == 1.0);
  CHECK(dropped.gemm.at(Precision::kBF16).sustained_basis.empty());  // no text for a factor it does not have
  REQUIRE(dropped.provenance.adjustments.size() == 5);
  CHECK(dropped.provenance.adjustments[4].find("dropped to 1.0") != std::string::npos);
  CHECK(dropped.provenance.adjustments[4].find("TDP") != std::string::npos);
}

TEST_CASE("Every shipped table loads and re-saves byte for byte", "[calib][sustained]") {
  // Tables written before "sustained" existed have no such field; they must round-trip unchanged.
  const std::vector<std::string> profiles = list_tables();
  CHECK(profiles.size() >= 2);  // h100-sxm and h800 at least ship
  for (const std::string& p : profiles) {
    INFO(p);
    const std::string path = tables_path_for(p);
    CHECK(tables_to_json(load_tables(path)) == read_file(path));
  }
}

}  // namespace trainsim::calib
