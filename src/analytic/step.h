// The analytic step estimate: a closed-form sum over the operator graph of
// the time one training step takes, per pipeline stage.
//
// Per stage: compute time of its forward, input-gradient and weight-gradient
// chunks (from the cost model), communication exposed after the overlap the
// schedule allows (DualPipe overlaps one chunk's all-to-all with another
// chunk's computation; compute runs on fewer SMs while SMs are lent to
// communication), the schedule's bubble, the optimizer step, and the DP
// gradient reduction not hidden by backward.
#pragma once

#include <string>
#include <vector>

#include "calib/frameworks.h"
#include "core/units.h"
#include "cost/cost_model.h"
#include "model/model.h"
#include "plan/plan.h"

namespace trainsim::analytic {

struct StepBreakdown {
  Seconds compute;            // forward + backward (+ recompute) of all micro-batches, slowest stage
  Seconds recompute;          // part of compute spent recomputing
  Seconds exposed_comm;       // TP/EP/PP/CP communication not hidden
  Seconds bubble;             // pipeline bubble
  Seconds dp_exposed;         // DP gradient reduce-scatter/all-reduce + all-gather not hidden
  Seconds optimizer;
  Seconds total() const { return compute + exposed_comm + bubble + dp_exposed + optimizer; }
};

// Times of one pipeline rank for the whole step (all micro-batches).
struct RankTimes {
  int rank = 0;
  Seconds forward;          // m x forward chunks (compute kernels)
  Seconds backward_input;   // m x input-gradient chunks
  Seconds backward_weight;  // m x weight-gradient chunks
  Seconds recompute;        // m x recomputation in backward
  Seconds tp_comm;          // m x TP collectives (before overlap)
  Seconds cp_comm;          // m x the CP KV ring's part not hidden under the attention (cp_exchange)
  Seconds ep_comm;          // m x MoE dispatch + combine, forward and backward (before overlap)
  Seconds pp_comm;          // m x pipeline sends (before overlap)
  Seconds exposed_comm;     // what of the four is not hidden
  Seconds bubble;
  Seconds dp_comm;          // gradient reduction + parameter gather (before hiding)
  Seconds dp_exposed;
  // How much DP work lengthens this rank's last backward (the compute slowed
  // beside the gradient reduction; under ZeRO-3 the backward phase's whole
  // exposure): part of dp_exposed. Under GPipe, 1F1B and interleaved 1F1B
  // that backward is on the chain pp-1 -> 0 of the last micro-batch, so
  // estimate_step adds the downstream ranks' delays to each rank.
  Seconds dp_backward_delay;
  Seconds optimizer;
  // Chunk times used in the bubble formula (one chunk = the layers of one stage, one micro-batch).
  Seconds chunk_f, chunk_b, chunk_w, chunk_fb;
  Seconds total() const;
};

struct StepEstimate {
  Seconds step_time;
  StepBreakdown breakdown;
  double tokens_per_second_per_gpu = 0;
  double mfu_causal = 0;       // model FLOPs (causal attention) / (step_time * GPUs * BF16 dense peak)
  double mfu_noncausal = 0;    // same with non-causal attention FLOPs (Megatron/PaLM convention)
  double hfu = 0;              // hardware FLOPs incl. recompute / same denominator
  Flops model_flops_per_step;  // causal, MTP included when the model has it
  double bubble_fraction = 0;  // bubble / step_time
  std::vector<std::string> notes;  // conventions and assumptions stated in output
  int64_t micro_batches = 0;       // per data-parallel replica
  Flops hardware_flops_per_step;   // model FLOPs + recomputation
  std::vector<RankTimes> ranks;    // every pipeline rank
  int critical_rank = 0;           // the rank whose total is the step time
};

StepEstimate estimate_step(const model::Model& m, const plan::Plan& p, const cost::CostModel& cost);

// The compute of one pipeline rank over a whole step, operator by operator:
// the terms its RankTimes forward, backward_input, backward_weight and
// recompute are sums of (so the rows add up to them), one row per operator
// name within a block kind (the 32 layers' "ffn.down" are one row), in graph
// order. Communication operators (MoE dispatch and combine) are not compute
// and have no row.
struct OperatorTime {
  graph::BlockKind block = graph::BlockKind::kDenseLayer;
  std::string name;
  graph::OpKind kind = graph::OpKind::kGemm;
  Precision precision = Precision::kBF16;  // operands as the plan runs them
  double instances = 0;                    // on this rank per micro-batch (layers holding it)
  Seconds forward, backward_input, backward_weight, recompute;
  Flops flops;  // executed on this GPU in the step: forward (again where recomputed), both backward passes
  Bytes bytes;  // minimum HBM traffic of the same passes
  Seconds total() const { return forward + backward_input + backward_weight + recompute; }
};
std::vector<OperatorTime> operator_times(const model::Model& m, const plan::Plan& p, const cost::CostModel& cost,
                                         int rank);

// Published bubble formulas (used by tests and reports), in units of chunk time
// (F forward chunk, B full backward chunk incl. W, W weight-gradient chunk,
// F&B an overlapped forward+backward pair):
// GPipe/1F1B: (p-1)/(m+p-1) of the step; interleaved: (p-1)/(v*m + p-1);
// ZB-H1: (p-1)(F+B-2W); DualPipe: (p/2-1)(F&B+B-3W) (DeepSeek-V3 Table 2).
double bubble_fraction_1f1b(int pp, int64_t micro_batches);
double bubble_fraction_interleaved(int pp, int vpp, int64_t micro_batches);
Seconds dualpipe_bubble(int pp, Seconds f_and_b, Seconds b, Seconds w);
Seconds zb_h1_bubble(int pp, Seconds f, Seconds b, Seconds w);
// How much `compute` of work lengthens when a data-parallel collective of
// `comm` runs beside it from its start and compute runs at `compute_rate` of
// its speed meanwhile (cost.overlap(): the collective's kernels hold SMs and
// share HBM): (1 - rate) of every second the collective runs beside it, or,
// if the collective outlasts it, all of it at `rate`:
// min(comm (1 - rate), compute (1 - rate) / rate). Zero at rate 1.
Seconds overlap_stretch(Seconds comm, Seconds compute, double compute_rate);

// Time such a collective adds beyond `compute` + `idle`, where `idle` is
// time after the compute in which the GPU waits on other pipeline ranks:
// max(0, comm - compute - idle, stretch). The idle hides the collective's
// tail but not the stretch: the lengthened compute is on the pipeline's
// dependency chain (estimate_step adds the downstream ranks' stretches of
// the last backward, RankTimes::dp_backward_delay). At rate 1 this is
// max(0, comm - compute - idle).
Seconds overlap_exposed(Seconds comm, Seconds compute, Seconds idle, double compute_rate);

// ZeRO-3 communication left exposed in one phase (forward, or backward) of
// `layers` equal layers whose collectives total `comm` and compute `compute`,
// each layer's collective prefetched under the previous layer's compute,
// which runs at `compute_rate` while it does. Per layer (c = comm / n,
// p = compute / n): the first collective alone, then n - 1 layers each
// taking max(c, p + overlap_stretch(c, p)), then the last layer alone:
// exposed = C/n + max((C - P)(1 - 1/n), overlap_stretch(C (1 - 1/n),
// P (1 - 1/n))). At rate 1: max(0, C - P) + min(C, P)/n.
Seconds zero3_exposed(Seconds comm, Seconds compute, double layers, double compute_rate);

// The expert all-to-all a MoE dispatch or combine of `tokens` tokens runs
// under plan p (EP group, node limit, experts), with `accelerators_per_node`
// GPUs per scale-up domain. Shared by the analytic estimate and the simulator.
cost::ExpertAllToAll expert_all_to_all_request(const model::Model& m, const plan::Plan& p,
                                               int64_t tokens, Bytes bytes_per_token,
                                               int accelerators_per_node);

// Tensor-parallel collectives of one instance of block b per micro-batch, in
// units of tp_boundary_time (Megatron: 2 per layer in forward and 2 in
// backward; 1+1 for the head, 1 forward for the embedding, 3+3 for the MTP
// module). A layer recomputed whole redoes its forward ones in backward
// (plan::layer_comm_recompute_fraction). Shared by the analytic estimate and
// the simulator.
struct TpCollectives {
  double forward = 0, backward = 0;
};
TpCollectives tp_collectives(const graph::Block& b, plan::Recompute r);

// One layer boundary's tensor-parallel collective for one micro-batch: an
// all-reduce of the activation, or reduce-scatter + all-gather under sequence
// parallelism (Korthikanti et al. 2022 §4.2.2). Zero without TP.
Seconds tp_boundary_time(const model::Model& m, const plan::Plan& p, const cost::CostModel& cost,
                         int accelerators_per_node);

// Context parallelism's key/value ring around one attention core (Megatron-
// Core / Transformer Engine, cp_comm_type "p2p"; Liu et al., Ring Attention,
// 2023): each of the cp ranks holds seq/cp tokens; in the forward the K and V
// of its chunk (or, under plan.cp_ring "latent", its MLA latent; bytes per
// plan::cp_ring_chunk_bytes) travel the ring in cp-1 steps, each sent while the attention of
// the chunk already received runs, and the backward circulates K, V and their
// gradients (twice the bytes) the same way. A step's exposed time is what its
// transfer exceeds one chunk's attention (1/cp of the core's time); the ring
// crosses nodes when tp x cp exceeds the scale-up domain. Under DualPipe the
// whole ring is charged as communication (the paired chunk's computation
// hides it, as it hides the all-to-alls on the same links). Zero without CP
// or for operators other than a fused attention core. `core_forward` and
// `core_backward` are the core's forward and input-gradient times as the
// caller timed them (cost.op_time).
struct CpExchange {
  Seconds forward, backward;                  // charged: exposed (whole under DualPipe), per core and micro-batch
  Seconds forward_total, backward_total;      // all transfers, before overlap
};
CpExchange cp_exchange(const graph::Operator& attention, const plan::Plan& p, const cost::CostModel& cost,
                       int accelerators_per_node, Seconds core_forward, Seconds core_backward);

// The separate gradient-accumulation kernel of one operator, per micro-batch,
// when the plan does not fuse it into the weight-gradient GEMM
// (plan.gradient_accumulation_fusion false) and ZeRO < 3: the GEMM writes the
// weight gradient at the working precision (plan.precision.weights) and one
// memory-bound add reads it and reads and writes the accumulation buffer
// (plan.precision.gradients) for each parameter the operator holds on this
// GPU: FP16/BF16 weights with FP32 gradients move 2 + 4 + 4 = 10 bytes per
// parameter (Megatron-LM's DDP hook param.main_grad.add_(param.grad.data),
// run for every parameter every micro-batch). Zero when fused, under ZeRO-3
// (FSDP and DeepSpeed reduce-scatter each micro-batch's gradient and
// accumulate only the 1/dp shard), and for weightless operators. Not scaled
// by the expert load: the bytes are the parameters', not the tokens'.
Seconds grad_accumulation_time(const graph::Operator& op, const plan::Plan& p, const cost::CostModel& cost);
// Its HBM traffic per micro-batch (zero when it does not run), and per
// parameter (zero when fused or under ZeRO-3).
Bytes grad_accumulation_bytes(const graph::Operator& op, const plan::Plan& p);
double grad_accumulation_bytes_per_param(const plan::Plan& p);

// One pipeline send of one micro-batch's activation (or its gradient) to the
// next stage. Megatron's scatter/gather optimisation (Narayanan et al. SC'21
// §4.1; Megatron-Core scatter_gather_tensors_in_pipeline): each TP rank sends
// 1/TP of the activation to its peer, and without sequence parallelism the
// receiver all-gathers the pieces over the scale-up fabric; under sequence
// parallelism the activation is already split. Zero without PP.
Seconds pipeline_send_time(const model::Model& m, const plan::Plan& p, const cost::CostModel& cost,
                           int accelerators_per_node);

// A collective over the data-parallel group of a rank's dense (expert=false)
// or expert parameters: rp's replicas rounded to ranks, with the group's
// ranks per node (consecutive DP ranks are tp * cp apart in Megatron rank
// order; an EP group takes ep consecutive ranks, so expert-DP peers are ep
// apart). Zero for one rank or no bytes.
cost::CollectiveCost dp_group_collective_cost(const cost::CostModel& cost, cost::CollectiveOp op, Bytes message,
                                              bool expert, const plan::RankParams& rp, const plan::Plan& p,
                                              int accelerators_per_node);
// The same collective over both groups, one after the other: `dense` bytes
// over the dense group, `expert` bytes over the expert group.
Seconds dp_collective_time(const cost::CostModel& cost, cost::CollectiveOp op, Bytes dense, Bytes expert,
                           const plan::RankParams& rp, const plan::Plan& p, int accelerators_per_node);
cost::CollectiveCost dp_collective_cost(const cost::CostModel& cost, cost::CollectiveOp op, Bytes dense,
                                        Bytes expert, const plan::RankParams& rp, const plan::Plan& p,
                                        int accelerators_per_node);

// ZeRO-3 by parameter tensor (calibrate/frameworks/, e.g. DeepSpeed 2021):
// the calls one micro-batch makes for the parameters of a rank's blocks, as
// the analytic estimate charges them (step.cc zero3_per_tensor). gather: the
// forward's gathers, one of every tensor of at least
// fw.param_persistence_threshold elements: ring all-gather in the weights'
// precision + list-form copies + the host overhead of a blocking gather.
// backward_gather: the backward's, one per tensor, or in a layer recomputed
// whole one for the recompute forward plus one for its backward unless the
// reuse distance between the two stays under fw.max_reuse_distance.
// reduce: every tensor's gradient: ring reduce-scatter in the gradients'
// precision + list-form copies. The *_collective parts are the ring
// collectives' byte time alone (what moves bytes on the network; their
// latency counts with the copies and host overhead). Seconds.
struct Zero3TensorCalls {
  Seconds gather;
  Seconds backward_gather;
  Seconds reduce;
  Seconds gather_collective;
  Seconds backward_gather_collective;
  Seconds reduce_collective;
};
// Adds `uses` instances of block b on a GPU with parameters rp (dense and
// expert parameters over their own replica groups) to `into`.
void add_zero3_tensor_calls(Zero3TensorCalls& into, const graph::Block& b, double uses, const model::Model& m,
                            const plan::Plan& p, const cost::CostModel& cost, const calib::Zero3Framework& fw,
                            const plan::RankParams& rp, int accelerators_per_node);

}  // namespace trainsim::analytic
