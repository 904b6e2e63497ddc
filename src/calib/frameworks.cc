// Loading framework behaviour files (see frameworks.h).
#include "calib/frameworks.h"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "core/error.h"
#include "core/json_reader.h"
#include "core/paths.h"
#include "core/strings.h"

namespace trainsim::calib {
namespace fs = std::filesystem;

namespace {

std::string frameworks_dir() { return paths::calibrate_dir() + "/frameworks"; }

// A {"value": ..., "source": ...} member; returns the value node and records the source.
JsonView sourced_member(const JsonView& parent, const char* key, Zero3Framework& f) {
  const JsonView v = parent.at(key);
  v.check_keys({"value", "source", "note"});
  const std::string src = v.at("source").string();
  if (src.empty()) v.at("source").fail_expected("a non-empty source");
  f.sources.push_back(fmt::format("{}: {}", key, src));
  return v.at("value");
}

}  // namespace

std::vector<std::string> zero3_framework_names() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(frameworks_dir(), ec)) {
    if (e.is_regular_file() && e.path().extension() == ".json") out.push_back(e.path().stem().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

Zero3Framework load_zero3_framework(const std::string& name) {
  const std::string path = frameworks_dir() + "/" + name + ".json";
  if (!fs::is_regular_file(path)) {
    const auto known = zero3_framework_names();
    throw UsageError(fmt::format("unknown ZeRO-3 framework \"{}\"{}; known: {}", name, did_you_mean(name, known),
                                 join(known)));
  }
  const JsonDocument doc = JsonDocument::load(path);
  const JsonView root = doc.root();
  root.check_keys({"format", "name", "description", "behaviour", "host_overhead_per_gather",
                   "param_persistence_threshold", "max_reuse_distance"});
  if (root.at("format").string() != "trainsim-framework/1") {
    root.at("format").fail_expected("\"trainsim-framework/1\"");
  }
  Zero3Framework f;
  f.name = root.at("name").string();
  f.file = path;
  const JsonView b = root.at("behaviour");
  b.check_keys({"granularity", "blocking_gathers", "list_form_copies", "reduce_scatter_overlaps_backward"});
  f.per_parameter = sourced_member(b, "granularity", f).one_of({"parameter", "layer"}) == "parameter";
  f.blocking_gathers = sourced_member(b, "blocking_gathers", f).boolean();
  f.list_form_copies = sourced_member(b, "list_form_copies", f).boolean();
  f.reduce_scatter_overlaps_backward = sourced_member(b, "reduce_scatter_overlaps_backward", f).boolean();
  const auto overhead = root.at("host_overhead_per_gather").sourced<Seconds>();
  f.host_overhead_per_gather = overhead.value;
  f.sources.push_back(fmt::format("host_overhead_per_gather: {}", overhead.source));
  f.param_persistence_threshold = sourced_member(root, "param_persistence_threshold", f).non_negative_integer();
  f.max_reuse_distance = sourced_member(root, "max_reuse_distance", f).non_negative_integer();
  return f;
}

}  // namespace trainsim::calib
