// The work of one training step per GPU, built from the operator graph, the
// parallel plan and the cost model, in the form the pipeline executor runs.
//
// Per stage and chunk type (F, B, W, full backward) a sequence of segments,
// one group per layer (or per stage when merged, see WorkloadOptions):
// computation before the MoE dispatch (attention, router, shared experts),
// the dispatch all-to-all, the routed experts, the combine all-to-all,
// computation after it; dense layers, embedding, head and MTP are compute
// only. TP collectives (tp > 1) are communication segments after each layer.
// Times come from the same calls the analytic estimate makes:
// cost.op_time() per operator (recomputed operators add their forward time
// to B), cost.expert_all_to_all() for dispatch and combine (node-limited
// routing M = plan.max_nodes_per_token; backward exchanges the gradients),
// cost.p2p_time() between stages, cost.collective_time() for the DP
// reduce-scatter (ZeRO >= 1) or all-reduce of each gradient bucket, and
// cost.optimizer_time().
//
// DP gradient buckets: one per layer group the workload already builds (with
// merged layers, one per block kind of a stage: embedding, dense layers, MoE
// layers, MTP, head; with --per-layer, one per layer), sized by that group's
// parameters on the GPU (dense and routed-expert parameters reduced over
// their own replica groups, as plan::rank_params counts them). Chosen over
// a fixed byte size (PyTorch DDP's bucket_cap_mb = 25) because the layer
// group is the unit the simulated weight-gradient chunk already has; a
// group's bucket is released when that group's weight-gradient segments of
// the stage's last micro-batch finish (weight gradients run the groups in
// reverse order, as backward produces them), and overlaps the rest of the
// backward (pipeline.h).
//
// ZeRO-3 / FSDP (plan.zero_stage 3), defined as the analytic estimate's
// zero3() (analytic/step.cc): stage work is always one segment group per
// layer (merge_layers is ignored; embedding, head and MTP are groups of their
// own). Each group holding parameters gets an all-gather of its parameters in
// the weights' precision (dense and expert parameters over their own replica
// groups, cost.collective_time as above, StageWork::param_gather), before
// its forward in the stage's first micro-batch and before its input gradient
// in the last micro-batch (the only chunks that carry them: parameters stay
// gathered across a step's micro-batches, as the analytic "once per step"),
// issued one group ahead on the DP stream; its gradient bucket (a per-layer
// reduce-scatter) is released after its weight gradient as above; no
// all-gather follows the optimizer.
//
// ZeRO-3 by parameter tensor (plan.zero3_framework other than "fsdp", e.g.
// DeepSpeed 2021; the analytic estimate's zero3_per_tensor()): no
// param_gather; instead each layer group's chunk segments start with a
// communication segment of the group's blocking gathers
// (analytic::add_zero3_tensor_calls: ring all-gathers of its tensors of at
// least the persistence threshold as NIC bytes, copy kernels and host
// overhead as latency), in its forward and again in its input gradient (or
// full backward; a layer recomputed whole also gathers for its recompute and,
// past the framework's reuse distance, again for its backward), in EVERY
// micro-batch: the group's compute waits for a
// gather issued only when the group is reached. Its bucket is the group's
// per-tensor reduce-scatters (same split), released after the group's weight
// gradient of every micro-batch (StageWork::grad_sync_every_chunk) on the
// DP stream, overlapping the work that follows up to the next blocking
// gather, which first waits for the DP stream to empty (the framework's
// device-wide synchronize: Segment::drains_dp_stream).
//
// Communication becomes flows whose size is the cost model's time times the
// GPU's link bandwidth ("bytes at the modelled efficiency"), so a transfer
// alone on its link takes exactly the cost model's time, and concurrent
// transfers on a link (an all-to-all of one DualPipe chunk with the DP
// reduce-scatter, or with a pipeline send) share it max-min fairly.
//
// Compute runs at the full SM count; while communication kernels hold
// plan.comm_sms SMs (overlapped schedules: DualPipe, DualPipeV) a segment runs
// at rate op_time(full SMs) / op_time(SMs - comm_sms).
//
// Expert load (routing imbalance), stated per mode:
//  - kPlan: every routed-expert segment and all-to-all at the busiest GPU's
//    pace, plan.expert_load_imbalance (as the analytic estimate);
//  - kBalanced: 1;
//  - kSampled: tokens per GPU drawn, seeded: each of T*k token copies of a
//    micro-batch goes to one of the EP GPUs uniformly (balanced routing with
//    multinomial noise), so a GPU's load / mean ~ Binomial(T k, 1/ep)/(T k/ep),
//    drawn by its normal approximation 1 + z sqrt((ep-1)/(T k)). In
//    all-ranks mode each GPU of an EP group draws its own load and the
//    all-to-all waits for the slowest; in replica mode each micro-batch takes
//    the maximum of ep draws (the group's slowest member). In node-pair mode
//    (all ranks, pipeline.h) the draws are the relative loads of the GPUs'
//    experts: they scale expert compute and set each all-to-all's per-pair
//    bytes (hot nodes receive more dispatch and send more combine traffic),
//    so node-pair traffic is genuinely uneven.
//
// Network (pipeline.h): node pairs needs every rank simulated, one GPU per
// simulated rank (tp = cp = 1), data-parallel replicas filling whole nodes
// and EP groups of whole nodes; the fabric is the cluster's scale-out
// description (planes, leaf radix and oversubscription; levels <= 1 = one
// switch). Otherwise (and always for one representative replica, whose EP
// peers are not simulated) the symmetric per-GPU model runs; notes say which.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cost/cost_model.h"
#include "model/model.h"
#include "plan/plan.h"
#include "sim/pipeline.h"
#include "sim/schedule.h"

namespace trainsim::sim {

enum class LoadModel { kPlan, kBalanced, kSampled };
// The network model of the all-to-alls (see pipeline.h): kAuto = node pairs
// when every rank is simulated and the layout allows it, else symmetric.
enum class NetworkModel { kAuto, kSymmetric, kPairs };
const char* to_string(NetworkModel n);
NetworkModel parse_network_model(const std::string& s);  // "auto", "symmetric", "pairs"; UsageError otherwise
const char* to_string(LoadModel l);
LoadModel parse_load_model(const std::string& s);  // "plan", "balanced", "sampled"; UsageError otherwise

struct WorkloadOptions {
  bool all_ranks = false;  // every DP replica (coupled by EP all-to-alls), else one representative replica
  LoadModel load = LoadModel::kPlan;
  uint64_t seed = 0;
  bool merge_layers = true;  // one segment group per stage and chunk, else one per layer
  NetworkModel network = NetworkModel::kAuto;
};

struct Workload {
  PipelineSchedule schedule;
  PipelineWork work;
  ClusterShape shape;
  int gpus_per_simulated_rank = 1;  // tp * cp GPUs each simulated GPU stands for
  std::vector<std::string> notes;
};

Workload build_workload(const model::Model& m, const plan::Plan& p, const cost::CostModel& cost,
                        const WorkloadOptions& options);

}  // namespace trainsim::sim
