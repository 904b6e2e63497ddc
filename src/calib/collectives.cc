// Loading the collective library's latency model (see collectives.h).
#include "calib/collectives.h"

#include <fmt/format.h>

#include "core/json_reader.h"
#include "core/paths.h"

namespace trainsim::calib {

CollectiveLatency load_collective_latency(const std::string& path) {
  const JsonDocument doc = JsonDocument::load(path);
  const JsonView root = doc.root();
  root.check_keys({"format", "name", "description", "ring", "tree"});
  if (root.at("format").string() != "trainsim-collective-latency/1") {
    root.at("format").fail_expected("\"trainsim-collective-latency/1\"");
  }
  CollectiveLatency c;
  c.file = path;
  auto read = [&](const JsonView& parent, const char* group, const char* key) {
    const auto v = parent.at(key).sourced<Seconds>();  // refuses a negative duration
    c.sources.push_back(fmt::format("{}.{}: {}", group, key, v.source));
    return v.value;
  };
  const JsonView ring = root.at("ring");
  ring.check_keys({"base", "scale_up_step", "scale_up_pci_step", "scale_out_step", "multi_node_step_floor"});
  c.ring_base = read(ring, "ring", "base");
  c.ring_scale_up_step = read(ring, "ring", "scale_up_step");
  c.ring_scale_up_pci_step = read(ring, "ring", "scale_up_pci_step");
  c.ring_scale_out_step = read(ring, "ring", "scale_out_step");
  c.ring_multi_node_step_floor = read(ring, "ring", "multi_node_step_floor");
  const JsonView tree = root.at("tree");
  tree.check_keys({"base", "scale_up_step", "scale_out_step"});
  c.tree_base = read(tree, "tree", "base");
  c.tree_scale_up_step = read(tree, "tree", "scale_up_step");
  c.tree_scale_out_step = read(tree, "tree", "scale_out_step");
  return c;
}

const CollectiveLatency& nccl_collective_latency() {
  static const CollectiveLatency kNccl = load_collective_latency(paths::calibrate_dir() + "/collectives/nccl.json");
  return kNccl;
}

}  // namespace trainsim::calib
