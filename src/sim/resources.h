// Resources of the simulated cluster: a GPU's compute stream and a network of
// links shared by flows.
//
// ComputeStream models one GPU's compute: tasks run one at a time, first-in
// first-out, each given as its work in ticks at the full-SM rate. While
// communication kernels are running on the GPU (comm_started/comm_finished),
// the running task proceeds at its own `rate_with_comm` (usable SMs / total,
// or the cost model's time ratio at the reduced SM count), so a kernel that
// takes 10 us alone takes 10 us / rate while SMs are lent; while a
// data-parallel collective runs beside it (`interferes`), at the stream's
// overlap rate (set_overlap_rate; cost.overlap()) as well, the two factors
// multiplying. Invariants: 0 < rate <= 1; at most one task in service; busy
// time is the sum of service intervals.
//
// Network models links of fixed capacity (bytes/s, per direction) and flows
// of a given size crossing a path of up to kMaxPath links. Concurrent flows
// share bandwidth by max-min fairness, computed by progressive filling over
// the connected component of links and flows that a change touches (SimGrid
// lmm: maxmin.cpp, "bottleneck" saturation order). A flow's rate is constant
// between changes; on every change the flows of the component advance by the
// elapsed delta and their completion events are rescheduled. Invariants: the
// sum of rates on a link never exceeds its capacity; every active flow has a
// rate > 0; a flow completes when its bytes are sent, rounded to the nearest
// picosecond. Per-message latency is not part of a flow: callers
// delay the flow's start (see CommChannel in pipeline.h).
// Batching (same rates, fewer solves and events): flows started between
// hold() and release() are solved once, at release(), over the union of
// their links; completions are kept in buckets by tick, one engine event per
// distinct tick, and the flows that finish in one tick (an all-to-all's
// equal pairs) are removed together, re-solved once, then reported to their
// sinks in the order they were scheduled.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <unordered_map>
#include <span>
#include <vector>

#include "core/units.h"
#include "sim/engine.h"

namespace trainsim::sim {

class TaskSink {
 public:
  virtual ~TaskSink() = default;
  // The task finished at engine.now(); it entered service at `started`.
  virtual void task_done(Engine& engine, uint64_t cookie, Tick started) = 0;
};

class ComputeStream : public EventHandler {
 public:
  // Queues a task of `work` ticks at the full rate. rate_with_comm in (0, 1].
  void submit(Engine& engine, Tick work, double rate_with_comm, TaskSink* sink, uint64_t cookie);
  // Communication of this GPU started / finished (nested counts). When
  // `lends_sms`, its kernels hold SMs and the running task slows to its
  // rate_with_comm. Time with communication in progress and no task running
  // is counted as exposed communication.
  // When `interferes`, tasks run at the overlap rate (times rate_with_comm
  // where SMs are lent) while it is in progress.
  void comm_started(Engine& engine, bool lends_sms, bool interferes = false);
  void comm_finished(Engine& engine, bool lends_sms, bool interferes = false);
  // Compute rate beside an interfering communication, in (0, 1]; set before
  // the first task.
  void set_overlap_rate(double rate);

  Tick busy() const { return busy_; }
  // Exposed communication up to the last state change; call settle() first
  // for an up-to-date value.
  Tick exposed() const { return exposed_; }
  void settle(Engine& engine) { account(engine.now()); }
  bool idle() const { return !running_; }
  size_t queued() const { return queue_.size(); }

  void handle_event(Engine& engine, uint32_t tag, uint64_t arg) override;

 private:
  struct Task {
    Tick work;
    double rate_with_comm;
    TaskSink* sink;
    uint64_t cookie;
  };
  void start_next(Engine& engine);
  double rate() const {
    return (sm_comm_ > 0 ? current_.rate_with_comm : 1.0) * (interfering_ > 0 ? overlap_rate_ : 1.0);
  }
  void change_rate(Engine& engine, int delta_sm_comm, int delta_interfering);
  void account(Tick now) {
    if (!running_ && comm_ > 0) exposed_ += now - accounted_;
    accounted_ = now;
  }

  std::deque<Task> queue_;
  Task current_{};
  bool running_ = false;
  double remaining_ = 0;  // ticks of full-rate work left at last_
  Tick last_ = 0;
  Tick started_ = 0;
  int comm_ = 0;     // communications in progress
  int sm_comm_ = 0;  // of which hold SMs
  int interfering_ = 0;  // of which are data-parallel collectives (overlap rate)
  double overlap_rate_ = 1.0;
  EventId completion_;
  Tick busy_ = 0;
  Tick exposed_ = 0;
  Tick accounted_ = 0;
};

class FlowSink {
 public:
  virtual ~FlowSink() = default;
  // The flow's last byte was sent at engine.now(); it started at `started`.
  virtual void flow_done(Engine& engine, uint64_t cookie, Tick started) = 0;
};

class Network : public EventHandler {
 public:
  static constexpr int kMaxPath = 4;

  // Adds a link of the given capacity; returns its id.
  uint32_t add_link(BytesPerSecond capacity);
  size_t links() const { return links_.size(); }
  BytesPerSecond capacity(uint32_t link) const;

  // Starts a flow of `size` bytes over `path` (1..kMaxPath distinct links).
  // Returns the flow id (valid until the flow completes).
  uint32_t start_flow(Engine& engine, Bytes size, std::span<const uint32_t> path, FlowSink* sink,
                      uint64_t cookie);

  // Defers the solve of flows started from now until release() (nestable).
  void hold() { ++held_; }
  void release(Engine& engine);

  // Current rate of an active flow.
  BytesPerSecond rate(uint32_t flow) const;
  size_t active_flows() const { return active_; }
  uint64_t flows_started() const { return started_; }
  // Bytes carried by a link so far (completed and partial flows, at last update).
  Bytes carried(uint32_t link) const { return Bytes(links_[link].carried); }

  void handle_event(Engine& engine, uint32_t tag, uint64_t arg) override;

 private:
  struct Link {
    double capacity = 0;  // bytes per tick
    double carried = 0;
    std::vector<uint32_t> flows;  // active flows crossing the link
    // Scratch for progressive filling.
    double residual = 0;
    int unfixed = 0;
    uint64_t mark = 0;
  };
  struct Flow {
    double remaining = 0;  // bytes at last
    double rate = 0;       // bytes per tick
    Tick last = 0;
    Tick started = 0;
    Tick due = -1;      // tick of the pending completion (-1: none)
    uint32_t gen = 0;   // bumped at each (re)schedule; stale bucket entries differ
    std::array<uint32_t, kMaxPath> path{};
    uint8_t hops = 0;
    bool active = false;
    bool fixed = false;
    uint64_t mark = 0;
    FlowSink* sink = nullptr;
    uint64_t cookie = 0;
  };
  struct Due {
    uint32_t flow;
    uint32_t gen;
  };
  void schedule_completion(Engine& engine, uint32_t fid, Tick due);
  // Re-solves max-min fairness on the component containing these links.
  void resolve(Engine& engine, std::span<const uint32_t> seed_links);
  void advance(Flow& f, Tick now);

  std::vector<Link> links_;
  std::vector<Flow> flows_;
  std::vector<uint32_t> free_flows_;
  size_t active_ = 0;
  uint64_t started_ = 0;
  uint64_t epoch_ = 0;
  std::vector<uint32_t> comp_links_;  // scratch
  std::vector<uint32_t> comp_flows_;  // scratch
  std::vector<uint32_t> bottlenecks_;  // scratch
  int held_ = 0;
  std::vector<uint32_t> deferred_;    // seed links of the pending batch
  // Completion buckets: tick -> index into buckets_ (one engine event each).
  std::unordered_map<Tick, uint32_t> bucket_of_;
  std::vector<std::vector<Due>> buckets_;
  std::vector<uint32_t> free_buckets_;
  std::vector<uint32_t> done_;        // scratch: flows completing this tick
  struct Report {
    FlowSink* sink;
    uint64_t cookie;
    Tick started;
  };
  std::vector<Report> reports_;       // scratch
};

}  // namespace trainsim::sim
