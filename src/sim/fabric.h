// The links of a simulated cluster: scale-up (NVLink into the node's switch)
// and scale-out (per-GPU NIC into a multi-plane two-level fat-tree), and the
// expert all-to-all as flows between real node and GPU pairs.
//
// Fabric models, per GPU, four links of fixed capacity per direction: NVLink
// transmit and receive (NVSwitch is non-blocking, so a GPU's own NVLink ports
// are its only scale-up constraint) and NIC transmit and receive; and per
// (plane, leaf switch) two aggregate links: the leaf's uplinks to the spine
// and the spine's downlinks into the leaf. Placement: GPU `local` of node n
// has its NIC on plane local % planes (DeepSeek's multi-plane fat-tree: each
// GPU-NIC pair in its own plane; ISCA'25 §5.1); the NICs of one plane are
// numbered node by node and `nics_per_leaf` consecutive ones share a leaf.
// A leaf of radix R with oversubscription o has R o / (1 + o) down ports and
// R / (1 + o) up ports (a 64-port leaf at 1:1: 32 + 32), so its uplink
// aggregate carries nics_per_leaf x NIC / o. The spine layer of a two-level
// fat-tree has exactly the leaves' uplink ports (ECMP spreads flows over
// them), so it adds no constraint beyond the leaf aggregates and has no link
// of its own here. A scale-out path is NIC tx, then (when the two NICs sit
// under different leaves) leaf up and leaf down, then NIC rx; both ends must
// be on the same plane (cross-plane traffic is forwarded inside the node
// first, over NVLink; ISCA'25 §5.1).
//
// Units: bytes per second per direction. Invariants: links are created once,
// in the constructor; a path has 2 or 4 distinct links.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "core/units.h"
#include "sim/resources.h"

namespace trainsim::sim {

// The scale-out fabric above the NICs (hardware::ScaleOut, resolved).
struct FabricShape {
  int planes = 1;                 // independent planes; GPU local index i uses plane i % planes
  int nics_per_leaf = 1 << 30;    // NICs of one plane under one leaf switch (huge = one leaf, no uplinks)
  double oversubscription = 1.0;  // leaf down / up capacity, >= 1
};

// Leaf ports from the switch radix and oversubscription o: down = floor(R o / (1 + o)), at least 1.
int nics_per_leaf(int switch_radix, double oversubscription);

class Fabric {
 public:
  // Adds every link to `net`. GPU id = node * gpus_per_node + local.
  Fabric(Network& net, int nodes, int gpus_per_node, BytesPerSecond nvlink, BytesPerSecond nic,
         const FabricShape& shape);

  int nodes() const { return nodes_; }
  int gpus_per_node() const { return gpn_; }
  int planes() const { return planes_; }
  int leaves_per_plane() const { return leaves_; }
  int plane_of(int gpu) const { return (gpu % gpn_) % planes_; }
  int leaf_of(int gpu) const;
  BytesPerSecond uplink_capacity() const { return uplink_; }

  uint32_t nvl_tx(int gpu) const { return base(gpu) + 0; }
  uint32_t nvl_rx(int gpu) const { return base(gpu) + 1; }
  uint32_t nic_tx(int gpu) const { return base(gpu) + 2; }
  uint32_t nic_rx(int gpu) const { return base(gpu) + 3; }
  // Aggregate uplink (leaf -> spine) and downlink (spine -> leaf) of a leaf; only when leaves_per_plane() > 1.
  uint32_t leaf_up(int plane, int leaf) const { return leaf_base_ + static_cast<uint32_t>((plane * leaves_ + leaf) * 2); }
  uint32_t leaf_down(int plane, int leaf) const { return leaf_up(plane, leaf) + 1; }

  // Scale-out path from src's NIC to dst's NIC (same plane; CHECK). Returns the hop count (2 or 4).
  int path(int src, int dst, std::array<uint32_t, Network::kMaxPath>& out) const;

 private:
  uint32_t base(int gpu) const { return first_ + static_cast<uint32_t>(gpu) * 4; }
  int nodes_, gpn_, planes_, per_leaf_, leaves_;
  uint32_t first_ = 0, leaf_base_ = 0;
  BytesPerSecond uplink_;
};

// Node-limited routing (DeepSeek-V3 §2.1.2): each token reaches at most M
// nodes of its EP group, about `nodes_per_token` (<= M) of them on average
// (the cost model's expected count of distinct nodes hit). Given each node's
// relative expert load (the tokens its experts attract; mean 1 = balanced),
// returns P(a token reaches node b) = nodes_per_token x load_b / sum(load),
// capped at 1 per node by water-filling (the excess goes to the other nodes
// in proportion to their loads). Invariants: every p_b in [0, 1]; sum p_b =
// min(nodes_per_token, N) <= M, so a token is never sent to more than M nodes.
std::vector<double> node_reach_probabilities(std::span<const double> node_load, double nodes_per_token, int max_nodes);

// One flow of an all-to-all: bytes from a GPU to a GPU over a path.
struct PairFlow {
  int src = 0;  // fabric GPU ids
  int dst = 0;
  Bytes bytes;
  std::array<uint32_t, Network::kMaxPath> path{};
  uint8_t hops = 0;
};

// The flows one GPU starts for its part of an expert all-to-all among the
// GPUs `group` (fabric ids; whole nodes, node-major: group[n * per_node + j]
// is local rank j of the n-th node), DeepSeek-V3 §3.2.2: a token goes by
// scale-out to the GPU of the same in-node index on each other reached node,
// one copy per node (so one aggregated flow per (source GPU, destination
// node), on the source's plane), then by NVLink to the GPUs holding its
// experts; scale-out and NVLink transfers overlap.
//  - scale_out: this GPU's scale-out bytes in a balanced exchange (sent; the
//    same amount received), split over destination nodes by the routing
//    model: to node b, scale_out / (N - 1) x p_b / mean(p) for a dispatch
//    (the receivers' experts attract the tokens), x p_src / mean(p) for a
//    combine (the results return to where the tokens came from);
//  - scale_up: its NVLink bytes in a balanced exchange; a dispatch receives
//    scale_up x gpu_load / mean and transmits (forwards what its node
//    received) scale_up x node_load / mean, a combine the reverse. These are
//    two flows, one on its NVLink tx and one on its rx (per-port model:
//    NVSwitch is non-blocking, so each port finishes its own bytes).
// gpu_load: relative expert load of each group member (empty = balanced).
// Appends to `out`.
struct AllToAllPart {
  std::span<const int> group;
  int per_node = 1;
  int member = 0;  // index of this GPU in `group`
  Bytes scale_out;
  Bytes scale_up;
  bool combine = false;
  double nodes_per_token = 1;
  int max_nodes = 0;
  std::span<const float> gpu_load;  // per group member, or empty
};
void all_to_all_flows(const Fabric& fabric, const AllToAllPart& part, std::vector<PairFlow>& out);

}  // namespace trainsim::sim
