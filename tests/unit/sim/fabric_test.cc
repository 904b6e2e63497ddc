#include <catch2/catch.hpp>

#include <numeric>
#include <vector>

#include "calib/tables.h"
#include "core/error.h"
#include "cost/cost_model.h"
#include "run/scenario.h"
#include "sim/fabric.h"
#include "sim/pipeline.h"
#include "sim/simulator.h"

using namespace trainsim;
using namespace trainsim::sim;

namespace {
struct Done : FlowSink {
  std::vector<std::pair<uint64_t, Tick>> at;
  void flow_done(Engine& e, uint64_t cookie, Tick) override { at.emplace_back(cookie, e.now()); }
  Tick last() const {
    Tick t = -1;
    for (auto& [c, w] : at) t = std::max(t, w);
    return t;
  }
  Tick when(uint64_t cookie) const {
    for (auto& [c, t] : at)
      if (c == cookie) return t;
    return -1;
  }
};

void start_all(Engine& e, Network& net, const std::vector<PairFlow>& flows, Done& d) {
  for (size_t i = 0; i < flows.size(); ++i) {
    net.start_flow(e, flows[i].bytes, std::span<const uint32_t>(flows[i].path.data(), flows[i].hops), &d, i);
  }
}

std::vector<PairFlow> group_flows(const Fabric& f, std::span<const int> group, int per_node, Bytes out, Bytes up,
                                  bool combine = false, std::span<const float> load = {}, double nodes_per_token = 1,
                                  int max_nodes = 0) {
  std::vector<PairFlow> flows;
  AllToAllPart a;
  a.group = group;
  a.per_node = per_node;
  a.scale_out = out;
  a.scale_up = up;
  a.combine = combine;
  a.gpu_load = load;
  a.nodes_per_token = nodes_per_token;
  a.max_nodes = max_nodes;
  for (int m = 0; m < static_cast<int>(group.size()); ++m) {
    a.member = m;
    all_to_all_flows(f, a, flows);
  }
  return flows;
}
}  // namespace

TEST_CASE("2-node x 2-GPU all-to-all: flow bytes and finish time by hand", "[sim]") {
  // Two nodes of two GPUs, two planes (GPU i's NIC on plane i), one leaf.
  // NIC 50 GB/s, NVLink 100 GB/s per direction.
  Engine e;
  Network net;
  FabricShape shape;
  shape.planes = 2;
  const Fabric f(net, 2, 2, gigabytes_per_second(100), gigabytes_per_second(50), shape);
  const std::vector<int> group = {0, 1, 2, 3};
  // Balanced: each GPU sends its 1 GB of scale-out bytes to the one other
  // node, 1 GB / (N - 1 = 1), to the GPU of its own index there; 0.5 GB on
  // its NVLink tx and 0.5 GB on its rx. 4 IB flows + 8 NVLink flows.
  const auto flows = group_flows(f, group, 2, gigabytes(1), gigabytes(0.5));
  REQUIRE(flows.size() == 12);
  int ib = 0;
  for (const PairFlow& p : flows) {
    if (p.src == p.dst) {
      CHECK(p.bytes.value() == Approx(0.5e9));
      continue;
    }
    ++ib;
    CHECK(p.bytes.value() == Approx(1e9));
    CHECK(p.dst == (p.src + 2) % 4);  // same in-node index on the other node
    CHECK(p.hops == 2);                // NIC tx, NIC rx (one leaf)
  }
  CHECK(ib == 4);
  Done d;
  start_all(e, net, flows, d);
  e.run();
  // Each NIC tx and rx carries one 1 GB flow at 50 GB/s: 20 ms; NVLink
  // 0.5 GB at 100 GB/s: 5 ms. The exchange ends at 20 ms = 2e10 ps.
  CHECK(d.last() == 20'000'000'000);
  for (size_t i = 0; i < flows.size(); ++i) {
    CHECK(d.when(i) == (flows[i].src == flows[i].dst ? 5'000'000'000 : 20'000'000'000));
  }
}

TEST_CASE("the same all-to-all through the pipeline executor ends at the hand-derived time", "[sim]") {
  // One pipeline stage, 4 replicas = one EP group of 2 nodes x 2 GPUs; the
  // forward chunk is only the all-to-all above (no latency), everything else 0.
  PipelineSchedule s = build_schedule(plan::Schedule::kGpipe, 1, 1);
  PipelineWork w = fixed_cost_work(1, 0, 0, 0);
  Segment a2a;
  a2a.kind = Segment::Kind::kComm;
  a2a.collective = true;
  a2a.scale_out = gigabytes(1);
  a2a.scale_up = gigabytes(0.5);
  w.stages[0].chunk[static_cast<size_t>(ChunkType::kForward)] = {a2a};
  ClusterShape shape;
  shape.replicas = 4;
  shape.ep_replicas = 4;
  shape.gpus_per_node = 2;
  shape.nic = gigabytes_per_second(50);
  shape.nvlink = gigabytes_per_second(100);
  shape.pair_all_to_all = true;
  shape.fabric.planes = 2;
  const SimOutput o = run_pipeline(s, w, shape);
  // 20 ms as derived above; every GPU waits for the group, exposing all of it.
  CHECK(o.step == 20'000'000'000);
  CHECK(o.flows == 12);
  for (const GpuStats& g : o.gpus) CHECK(g.exposed_comm == 20'000'000'000);
  // The symmetric per-GPU model gives the same here: each GPU's 1 GB over its
  // own NIC tx + rx at 50 GB/s.
  shape.pair_all_to_all = false;
  CHECK(run_pipeline(s, w, shape).step == 20'000'000'000);
}

TEST_CASE("2:1 oversubscription halves the uplink share", "[sim]") {
  // 4 nodes x 1 GPU, one plane, 2 NICs per leaf: leaves {0,1} and {2,3}.
  // Two flows cross from leaf 0 to leaf 1 (0->2, 1->3), 1 GB each, NIC 50 GB/s.
  for (auto [over, expect] : {std::pair{1.0, 20'000'000'000LL}, std::pair{2.0, 40'000'000'000LL}}) {
    Engine e;
    Network net;
    FabricShape shape;
    shape.nics_per_leaf = 2;
    shape.oversubscription = over;
    const Fabric f(net, 4, 1, gigabytes_per_second(100), gigabytes_per_second(50), shape);
    REQUIRE(f.leaves_per_plane() == 2);
    // Uplink aggregate = 2 NICs x 50 GB/s / o: 100 GB/s at 1:1, 50 GB/s at 2:1.
    CHECK(f.uplink_capacity().value() == Approx(100e9 / over));
    std::array<uint32_t, Network::kMaxPath> p1{}, p2{};
    const int h1 = f.path(0, 2, p1), h2 = f.path(1, 3, p2);
    CHECK(h1 == 4);
    Done d;
    net.start_flow(e, gigabytes(1), std::span<const uint32_t>(p1.data(), h1), &d, 1);
    const uint32_t b = net.start_flow(e, gigabytes(1), std::span<const uint32_t>(p2.data(), h2), &d, 2);
    // 1:1: each flow gets its NIC's 50 GB/s (the uplink's 100 is not full);
    // 2:1: the 50 GB/s uplink is shared, 25 GB/s each, half the NIC.
    CHECK(net.rate(b).value() == Approx(50e9 / over));
    e.run();
    // 1 GB at 50 GB/s = 20 ms; at 25 GB/s = 40 ms.
    CHECK(d.when(1) == expect);
    CHECK(d.when(2) == expect);
  }
  // Leaf ports from the radix: 64-port leaf at 1:1 has 32 down; at 2:1, floor(64 x 2/3) = 42.
  CHECK(nics_per_leaf(64, 1.0) == 32);
  CHECK(nics_per_leaf(64, 2.0) == 42);
}

TEST_CASE("two planes carry disjoint traffic", "[sim]") {
  // 4 nodes x 2 GPUs, 2 planes, 2 NICs per leaf per plane (2 leaves per
  // plane). An all-to-all over the 4 nodes: every IB flow stays on its
  // source's plane, so plane-1 links carry exactly plane-1 GPUs' bytes.
  Engine e;
  Network net;
  FabricShape shape;
  shape.planes = 2;
  shape.nics_per_leaf = 2;
  const Fabric f(net, 4, 2, gigabytes_per_second(100), gigabytes_per_second(50), shape);
  const std::vector<int> group = {0, 1, 2, 3, 4, 5, 6, 7};
  auto flows = group_flows(f, group, 2, gigabytes(3), Bytes(0));
  std::vector<PairFlow> plane0;
  for (const PairFlow& p : flows) {
    CHECK(f.plane_of(p.src) == f.plane_of(p.dst));
    if (f.plane_of(p.src) == 0) plane0.push_back(p);
  }
  // 8 GPUs x 3 other nodes = 24 flows of 1 GB; 12 on plane 0.
  CHECK(flows.size() == 24);
  REQUIRE(plane0.size() == 12);
  Done d;
  start_all(e, net, plane0, d);
  e.run();
  for (int l = 0; l < f.leaves_per_plane(); ++l) {
    CHECK(net.carried(f.leaf_up(1, l)).value() == 0);
    CHECK(net.carried(f.leaf_down(1, l)).value() == 0);
  }
  for (int g = 0; g < 8; ++g) {
    // A plane-0 GPU sends 3 x 1 GB; a plane-1 GPU's NIC carries nothing.
    CHECK(net.carried(f.nic_tx(g)).value() == Approx(f.plane_of(g) == 0 ? 3e9 : 0.0));
  }
  // Nodes {0,1} under leaf 0, {2,3} under leaf 1: from each of nodes 0,1 two
  // of three flows cross, 4 GB up through plane 0's leaf 0.
  CHECK(net.carried(f.leaf_up(0, 0)).value() == Approx(4e9));
  std::array<uint32_t, Network::kMaxPath> p{};
  CHECK_THROWS_AS(f.path(0, 3, p), InternalError);  // plane 0 to plane 1
}

TEST_CASE("node-limited routing never sends a token to more than M nodes", "[sim]") {
  // 8 nodes, M = 4, 3.9 nodes per token expected. Balanced: 3.9 / 8 each.
  const std::vector<double> even(8, 1.0);
  auto p = node_reach_probabilities(even, 3.9, 4);
  for (double v : p) CHECK(v == Approx(3.9 / 8));
  // One node 100x hotter: it is reached by every token (capped at 1), the
  // other 2.9 copies spread evenly over 7 nodes.
  std::vector<double> hot(8, 1.0);
  hot[0] = 100;
  p = node_reach_probabilities(hot, 3.9, 4);
  CHECK(p[0] == 1.0);
  for (size_t b = 1; b < 8; ++b) CHECK(p[b] == Approx(2.9 / 7));
  // Asking for more nodes than M: capped at M = 4 in total.
  p = node_reach_probabilities(hot, 6.0, 4);
  CHECK(std::accumulate(p.begin(), p.end(), 0.0) == Approx(4.0));
  for (double v : p) CHECK(v <= 1.0);
  // Through the flows: per token copy, a source node's copies to node b are
  // p_b <= 1 and in all sum_{b != a} p_b <= M. Node loads 100,1,...: with S =
  // per-GPU scale-out bytes, bytes to b = S / 7 x p_b / mean(p).
  Network net;
  const Fabric f(net, 8, 1, gigabytes_per_second(100), gigabytes_per_second(50), FabricShape{});
  const std::vector<int> group = {0, 1, 2, 3, 4, 5, 6, 7};
  std::vector<float> load(8, 1.0f);
  load[0] = 100.0f;
  const auto flows = group_flows(f, group, 1, gigabytes(7), Bytes(0), false, load, 6.0, 4);
  const double mean_p = 4.0 / 8;
  double copies_from_node1 = 0;
  for (const PairFlow& fl : flows) {
    if (fl.src != 1) continue;
    // Bytes / (S / 7) x mean(p) = p_dst: copies per token to that node.
    const double copies = fl.bytes.value() / 1e9 * mean_p;
    CHECK(copies <= 1.0 + 1e-12);
    copies_from_node1 += copies;
  }
  CHECK(copies_from_node1 <= 4.0 + 1e-12);
}

TEST_CASE("uneven expert load gives uneven node-pair traffic (hand derivation)", "[sim]") {
  // 2 nodes x 2 GPUs; GPU loads {2, 2, 1, 1}, mean 1.5: node loads 4/3 and
  // 2/3. One node per token (N = 2): p = (2/3, 1/3), mean 1/2.
  Network net;
  FabricShape shape;
  shape.planes = 2;
  const Fabric f(net, 2, 2, gigabytes_per_second(100), gigabytes_per_second(50), shape);
  const std::vector<int> group = {0, 1, 2, 3};
  const std::vector<float> load = {2, 2, 1, 1};
  auto bytes = [](const std::vector<PairFlow>& fl, int src, int dst) {
    for (const PairFlow& p : fl)
      if (p.src == src && p.dst == dst && p.hops == 2) return p.bytes.value();
    return -1.0;
  };
  // Dispatch: to node b, S x p_b / mean: 1 GB x (1/3)/(1/2) = 2/3 GB from node 0,
  // 1 GB x (2/3)/(1/2) = 4/3 GB into the hot node 0.
  auto d = group_flows(f, group, 2, gigabytes(1), gigabytes(1), false, load);
  CHECK(bytes(d, 0, 2) == Approx(2e9 / 3));
  CHECK(bytes(d, 2, 0) == Approx(4e9 / 3));
  // Combine: by the source's node: the hot node sends 4/3 GB back.
  auto c = group_flows(f, group, 2, gigabytes(1), gigabytes(1), true, load);
  CHECK(bytes(c, 0, 2) == Approx(4e9 / 3));
  CHECK(bytes(c, 2, 0) == Approx(2e9 / 3));
  // NVLink, dispatch: GPU 2 receives 1 GB x 1/1.5 = 2/3 GB (its load) and
  // forwards 1 GB x 2/3 (its node's load).
  double rx2 = -1, tx2 = -1;
  for (const PairFlow& p : d) {
    if (p.src != 2 || p.hops != 1) continue;
    if (p.path[0] == f.nvl_rx(2)) rx2 = p.bytes.value();
    if (p.path[0] == f.nvl_tx(2)) tx2 = p.bytes.value();
  }
  CHECK(rx2 == Approx(2e9 / 3));
  CHECK(tx2 == Approx(2e9 / 3));
}

TEST_CASE("node-pair simulation of a small DeepSeek-V3 layout is seeded and deterministic", "[sim]") {
  // DeepSeek-V3 on 32 GPUs: PP 2 (DualPipe) x DP 16, EP 16 (2 nodes of 8),
  // 8 micro-batches per replica.
  const run::Scenario s = run::load_scenario("deepseek-v3");
  plan::Plan p = run::phase_plan(s, s.phases.front());
  for (const auto& ph : s.phases) {
    if (ph.kind == run::PhaseKind::kPretraining) p = run::phase_plan(s, ph);
  }
  p.pp = 2;
  p.dp = 16;
  p.ep = 16;
  p.global_batch = 16 * p.micro_batch * 8;
  const cost::CostModel cost(s.cluster, calib::load_tables_for(s.cluster.accelerator));
  SimulateOptions o;
  o.workload.all_ranks = true;
  o.workload.load = LoadModel::kSampled;
  o.workload.seed = 7;
  const SimReport a = simulate(s.model, p, cost, o);
  REQUIRE(a.out.gpus.size() == 32);
  bool pairs = false;
  for (const auto& n : a.notes) pairs = pairs || n.rfind("network: node pairs", 0) == 0;
  CHECK(pairs);
  const SimReport b = simulate(s.model, p, cost, o);
  CHECK(a.out.step == b.out.step);
  CHECK(a.out.events == b.out.events);
  for (size_t i = 0; i < a.out.gpus.size(); ++i) CHECK(a.out.gpus[i].end == b.out.gpus[i].end);
  o.workload.seed = 8;
  CHECK(simulate(s.model, p, cost, o).out.step != a.out.step);
  // The symmetric model on the same layout is available and says so.
  o.workload.network = NetworkModel::kSymmetric;
  const SimReport sym = simulate(s.model, p, cost, o);
  bool said = false;
  for (const auto& n : sym.notes) said = said || n.rfind("network: symmetric", 0) == 0;
  CHECK(said);
  // Node pairs cannot run for one representative replica.
  o.workload.all_ranks = false;
  o.workload.network = NetworkModel::kPairs;
  CHECK_THROWS_AS(simulate(s.model, p, cost, o), UsageError);
}
