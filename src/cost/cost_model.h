// The calibrated cost model: how long each operator and collective takes on
// given hardware.
//
// Operator times come from efficiency tables (calib::EfficiencyTables) that
// are data fitted from kernel measurements: GEMMs by (M, N, K) with wave
// quantization, grouped GEMMs by tokens per expert, attention by sequence and
// head dims, memory-bound operators by bytes. Collective times come from
// per-tier latency and bandwidth-efficiency tables over the cluster's
// scale-up (NVLink) and scale-out (NIC, fat-tree) tiers.
//
// Units: all times in Seconds; message sizes in Bytes. Every returned time is
// finite and >= 0 for validated inputs.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "calib/collectives.h"
#include "calib/tables.h"
#include "core/precision.h"
#include "core/units.h"
#include "graph/graph.h"
#include "hardware/hardware.h"

namespace trainsim::cost {

enum class Pass { kForward, kBackwardInput, kBackwardWeight };

// Conditions an operator runs under.
struct OpContext {
  Precision gemm_precision = Precision::kBF16;  // precision GEMM operands run at (FP8 plans lower GEMMs)
  int sms_reserved_for_comm = 0;                 // SMs lent to communication kernels (DeepSeek: 20 of 132)
};

// Where a collective's ranks sit.
struct Group {
  int ranks = 1;           // participants
  int ranks_per_node = 1;  // participants inside one scale-up domain (1..domain size)
  int nodes() const { return (ranks + ranks_per_node - 1) / ranks_per_node; }
};

enum class CollectiveOp { kAllReduce, kReduceScatter, kAllGather, kAllToAll, kSendRecv };
enum class Algorithm { kAuto, kRing, kTree, kHierarchical };
const char* to_string(CollectiveOp op);
const char* to_string(Algorithm a);

// MoE all-to-all under DeepSeek's node-limited routing: each token goes over
// the scale-out network to at most `max_nodes` nodes (one copy per node), then
// is forwarded over the scale-up fabric to the GPUs holding its experts
// (DeepSeek-V3 §3.2.2). Without node limiting, max_nodes = 0.
struct ExpertAllToAll {
  int64_t tokens = 0;          // tokens this GPU sends (its micro-batch tokens)
  Bytes bytes_per_token;       // one copy of one token (hidden x element size, + scales)
  int experts_per_token = 1;   // top-k
  int ep = 1;                  // expert-parallel group size
  int ranks_per_node = 8;      // EP ranks sharing a scale-up domain
  int max_nodes = 0;           // node limit M (0 = unlimited)
  int n_groups = 0;            // expert groups (nodes) routing chooses among (0 = ep / ranks_per_node)
  int n_experts = 0;           // routed experts in the layer (0 = draw experts with replacement)
};

// A collective's time as its latency (steps, messages) and the time its bytes
// take on the links; the simulator shares only the second among flows.
struct CollectiveCost {
  Seconds latency;
  Seconds bytes;
  Seconds total() const { return latency + bytes; }
  CollectiveCost operator+(const CollectiveCost& o) const { return {latency + o.latency, bytes + o.bytes}; }
};

// Breakdown of an all-to-all for reports and the simulator.
struct AllToAllCost {
  Seconds time;
  Bytes scale_out_bytes;  // per GPU sent over the NIC
  Bytes scale_up_bytes;   // per GPU sent over NVLink (incl. forwarding)
  Seconds scale_out_time;
  Seconds scale_up_time;
};

class CostModel {
 public:
  // Ring and tree collectives take their per-step latency from `latency`
  // (default: NCCL's model, calibrate/collectives/nccl.json); their bandwidth,
  // point-to-point sends and all-to-alls from the tables. `overlap` is what a
  // data-parallel collective beside compute costs it (default:
  // calibrate/collectives/overlap.json).
  CostModel(hardware::Cluster cluster, calib::EfficiencyTables tables,
            calib::CollectiveLatency latency = calib::nccl_collective_latency(),
            calib::CollectiveOverlap overlap = calib::collective_overlap());

  const hardware::Cluster& cluster() const { return cluster_; }
  const calib::EfficiencyTables& tables() const { return tables_; }
  // Compute runs at overlap().compute_rate() of its speed while a
  // data-parallel collective runs beside it (analytic::overlap_exposed).
  const calib::CollectiveOverlap& overlap() const { return overlap_; }

  // Time of one pass of one operator (compute and memory ops; for kDispatch and
  // kCombine use expert_all_to_all()). Zero when the pass has no work.
  Seconds op_time(const graph::Operator& op, Pass pass, const OpContext& ctx) const;

  // Achieved fraction of peak for a GEMM shape (for reports and tests).
  double gemm_efficiency(const graph::GemmShape& shape, Precision p, const OpContext& ctx) const;

  // Collective of `message` bytes per rank (all-reduce: the buffer each rank
  // holds; all-gather/reduce-scatter: the full gathered buffer) over `group`.
  Seconds collective_time(CollectiveOp op, Bytes message, const Group& group,
                          Algorithm algorithm = Algorithm::kAuto) const;
  // The same split into latency and byte time (collective_time is the total).
  CollectiveCost collective_cost(CollectiveOp op, Bytes message, const Group& group,
                                 Algorithm algorithm = Algorithm::kAuto) const;

  // Point-to-point send of `message` between neighbouring pipeline stages.
  Seconds p2p_time(Bytes message, bool crosses_nodes) const;

  AllToAllCost expert_all_to_all(const ExpertAllToAll& a) const;

  // The optimizer step for `params` parameters on this GPU (memory-bound AdamW:
  // reads/writes master weights, moments, gradients at the given precisions).
  Seconds optimizer_time(int64_t params, Precision moment_precision) const;

  // The precision a GEMM requested at `p` runs at: `p` when the accelerator has
  // a dense peak for it, else BF16 (recorded in notes()).
  Precision effective_gemm_precision(Precision p) const;
  // SMs left to compute kernels: sm_count - sms_reserved_for_comm, at least 1.
  int usable_sms(const OpContext& ctx) const;
  // Time of a GEMM shape with `min_bytes` of HBM traffic (tables.h form).
  Seconds gemm_time(const graph::GemmShape& shape, Precision p, Bytes min_bytes, bool grouped,
                    const OpContext& ctx) const;
  // Quantisation of a GEMM's BF16 operands to FP8 before one pass (memory-bound
  // cast kernels; zero unless the GEMM runs in FP8 on this accelerator). `fwd`
  // is the forward shape C[m,n] = A[m,k] B[k,n] (per group).
  Seconds fp8_cast_time(const graph::GemmShape& fwd, Precision p, Pass pass) const;
  // A memory-bound kernel moving `bytes` (and `flops` of vector FP32 work).
  Seconds memory_time(Bytes bytes, Flops flops) const;
  // Statements for reports: precision fallbacks, default tables.
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  struct Link {
    BytesPerSecond bandwidth;  // achieved (datasheet x efficiency)
    Seconds alpha;
  };
  Link scale_up_link(bool all_to_all) const;
  Link scale_out_link(bool all_to_all, int ranks_per_node) const;
  CollectiveCost ring_cost(CollectiveOp op, Bytes message, const Group& g) const;
  CollectiveCost tree_cost(Bytes message, const Group& g) const;
  CollectiveCost hierarchical_cost(CollectiveOp op, Bytes message, const Group& g) const;

  hardware::Cluster cluster_;
  calib::EfficiencyTables tables_;
  calib::CollectiveLatency latency_;
  calib::CollectiveOverlap overlap_;
  std::vector<std::string> notes_;
};

}  // namespace trainsim::cost
