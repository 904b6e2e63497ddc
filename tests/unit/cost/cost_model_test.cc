// Cost model tests; every expected value is derived by hand beside it.
#include <catch2/catch.hpp>

#include "unit/fixtures.h"

#include "calib/tables.h"
#include "cost/cost_model.h"

namespace trainsim::cost {
namespace {

hardware::Cluster test_cluster(bool fp8 = true) {
  return testing::test_cluster({.name = "test-h800", .fp8_tflops = fp8 ? 1979.0 : 0.0, .scale_up_gbps = 100}, 4);
}

calib::EfficiencyTables test_tables() {
  calib::EfficiencyTables t = calib::default_tables("test-h800", "test");
  t.scale_up.collective.eta = 0.8;
  t.scale_up.collective.alpha = microseconds(5);
  t.scale_up.all_to_all.eta = 0.8;
  t.scale_up.all_to_all.alpha = microseconds(5);
  t.scale_out.collective.eta = 0.9;
  t.scale_out.collective.alpha = microseconds(10);
  t.scale_out.all_to_all.eta = 0.9;
  t.scale_out.all_to_all.alpha = microseconds(10);
  return t;
}

// Ring and tree latencies in round numbers: ring base 8 us, 5 us per step
// inside a node (7 us over a PCIe host link), 10 us per step between nodes, at least 6 us per step inside
// a ring that spans nodes; tree base 0, 20 us per step inside a node, 30 us
// between nodes.
calib::CollectiveLatency test_latency() {
  calib::CollectiveLatency c;
  c.ring_base = microseconds(8);
  c.ring_scale_up_step = microseconds(5);
  c.ring_scale_up_pci_step = microseconds(7);
  c.ring_scale_out_step = microseconds(10);
  c.ring_multi_node_step_floor = microseconds(6);
  c.tree_base = microseconds(0);
  c.tree_scale_up_step = microseconds(20);
  c.tree_scale_out_step = microseconds(30);
  return c;
}

}  // namespace

TEST_CASE("Ring all-reduce time by hand", "[cost]") {
  const CostModel cm(test_cluster(), test_tables(), test_latency());
  // 8 ranks in one node, 1 GiB, 100 GB/s x 0.8; latency 8 us + 14 steps x 5 us:
  // 2*7/8 * 1073741824 / 80e9 + 78e-6 = 0.0234881024 + 0.000078 = 0.0235661024 s.
  const Seconds t = cm.collective_time(CollectiveOp::kAllReduce, gibibytes(1), Group{8, 8}, Algorithm::kRing);
  CHECK(t.value() == Approx(0.0235661024).epsilon(1e-9));
  // Reduce-scatter alone: 7/8 * 1073741824 / 80e9 + 8 us + 7 * 5 us = 0.0117440512 + 0.000043.
  const Seconds rs = cm.collective_time(CollectiveOp::kReduceScatter, gibibytes(1), Group{8, 8}, Algorithm::kRing);
  CHECK(rs.value() == Approx(0.0117870512).epsilon(1e-9));
  // A part whose scale-up path is the PCIe host link: 7 us per step, 8 + 7 x 7 = 57 us.
  hardware::Cluster pcie = test_cluster();
  pcie.accelerator.scale_up.via_host_link = true;
  const CostModel cp(pcie, test_tables(), test_latency());
  CHECK(cp.collective_time(CollectiveOp::kReduceScatter, gibibytes(1), Group{8, 8}, Algorithm::kRing).value() ==
        Approx(0.0117440512 + 57e-6).epsilon(1e-9));
  // One rank, or nothing to send: zero.
  CHECK(cm.collective_time(CollectiveOp::kAllReduce, gibibytes(1), Group{1, 1}).value() == 0.0);
}

TEST_CASE("Hierarchical all-reduce across nodes by hand; auto picks the fastest", "[cost]") {
  const CostModel cm(test_cluster(), test_tables(), test_latency());
  const Group g{32, 8};  // 4 nodes x 8
  const Bytes s = gibibytes(1);
  // Intra RS over 8 (one node): 7/8 S / 80e9 + 8 us + 7 x 5 us; inter ring AR
  // over 4 nodes of S/8 through one NIC each (50 GB/s x 0.9 = 45e9), all 6
  // steps between nodes: 2*3/4 * S/8 / 45e9 + 8 us + 6 x 10 us; intra AG as RS.
  const double S = 1073741824.0;
  const double rs = 7.0 / 8 * S / 80e9 + 8e-6 + 7 * 5e-6;
  const double ar = 1.5 * (S / 8) / 45e9 + 8e-6 + 6 * 10e-6;
  const Seconds hier = cm.collective_time(CollectiveOp::kAllReduce, s, g, Algorithm::kHierarchical);
  CHECK(hier.value() == Approx(rs + ar + rs).epsilon(1e-9));
  // Flat ring over 32 ranks: the node boundary carries the ring through 8 NICs
  // (8 x 45e9 = 360e9) but NVLink is slower (80e9): 2*31/32 S / 80e9; 62
  // steps, 2 x 4 = 8 between nodes (NCCL's count) at 10 us, the other 54 at
  // max(5, floor 6) = 6 us: 8 + 54 x 6 + 8 x 10 = 412 us.
  const Seconds ring = cm.collective_time(CollectiveOp::kAllReduce, s, g, Algorithm::kRing);
  CHECK(ring.value() == Approx(2.0 * 31 / 32 * S / 80e9 + 412e-6).epsilon(1e-9));
  // Tree: 2 S through the slower of NVLink (80e9) and one NIC (45e9), latency
  // 2 x (7 x 20 us + log2(4) x 30 us) = 400 us.
  const Seconds tree = cm.collective_time(CollectiveOp::kAllReduce, s, g, Algorithm::kTree);
  CHECK(tree.value() == Approx(2.0 * S / 45e9 + 400e-6).epsilon(1e-9));
  // 3 nodes of 8: NCCL's log2i rounds down, 2 x (7 x 20 + 1 x 30) = 340 us.
  CHECK(cm.collective_time(CollectiveOp::kAllReduce, s, Group{24, 8}, Algorithm::kTree).value() ==
        Approx(2.0 * S / 45e9 + 340e-6).epsilon(1e-9));
  CHECK(cm.collective_time(CollectiveOp::kAllReduce, s, g) == min(hier, min(ring, cm.collective_time(
                                                                    CollectiveOp::kAllReduce, s, g, Algorithm::kTree))));
}

TEST_CASE("Point-to-point alpha-beta by hand", "[cost]") {
  const CostModel cm(test_cluster(), test_tables());
  // Across nodes: 10 us + 45 MB / 45e9 = 10 us + 1 ms.
  CHECK(cm.p2p_time(Bytes(45e6), true).value() == Approx(1.01e-3));
  // Inside a node: 5 us + 80 MB / 80e9 = 1.005 ms.
  CHECK(cm.p2p_time(Bytes(80e6), false).value() == Approx(1.005e-3));
}

TEST_CASE("FP8 vs BF16 GEMM time ratio from the table values", "[cost]") {
  const calib::EfficiencyTables t = test_tables();
  const CostModel cm(test_cluster(), t);
  // A DeepSeek-V3 expert-sized shape, compute-bound; same tiles and waves at both
  // precisions, so (t - overhead) scales as 1 / (peak * eta):
  // (989 * eta_bf16) / (1979 * eta_fp8) = (989 * 0.75) / (1979 * 0.65) = 741.75 / 1286.35 = 0.57663.
  REQUIRE(t.gemm.at(Precision::kBF16).eta_max == 0.75);
  REQUIRE(t.gemm.at(Precision::kFP8).eta_max == 0.65);
  const graph::GemmShape s{16384, 7168, 7168, 1};
  const double e = 2.0;  // BF16 bytes; the memory bound is far below the compute time either way
  const Bytes bytes((16384.0 * 7168 + 7168.0 * 7168) * e + 16384.0 * 7168 * 2);
  const OpContext ctx;
  const double over = t.gemm.at(Precision::kBF16).launch_overhead.value();
  const double bf16 = cm.gemm_time(s, Precision::kBF16, bytes, false, ctx).value() - over;
  const double fp8 = cm.gemm_time(s, Precision::kFP8, bytes, false, ctx).value() - over;
  CHECK(fp8 / bf16 == Approx(741.75 / 1286.35).epsilon(1e-9));
}

TEST_CASE("Wave quantization: 133 tiles on 132 SMs take two waves", "[cost]") {
  const calib::EfficiencyTables t = test_tables();
  const CostModel cm(test_cluster(), t);
  const OpContext ctx;
  const double over = t.gemm.at(Precision::kBF16).launch_overhead.value();
  // 128x128 tiles: 1536 x 1408 -> 12 x 11 = 132 tiles (1 wave); 896 x 2432 -> 7 x 19 = 133 tiles (2 waves).
  // K = 16384 keeps both compute-bound (one wave: 2*128*128*(16384+256) / (989e12 * 0.75 / 132) = 97 us;
  // memory about 35 us).
  const double one = cm.gemm_time({1536, 1408, 16384, 1}, Precision::kBF16, Bytes(96e6), false, ctx).value() - over;
  const double two = cm.gemm_time({896, 2432, 16384, 1}, Precision::kBF16, Bytes(109e6), false, ctx).value() - over;
  CHECK(one == Approx(2.0 * 128 * 128 * (16384 + 256) / (989e12 * 0.75 / 132)).epsilon(1e-9));
  CHECK(two == Approx(2.0 * one).epsilon(1e-9));
  // With 20 SMs lent to communication (DeepSeek), 132 tiles need ceil(132 / 112) = 2 waves.
  OpContext lent;
  lent.sms_reserved_for_comm = 20;
  CHECK(cm.usable_sms(lent) == 112);
  const double lent_t = cm.gemm_time({1536, 1408, 16384, 1}, Precision::kBF16, Bytes(96e6), false, lent).value() - over;
  CHECK(lent_t == Approx(2.0 * one).epsilon(1e-9));
}

TEST_CASE("Node-limited all-to-all bytes in hand-countable cases", "[cost]") {
  const CostModel cm(test_cluster(), test_tables());
  {
    // EP 4 on 2 nodes of 2 GPUs, top-1, unlimited: the token's expert GPU is uniform over 4.
    // Own GPU (1/4): nothing. Other GPU in own node (1/4): one NVLink copy. Other node (1/2):
    // one IB copy to the same-index GPU, then one NVLink forward unless that GPU is the
    // target (1/4 each). E[IB copies] = 1/2, E[NVLink copies] = 1/4 + 1/4 = 1/2.
    ExpertAllToAll a;
    a.tokens = 1000;
    a.bytes_per_token = Bytes(100);
    a.experts_per_token = 1;
    a.ep = 4;
    a.ranks_per_node = 2;
    const AllToAllCost c = cm.expert_all_to_all(a);
    CHECK(c.scale_out_bytes.value() == Approx(1000 * 100 * 0.5));
    CHECK(c.scale_up_bytes.value() == Approx(1000 * 100 * 0.5));
    // IB: 50,000 B / 45e9; NVLink: 50,000 B / 80e9; overlapped, plus the larger alpha (10 us).
    CHECK(c.time.value() == Approx(50000 / 45e9 + 10e-6));
  }
  {
    // EP 8 on 4 nodes of 2 GPUs, 8 experts (one per GPU), top-2 limited to M = 1 node: both
    // experts sit on the chosen node, one on each GPU. Remote node (3/4): one IB copy + one
    // forward; own node (1/4): one NVLink copy. E[IB] = 0.75, E[NVLink] = 1.
    ExpertAllToAll a;
    a.tokens = 10;
    a.bytes_per_token = Bytes(1000);
    a.experts_per_token = 2;
    a.ep = 8;
    a.ranks_per_node = 2;
    a.max_nodes = 1;
    a.n_experts = 8;
    const AllToAllCost c = cm.expert_all_to_all(a);
    CHECK(c.scale_out_bytes.value() == Approx(10 * 1000 * 0.75));
    CHECK(c.scale_up_bytes.value() == Approx(10 * 1000 * 1.0));
  }
}

TEST_CASE("Optimizer step is memory-bound AdamW", "[cost]") {
  const calib::EfficiencyTables t = test_tables();
  const CostModel cm(test_cluster(), t);
  // Per parameter with BF16 moments: read 4 (master) + 4 (grad) + 2 + 2 (moments), write 4 + 2 + 2
  // + 2 (BF16 weights) = 22 B. 1e9 params: 4 us + 22e9 / (3350e9 * 0.85).
  CHECK(cm.optimizer_time(1000000000, Precision::kBF16).value() == Approx(4e-6 + 22e9 / (3350e9 * 0.85)));
}

TEST_CASE("FP8 GEMMs fall back to BF16 where the part has no FP8 peak, and say so", "[cost]") {
  const CostModel cm(test_cluster(false), test_tables());
  CHECK(cm.effective_gemm_precision(Precision::kFP8) == Precision::kBF16);
  REQUIRE(!cm.notes().empty());
  CHECK(cm.notes()[0].find("no FP8") != std::string::npos);
  const OpContext ctx;
  const graph::GemmShape s{4096, 4096, 4096, 1};
  CHECK(cm.gemm_time(s, Precision::kFP8, Bytes(1e8), false, ctx) == cm.gemm_time(s, Precision::kBF16, Bytes(1e8), false, ctx));
}

TEST_CASE("Operator passes use the transposed GEMM shapes and zero for no work", "[cost]") {
  const CostModel cm(test_cluster(), test_tables());
  graph::Operator op;
  op.kind = graph::OpKind::kGemm;
  op.gemm = {4096, 7168, 2048, 1};
  op.fwd = {Flops(2.0 * 4096 * 7168 * 2048), Bytes(1e8)};
  op.bwd_input = op.fwd;
  const OpContext ctx;
  // Dgrad of (m, n, k) is the GEMM (m, k, n).
  CHECK(cm.op_time(op, Pass::kBackwardInput, ctx) == cm.gemm_time({4096, 2048, 7168, 1}, Precision::kBF16, Bytes(1e8), false, ctx));
  // No weight-gradient work recorded: zero.
  CHECK(cm.op_time(op, Pass::kBackwardWeight, ctx).value() == 0.0);
}

}  // namespace trainsim::cost
