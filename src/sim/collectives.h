// Collectives executed step by step on the simulated network.
//
// RingAllReduce models the ring algorithm (Patarasuk & Yuan 2009; NCCL's
// ring): n ranks, 2(n-1) steps (n-1 reduce-scatter, n-1 all-gather); in each
// step every rank sends one 1/n piece of the buffer to its successor after a
// per-message latency, and the next step starts when every piece of the step
// has arrived. Rank i sends over link tx[i] and receives over rx[i]; flows
// share those links max-min fairly with whatever else crosses them. On idle
// links of bandwidth B its time is 2(n-1)(latency + S/(n B)).
// Units: Tick; bytes as Bytes.
#pragma once

#include <functional>
#include <vector>

#include "core/units.h"
#include "sim/engine.h"
#include "sim/resources.h"

namespace trainsim::sim {

class RingAllReduce : public EventHandler, public FlowSink {
 public:
  // tx[i], rx[i]: links of rank i. `done` runs when the last step ends.
  RingAllReduce(Network& network, std::vector<uint32_t> tx, std::vector<uint32_t> rx, Bytes buffer,
                Tick latency, std::function<void(Engine&)> done);
  void start(Engine& engine);
  int steps_done() const { return step_; }

  void handle_event(Engine& engine, uint32_t tag, uint64_t arg) override;
  void flow_done(Engine& engine, uint64_t cookie, Tick started) override;

 private:
  void begin_step(Engine& engine);
  Network& net_;
  std::vector<uint32_t> tx_, rx_;
  Bytes piece_;
  Tick latency_;
  std::function<void(Engine&)> done_;
  int n_ = 0;
  int step_ = 0;
  int pending_ = 0;
};

// Convenience: the time of one ring all-reduce of `buffer` bytes over n ranks
// whose links all have bandwidth `link`, on an otherwise idle network.
Tick ring_all_reduce_time(int n, Bytes buffer, BytesPerSecond link, Tick latency);

}  // namespace trainsim::sim
