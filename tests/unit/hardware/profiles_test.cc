// Every shipped profile: each value carries a unit and a source, and loads.
// Broken profiles (tests/data/hardware/) fail naming the file and JSON path.
#include <catch2/catch.hpp>

#include <cctype>
#include <set>

#include "core/error.h"
#include "core/file_io.h"
#include "core/paths.h"
#include "hardware/export_control.h"
#include "hardware/hardware.h"

using namespace trainsim;
using namespace trainsim::hardware;
using Catch::Matchers::Contains;
using nlohmann::json;

namespace {

// Fields that are plain strings or flags, not measured values.
const std::set<std::string> kPlain = {"name",       "display_name", "vendor",   "export_note",
                                      "comment",    "type",         "technology", "via_host_link",
                                      "description", "accelerator", "topology"};
// Sourced values that are bare numbers by nature: counts, years, ratios.
const std::set<std::string> kUnitless = {"launch_year", "sm_count", "domain_size", "nodes",
                                         "accelerators_per_node", "levels", "planes",
                                         "switch_radix", "nics_per_node", "oversubscription",
                                         "pue"};

bool has_unit(const std::string& s) {
  // A number followed by at least one letter or symbol: "989 TFLOP/s", "$2/h", "814 mm2".
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.' ||
                          s[i] == ' ' || s[i] == '-' || s[i] == ',')) {
    ++i;
  }
  return i > 0 && i < s.size();
}

// Collects "pointer: problem" for every value without a unit or a source.
void audit(const json& node, const std::string& pointer, const std::string& key,
           std::vector<std::string>& problems) {
  if (node.is_object() && node.contains("value")) {
    if (!node.contains("source") || !node["source"].is_string() ||
        node["source"].get<std::string>().empty()) {
      problems.push_back(pointer + ": no source");
    }
    const json& v = node["value"];
    if (v.is_null()) return;  // "not found", explained by the source
    if (v.is_string()) {
      if (!has_unit(v.get<std::string>())) problems.push_back(pointer + ": no unit");
    } else if (!(v.is_number() && kUnitless.count(key))) {
      problems.push_back(pointer + ": a bare number where a unit-bearing string is expected");
    }
    return;
  }
  if (node.is_object()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (kPlain.count(it.key())) continue;
      audit(*it, pointer + "/" + it.key(), it.key(), problems);
    }
    return;
  }
  problems.push_back(pointer + ": a value outside {\"value\", \"source\"}");
}

std::vector<std::string> audit_file(const std::string& path) {
  std::vector<std::string> problems;
  audit(json::parse(read_file(path)), "", "", problems);
  for (auto& p : problems) p = path + p;
  return problems;
}

std::string data(const std::string& name) {
  return std::string(TRAINSIM_TEST_DATA_DIR) + "/hardware/" + name;
}

}  // namespace

TEST_CASE("every accelerator profile has units and sources and loads", "[hardware]") {
  const auto names = list_accelerators();
  // The 19 profiles the issue names.
  const std::vector<std::string> required = {
      "h800", "h100-sxm", "h100-pcie", "h100-sxm-96gb-500w", "h20", "a800", "a100-sxm-80gb",
      "a100-sxm-40gb", "h200", "b200", "gb200", "l20", "l40s", "ascend-910b", "ascend-910c",
      "mi300x", "mi325x", "gaudi3", "v100-sxm-32gb"};
  for (const auto& r : required) {
    INFO(r);
    CHECK(std::find(names.begin(), names.end(), r) != names.end());
  }
  const auto rules = load_export_rules();
  for (const auto& n : names) {
    INFO(n);
    const auto problems = audit_file(paths::hardware_profiles_dir() + "/" + n + ".json");
    CHECK(problems.empty());
    for (const auto& p : problems) WARN(p);
    const Accelerator a = load_accelerator(n);
    // Every profile classifies to finite metrics.
    const Classification c = classify(a, rules);
    CHECK(c.metrics.tpp > 0);
    CHECK(std::isfinite(c.metrics.performance_density));
    // Sparse never stands in for dense: no dense BF16 rate above the largest
    // published dense figure (GB200 2500 TFLOP/s).
    if (auto bf16 = a.peak(Precision::kBF16)) CHECK(in_tflops_per_second(*bf16) <= 2500);
  }
}

TEST_CASE("every cluster file has units and sources and loads", "[hardware]") {
  const auto names = list_clusters();
  CHECK(std::find(names.begin(), names.end(), "h800-2048-deepseek") != names.end());
  CHECK(names.size() >= 10);
  for (const auto& n : names) {
    INFO(n);
    const auto problems = audit_file(paths::hardware_profiles_dir() + "/clusters/" + n + ".json");
    CHECK(problems.empty());
    for (const auto& p : problems) WARN(p);
    const Cluster c = load_cluster(n);
    CHECK(c.total_accelerators() >= 8);
  }
  CHECK(audit_file(paths::hardware_profiles_dir() + "/generic_cluster.json").empty());
}

TEST_CASE("the audit itself catches a value without unit or source", "[hardware]") {
  // The audit must be able to fail: feed it the broken fixtures.
  CHECK_FALSE(audit_file(data("no-source.json")).empty());
  CHECK_FALSE(audit_file(data("no-unit.json")).empty());
}

TEST_CASE("broken profiles fail naming the file and the JSON path", "[hardware]") {
  CHECK_THROWS_WITH(load_accelerator(data("missing-field.json")),
                    Contains("missing-field.json") && Contains("/memory") &&
                        Contains("missing required field \"bandwidth\""));
  CHECK_THROWS_WITH(load_accelerator(data("wrong-unit.json")),
                    Contains("wrong-unit.json") &&
                        Contains("/scale_up/bandwidth_per_direction") &&
                        Contains("expected a bandwidth") && Contains("200 GB"));
  CHECK_THROWS_WITH(load_accelerator(data("negative.json")),
                    Contains("negative.json") && Contains("/tdp") && Contains("-700 W"));
  CHECK_THROWS_WITH(load_accelerator(data("no-source.json")),
                    Contains("/dense_peak/fp8") && Contains("source"));
  CHECK_THROWS_WITH(load_accelerator(data("no-unit.json")),
                    Contains("/memory/capacity") && Contains("with its unit"));
  CHECK_THROWS_WITH(load_accelerator(data("unknown-field.json")),
                    Contains("unknown field \"bandwith_per_direction\"") &&
                        Contains("did you mean"));
  CHECK_THROWS_AS(load_accelerator(data("negative.json")), ConfigError);
}

TEST_CASE("overrides: parse, apply, report, reject unknown fields", "[hardware]") {
  const Override o = parse_override("h800.scale_up.bandwidth_per_direction=\"450 GB/s\"");
  CHECK(o.path == "h800.scale_up.bandwidth_per_direction");
  CHECK(o.value == "450 GB/s");  // quotes dropped
  CHECK_THROWS_AS(parse_override("h800.tdp"), UsageError);  // no '='

  const Accelerator a = load_accelerator("h800", {o, parse_override("accelerator.tdp=500 W")});
  CHECK(in_gigabytes_per_second(a.scale_up.bandwidth_per_direction) == Approx(450));
  CHECK(a.tdp.value() == Approx(500));
  REQUIRE(a.applied_overrides.size() == 2);
  CHECK(a.applied_overrides[0] == "h800.scale_up.bandwidth_per_direction=450 GB/s");
  CHECK_THAT(a.sources.at("tdp").source, Contains("override"));

  // Counts are numbers; a field the file leaves out but the schema allows can be set.
  const Accelerator b = load_accelerator(
      "h100-pcie", {parse_override("h100-pcie.scale_up.domain_size=8"),
                    parse_override("h100-pcie.scale_up.measured_per_direction=250 GB/s")});
  CHECK(b.scale_up.domain_size == 8);
  CHECK(in_gigabytes_per_second(*b.scale_up.measured_per_direction) == Approx(250));

  CHECK_THROWS_WITH(load_accelerator("h800", {parse_override("h800.scale_up.bandwidth_per_directon=450 GB/s")}),
                    Contains("unknown field \"bandwidth_per_directon\"") &&
                        Contains("did you mean \"bandwidth_per_direction\""));
  CHECK_THROWS_WITH(load_accelerator("h800", {parse_override("h100-sxm.tdp=1 W")}),
                    Contains("names nothing loaded"));
  // A wrong unit in an override is a ConfigError naming the field.
  CHECK_THROWS_WITH(load_accelerator("h800", {parse_override("h800.tdp=700 GB")}),
                    Contains("/tdp") && Contains("expected a power"));

  // Cluster and accelerator overrides together.
  const Cluster c = load_cluster(
      "h800-2048-deepseek", {parse_override("cluster.nodes=128"),
                             parse_override("h800.scale_up.bandwidth_per_direction=450 GB/s")});
  CHECK(c.total_accelerators() == 1024);  // 128 x 8
  CHECK(in_gigabytes_per_second(c.accelerator.scale_up.bandwidth_per_direction) == Approx(450));
  CHECK(c.applied_overrides.size() == 2);
  // generic_cluster takes overrides too.
  const Cluster g = generic_cluster("h800", 64, {parse_override("cluster.power.pue=1.1")});
  CHECK(g.pue == Approx(1.1));
}
