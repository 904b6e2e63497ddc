#include <catch2/catch.hpp>

#include <vector>

#include "sim/collectives.h"
#include "sim/resources.h"

using namespace trainsim;
using namespace trainsim::sim;

namespace {
struct Done : FlowSink, TaskSink {
  std::vector<std::pair<uint64_t, Tick>> at;
  void flow_done(Engine& e, uint64_t cookie, Tick) override { at.emplace_back(cookie, e.now()); }
  void task_done(Engine& e, uint64_t cookie, Tick) override { at.emplace_back(cookie, e.now()); }
  Tick when(uint64_t cookie) const {
    for (auto& [c, t] : at)
      if (c == cookie) return t;
    return -1;
  }
};
}  // namespace

TEST_CASE("two flows on one link each get half", "[sim]") {
  Engine e;
  Network net;
  const uint32_t l = net.add_link(gigabytes_per_second(100));
  Done d;
  const uint32_t path[1] = {l};
  const uint32_t a = net.start_flow(e, gigabytes(1), path, &d, 1);
  const uint32_t b = net.start_flow(e, gigabytes(1), path, &d, 2);
  // Max-min on one link of 100 GB/s: 50 GB/s each.
  CHECK(net.rate(a).value() == Approx(50e9));
  CHECK(net.rate(b).value() == Approx(50e9));
  e.run();
  // 1 GB at 50 GB/s = 20 ms = 2e10 ps, both.
  CHECK(d.when(1) == 20'000'000'000);
  CHECK(d.when(2) == 20'000'000'000);
}

TEST_CASE("a flow speeds up when its neighbour finishes", "[sim]") {
  Engine e;
  Network net;
  const uint32_t l = net.add_link(gigabytes_per_second(100));
  Done d;
  const uint32_t path[1] = {l};
  net.start_flow(e, gigabytes(1), path, &d, 1);
  net.start_flow(e, gigabytes(2), path, &d, 2);
  e.run();
  // Both at 50 GB/s until the 1 GB flow ends at 20 ms; the 2 GB flow has 1 GB
  // left, now alone at 100 GB/s: 10 ms more, ends at 30 ms.
  CHECK(d.when(1) == 20'000'000'000);
  CHECK(d.when(2) == 30'000'000'000);
  CHECK(net.carried(l).value() == Approx(3e9));
}

TEST_CASE("max-min fairness: a flow limited elsewhere leaves the rest to others", "[sim]") {
  Engine e;
  Network net;
  const uint32_t wide = net.add_link(gigabytes_per_second(100));
  const uint32_t narrow = net.add_link(gigabytes_per_second(30));
  Done d;
  const uint32_t p1[1] = {wide};
  const uint32_t p2[2] = {wide, narrow};
  const uint32_t a = net.start_flow(e, gigabytes(7), p1, &d, 1);
  const uint32_t b = net.start_flow(e, gigabytes(3), p2, &d, 2);
  // Progressive filling: narrow's fair share 30 < wide's 50, so b = 30 GB/s;
  // a gets the rest of wide, 70 GB/s. Both end at 100 ms (7/70, 3/30).
  CHECK(net.rate(b).value() == Approx(30e9));
  CHECK(net.rate(a).value() == Approx(70e9));
  e.run();
  CHECK(d.when(1) == 100'000'000'000);
  CHECK(d.when(2) == 100'000'000'000);
}

TEST_CASE("compute stream is FIFO and slows while SMs are lent", "[sim]") {
  Engine e;
  ComputeStream s;
  Done d;
  s.submit(e, 1000, 0.5, &d, 1);
  s.submit(e, 1000, 1.0, &d, 2);
  // Lend SMs from t=400 to t=600 (a 200 ps communication kernel).
  struct Comm : EventHandler {
    ComputeStream* s;
    void handle_event(Engine& en, uint32_t tag, uint64_t) override {
      if (tag == 0) s->comm_started(en, true); else s->comm_finished(en, true);
    }
  } comm;
  comm.s = &s;
  e.schedule(400, &comm, 0, 0);
  e.schedule(600, &comm, 1, 0);
  e.run();
  // Task 1: 400 ps at rate 1 (400 done), 200 ps at rate 0.5 (100 done),
  // 500 left at rate 1: ends at 1100. Task 2 then runs 1000: ends 2100.
  CHECK(d.when(1) == 1100);
  CHECK(d.when(2) == 2100);
  CHECK(s.busy() == 2100);
  CHECK(s.exposed() == 0);  // the stream was busy throughout the communication
}

TEST_CASE("ring all-reduce on idle links matches its hand-derived time", "[sim]") {
  // n = 4 ranks, 400 MB buffer, 100 GB/s links, 1 us per message:
  // 2(n-1) = 6 steps of (1 us + 100 MB / 100 GB/s = 1 ms) = 6.006 ms.
  const Tick t = ring_all_reduce_time(4, gigabytes(0.4), gigabytes_per_second(100), to_ticks(microseconds(1)));
  CHECK(t == 6'006'000'000);
  // n = 8, 1 GB, 50 GB/s, no latency: 14 steps of 125 MB / 50 GB/s = 2.5 ms -> 35 ms.
  CHECK(ring_all_reduce_time(8, gigabytes(1), gigabytes_per_second(50), 0) == 35'000'000'000);
}

TEST_CASE("ring all-reduce sharing a link with a background flow slows by the shared steps", "[sim]") {
  Engine e;
  Network net;
  std::vector<uint32_t> tx, rx;
  for (int i = 0; i < 2; ++i) {
    tx.push_back(net.add_link(gigabytes_per_second(100)));
    rx.push_back(net.add_link(gigabytes_per_second(100)));
  }
  Tick end = -1;
  RingAllReduce ring(net, tx, rx, gigabytes(2), 0, [&](Engine& en) { end = en.now(); });
  Done d;
  const uint32_t bg[1] = {tx[0]};
  net.start_flow(e, gigabytes(0.5), bg, &d, 7);
  ring.start(e);
  e.run();
  // n = 2: 2 steps, 1 GB pieces. Step 1: rank 0's piece shares tx0 with the
  // 0.5 GB background flow at 50 GB/s each; the background ends at 10 ms
  // (0.5 GB sent by both), the piece then has 0.5 GB alone at 100 GB/s: 5 ms,
  // so step 1 ends at 15 ms. Step 2 on idle links: 10 ms. Total 25 ms.
  CHECK(d.when(7) == 10'000'000'000);
  CHECK(end == 25'000'000'000);
}
