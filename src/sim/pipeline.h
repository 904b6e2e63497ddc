// Executes pipeline schedules on simulated GPUs and links.
//
// Models `replicas` identical data-parallel pipelines of `devices` GPUs each.
// Every GPU has a compute stream (ComputeStream) and four links into the
// network (sim/fabric.h): NVLink transmit/receive into the node's switch and
// NIC transmit/receive into the scale-out fabric. Two network modes:
//  - symmetric (ClusterShape::pair_all_to_all false; the only mode for one
//    representative replica, whose EP peers are not simulated): each GPU's
//    part of an all-to-all is a symmetric exchange over its own NVLink and
//    NIC (what it sends it also receives) and the fabric above the NICs is
//    full bisection;
//  - node pairs (pair_all_to_all, every replica simulated): GPUs are placed
//    on nodes (pipeline rank d's replicas r fill nodes d x replicas/q + r/q,
//    local index r % q, q GPUs per node: data/expert parallel inside, pipeline
//    outside), the scale-out fabric has planes and leaf uplinks with their
//    oversubscription (FabricShape), pipeline sends cross it, and each
//    all-to-all is flows between real node and GPU pairs with node-limited
//    routing (all_to_all_flows): the group's flows start together when its
//    last member reaches the collective (the token-count exchange every rank
//    joins first, DeepEP notify_dispatch), and the collective ends for the
//    group when every flow of the group has finished. A GPU runs its schedule order op by op; an op starts when the
// previous op on the GPU has finished and its inputs have arrived (F of
// stage s: the activations of stage s-1; B of stage s: the gradient of stage
// s+1; the last stage's B: its own F). A chunk is a sequence of segments:
// compute (on the stream) and communication (a latency, then flows over the
// GPU's links, shared max-min fairly with every other flow on them). An F&B
// pair runs its two chunks as two lanes at once, so one lane's communication
// overlaps the other's computation (DualPipe). A communication segment marked
// `collective` completes only when every GPU of the EP group (the same device
// of `ep_replicas` consecutive replicas) has finished its part, which couples
// replicas exactly as an all-to-all does. DP gradient synchronisation is
// bucketed (as PyTorch DDP and Megatron's distributed optimizer do): each of
// a stage's gradient buckets (StageWork::grad_sync, one comm segment each) is
// released when the segment of the stage's LAST weight-gradient chunk that
// produces it finishes (StageWork::grad_bucket_after), so its reduction runs
// on the network while the rest of backward computes, sharing links max-min
// fairly with every other flow. A GPU's buckets run one after another in
// release order (one communication stream, as NCCL serialises collectives
// issued on one stream). After all ops and buckets the GPU runs its tail
// (optimizer, parameter all-gather). ZeRO-3 parameter all-gathers
// (StageWork::param_gather) go on the same stream, issued one layer group
// ahead of the compute that waits for them. The step ends when the last
// GPU's tail ends.
//
// Units: Tick (picoseconds) throughout; bytes as Bytes.
// Invariants: per GPU compute + exposed_comm + idle = step; every chunk of
// the schedule runs exactly once; a deadlock (ops left, no events) is an
// InternalError naming the stuck GPU.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/units.h"
#include "sim/engine.h"
#include "sim/fabric.h"
#include "sim/schedule.h"

namespace trainsim::sim {

struct Segment {
  enum class Kind : uint8_t { kCompute, kComm };
  Kind kind = Kind::kCompute;
  Tick work = 0;                // compute: ticks at the full-SM rate; comm: latency before bytes move
  double rate_with_comm = 1.0;  // compute: rate while communication kernels hold SMs, in (0, 1]
  Bytes scale_up;               // comm: bytes over this GPU's NVLink, each direction
  Bytes scale_out;              // comm: bytes over this GPU's NIC, each direction
  bool lends_sms = false;       // comm: its kernels occupy SMs (slows compute on the GPU)
  bool interferes = false;      // comm: a data-parallel collective; compute runs at PipelineWork::overlap_compute_rate beside it
  bool collective = false;      // comm: waits for the whole EP group
  bool scales_with_load = false;  // work/bytes scale with the micro-batch's expert load factor
  bool combine = false;         // collective: an all-to-all returning expert outputs (else a dispatch)
  // comm: starts only once the GPU's DP stream (grad_sync, param_gather) has
  // nothing running or queued: a framework's device-wide synchronize before
  // it (DeepSpeed 2021's blocking gathers), which waits for every stream.
  bool drains_dp_stream = false;
  uint16_t label = 0;           // index into PipelineWork::labels
  float nodes_per_token = 1;    // collective: expected EP nodes a token reaches (routing model)
};

struct StageWork {
  // Segments of each chunk type (indexed by ChunkType).
  std::array<std::vector<Segment>, 4> chunk;
  // DP gradient synchronisation of this stage's gradients: one comm segment
  // per bucket, in the order backward produces them; empty when there is none.
  std::vector<Segment> grad_sync;
  // Bucket k is released when segment grad_bucket_after[k] of the stage's
  // last weight-gradient chunk (chunk[kBackwardWeight]) finishes; for a full
  // backward chunk by grad_bucket_after_full (below), or, where that is empty,
  // at the index shifted by chunk[kBackwardFull].size() -
  // chunk[kBackwardWeight].size() (the weight segments ending the full chunk).
  // Empty: every bucket is released when the last weight-gradient chunk ends.
  // Non-decreasing, each < chunk[kBackwardWeight].size(), same length as grad_sync.
  std::vector<uint32_t> grad_bucket_after;
  // When set, the buckets are released as above by EVERY weight-gradient
  // chunk of the stage (each micro-batch reduce-scatters its own gradients:
  // ZeRO-3 by parameter tensor, workload.h), not only by the last one.
  bool grad_sync_every_chunk = false;
  // ZeRO-3 / FSDP parameter all-gathers (Rajbhandari et al. SC'20 §5.3; Zhao
  // et al. VLDB'23 §3.3-3.4): one comm segment per layer group holding
  // parameters, in forward order; empty without ZeRO-3. They run on the
  // GPU's DP communication stream (with grad_sync, in issue order) and only
  // in the stage's first forward chunk and last backward chunk (input
  // gradient or full) on each GPU: the chunk issues gather 0 when it starts,
  // segment gather_before_f[k] (forward; gather_before_b[k] in backward,
  // where the groups run in reverse) waits for gather k, and when group k
  // starts the next group's gather is issued (prefetch one ahead). A chunk
  // ends only after all its gathers; an index equal to the chunk's size
  // waits at its end (a full backward: before its weight-gradient segments).
  // Same length as param_gather; gather_before_f non-decreasing, each <=
  // chunk[kForward].size(); gather_before_b non-increasing, each <=
  // chunk[kBackwardInput].size().
  std::vector<Segment> param_gather;
  std::vector<uint32_t> gather_before_f;
  std::vector<uint32_t> gather_before_b;
  // Optional positions in chunk[kBackwardFull] when its segments are not the
  // input-gradient segments followed by the weight-gradient ones (the
  // workload interleaves them per layer group, as autograd runs a layer's
  // input and weight gradients together): bucket k is released when full
  // segment grad_bucket_after_full[k] finishes (same length as grad_sync,
  // non-decreasing), group k's gather precedes full segment
  // gather_before_full[k] (same length as param_gather, non-increasing).
  // Empty: the rules above apply.
  std::vector<uint32_t> grad_bucket_after_full;
  std::vector<uint32_t> gather_before_full;
};

struct PipelineWork {
  std::vector<StageWork> stages;  // one per schedule stage
  Bytes p2p_bytes;                // activations (and their gradients) between stages, per micro-batch
  Tick p2p_latency = 0;
  std::vector<Segment> tail;      // per GPU, after all ops and gradient syncs
  std::vector<std::string> labels = {"work"};
  // Compute rate on a GPU while an `interferes` segment runs on it, in (0, 1]
  // (cost.overlap().compute_rate(); 1: no interference).
  double overlap_compute_rate = 1.0;
  // DP gradient reduction after the whole forward-backward (plan
  // overlap_grad_reduce false): a GPU's buckets, of all the stages it holds,
  // are released together when its last weight-gradient chunk ends, instead
  // of each stage's when that stage's last one ends.
  bool grad_sync_after_forward_backward = false;
  // Blocking pipeline sends (plan overlap_p2p_comm false, 1F1B-family
  // schedules: Megatron's p2p_communication waits for its sends): a GPU
  // starts its next op only once its sends have arrived. False: sends run
  // beside the next op (overlap_p2p_comm; DualPipe by construction).
  bool blocking_p2p = false;
};

struct ClusterShape {
  int replicas = 1;         // data-parallel pipelines simulated
  int ep_replicas = 1;      // replicas per EP group (collective segments wait for all of them)
  int gpus_per_node = 8;    // scale-up domain
  BytesPerSecond nvlink = gigabytes_per_second(1);  // per GPU per direction
  BytesPerSecond nic = gigabytes_per_second(1);     // per GPU per direction
  // Expert load of (replica, micro-batch): work of `scales_with_load` segments
  // is multiplied by it. Empty = 1 everywhere; else replicas * micro_batches.
  // In node-pair mode it is the relative load of that GPU's experts, and
  // sets the all-to-all's per-pair bytes instead of scaling the GPU's own.
  std::vector<float> load_factor;
  // Node-pair network mode (see above); needs replicas % gpus_per_node == 0
  // and EP groups of whole nodes (or inside one node).
  bool pair_all_to_all = false;
  FabricShape fabric;      // scale-out fabric in node-pair mode
  int max_nodes_per_token = 0;  // node-limited routing M (0 = unlimited)
};

struct SimOptions {
  bool trace = false;
};

struct GpuStats {
  int gpu = 0;          // replica * devices + device
  int replica = 0;
  int device = 0;
  Tick compute = 0;     // compute stream busy
  Tick exposed_comm = 0;  // stream idle while this GPU communicates
  Tick idle = 0;        // step - compute - exposed_comm
  Tick end = 0;         // when its tail finished
};

// A run of consecutive critical-path ops on one GPU.
struct CriticalRun {
  int gpu = 0;
  Tick start = 0;
  Tick end = 0;
  int ops = 0;
  std::string first;  // e.g. "F mb3 s1"
  std::string last;
};

// One interval for the Chrome trace. thread: 0 compute, 1 lane-0 comm,
// 2 lane-1 comm, 3 p2p/NIC, 4 DP sync, 5 tail.
struct TraceInterval {
  int32_t gpu;
  uint8_t thread;
  uint8_t chunk;  // ChunkType, or 255 for none
  uint16_t label;
  int32_t micro_batch;
  int32_t stage;
  Tick start;
  Tick end;
};

struct SimOutput {
  Tick step = 0;
  uint64_t events = 0;
  uint64_t flows = 0;          // network flows started
  size_t links = 0;            // network links
  std::vector<GpuStats> gpus;
  std::vector<CriticalRun> critical_path;
  std::vector<TraceInterval> trace;
  std::vector<std::string> labels;
  double bubble_fraction = 0;  // mean idle / step
};

// A fixed cost model (STYLE.md: engine tests): on every stage F takes f, B
// (input gradient) b, W w, and the full backward b + w; no communication.
PipelineWork fixed_cost_work(int stages, Tick f, Tick b, Tick w);

SimOutput run_pipeline(const PipelineSchedule& schedule, const PipelineWork& work, const ClusterShape& shape,
                       const SimOptions& options = {});

}  // namespace trainsim::sim
