#include "sim/pipeline.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <memory>

#include <fmt/format.h>

#include "core/error.h"
#include "sim/resources.h"

namespace trainsim::sim {

namespace {

constexpr uint32_t kNone = UINT32_MAX;
// Lane slots of a GPU.
constexpr int kLaneOp0 = 0;
constexpr int kLaneOp1 = 1;
constexpr int kLaneSync = 2;
constexpr int kLaneTail = 3;
// Link slots of a GPU.
constexpr int kNvlTx = 0;
constexpr int kNvlRx = 1;
constexpr int kNicTx = 2;
constexpr int kNicRx = 3;
// Flow cookie kinds (top bits).
constexpr uint64_t kFlowSegment = 0;
constexpr uint64_t kFlowP2p = 1ULL << 62;
constexpr uint64_t kFlowPair = 2ULL << 62;  // a node-pair all-to-all flow; low bits: barrier index
constexpr uint64_t kKindMask = 3ULL << 62;
// Event tags.
constexpr uint32_t kTagLatency = 1;
constexpr uint32_t kTagP2pStart = 2;
constexpr uint32_t kTagP2pArrive = 3;

std::string chunk_label(const Chunk& c) {
  return fmt::format("{} mb{} s{}", to_string(c.type), c.micro_batch, c.stage);
}

class Executor final : public EventHandler, public TaskSink, public FlowSink {
 public:
  Executor(const PipelineSchedule& s, const PipelineWork& w, const ClusterShape& shape, const SimOptions& o)
      : s_(s), w_(w), shape_(shape), opt_(o) {
    TRAINSIM_CHECK(static_cast<int>(w.stages.size()) == s.stages, "work for {} stages, schedule has {}",
                   w.stages.size(), s.stages);
    TRAINSIM_CHECK(shape.replicas >= 1 && shape.ep_replicas >= 1 && shape.replicas % shape.ep_replicas == 0,
                   "{} replicas in EP groups of {}", shape.replicas, shape.ep_replicas);
    TRAINSIM_CHECK(shape.load_factor.empty() ||
                       shape.load_factor.size() == static_cast<size_t>(shape.replicas) * static_cast<size_t>(s.micro_batches),
                   "load factors: {} for {} replicas x {} micro-batches", shape.load_factor.size(), shape.replicas,
                   s.micro_batches);
    devices_ = s.devices;
    gpus_ = shape.replicas * devices_;
    gpu_.resize(static_cast<size_t>(gpus_));
    for (Gpu& gp : gpu_) gp.stream.set_overlap_rate(w.overlap_compute_rate);
    place_gpus();
    // Ops: global id = replica * ops_per_replica + op_offset[device] + k.
    op_offset_.resize(static_cast<size_t>(devices_) + 1, 0);
    for (int d = 0; d < devices_; ++d) {
      op_offset_[static_cast<size_t>(d) + 1] = op_offset_[static_cast<size_t>(d)] +
                                                static_cast<uint32_t>(s.order[static_cast<size_t>(d)].size());
    }
    ops_per_replica_ = op_offset_.back();
    const size_t total_ops = static_cast<size_t>(ops_per_replica_) * static_cast<size_t>(shape.replicas);
    op_start_.assign(total_ops, -1);
    op_end_.assign(total_ops, -1);
    op_enabler_.assign(total_ops, kNone);
    // Readiness per (replica, micro-batch, stage).
    const size_t cells = static_cast<size_t>(shape.replicas) * static_cast<size_t>(s.micro_batches) *
                         static_cast<size_t>(s.stages);
    f_ready_.assign(cells, 0);
    b_ready_.assign(cells, 0);
    f_done_.assign(cells, 0);
    arrival_time_.assign(cells * 2, 0);
    arrival_src_.assign(cells * 2, kNone);
    // Weight gradients each (device, stage) expects before its DP sync.
    expected_w_.assign(static_cast<size_t>(devices_) * static_cast<size_t>(s.stages), 0);
    for (int64_t mb = 0; mb < s.micro_batches; ++mb) {
      for (int st = 0; st < s.stages; ++st) {
        ++expected_w_[static_cast<size_t>(s.device_of(static_cast<int32_t>(mb), st)) * static_cast<size_t>(s.stages) +
                      static_cast<size_t>(st)];
      }
    }
    done_w_.assign(static_cast<size_t>(gpus_) * static_cast<size_t>(s.stages), 0);
    released_.assign(static_cast<size_t>(gpus_) * static_cast<size_t>(s.stages), 0);
    f_started_.assign(static_cast<size_t>(gpus_) * static_cast<size_t>(s.stages), 0);
    b_started_.assign(static_cast<size_t>(gpus_) * static_cast<size_t>(s.stages), 0);
    for (int st = 0; st < s.stages; ++st) {
      const StageWork& sw = w.stages[static_cast<size_t>(st)];
      TRAINSIM_CHECK(sw.grad_bucket_after.empty() || sw.grad_bucket_after.size() == sw.grad_sync.size(),
                     "stage {}: {} bucket triggers for {} buckets", st, sw.grad_bucket_after.size(), sw.grad_sync.size());
      TRAINSIM_CHECK(sw.grad_sync.size() < 0x10000 && st < 0x10000, "stage {}: {} DP buckets", st, sw.grad_sync.size());
      for (size_t k = 0; k < sw.grad_bucket_after.size(); ++k) {
        TRAINSIM_CHECK(sw.grad_bucket_after[k] < sw.chunk[static_cast<size_t>(ChunkType::kBackwardWeight)].size() &&
                           (k == 0 || sw.grad_bucket_after[k - 1] <= sw.grad_bucket_after[k]),
                       "stage {}: bucket {} released after weight segment {}", st, k, sw.grad_bucket_after[k]);
      }
      // Without positions of its own, a full backward chunk must end with the
      // weight-gradient segments (the first may be merged into the segment
      // before it), or the shifted triggers would fire on other work.
      const auto& wgt = sw.chunk[static_cast<size_t>(ChunkType::kBackwardWeight)];
      const auto& full = sw.chunk[static_cast<size_t>(ChunkType::kBackwardFull)];
      if (!sw.grad_bucket_after.empty() && sw.grad_bucket_after_full.empty() && !full.empty()) {
        bool ends_with_weight = full.size() >= wgt.size();
        for (size_t j = 1; ends_with_weight && j < wgt.size(); ++j) {
          const Segment& a = full[full.size() - wgt.size() + j];
          ends_with_weight = a.kind == wgt[j].kind && a.work == wgt[j].work;
        }
        TRAINSIM_CHECK(ends_with_weight, "stage {}: the full backward chunk ({} segments) does not end with the {} "
                       "weight-gradient segments its DP buckets are released after", st, full.size(), wgt.size());
      }
    }
    for (int st = 0; st < s.stages; ++st) {
      const StageWork& sw = w.stages[static_cast<size_t>(st)];
      const size_t n = sw.param_gather.size();
      TRAINSIM_CHECK(n < 0x10000 && sw.gather_before_f.size() == n && sw.gather_before_b.size() == n,
                     "stage {}: {} parameter gathers, {} forward and {} backward positions", st, n,
                     sw.gather_before_f.size(), sw.gather_before_b.size());
      for (size_t k = 0; k < n; ++k) {
        TRAINSIM_CHECK(sw.gather_before_f[k] <= sw.chunk[static_cast<size_t>(ChunkType::kForward)].size() &&
                           sw.gather_before_b[k] <= sw.chunk[static_cast<size_t>(ChunkType::kBackwardInput)].size() &&
                           (k == 0 || (sw.gather_before_f[k - 1] <= sw.gather_before_f[k] &&
                                       sw.gather_before_b[k - 1] >= sw.gather_before_b[k])),
                       "stage {}: parameter gather {} before forward segment {}, backward segment {}", st, k,
                       sw.gather_before_f[k], sw.gather_before_b[k]);
      }
      const size_t full = sw.chunk[static_cast<size_t>(ChunkType::kBackwardFull)].size();
      TRAINSIM_CHECK(sw.gather_before_full.empty() || sw.gather_before_full.size() == n,
                     "stage {}: {} full-backward gather positions for {} gathers", st, sw.gather_before_full.size(), n);
      for (size_t k = 0; k < sw.gather_before_full.size(); ++k) {
        TRAINSIM_CHECK(sw.gather_before_full[k] <= full && (k == 0 || sw.gather_before_full[k - 1] >= sw.gather_before_full[k]),
                       "stage {}: parameter gather {} before full-backward segment {}", st, k, sw.gather_before_full[k]);
      }
      TRAINSIM_CHECK(sw.grad_bucket_after_full.empty() || sw.grad_bucket_after_full.size() == sw.grad_sync.size(),
                     "stage {}: {} full-backward bucket triggers for {} buckets", st, sw.grad_bucket_after_full.size(),
                     sw.grad_sync.size());
      for (size_t k = 0; k < sw.grad_bucket_after_full.size(); ++k) {
        TRAINSIM_CHECK(sw.grad_bucket_after_full[k] < full &&
                           (k == 0 || sw.grad_bucket_after_full[k - 1] <= sw.grad_bucket_after_full[k]),
                       "stage {}: bucket {} released after full-backward segment {}", st, k, sw.grad_bucket_after_full[k]);
      }
    }
    const int groups = devices_ * (shape.replicas / shape.ep_replicas);
    barrier_.resize(static_cast<size_t>(groups) * 2);
    if (pairs_) {
      // Members of each EP group, node-major (consecutive replicas fill a node).
      members_.resize(static_cast<size_t>(groups));
      for (int grp = 0; grp < groups; ++grp) {
        const int d = grp / (shape.replicas / shape.ep_replicas);
        const int r0 = (grp % (shape.replicas / shape.ep_replicas)) * shape.ep_replicas;
        for (int k = 0; k < shape.ep_replicas; ++k) members_[static_cast<size_t>(grp)].push_back(phys_[static_cast<size_t>((r0 + k) * devices_ + d)]);
      }
    }
  }

  // Physical placement and links (see pipeline.h).
  void place_gpus() {
    const int q = shape_.gpus_per_node;
    pairs_ = shape_.pair_all_to_all && shape_.ep_replicas > 1;
    phys_.resize(static_cast<size_t>(gpus_));
    if (!pairs_) {
      fabric_ = std::make_unique<Fabric>(net_, gpus_, 1, shape_.nvlink, shape_.nic, FabricShape{});
      for (int g = 0; g < gpus_; ++g) phys_[static_cast<size_t>(g)] = g;
      return;
    }
    TRAINSIM_CHECK(q >= 1 && shape_.replicas % q == 0 && (shape_.ep_replicas % q == 0 || q % shape_.ep_replicas == 0),
                   "node-pair network: {} replicas and EP groups of {} on nodes of {} GPUs", shape_.replicas,
                   shape_.ep_replicas, q);
    fabric_ = std::make_unique<Fabric>(net_, gpus_ / q, q, shape_.nvlink, shape_.nic, shape_.fabric);
    per_node_ = std::min(q, shape_.ep_replicas);
    const int nodes_per_device = shape_.replicas / q;
    for (int g = 0; g < gpus_; ++g) {
      const int r = g / devices_, d = g % devices_;
      phys_[static_cast<size_t>(g)] = (d * nodes_per_device + r / q) * q + r % q;
    }
  }

  SimOutput run() {
    for (int g = 0; g < gpus_; ++g) try_start(g);
    engine_.run();
    SimOutput out;
    out.events = engine_.events_processed();
    out.flows = net_.flows_started();
    out.links = net_.links();
    for (int g = 0; g < gpus_; ++g) {
      const Gpu& gp = gpu_[static_cast<size_t>(g)];
      if (!gp.finished) {
        const int d = g % devices_;
        const auto& order = s_.order[static_cast<size_t>(d)];
        std::string what = gp.next_op < order.size() ? chunk_label(order[gp.next_op].first) : "its tail";
        throw InternalError(fmt::format("simulation deadlock: GPU {} (replica {}, device {}) stuck before {}", g,
                                        g / devices_, d, what));
      }
      out.step = std::max(out.step, gp.end);
    }
    Tick idle_sum = 0;
    for (int g = 0; g < gpus_; ++g) {
      Gpu& gp = gpu_[static_cast<size_t>(g)];
      GpuStats st;
      st.gpu = g;
      st.replica = g / devices_;
      st.device = g % devices_;
      st.compute = gp.stream.busy();
      st.exposed_comm = gp.stream.exposed();
      st.end = gp.end;
      st.idle = out.step - st.compute - st.exposed_comm;
      TRAINSIM_CHECK(st.idle >= 0, "GPU {}: compute {} + exposed {} exceed the step {}", g, st.compute,
                     st.exposed_comm, out.step);
      idle_sum += st.idle;
      out.gpus.push_back(st);
    }
    out.bubble_fraction = out.step > 0 ? static_cast<double>(idle_sum) / static_cast<double>(gpus_) /
                                             static_cast<double>(out.step)
                                       : 0.0;
    out.critical_path = critical_path(out.step);
    out.trace = std::move(trace_);
    out.labels = w_.labels;
    return out;
  }

  void handle_event(Engine& e, uint32_t tag, uint64_t arg) override {
    if (tag == kTagLatency) {
      start_flows(e, static_cast<int>(arg >> 2), static_cast<int>(arg & 3));
    } else if (tag == kTagP2pStart) {
      const P2p& p = p2p_[arg];
      std::array<uint32_t, Network::kMaxPath> path{};
      const int hops = fabric_->path(phys_[static_cast<size_t>(p.src)], phys_[static_cast<size_t>(p.dst)], path);
      net_.start_flow(e, w_.p2p_bytes, std::span<const uint32_t>(path.data(), static_cast<size_t>(hops)), this,
                      kFlowP2p | arg);
    } else if (tag == kTagP2pArrive) {
      p2p_latency_arrival(e, static_cast<uint32_t>(arg));
    }
  }

  void task_done(Engine& e, uint64_t cookie, Tick started) override {
    const int g = static_cast<int>(cookie >> 2);
    const int slot = static_cast<int>(cookie & 3);
    Lane& ln = gpu_[static_cast<size_t>(g)].lane[slot];
    record(g, 0, ln, started, e.now());
    next_segment(e, g, slot);
  }

  void flow_done(Engine& e, uint64_t cookie, Tick started) override {
    if ((cookie & kKindMask) == kFlowP2p) {
      p2p_arrived(e, static_cast<uint32_t>(cookie & ~kKindMask), started);
      return;
    }
    if ((cookie & kKindMask) == kFlowPair) {
      Barrier& b = barrier_[static_cast<size_t>(cookie & ~kKindMask)];
      --b.pending;
      maybe_release(e, b);
      return;
    }
    const int g = static_cast<int>(cookie >> 2);
    const int slot = static_cast<int>(cookie & 3);
    Lane& ln = gpu_[static_cast<size_t>(g)].lane[slot];
    if (--ln.pending_flows == 0) comm_part_done(e, g, slot);
  }

 private:
  struct Lane {
    const std::vector<Segment>* segs = nullptr;
    uint32_t seg = 0;
    uint32_t seg_end = 0;  // segments [seg, seg_end) run
    int pending_flows = 0;
    float load = 1.0f;
    Chunk chunk{};
    bool has_chunk = false;
    Tick seg_start = 0;
    // ZeRO-3 gathers this chunk carries (StageWork::param_gather); groups
    // counted in the chunk's order (reversed in backward).
    const StageWork* z3 = nullptr;
    bool z3_backward = false;
    uint32_t z3_next = 0;    // next group whose start the lane has not passed
    uint32_t z3_issued = 0;  // gathers issued
    uint32_t z3_done = 0;    // gathers finished (the stream runs them in order)
    bool z3_waiting = false;
  };
  // An entry of a GPU's DP communication stream.
  struct SyncItem {
    uint16_t stage = 0;
    uint16_t index = 0;       // bucket, or parameter gather (forward numbering)
    bool gather = false;
    uint8_t slot = 0;         // gather: the lane waiting for it
  };
  struct Gpu {
    ComputeStream stream;
    uint32_t next_op = 0;
    bool in_op = false;
    int lanes_left = 0;
    Tick last_op_end = 0;
    uint32_t last_op = kNone;
    std::array<Lane, 4> lane;
    std::deque<SyncItem> sync_queue;  // DP buckets released and parameter gathers issued, not finished
    bool sync_running = false;
    // Lanes (bit = slot) whose next segment waits for the DP stream to drain
    // (Segment::drains_dp_stream); DualPipe's paired chunks can both wait.
    unsigned drain_waiters = 0;
    int sends_in_flight = 0;  // pipeline sends not yet arrived (PipelineWork::blocking_p2p)
    Tick last_send_arrival = -1;  // when the latest of its sends arrived
    bool tail_started = false;
    bool finished = false;
    Tick end = 0;
    int64_t coll_seq[2] = {0, 0};
  };
  struct P2p {
    int src;
    int dst;
    int32_t replica;
    int32_t micro_batch;
    int32_t stage;  // destination stage
    bool backward;
    uint32_t src_op;
  };
  struct Barrier {
    int64_t seq = -1;
    int arrived = 0;
    int pending = 0;                // node-pair mode: flows of the group still running
    std::vector<uint32_t> waiters;  // gpu << 2 | slot
  };

  uint32_t link(int g, int which) const {
    return fabric_->nvl_tx(phys_[static_cast<size_t>(g)]) + static_cast<uint32_t>(which);
  }
  size_t cell(int replica, int32_t mb, int32_t stage) const {
    return (static_cast<size_t>(replica) * static_cast<size_t>(s_.micro_batches) + static_cast<size_t>(mb)) *
               static_cast<size_t>(s_.stages) +
           static_cast<size_t>(stage);
  }
  uint32_t op_id(int g, uint32_t k) const {
    return static_cast<uint32_t>(g / devices_) * ops_per_replica_ + op_offset_[static_cast<size_t>(g % devices_)] + k;
  }

  // Input readiness of a chunk; sets latest arrival (time, source op).
  bool chunk_ready(int g, const Chunk& c, Tick& latest, uint32_t& src) const {
    const int r = g / devices_;
    const size_t i = cell(r, c.micro_batch, c.stage);
    switch (c.type) {
      case ChunkType::kForward:
        if (c.stage == 0) return true;
        if (!f_ready_[i]) return false;
        if (arrival_time_[i * 2] > latest) {
          latest = arrival_time_[i * 2];
          src = arrival_src_[i * 2];
        }
        return true;
      case ChunkType::kBackwardInput:
      case ChunkType::kBackwardFull:
        if (c.stage == s_.stages - 1) return f_done_[i] != 0;
        if (!b_ready_[i]) return false;
        if (arrival_time_[i * 2 + 1] > latest) {
          latest = arrival_time_[i * 2 + 1];
          src = arrival_src_[i * 2 + 1];
        }
        return true;
      case ChunkType::kBackwardWeight:
        return true;  // its B ran earlier on this GPU (check_schedule)
    }
    return false;
  }

  void try_start(int g) {
    Gpu& gp = gpu_[static_cast<size_t>(g)];
    if (gp.in_op || gp.finished) return;
    const auto& order = s_.order[static_cast<size_t>(g % devices_)];
    if (gp.next_op >= order.size()) {
      maybe_start_tail(g);
      return;
    }
    if (w_.blocking_p2p && gp.sends_in_flight > 0) return;  // resumed when its sends arrive
    const ScheduleOp& op = order[gp.next_op];
    Tick latest = -1;
    uint32_t src = kNone;
    if (!chunk_ready(g, op.first, latest, src)) return;
    if (op.pair && !chunk_ready(g, op.second, latest, src)) return;
    const uint32_t id = op_id(g, gp.next_op);
    op_start_[id] = engine_.now();
    // Blocking sends: an op held back by the GPU's own send was enabled by
    // its own previous op (which sent it), not by the remote input.
    const bool own_send_last = w_.blocking_p2p && gp.last_send_arrival >= latest;
    op_enabler_[id] =
        (latest > gp.last_op_end || gp.last_op == kNone) && src != kNone && !own_send_last ? src : gp.last_op;
    gp.in_op = true;
    gp.lanes_left = op.pair ? 2 : 1;
    start_lane(g, kLaneOp0, op.first);
    if (op.pair) start_lane(g, kLaneOp1, op.second);
  }

  void start_lane(int g, int slot, const Chunk& c) {
    Lane& ln = gpu_[static_cast<size_t>(g)].lane[slot];
    ln.segs = &w_.stages[static_cast<size_t>(c.stage)].chunk[static_cast<size_t>(c.type)];
    ln.seg = 0;
    ln.seg_end = static_cast<uint32_t>(ln.segs->size());
    ln.chunk = c;
    ln.has_chunk = true;
    ln.load = shape_.load_factor.empty()
                  ? 1.0f
                  : shape_.load_factor[static_cast<size_t>(g / devices_) * static_cast<size_t>(s_.micro_batches) +
                                       static_cast<size_t>(c.micro_batch)];
    ln.z3 = nullptr;
    const StageWork& sw = w_.stages[static_cast<size_t>(c.stage)];
    const size_t i = static_cast<size_t>(g) * static_cast<size_t>(s_.stages) + static_cast<size_t>(c.stage);
    // Every weight-gradient chunk releases its own buckets: count them from 0.
    if (sw.grad_sync_every_chunk && (c.type == ChunkType::kBackwardWeight || c.type == ChunkType::kBackwardFull)) {
      released_[i] = 0;
    }
    if (c.type == ChunkType::kForward) {
      // The stage's first forward on this GPU carries the gathers (pipeline.h).
      if (f_started_[i]++ == 0 && !sw.param_gather.empty()) ln.z3 = &sw;
      ln.z3_backward = false;
    } else if (c.type == ChunkType::kBackwardInput || c.type == ChunkType::kBackwardFull) {
      // ... and its last backward (as many backward chunks as weight gradients).
      const int expected = expected_w_[static_cast<size_t>(g % devices_) * static_cast<size_t>(s_.stages) +
                                       static_cast<size_t>(c.stage)];
      if (++b_started_[i] == expected && !sw.param_gather.empty()) ln.z3 = &sw;
      ln.z3_backward = true;
    }
    if (ln.z3 != nullptr) {
      ln.z3_next = 0;
      ln.z3_issued = 0;
      ln.z3_done = 0;
      ln.z3_waiting = false;
      issue_gather(g, slot);
    }
    run_segment(engine_, g, slot);
  }

  // Group k of the lane's chunk, in the chunk's order, by its forward number.
  static uint32_t z3_group(const Lane& ln, uint32_t k) {
    return ln.z3_backward ? static_cast<uint32_t>(ln.z3->param_gather.size()) - 1 - k : k;
  }

  // Puts the lane's next parameter gather on the GPU's DP stream.
  void issue_gather(int g, int slot) {
    Gpu& gp = gpu_[static_cast<size_t>(g)];
    Lane& ln = gp.lane[slot];
    if (ln.z3_issued >= ln.z3->param_gather.size()) return;
    gp.sync_queue.push_back(SyncItem{static_cast<uint16_t>(ln.chunk.stage),
                                     static_cast<uint16_t>(z3_group(ln, ln.z3_issued)), true,
                                     static_cast<uint8_t>(slot)});
    ++ln.z3_issued;
    start_sync(g);
  }

  // Before segment ln.seg (or the chunk's end): every group starting here
  // needs its gather; passing a group's start issues the next gather.
  // Returns false while the lane waits.
  bool z3_ready(int g, int slot) {
    Lane& ln = gpu_[static_cast<size_t>(g)].lane[slot];
    if (ln.z3 == nullptr) return true;
    const uint32_t n = static_cast<uint32_t>(ln.z3->param_gather.size());
    const std::vector<uint32_t>& at = !ln.z3_backward ? ln.z3->gather_before_f
                                      : ln.chunk.type == ChunkType::kBackwardFull && !ln.z3->gather_before_full.empty()
                                          ? ln.z3->gather_before_full
                                          : ln.z3->gather_before_b;
    while (ln.z3_next < n && (ln.seg >= ln.seg_end || at[z3_group(ln, ln.z3_next)] <= ln.seg)) {
      if (ln.z3_done <= ln.z3_next) {
        ln.z3_waiting = true;
        return false;
      }
      ++ln.z3_next;
      if (ln.z3_issued <= ln.z3_next) issue_gather(g, slot);
    }
    return true;
  }

  void gather_done(Engine& e, int g, int slot) {
    Lane& ln = gpu_[static_cast<size_t>(g)].lane[slot];
    TRAINSIM_CHECK(ln.z3 != nullptr, "GPU {}: a parameter gather finished for lane {} that has none", g, slot);
    ++ln.z3_done;
    if (!ln.z3_waiting) return;
    ln.z3_waiting = false;
    run_segment(e, g, slot);
  }

  void start_plain_lane(int g, int slot, const std::vector<Segment>* segs, uint32_t first, uint32_t end) {
    Lane& ln = gpu_[static_cast<size_t>(g)].lane[slot];
    ln.segs = segs;
    ln.seg = first;
    ln.seg_end = end;
    ln.has_chunk = false;
    ln.load = 1.0f;
    run_segment(engine_, g, slot);
  }

  void run_segment(Engine& e, int g, int slot) {
    Gpu& gp = gpu_[static_cast<size_t>(g)];
    Lane& ln = gp.lane[slot];
    if (ln.has_chunk && !z3_ready(g, slot)) return;
    if (ln.seg >= ln.seg_end) {
      lane_done(e, g, slot);
      return;
    }
    const Segment& sg = (*ln.segs)[ln.seg];
    if (sg.drains_dp_stream && (gp.sync_running || !gp.sync_queue.empty())) {
      gp.drain_waiters |= 1u << slot;  // resumed by lane_done() when the DP stream empties
      return;
    }
    ln.seg_start = e.now();
    const double scale = sg.scales_with_load ? ln.load : 1.0;
    if (sg.kind == Segment::Kind::kCompute) {
      const Tick work = scale == 1.0 ? sg.work : static_cast<Tick>(std::llround(static_cast<double>(sg.work) * scale));
      gp.stream.submit(e, work, sg.rate_with_comm, this, static_cast<uint64_t>(g) << 2 | static_cast<uint64_t>(slot));
      return;
    }
    gp.stream.comm_started(e, sg.lends_sms, sg.interferes);
    if (sg.work > 0) {
      e.schedule(sg.work, this, kTagLatency, static_cast<uint64_t>(g) << 2 | static_cast<uint64_t>(slot));
    } else {
      start_flows(e, g, slot);
    }
  }

  void start_flows(Engine& e, int g, int slot) {
    Lane& ln = gpu_[static_cast<size_t>(g)].lane[slot];
    const Segment& sg = (*ln.segs)[ln.seg];
    if (pairs_ && sg.collective && ln.has_chunk) {
      start_pair_flows(e, g, slot, sg);
      return;
    }
    const double scale = sg.scales_with_load ? ln.load : 1.0;
    const uint64_t cookie = kFlowSegment | static_cast<uint64_t>(g) << 2 | static_cast<uint64_t>(slot);
    ln.pending_flows = 0;
    if (sg.scale_up.value() > 0) ++ln.pending_flows;
    if (sg.scale_out.value() > 0) ++ln.pending_flows;
    if (ln.pending_flows == 0) {
      comm_part_done(e, g, slot);
      return;
    }
    // A GPU's part of a collective: what it sends it also receives (symmetric
    // exchange), so the flow loads both directions of its link.
    if (sg.scale_up.value() > 0) {
      const uint32_t path[2] = {link(g, kNvlTx), link(g, kNvlRx)};
      net_.start_flow(e, sg.scale_up * scale, path, this, cookie);
    }
    if (sg.scale_out.value() > 0) {
      const uint32_t path[2] = {link(g, kNicTx), link(g, kNicRx)};
      net_.start_flow(e, sg.scale_out * scale, path, this, cookie);
    }
  }

  // Node-pair mode: this GPU reaches its EP group's all-to-all. When the last
  // member arrives, every member's flows start together (all_to_all_flows):
  // an expert all-to-all begins with an exchange of token counts that every
  // rank joins (DeepEP's notify_dispatch) before data moves. The members
  // leave together when all the group's flows have finished.
  void start_pair_flows(Engine& e, int g, int slot, const Segment& sg) {
    Gpu& gp = gpu_[static_cast<size_t>(g)];
    const Lane& ln = gp.lane[slot];
    const int kind = ln.chunk.type == ChunkType::kForward ? 0 : 1;
    const int64_t seq = gp.coll_seq[kind]++;
    const int r = g / devices_;
    const int group = (g % devices_) * (shape_.replicas / shape_.ep_replicas) + r / shape_.ep_replicas;
    const size_t bidx = static_cast<size_t>(group) * 2 + static_cast<size_t>(kind);
    Barrier& b = barrier_[bidx];
    if (b.arrived == 0) b.seq = seq;
    TRAINSIM_CHECK(b.seq == seq, "EP group {}: collective {} meets {}", group, seq, b.seq);
    b.waiters.push_back(static_cast<uint32_t>(g) << 2 | static_cast<uint32_t>(slot));
    if (++b.arrived < shape_.ep_replicas) return;
    // Every member runs the same segment of the same chunk (identical schedules).
    const int ep = shape_.ep_replicas;
    const int r0 = (r / ep) * ep;
    if (!shape_.load_factor.empty()) {
      loads_.resize(static_cast<size_t>(ep));
      for (int k = 0; k < ep; ++k) {
        loads_[static_cast<size_t>(k)] =
            shape_.load_factor[static_cast<size_t>(r0 + k) * static_cast<size_t>(s_.micro_batches) +
                               static_cast<size_t>(ln.chunk.micro_batch)];
      }
    }
    AllToAllPart part;
    part.group = members_[static_cast<size_t>(group)];
    part.per_node = per_node_;
    part.scale_out = sg.scale_out;
    part.scale_up = sg.scale_up;
    part.combine = sg.combine;
    part.nodes_per_token = sg.nodes_per_token;
    part.max_nodes = shape_.max_nodes_per_token;
    if (!shape_.load_factor.empty()) part.gpu_load = loads_;
    flows_.clear();
    for (int k = 0; k < ep; ++k) {
      part.member = k;
      all_to_all_flows(*fabric_, part, flows_);
    }
    net_.hold();
    for (const PairFlow& f : flows_) {
      net_.start_flow(e, f.bytes, std::span<const uint32_t>(f.path.data(), f.hops), this, kFlowPair | bidx);
    }
    b.pending += static_cast<int>(flows_.size());
    net_.release(e);
    maybe_release(e, b);
  }

  void maybe_release(Engine& e, Barrier& b) {
    if (b.arrived < shape_.ep_replicas || b.pending > 0) return;
    release_waiters(e, b);
  }

  // Every member of the group has arrived: finish each waiter's comm segment.
  void release_waiters(Engine& e, Barrier& b) {
    std::vector<uint32_t> release;
    release.swap(b.waiters);
    b.arrived = 0;
    for (uint32_t wv : release) comm_segment_done(e, static_cast<int>(wv >> 2), static_cast<int>(wv & 3));
    release.clear();
    if (b.waiters.capacity() == 0) b.waiters.swap(release);  // keep the buffer
  }

  // This GPU's flows of a comm segment are done; a collective also waits for its group.
  void comm_part_done(Engine& e, int g, int slot) {
    Gpu& gp = gpu_[static_cast<size_t>(g)];
    Lane& ln = gp.lane[slot];
    const Segment& sg = (*ln.segs)[ln.seg];
    if (!sg.collective || shape_.ep_replicas == 1 || !ln.has_chunk) {
      comm_segment_done(e, g, slot);
      return;
    }
    const int kind = ln.chunk.type == ChunkType::kForward ? 0 : 1;
    const int64_t seq = gp.coll_seq[kind]++;
    const int r = g / devices_;
    const int group = (g % devices_) * (shape_.replicas / shape_.ep_replicas) + r / shape_.ep_replicas;
    Barrier& b = barrier_[static_cast<size_t>(group) * 2 + static_cast<size_t>(kind)];
    if (b.arrived == 0) b.seq = seq;
    TRAINSIM_CHECK(b.seq == seq, "EP group {}: collective {} meets {}", group, seq, b.seq);
    b.waiters.push_back(static_cast<uint32_t>(g) << 2 | static_cast<uint32_t>(slot));
    if (++b.arrived < shape_.ep_replicas) return;
    release_waiters(e, b);
  }

  void comm_segment_done(Engine& e, int g, int slot) {
    Gpu& gp = gpu_[static_cast<size_t>(g)];
    Lane& ln = gp.lane[slot];
    const Segment& sg = (*ln.segs)[ln.seg];
    gp.stream.comm_finished(e, sg.lends_sms, sg.interferes);
    const uint8_t thread = slot == kLaneOp0 ? 1 : slot == kLaneOp1 ? 2 : slot == kLaneSync ? 4 : 5;
    record(g, thread, ln, ln.seg_start, e.now());
    next_segment(e, g, slot);
  }

  void next_segment(Engine& e, int g, int slot) {
    Lane& ln = gpu_[static_cast<size_t>(g)].lane[slot];
    if (ln.has_chunk && (ln.chunk.type == ChunkType::kBackwardWeight || ln.chunk.type == ChunkType::kBackwardFull)) {
      release_buckets_after(g, ln);
    }
    ++ln.seg;
    run_segment(e, g, slot);
  }

  // Segment ln.seg of a weight-gradient chunk finished: if this is the
  // stage's last weight-gradient chunk on the GPU, release the buckets it
  // completes (pipeline.h).
  void release_buckets_after(int g, const Lane& ln) {
    const int32_t stage = ln.chunk.stage;
    const StageWork& sw = w_.stages[static_cast<size_t>(stage)];
    if (sw.grad_bucket_after.empty()) return;
    const size_t i = static_cast<size_t>(g) * static_cast<size_t>(s_.stages) + static_cast<size_t>(stage);
    const int d = g % devices_;
    if (!sw.grad_sync_every_chunk &&
        done_w_[i] + 1 != expected_w_[static_cast<size_t>(d) * static_cast<size_t>(s_.stages) + static_cast<size_t>(stage)]) {
      return;
    }
    const bool own = ln.chunk.type == ChunkType::kBackwardFull && !sw.grad_bucket_after_full.empty();
    const std::vector<uint32_t>& after = own ? sw.grad_bucket_after_full : sw.grad_bucket_after;
    const size_t shift = ln.chunk.type == ChunkType::kBackwardFull
                             ? sw.chunk[static_cast<size_t>(ChunkType::kBackwardFull)].size() -
                                   sw.chunk[static_cast<size_t>(ChunkType::kBackwardWeight)].size()
                             : 0;
    if (!own && ln.seg < shift) return;
    const size_t wseg = own ? ln.seg : ln.seg - shift;
    bool any = false;
    while (released_[i] < sw.grad_sync.size() && after[released_[i]] <= wseg) {
      gpu_[static_cast<size_t>(g)].sync_queue.push_back(
          SyncItem{static_cast<uint16_t>(stage), static_cast<uint16_t>(released_[i]), false, 0});
      ++released_[i];
      any = true;
    }
    if (any) start_sync(g);
  }

  void record(int g, uint8_t thread, const Lane& ln, Tick start, Tick end) {
    if (!opt_.trace) return;
    TraceInterval t;
    t.gpu = g;
    t.thread = thread;
    t.chunk = ln.has_chunk ? static_cast<uint8_t>(ln.chunk.type) : 255;
    t.label = (*ln.segs)[ln.seg].label;
    t.micro_batch = ln.has_chunk ? ln.chunk.micro_batch : -1;
    t.stage = ln.has_chunk ? ln.chunk.stage : -1;
    t.start = start;
    t.end = end;
    trace_.push_back(t);
  }

  void lane_done(Engine& e, int g, int slot) {
    Gpu& gp = gpu_[static_cast<size_t>(g)];
    if (slot == kLaneSync) {
      const SyncItem done = gp.sync_queue.front();
      gp.sync_queue.pop_front();
      gp.sync_running = false;
      start_sync(g);
      if (done.gather) gather_done(e, g, done.slot);
      if (gp.drain_waiters != 0 && !gp.sync_running && gp.sync_queue.empty()) {
        const unsigned waiting = gp.drain_waiters;
        gp.drain_waiters = 0;
        for (int s = 0; s < static_cast<int>(gp.lane.size()); ++s) {
          if (waiting & (1u << s)) run_segment(e, g, s);  // each re-checks the stream
        }
      }
      return;
    }
    if (slot == kLaneTail) {
      gp.finished = true;
      gp.end = e.now();
      return;
    }
    chunk_done(e, g, gp.lane[slot].chunk);
    if (--gp.lanes_left > 0) return;
    const uint32_t id = op_id(g, gp.next_op);
    op_end_[id] = e.now();
    gp.last_op = id;
    gp.last_op_end = e.now();
    gp.in_op = false;
    ++gp.next_op;
    try_start(g);
  }

  void chunk_done(Engine& e, int g, const Chunk& c) {
    const int r = g / devices_;
    const int d = g % devices_;
    const uint32_t id = op_id(g, gpu_[static_cast<size_t>(g)].next_op);
    switch (c.type) {
      case ChunkType::kForward:
        f_done_[cell(r, c.micro_batch, c.stage)] = 1;
        if (c.stage + 1 < s_.stages) send(e, g, r, c.micro_batch, c.stage + 1, false, id);
        break;
      case ChunkType::kBackwardInput:
      case ChunkType::kBackwardFull:
        if (c.stage > 0) send(e, g, r, c.micro_batch, c.stage - 1, true, id);
        if (c.type == ChunkType::kBackwardFull) weight_done(g, d, c.stage);
        break;
      case ChunkType::kBackwardWeight:
        weight_done(g, d, c.stage);
        break;
    }
  }

  void weight_done(int g, int d, int32_t stage) {
    const size_t i = static_cast<size_t>(g) * static_cast<size_t>(s_.stages) + static_cast<size_t>(stage);
    const StageWork& sw = w_.stages[static_cast<size_t>(stage)];
    const size_t stages = static_cast<size_t>(s_.stages);
    const bool stage_done = ++done_w_[i] == expected_w_[static_cast<size_t>(d) * stages + static_cast<size_t>(stage)];
    if (w_.grad_sync_after_forward_backward && !sw.grad_sync_every_chunk) {
      // Release every stage's buckets of this GPU once all its stages are done.
      if (!stage_done) return;
      const size_t row = static_cast<size_t>(g) * stages, dev = static_cast<size_t>(d) * stages;
      for (size_t s = 0; s < stages; ++s) {
        if (done_w_[row + s] != expected_w_[dev + s]) return;
      }
      Gpu& gp = gpu_[static_cast<size_t>(g)];
      for (size_t s = stages; s-- > 0;) {
        if (expected_w_[dev + s] == 0) continue;  // a stage another GPU holds: its buckets are that GPU's
        const StageWork& held = w_.stages[s];
        for (; released_[row + s] < held.grad_sync.size(); ++released_[row + s]) {
          gp.sync_queue.push_back(
              SyncItem{static_cast<uint16_t>(s), static_cast<uint16_t>(released_[row + s]), false, 0});
        }
      }
      start_sync(g);
      return;
    }
    if (stage_done || sw.grad_sync_every_chunk) {
      // Buckets not yet released (all of them without triggers) go now.
      if (released_[i] < sw.grad_sync.size()) {
        Gpu& gp = gpu_[static_cast<size_t>(g)];
        for (; released_[i] < sw.grad_sync.size(); ++released_[i]) {
          gp.sync_queue.push_back(SyncItem{static_cast<uint16_t>(stage), static_cast<uint16_t>(released_[i]), false, 0});
        }
        start_sync(g);
      }
    }
  }

  void start_sync(int g) {
    Gpu& gp = gpu_[static_cast<size_t>(g)];
    if (gp.sync_running) return;
    if (gp.sync_queue.empty()) {
      maybe_start_tail(g);
      return;
    }
    gp.sync_running = true;
    const SyncItem b = gp.sync_queue.front();
    const StageWork& sw = w_.stages[b.stage];
    start_plain_lane(g, kLaneSync, b.gather ? &sw.param_gather : &sw.grad_sync, b.index, b.index + 1u);
  }

  void maybe_start_tail(int g) {
    Gpu& gp = gpu_[static_cast<size_t>(g)];
    const auto& order = s_.order[static_cast<size_t>(g % devices_)];
    if (gp.tail_started || gp.in_op || gp.next_op < order.size() || gp.sync_running || !gp.sync_queue.empty()) return;
    if (w_.blocking_p2p && gp.sends_in_flight > 0) return;  // mark_arrival() wakes it
    gp.tail_started = true;
    start_plain_lane(g, kLaneTail, &w_.tail, 0, static_cast<uint32_t>(w_.tail.size()));
  }

  // Activations (or their gradients) of (replica, mb) for `stage` go to the GPU holding it.
  void send(Engine& e, int src, int r, int32_t mb, int32_t stage, bool backward, uint32_t src_op) {
    const int dst = r * devices_ + s_.device_of(mb, stage);
    const auto idx = static_cast<uint32_t>(p2p_.size());
    p2p_.push_back(P2p{src, dst, r, mb, stage, backward, src_op});
    if (dst != src) ++gpu_[static_cast<size_t>(src)].sends_in_flight;  // mark_arrival() counts it back
    if (dst == src || (w_.p2p_bytes.value() <= 0 && w_.p2p_latency == 0)) {
      mark_arrival(e, idx);
      return;
    }
    gpu_[static_cast<size_t>(src)].stream.comm_started(e, false);
    gpu_[static_cast<size_t>(dst)].stream.comm_started(e, false);
    if (w_.p2p_bytes.value() <= 0) {
      // Latency only: arrival after the latency.
      e.schedule(w_.p2p_latency, this, kTagP2pArrive, idx);
      return;
    }
    e.schedule(w_.p2p_latency, this, kTagP2pStart, idx);
  }

  void p2p_arrived(Engine& e, uint32_t idx, Tick started) {
    const P2p& p = p2p_[idx];
    gpu_[static_cast<size_t>(p.src)].stream.comm_finished(e, false);
    gpu_[static_cast<size_t>(p.dst)].stream.comm_finished(e, false);
    if (opt_.trace) {
      trace_.push_back(TraceInterval{p.src, 3, static_cast<uint8_t>(p.backward ? ChunkType::kBackwardInput : ChunkType::kForward),
                                     0, p.micro_batch, p.stage, started - w_.p2p_latency, e.now()});
    }
    mark_arrival(e, idx);
  }

  void mark_arrival(Engine& e, uint32_t idx) {
    const P2p p = p2p_[idx];
    if (p.src != p.dst) {
      Gpu& sender = gpu_[static_cast<size_t>(p.src)];
      TRAINSIM_CHECK(sender.sends_in_flight > 0, "GPU {}: a send arrived that was not in flight", p.src);
      sender.last_send_arrival = e.now();
      if (--sender.sends_in_flight == 0 && w_.blocking_p2p) try_start(p.src);
    }
    const size_t i = cell(p.replica, p.micro_batch, p.stage);
    (p.backward ? b_ready_ : f_ready_)[i] = 1;
    arrival_time_[i * 2 + (p.backward ? 1 : 0)] = e.now();
    arrival_src_[i * 2 + (p.backward ? 1 : 0)] = p.src_op;
    try_start(p.dst);
  }

  std::vector<CriticalRun> critical_path(Tick step) const {
    std::vector<CriticalRun> runs;
    int last_gpu = -1;
    for (int g = 0; g < gpus_; ++g) {
      if (gpu_[static_cast<size_t>(g)].end == step) {
        last_gpu = g;
        break;
      }
    }
    if (last_gpu < 0) return runs;
    // Walk back from the last op of the GPU that finished last.
    uint32_t id = gpu_[static_cast<size_t>(last_gpu)].last_op;
    std::vector<uint32_t> chain;
    while (id != kNone) {
      chain.push_back(id);
      id = op_enabler_[id];
    }
    std::reverse(chain.begin(), chain.end());
    for (uint32_t op : chain) {
      const int r = static_cast<int>(op / ops_per_replica_);
      const uint32_t within = op % ops_per_replica_;
      const int d = static_cast<int>(std::upper_bound(op_offset_.begin(), op_offset_.end(), within) - op_offset_.begin()) - 1;
      const int g = r * devices_ + d;
      const ScheduleOp& sop = s_.order[static_cast<size_t>(d)][within - op_offset_[static_cast<size_t>(d)]];
      std::string label = chunk_label(sop.first);
      if (sop.pair) label += " & " + chunk_label(sop.second);
      if (!runs.empty() && runs.back().gpu == g) {
        runs.back().end = op_end_[op];
        runs.back().last = label;
        ++runs.back().ops;
      } else {
        runs.push_back(CriticalRun{g, op_start_[op], op_end_[op], 1, label, label});
      }
    }
    if (!runs.empty() && runs.back().gpu == last_gpu) {
      runs.back().end = step;  // its DP sync and tail
    } else {
      runs.push_back(CriticalRun{last_gpu, gpu_[static_cast<size_t>(last_gpu)].last_op_end, step, 0, "tail", "tail"});
    }
    return runs;
  }

  const PipelineSchedule& s_;
  const PipelineWork& w_;
  const ClusterShape& shape_;
  const SimOptions& opt_;
  Engine engine_;
  Network net_;
  std::unique_ptr<Fabric> fabric_;
  bool pairs_ = false;
  int per_node_ = 1;                      // EP group members per node (node-pair mode)
  std::vector<int> phys_;                 // simulated GPU -> fabric GPU id
  std::vector<std::vector<int>> members_;  // EP group -> fabric ids, node-major
  std::vector<float> loads_;              // scratch
  std::vector<PairFlow> flows_;           // scratch
  int devices_ = 0;
  int gpus_ = 0;
  std::vector<Gpu> gpu_;
  std::vector<uint32_t> op_offset_;
  uint32_t ops_per_replica_ = 0;
  std::vector<Tick> op_start_, op_end_;
  std::vector<uint32_t> op_enabler_;
  std::vector<uint8_t> f_ready_, b_ready_, f_done_;
  std::vector<Tick> arrival_time_;
  std::vector<uint32_t> arrival_src_;
  std::vector<int> expected_w_, done_w_;
  std::vector<uint32_t> released_;  // per (GPU, stage): DP buckets released so far
  std::vector<int> f_started_, b_started_;  // per (GPU, stage): forward / backward chunks started
  std::vector<Barrier> barrier_;
  std::vector<P2p> p2p_;
  std::vector<TraceInterval> trace_;

 public:
  // Latency-only p2p arrival.
  void p2p_latency_arrival(Engine& e, uint32_t idx) {
    const P2p& p = p2p_[idx];
    gpu_[static_cast<size_t>(p.src)].stream.comm_finished(e, false);
    gpu_[static_cast<size_t>(p.dst)].stream.comm_finished(e, false);
    mark_arrival(e, idx);
  }
};

}  // namespace

PipelineWork fixed_cost_work(int stages, Tick f, Tick b, Tick w) {
  PipelineWork work;
  auto compute = [](Tick t) {
    Segment s;
    s.kind = Segment::Kind::kCompute;
    s.work = t;
    return std::vector<Segment>{s};
  };
  work.stages.resize(static_cast<size_t>(stages));
  for (auto& st : work.stages) {
    st.chunk[static_cast<size_t>(ChunkType::kForward)] = compute(f);
    st.chunk[static_cast<size_t>(ChunkType::kBackwardInput)] = compute(b);
    st.chunk[static_cast<size_t>(ChunkType::kBackwardWeight)] = compute(w);
    st.chunk[static_cast<size_t>(ChunkType::kBackwardFull)] = compute(b + w);
  }
  return work;
}

SimOutput run_pipeline(const PipelineSchedule& schedule, const PipelineWork& work, const ClusterShape& shape,
                       const SimOptions& options) {
  auto ex = std::make_unique<Executor>(schedule, work, shape, options);
  return ex->run();
}

}  // namespace trainsim::sim
