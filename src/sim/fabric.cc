#include "sim/fabric.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace trainsim::sim {

int nics_per_leaf(int switch_radix, double oversubscription) {
  const double o = std::max(1.0, oversubscription);
  const double r = static_cast<double>(std::max(2, switch_radix));
  return std::max(1, static_cast<int>(std::floor(r * o / (1.0 + o) + 1e-9)));
}

Fabric::Fabric(Network& net, int nodes, int gpus_per_node, BytesPerSecond nvlink, BytesPerSecond nic,
               const FabricShape& shape)
    : nodes_(nodes), gpn_(gpus_per_node) {
  TRAINSIM_CHECK(nodes >= 1 && gpus_per_node >= 1, "fabric of {} nodes x {} GPUs", nodes, gpus_per_node);
  // Planes that do not divide the node's GPUs would leave some plane with
  // more NICs per node than others; use the largest divisor not above it.
  planes_ = std::clamp(shape.planes, 1, gpn_);
  while (gpn_ % planes_ != 0) --planes_;
  per_leaf_ = std::max(1, shape.nics_per_leaf);
  const int64_t nics_per_plane = static_cast<int64_t>(nodes_) * (gpn_ / planes_);
  leaves_ = static_cast<int>((nics_per_plane + per_leaf_ - 1) / per_leaf_);
  first_ = static_cast<uint32_t>(net.links());
  for (int g = 0; g < nodes_ * gpn_; ++g) {
    net.add_link(nvlink);
    net.add_link(nvlink);
    net.add_link(nic);
    net.add_link(nic);
  }
  leaf_base_ = static_cast<uint32_t>(net.links());
  // Leaf uplink aggregate: its down ports' NIC bandwidth over the oversubscription.
  const int used = static_cast<int>(std::min<int64_t>(per_leaf_, nics_per_plane));
  uplink_ = nic * (static_cast<double>(used) / std::max(1.0, shape.oversubscription));
  if (leaves_ > 1) {
    for (int p = 0; p < planes_; ++p) {
      for (int l = 0; l < leaves_; ++l) {
        net.add_link(uplink_);
        net.add_link(uplink_);
      }
    }
  }
}

int Fabric::leaf_of(int gpu) const {
  const int node = gpu / gpn_;
  const int local = gpu % gpn_;
  const int64_t index = static_cast<int64_t>(node) * (gpn_ / planes_) + local / planes_;
  return static_cast<int>(index / per_leaf_);
}

int Fabric::path(int src, int dst, std::array<uint32_t, Network::kMaxPath>& out) const {
  TRAINSIM_CHECK(plane_of(src) == plane_of(dst), "scale-out path from plane {} to plane {}", plane_of(src),
                 plane_of(dst));
  int n = 0;
  out[static_cast<size_t>(n++)] = nic_tx(src);
  const int ls = leaf_of(src), ld = leaf_of(dst);
  if (ls != ld) {
    out[static_cast<size_t>(n++)] = leaf_up(plane_of(src), ls);
    out[static_cast<size_t>(n++)] = leaf_down(plane_of(src), ld);
  }
  out[static_cast<size_t>(n++)] = nic_rx(dst);
  return n;
}

std::vector<double> node_reach_probabilities(std::span<const double> node_load, double nodes_per_token,
                                             int max_nodes) {
  const size_t n = node_load.size();
  std::vector<double> p(n, 0.0);
  if (n == 0) return p;
  double target = std::min(nodes_per_token, static_cast<double>(n));
  if (max_nodes > 0) target = std::min(target, static_cast<double>(max_nodes));
  target = std::max(0.0, target);
  // Water-filling: nodes whose share would exceed 1 are reached by every
  // token; the rest share what is left in proportion to their loads.
  std::vector<uint8_t> capped(n, 0);
  for (size_t round = 0; round <= n; ++round) {
    double left = target, weight = 0;
    for (size_t b = 0; b < n; ++b) {
      if (capped[b]) {
        left -= 1.0;
      } else {
        weight += std::max(0.0, node_load[b]);
      }
    }
    bool changed = false;
    for (size_t b = 0; b < n; ++b) {
      if (capped[b]) {
        p[b] = 1.0;
        continue;
      }
      p[b] = weight > 0 ? std::max(0.0, left) * std::max(0.0, node_load[b]) / weight : 0.0;
      if (p[b] > 1.0) {
        capped[b] = 1;
        changed = true;
      }
    }
    if (!changed) break;
  }
  for (double& v : p) v = std::clamp(v, 0.0, 1.0);
  return p;
}

void all_to_all_flows(const Fabric& fabric, const AllToAllPart& a, std::vector<PairFlow>& out) {
  const int members = static_cast<int>(a.group.size());
  const int per_node = std::max(1, a.per_node);
  TRAINSIM_CHECK(members % per_node == 0 && a.member >= 0 && a.member < members,
                 "all-to-all member {} of {} in nodes of {}", a.member, members, per_node);
  TRAINSIM_CHECK(a.gpu_load.empty() || static_cast<int>(a.gpu_load.size()) == members,
                 "{} loads for {} members", a.gpu_load.size(), members);
  const int nodes = members / per_node;
  const int my_node = a.member / per_node;
  const int local = a.member % per_node;
  const int me = a.group[static_cast<size_t>(a.member)];
  // Relative loads: per node (mean of its GPUs) and this GPU, each over the group mean.
  double mean = 1.0;
  std::vector<double> node_load(static_cast<size_t>(nodes), 1.0);
  double my_load = 1.0;
  if (!a.gpu_load.empty()) {
    double sum = 0;
    for (float v : a.gpu_load) sum += v;
    mean = sum > 0 ? sum / members : 1.0;
    for (int n = 0; n < nodes; ++n) {
      double s = 0;
      for (int j = 0; j < per_node; ++j) s += a.gpu_load[static_cast<size_t>(n * per_node + j)];
      node_load[static_cast<size_t>(n)] = s / per_node / mean;
    }
    my_load = a.gpu_load[static_cast<size_t>(a.member)] / mean;
  }
  if (nodes > 1 && a.scale_out.value() > 0) {
    const std::vector<double> p = node_reach_probabilities(node_load, a.nodes_per_token, a.max_nodes);
    const double mean_p = std::accumulate(p.begin(), p.end(), 0.0) / nodes;
    const Bytes per_node_bytes = a.scale_out / static_cast<double>(nodes - 1);
    for (int n = 0; n < nodes; ++n) {
      if (n == my_node) continue;
      const double w = mean_p > 0 ? p[static_cast<size_t>(a.combine ? my_node : n)] / mean_p : 1.0;
      if (!(w > 0)) continue;
      PairFlow f;
      f.src = me;
      // Same in-node index on the destination node (same plane).
      f.dst = a.group[static_cast<size_t>(n * per_node + local)];
      f.bytes = per_node_bytes * w;
      f.hops = static_cast<uint8_t>(fabric.path(f.src, f.dst, f.path));
      out.push_back(f);
    }
  }
  if (a.scale_up.value() > 0) {
    const double node = node_load[static_cast<size_t>(my_node)];
    const double rx = a.combine ? node : my_load;
    const double tx = a.combine ? my_load : node;
    if (tx > 0) {
      PairFlow f;
      f.src = f.dst = me;
      f.bytes = a.scale_up * tx;
      f.path[0] = fabric.nvl_tx(me);
      f.hops = 1;
      out.push_back(f);
    }
    if (rx > 0) {
      PairFlow f;
      f.src = f.dst = me;
      f.bytes = a.scale_up * rx;
      f.path[0] = fabric.nvl_rx(me);
      f.hops = 1;
      out.push_back(f);
    }
  }
}

}  // namespace trainsim::sim
