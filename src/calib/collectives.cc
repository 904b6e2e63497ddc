// Loading the collective library's latency model (see collectives.h).
#include "calib/collectives.h"

#include <algorithm>
#include <cmath>

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

Seconds ring_latency(const CollectiveLatency& c, bool all_reduce, int ranks, int nodes, bool via_host_link) {
  if (ranks <= 1) return Seconds::zero();
  const double n = ranks;
  const double steps = all_reduce ? 2.0 * (n - 1) : n - 1;
  const double inter = nodes > 1 ? std::min(steps, all_reduce ? 2.0 * nodes : nodes - 1.0) : 0.0;
  const Seconds up = via_host_link ? c.ring_scale_up_pci_step : c.ring_scale_up_step;
  const Seconds intra = nodes > 1 ? max(up, c.ring_multi_node_step_floor) : up;
  return c.ring_base + intra * (steps - inter) + c.ring_scale_out_step * inter;
}

Seconds tree_latency(const CollectiveLatency& c, int ranks, int nodes) {
  if (ranks <= 1) return Seconds::zero();
  const int node_count = std::max(1, nodes);
  const double per_node = static_cast<double>(ranks / node_count);
  const double depth = std::floor(std::log2(static_cast<double>(node_count)));
  return c.tree_base + (c.tree_scale_up_step * (per_node - 1.0) + c.tree_scale_out_step * depth) * 2.0;
}

CollectiveOverlap load_collective_overlap(const std::string& path) {
  const JsonDocument doc = JsonDocument::load(path);
  const JsonView root = doc.root();
  root.check_keys({"format", "name", "description", "compute_slowdown"});
  if (root.at("format").string() != "trainsim-collective-overlap/1") {
    root.at("format").fail_expected("\"trainsim-collective-overlap/1\"");
  }
  const JsonView v = root.at("compute_slowdown");
  v.check_keys({"value", "source", "note"});
  CollectiveOverlap o;
  o.file = path;
  o.compute_slowdown = v.at("value").non_negative_number();
  // Beyond doubling the compute time the figure is not a slowdown from
  // sharing SMs and memory but a typo (the source's maximum is 0.40).
  if (o.compute_slowdown > 1.0) v.at("value").fail_expected("a fraction in [0, 1] (0.189 for 18.9%)");
  o.source = v.at("source").string();
  if (o.source.empty()) v.at("source").fail("expected a non-empty source");
  return o;
}

const CollectiveOverlap& collective_overlap() {
  static const CollectiveOverlap kOverlap = load_collective_overlap(paths::calibrate_dir() + "/collectives/overlap.json");
  return kOverlap;
}

const CollectiveLatency& nccl_collective_latency() {
  static const CollectiveLatency kNccl = load_collective_latency(paths::calibrate_dir() + "/collectives/nccl.json");
  return kNccl;
}

}  // namespace trainsim::calib
