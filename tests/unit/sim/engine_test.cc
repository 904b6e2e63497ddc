#include <catch2/catch.hpp>

#include <vector>

#include "sim/engine.h"

using namespace trainsim;
using namespace trainsim::sim;

namespace {
struct Recorder : EventHandler {
  std::vector<std::pair<Tick, uint64_t>> seen;
  void handle_event(Engine& e, uint32_t, uint64_t arg) override { seen.emplace_back(e.now(), arg); }
};
// Schedules a follow-up event at the same time from inside a handler.
struct Chainer : EventHandler {
  std::vector<uint64_t> seen;
  void handle_event(Engine& e, uint32_t, uint64_t arg) override {
    seen.push_back(arg);
    if (arg == 1) e.schedule(0, this, 0, 99);
  }
};
}  // namespace

TEST_CASE("ticks are picoseconds with one rounding", "[sim]") {
  // 1 us = 1e6 ps; 1.4 ps rounds to 1, 1.6 ps to 2.
  CHECK(to_ticks(microseconds(1)) == 1'000'000);
  CHECK(to_ticks(Seconds(1.4e-12)) == 1);
  CHECK(to_ticks(Seconds(1.6e-12)) == 2);
  CHECK(to_seconds(2'500'000).value() == Approx(2.5e-6));
}

TEST_CASE("events run in time order, ties first-in first-out", "[sim]") {
  Engine e;
  Recorder r;
  e.schedule(30, &r, 0, 1);
  e.schedule(10, &r, 0, 2);
  e.schedule(30, &r, 0, 3);
  e.schedule(10, &r, 0, 4);
  CHECK(e.run() == 4);
  // Times 10, 10, 30, 30; among equals, insertion order: 2 before 4, 1 before 3.
  REQUIRE(r.seen.size() == 4);
  CHECK(r.seen[0] == std::make_pair(Tick{10}, uint64_t{2}));
  CHECK(r.seen[1] == std::make_pair(Tick{10}, uint64_t{4}));
  CHECK(r.seen[2] == std::make_pair(Tick{30}, uint64_t{1}));
  CHECK(r.seen[3] == std::make_pair(Tick{30}, uint64_t{3}));
  CHECK(e.now() == 30);
}

TEST_CASE("an event scheduled at the current time runs after those already queued for it", "[sim]") {
  Engine e;
  Chainer c;
  e.schedule(5, &c, 0, 1);
  e.schedule(5, &c, 0, 2);
  e.run();
  // 1 runs and schedules 99 at t=5; 2 was queued first, so 1, 2, 99.
  CHECK(c.seen == std::vector<uint64_t>{1, 2, 99});
}

TEST_CASE("cancelled events are skipped and not counted; stale ids do nothing", "[sim]") {
  Engine e;
  Recorder r;
  const EventId a = e.schedule(10, &r, 0, 1);
  e.schedule(20, &r, 0, 2);
  e.cancel(a);
  CHECK(e.run() == 1);
  REQUIRE(r.seen.size() == 1);
  CHECK(r.seen[0].second == 2);
  // The slot of `a` is reused by the next event; cancelling `a` again must not touch it.
  e.schedule(5, &r, 0, 3);
  e.cancel(a);
  CHECK(e.run() == 1);
  CHECK(r.seen.back().second == 3);
}

TEST_CASE("run_until stops at the horizon", "[sim]") {
  Engine e;
  Recorder r;
  e.schedule(10, &r, 0, 1);
  e.schedule(50, &r, 0, 2);
  CHECK(e.run_until(20) == 1);
  CHECK(e.pending() == 1);
  CHECK(e.run() == 1);
}
