#include "sim/collectives.h"

#include "core/error.h"

namespace trainsim::sim {

RingAllReduce::RingAllReduce(Network& network, std::vector<uint32_t> tx, std::vector<uint32_t> rx, Bytes buffer,
                             Tick latency, std::function<void(Engine&)> done)
    : net_(network), tx_(std::move(tx)), rx_(std::move(rx)), latency_(latency), done_(std::move(done)) {
  TRAINSIM_CHECK(tx_.size() == rx_.size() && tx_.size() >= 2, "ring of {} tx and {} rx links", tx_.size(),
                 rx_.size());
  n_ = static_cast<int>(tx_.size());
  piece_ = buffer / static_cast<double>(n_);
}

void RingAllReduce::start(Engine& engine) {
  step_ = 0;
  begin_step(engine);
}

void RingAllReduce::begin_step(Engine& engine) {
  if (step_ == 2 * (n_ - 1)) {
    done_(engine);
    return;
  }
  engine.schedule(latency_, this, 0, 0);
}

void RingAllReduce::handle_event(Engine& engine, uint32_t, uint64_t) {
  pending_ = n_;
  for (int i = 0; i < n_; ++i) {
    const uint32_t path[2] = {tx_[static_cast<size_t>(i)], rx_[static_cast<size_t>((i + 1) % n_)]};
    net_.start_flow(engine, piece_, path, this, static_cast<uint64_t>(i));
  }
}

void RingAllReduce::flow_done(Engine& engine, uint64_t, Tick) {
  if (--pending_ > 0) return;
  ++step_;
  begin_step(engine);
}

Tick ring_all_reduce_time(int n, Bytes buffer, BytesPerSecond link, Tick latency) {
  Engine engine;
  Network net;
  std::vector<uint32_t> tx, rx;
  for (int i = 0; i < n; ++i) {
    tx.push_back(net.add_link(link));
    rx.push_back(net.add_link(link));
  }
  Tick end = -1;
  RingAllReduce ring(net, tx, rx, buffer, latency, [&](Engine& e) { end = e.now(); });
  ring.start(engine);
  engine.run();
  TRAINSIM_CHECK(end >= 0, "ring all-reduce did not finish");
  return end;
}

}  // namespace trainsim::sim
