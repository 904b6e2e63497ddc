#include "cost/cost_model.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace trainsim::cost {

using hardware::tensor_peak;

const char* to_string(CollectiveOp op) {
  switch (op) {
    case CollectiveOp::kAllReduce: return "all-reduce";
    case CollectiveOp::kReduceScatter: return "reduce-scatter";
    case CollectiveOp::kAllGather: return "all-gather";
    case CollectiveOp::kAllToAll: return "all-to-all";
    case CollectiveOp::kSendRecv: return "send/recv";
  }
  return "?";
}

const char* to_string(Algorithm a) {
  switch (a) {
    case Algorithm::kAuto: return "auto";
    case Algorithm::kRing: return "ring";
    case Algorithm::kTree: return "tree";
    case Algorithm::kHierarchical: return "hierarchical";
  }
  return "?";
}

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }  // a, b >= 1

// Expected number of the `pool` equally likely slots (nodes or GPUs) that
// `k` picks touch, when each slot owns `per_slot` of the `pool * per_slot`
// experts and picks are distinct experts (hypergeometric: P(slot missed) =
// C(total - per_slot, k) / C(total, k)). per_slot <= 0: picks with
// replacement, P(missed) = (1 - 1/pool)^k.
double expected_slots_hit(double pool, int k, double per_slot) {
  if (pool <= 1) return pool;
  double miss = 1.0;
  if (per_slot > 0) {
    const double total = pool * per_slot;
    for (int i = 0; i < k; ++i) {
      const double num = total - per_slot - i;
      if (num <= 0) { miss = 0; break; }
      miss *= num / (total - i);
    }
  } else {
    miss = std::pow(1.0 - 1.0 / pool, k);
  }
  return pool * (1.0 - miss);
}

}  // namespace

CostModel::CostModel(hardware::Cluster cluster, calib::EfficiencyTables tables, calib::CollectiveLatency latency,
                     calib::CollectiveOverlap overlap)
    : cluster_(std::move(cluster)),
      tables_(std::move(tables)),
      latency_(std::move(latency)),
      overlap_(std::move(overlap)) {
  const auto& acc = cluster_.accelerator;
  TRAINSIM_CHECK(tensor_peak(acc, Precision::kBF16).has_value(),
                 "accelerator {} has no BF16/FP16 dense peak", acc.name);
  if (!tensor_peak(acc, Precision::kFP8)) {
    notes_.push_back(fmt::format("{} has no FP8 dense peak: FP8 GEMMs run at BF16", acc.name));
  }
  if (tables_.is_default()) {
    notes_.push_back(fmt::format("efficiency tables for {} are defaults: {}", acc.name,
                                 tables_.provenance.default_reason));
  }
}

Precision CostModel::effective_gemm_precision(Precision p) const {
  if (tensor_peak(cluster_.accelerator, p)) return p;
  return Precision::kBF16;
}

int CostModel::usable_sms(const OpContext& ctx) const {
  const int total = std::max(1, cluster_.accelerator.sm_count);
  return std::clamp(total - ctx.sms_reserved_for_comm, 1, total);
}

// Wave-quantized tile model with a roofline memory bound (see calib/tables.h).
Seconds CostModel::gemm_time(const graph::GemmShape& s, Precision p, Bytes min_bytes, bool grouped,
                             const OpContext& ctx) const {
  if (s.m <= 0 || s.n <= 0 || s.k <= 0 || s.groups <= 0) return Seconds::zero();
  const Precision pe = effective_gemm_precision(p);
  const calib::GemmParams& g = grouped ? tables_.grouped_gemm_for(pe) : tables_.gemm_for(pe);
  const auto& acc = cluster_.accelerator;
  // Compute time at sustained clocks: grouped GEMMs take the dense GEMM's
  // factor of their precision (1.0 when not measured).
  return calib::gemm_model_time(g, s.m, s.n, s.k, s.groups, *tensor_peak(acc, pe), acc.sm_count, usable_sms(ctx),
                                min_bytes, acc.hbm_bandwidth, tables_.memory.eta, tables_.sustained_for(pe));
}

double CostModel::gemm_efficiency(const graph::GemmShape& shape, Precision p, const OpContext& ctx) const {
  const Precision pe = effective_gemm_precision(p);
  const double e = bytes_per_element(pe);
  const double m = static_cast<double>(shape.m), n = static_cast<double>(shape.n),
               k = static_cast<double>(shape.k), gr = static_cast<double>(shape.groups);
  // Minimum traffic: A and B once at operand precision, C once in BF16.
  const Bytes bytes(gr * ((m * k + k * n) * e + m * n * 2.0));
  const Seconds t = gemm_time(shape, p, bytes, shape.groups > 1, ctx);
  if (!(t.value() > 0)) return 0.0;
  const Flops f(2.0 * gr * m * n * k);
  return (f / t) / *tensor_peak(cluster_.accelerator, pe);
}

Seconds CostModel::memory_time(Bytes bytes, Flops flops) const {
  if (!(bytes.value() > 0) && !(flops.value() > 0)) return Seconds::zero();
  const auto& acc = cluster_.accelerator;
  Seconds t = calib::memory_model_time(tables_.memory, bytes, acc.hbm_bandwidth) - tables_.memory.latency;
  // Vector (non-tensor) FP32 work, when an op is arithmetic-heavy (softmax over a vocabulary).
  if (auto it = acc.dense_peak.find(hardware::Format::kFP32);
      it != acc.dense_peak.end() && it->second.value() > 0 && flops.value() > 0) {
    t = max(t, flops / it->second);
  }
  return tables_.memory.latency + t;
}

Seconds CostModel::op_time(const graph::Operator& op, Pass pass, const OpContext& ctx) const {
  const graph::Work& w = pass == Pass::kForward         ? op.fwd
                         : pass == Pass::kBackwardInput ? op.bwd_input
                                                        : op.bwd_weight;
  if (!(w.flops.value() > 0) && !(w.bytes.value() > 0)) return Seconds::zero();
  switch (op.kind) {
    case graph::OpKind::kGemm:
    case graph::OpKind::kGroupedGemm: {
      // Forward C[m,n] = A[m,k] B[k,n]; Dgrad dA[m,k] = dC[m,n] B^T -> (m, k, n);
      // Wgrad dB[k,n] = A^T dC -> (k, n, m) per group.
      graph::GemmShape s = op.gemm;
      if (pass == Pass::kBackwardInput) s = {op.gemm.m, op.gemm.k, op.gemm.n, op.gemm.groups};
      if (pass == Pass::kBackwardWeight) s = {op.gemm.k, op.gemm.n, op.gemm.m, op.gemm.groups};
      const Precision p = op.precision == Precision::kFP8 ? Precision::kFP8 : ctx.gemm_precision;
      return gemm_time(s, p, w.bytes, op.kind == graph::OpKind::kGroupedGemm || s.groups > 1, ctx) +
             fp8_cast_time(op.gemm, p, pass);
    }
    case graph::OpKind::kAttention: {
      const calib::AttentionParams& a =
          tables_.attention_for(op.attention.impl == graph::AttentionImpl::kFlash2 ? calib::AttentionKernel::kFlash2
                                                                                  : calib::AttentionKernel::kFastest,
                                pass != Pass::kForward);
      const double d = 0.5 * static_cast<double>(op.attention.qk_head_dim + op.attention.v_head_dim);
      // Causal: a query block visits on average half the keys.
      const double keys = static_cast<double>(op.attention.seq_kv) * (op.attention.causal ? 0.5 : 1.0);
      const double eff = calib::attention_efficiency(a, keys, d);
      const FlopsPerSecond peak = *tensor_peak(cluster_.accelerator, Precision::kBF16);
      const double taken = static_cast<double>(ctx.sms_reserved_for_comm) /
                           static_cast<double>(std::max(1, cluster_.accelerator.sm_count));
      const double left = std::max(1e-3, tables_.interference.compute_fraction(taken));
      // The backward kernel also recomputes QK^T (FlashAttention's 2.5x-forward
      // work); the fitted backward efficiency is relative to that work.
      const Flops work = pass == Pass::kForward ? w.flops : w.flops + op.bwd_kernel_recompute.flops;
      // At sustained clocks: the BF16 dense GEMM's factor (division by 1.0,
      // no measurement, is exact).
      const Seconds t_compute = work / (peak * (eff * left)) / tables_.sustained_for(Precision::kBF16);
      const Seconds t_memory = w.bytes / (cluster_.accelerator.hbm_bandwidth * tables_.memory.eta);
      return tables_.gemm_for(Precision::kBF16).launch_overhead + max(t_compute, t_memory);
    }
    case graph::OpKind::kDispatch:
    case graph::OpKind::kCombine:
      return Seconds::zero();  // communication: expert_all_to_all()
    default:
      return memory_time(w.bytes, w.flops);
  }
}

Seconds CostModel::fp8_cast_time(const graph::GemmShape& f, Precision p, Pass pass) const {
  if (effective_gemm_precision(p) != Precision::kFP8) return Seconds::zero();
  if (f.m <= 0 || f.n <= 0 || f.k <= 0 || f.groups <= 0) return Seconds::zero();
  // The operands reach an FP8 GEMM in BF16 and are quantised by memory-bound
  // kernels first (DeepSeek-V3 technical report §3.3: activations quantised
  // per 1x128 tile, weights per 128x128 block, "online"; NVIDIA Transformer
  // Engine: fused cast + transpose, since Hopper FP8 GEMMs take only the TN
  // layout, so the transposed copy for the weight gradient is written in the
  // same pass). Bytes per element: read 2 (BF16), write 1 (FP8), plus 1 for
  // the transposed copy where the weight-gradient GEMM needs it.
  //   forward:        input A[m,k] (2 + 1 + 1) and weight B[k,n] (2 + 1)
  //   input gradient: dC[m,n] (2 + 1 + 1); its transposed copy feeds Wgrad
  //   weight gradient: operands already quantised, no cast
  const double g = static_cast<double>(f.groups);
  const double m = static_cast<double>(f.m), n = static_cast<double>(f.n), k = static_cast<double>(f.k);
  switch (pass) {
    case Pass::kForward: return memory_time(Bytes(g * 4.0 * m * k), Flops::zero()) + memory_time(Bytes(g * 3.0 * k * n), Flops::zero());
    case Pass::kBackwardInput: return memory_time(Bytes(g * 4.0 * m * n), Flops::zero());
    case Pass::kBackwardWeight: return Seconds::zero();
  }
  return Seconds::zero();
}

// --- collectives ------------------------------------------------------------

CostModel::Link CostModel::scale_up_link(bool all_to_all) const {
  const calib::LinkParams& p = all_to_all ? tables_.scale_up.all_to_all : tables_.scale_up.collective;
  return Link{cluster_.accelerator.scale_up.bandwidth_per_direction * p.eta, p.alpha};
}

CostModel::Link CostModel::scale_out_link(bool all_to_all, int ranks_per_node) const {
  // Each rank of the group reaches the network through its own NIC (one per
  // accelerator, rail-optimised); traffic leaving a node for one group uses
  // those ranks' NICs together, divided by the fabric's oversubscription.
  const calib::LinkParams& p = all_to_all ? tables_.scale_out.all_to_all : tables_.scale_out.collective;
  const double over = std::max(1.0, cluster_.scale_out.oversubscription);
  BytesPerSecond nic = cluster_.scale_out.nic_bandwidth;
  if (!(nic.value() > 0)) nic = cluster_.accelerator.nic_per_accelerator;
  const int nics = std::max(1, ranks_per_node);
  return Link{nic * (p.eta * nics / over), p.alpha};
}

CollectiveCost CostModel::ring_cost(CollectiveOp op, Bytes s, const Group& g) const {
  const int n = g.ranks;
  const double frac = static_cast<double>(n - 1) / n;
  // Bandwidth of the ring: inside one node the scale-up link; across nodes the
  // slower of the scale-up link and the node boundary (all the group's NICs in a
  // node carry the ring's crossing, NCCL one channel per NIC).
  BytesPerSecond bw = scale_up_link(false).bandwidth;
  if (g.nodes() > 1) {
    const BytesPerSecond out = scale_out_link(false, g.ranks_per_node).bandwidth;
    bw = g.ranks_per_node > 1 ? min(bw, out) : out;
  }
  // Thakur, Rabenseifner & Gropp (2005): ring all-reduce = reduce-scatter +
  // all-gather, each (n-1) steps of S/n; the latency counts the steps as
  // NCCL's tuner does (calib::ring_latency).
  const double volume = op == CollectiveOp::kAllReduce ? 2.0 * frac : frac;
  return CollectiveCost{calib::ring_latency(latency_, op == CollectiveOp::kAllReduce, n, g.nodes(),
                                            cluster_.accelerator.scale_up.via_host_link),
                        s * volume / bw};
}

CollectiveCost CostModel::tree_cost(Bytes s, const Group& g) const {
  // NCCL double binary tree all-reduce (Sanders, Speck & Traeff 2009): a
  // pipelined reduce then broadcast; each rank sends about S in each phase.
  BytesPerSecond bw = scale_up_link(false).bandwidth;
  if (g.nodes() > 1) {
    const BytesPerSecond out = scale_out_link(false, 1).bandwidth;
    bw = g.ranks_per_node > 1 ? min(bw, out) : out;
  }
  return CollectiveCost{calib::tree_latency(latency_, g.ranks, g.nodes()), s * 2.0 / bw};
}

CollectiveCost CostModel::hierarchical_cost(CollectiveOp op, Bytes s, const Group& g) const {
  // Intra-node reduce-scatter over the scale-up fabric, the inter-node
  // collective on 1/ranks_per_node of the data over each rank's NIC, then an
  // intra-node all-gather (NCCL's CollNet/"2D" scheme; Jia et al. 2018).
  const Group intra{g.ranks_per_node, g.ranks_per_node};
  const Group inter{g.nodes(), 1};
  const Bytes shard = s / static_cast<double>(g.ranks_per_node);
  switch (op) {
    case CollectiveOp::kAllReduce:
      return ring_cost(CollectiveOp::kReduceScatter, s, intra) + ring_cost(CollectiveOp::kAllReduce, shard, inter) +
             ring_cost(CollectiveOp::kAllGather, s, intra);
    case CollectiveOp::kReduceScatter:
      return ring_cost(CollectiveOp::kReduceScatter, s, intra) + ring_cost(CollectiveOp::kReduceScatter, shard, inter);
    case CollectiveOp::kAllGather:
      return ring_cost(CollectiveOp::kAllGather, shard, inter) + ring_cost(CollectiveOp::kAllGather, s, intra);
    default: break;
  }
  return ring_cost(op, s, g);
}

Seconds CostModel::collective_time(CollectiveOp op, Bytes message, const Group& group, Algorithm algorithm) const {
  return collective_cost(op, message, group, algorithm).total();
}

CollectiveCost CostModel::collective_cost(CollectiveOp op, Bytes message, const Group& group,
                                          Algorithm algorithm) const {
  TRAINSIM_CHECK(group.ranks >= 1 && group.ranks_per_node >= 1, "collective group of {} ranks, {} per node",
                 group.ranks, group.ranks_per_node);
  if (group.ranks <= 1 || !(message.value() > 0)) return CollectiveCost{};
  Group g = group;
  g.ranks_per_node = std::min(g.ranks_per_node, g.ranks);
  const bool spans = g.nodes() > 1;
  if (op == CollectiveOp::kSendRecv) {
    const Link l = spans ? scale_out_link(false, 1) : scale_up_link(false);
    return CollectiveCost{l.alpha, message / l.bandwidth};  // Hockney alpha-beta
  }
  if (op == CollectiveOp::kAllToAll) {
    // Each rank sends (n-1)/n of its buffer: (rpn-1)/n inside its node, (n-rpn)/n
    // to other nodes; both tiers run at once; all peers posted together (one latency).
    const double n = g.ranks;
    const Link up = scale_up_link(true);
    Seconds t = message * ((g.ranks_per_node - 1) / n) / up.bandwidth;
    Seconds alpha = up.alpha;
    if (spans) {
      const Link out = scale_out_link(true, 1);
      t = max(t, message * ((n - g.ranks_per_node) / n) / out.bandwidth);
      alpha = std::max(alpha, out.alpha);
    }
    return CollectiveCost{alpha, t};
  }
  const bool hier_ok = spans && g.ranks_per_node > 1 && g.ranks % g.ranks_per_node == 0;
  switch (algorithm) {
    case Algorithm::kRing: return ring_cost(op, message, g);
    case Algorithm::kTree:
      return op == CollectiveOp::kAllReduce ? tree_cost(message, g) : ring_cost(op, message, g);
    case Algorithm::kHierarchical: return hier_ok ? hierarchical_cost(op, message, g) : ring_cost(op, message, g);
    case Algorithm::kAuto: {
      // As NCCL's tuner: the fastest predicted algorithm among those NCCL
      // offers for the operation. All-reduce: ring, tree, and the two-level
      // scheme (NCCL's intra-node chain + inter-node tree). All-gather and
      // reduce-scatter across nodes with several GPUs per node: ring only
      // (NCCL src/graph/tuning.cc, v2.7.5: "if (coll != ncclCollAllReduce &&
      // a != NCCL_ALGO_RING) continue"; later NVLS is single-node or needs
      // CollNet, and PAT (2.23) only runs with one GPU per node).
      CollectiveCost best = ring_cost(op, message, g);
      if (op == CollectiveOp::kAllReduce) {
        const CollectiveCost tree = tree_cost(message, g);
        if (tree.total() < best.total()) best = tree;
        if (hier_ok) {
          const CollectiveCost hier = hierarchical_cost(op, message, g);
          if (hier.total() < best.total()) best = hier;
        }
      }
      return best;
    }
  }
  return ring_cost(op, message, g);
}

Seconds CostModel::p2p_time(Bytes message, bool crosses_nodes) const {
  // Two ranks, on two nodes or on one.
  return collective_cost(CollectiveOp::kSendRecv, message, Group{2, crosses_nodes ? 1 : 2}).total();
}

AllToAllCost CostModel::expert_all_to_all(const ExpertAllToAll& a) const {
  AllToAllCost c;
  if (a.tokens <= 0 || a.ep <= 1 || !(a.bytes_per_token.value() > 0)) return c;
  const int rpn = std::clamp(a.ranks_per_node, 1, a.ep);
  const int nodes = a.n_groups > 0 ? a.n_groups : static_cast<int>(ceil_div(a.ep, rpn));
  const int m = a.max_nodes > 0 ? std::min(a.max_nodes, nodes) : nodes;
  const int k = std::max(1, a.experts_per_token);
  // Uniform routing: the token's experts are k distinct experts drawn
  // uniformly from the experts of the m nodes it may reach (node-limited
  // routing, DeepSeek-V3 §2.1.2), spread evenly over nodes and GPUs.
  const double experts_per_node = a.n_experts > 0 ? static_cast<double>(a.n_experts) / nodes : 0.0;
  const double experts_per_gpu = a.n_experts > 0 ? static_cast<double>(a.n_experts) / a.ep : 0.0;
  const double nodes_hit = expected_slots_hit(m, k, experts_per_node);
  // Each reached node is the sender's own with probability 1/nodes (symmetry),
  // whose copies need no NIC: one scale-out copy per remote reached node
  // (DeepSeek-V3 §3.2.2: IB to the same in-node index, then NVLink).
  const double remote_nodes = nodes > 1 ? nodes_hit * (nodes - 1) / nodes : 0.0;
  // Scale-up copies: each GPU hit other than the landing GPU (same in-node
  // index as the sender) in each reached node takes one NVLink copy:
  // E = m (rpn - 1) P(a given GPU is hit).
  const double gpus = static_cast<double>(m) * rpn;
  const double gpu_hit = gpus > 0 ? expected_slots_hit(gpus, k, experts_per_gpu) / gpus : 0.0;
  const double forwards = static_cast<double>(m) * (rpn - 1) * gpu_hit;
  const Bytes per_copy = a.bytes_per_token * static_cast<double>(a.tokens);
  c.scale_out_bytes = per_copy * remote_nodes;
  c.scale_up_bytes = per_copy * forwards;
  const Link up = scale_up_link(true);
  c.scale_up_time = c.scale_up_bytes / up.bandwidth;
  Seconds alpha = up.alpha;
  if (nodes > 1) {
    const Link out = scale_out_link(true, 1);
    c.scale_out_time = c.scale_out_bytes / out.bandwidth;
    alpha = std::max(alpha, out.alpha);
  }
  // Scale-out and scale-up transfers overlap fully (DeepSeek-V3 §3.2.2).
  c.time = max(c.scale_out_time, c.scale_up_time) + alpha;
  return c;
}

Seconds CostModel::optimizer_time(int64_t params, Precision moment_precision) const {
  if (params <= 0) return Seconds::zero();
  // AdamW per parameter: read FP32 master, FP32 gradient, two moments; write
  // master, two moments and the BF16 working copy.
  const double mb = bytes_per_element(moment_precision);
  const double per_param = 4 + 4 + 2 * mb + 4 + 2 * mb + 2;
  return memory_time(Bytes(per_param * static_cast<double>(params)), Flops::zero());
}

}  // namespace trainsim::cost
