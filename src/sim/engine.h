// The discrete-event engine.
//
// Models nothing by itself: it holds a queue of future events and runs them
// in order. Time is an integer tick of one picosecond (Tick), converted from
// Seconds by one rounding (to_ticks), so equal times compare equal and no
// epsilon is ever needed (ns-3 nstime.h).
//
// Invariants:
//  - events run in (time, insertion sequence) order: same-time events run
//    first-in first-out, on every run (ns-3 scheduler.h);
//  - time never goes backwards; scheduling in the past is a bug (CHECK);
//  - a cancelled event is flagged and skipped when it reaches the front;
//  - event records are pooled (a free list), so running an event allocates
//    nothing once the pool has grown to the peak number of pending events.
//
// Resources (a compute stream, a network of links) answer "when is your next
// completion?" and "advance by delta" (SimGrid Model::next_occurring_event).
// The engine takes the minimum over them through this one queue: each
// resource keeps exactly one pending completion event per active activity
// and, when its rates change, advances the activity by the elapsed delta and
// reschedules that event (SimGrid's lazy update mode). The engine is passed
// by reference to everything that uses it; there is no global simulator.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "core/units.h"

namespace trainsim::sim {

using Tick = int64_t;  // picoseconds
inline constexpr Tick kTicksPerSecond = 1'000'000'000'000;

// The one conversion from Seconds to ticks (round to nearest picosecond).
inline Tick to_ticks(Seconds s) {
  TRAINSIM_CHECK(std::isfinite(s.value()) && s.value() >= 0, "time {} s is not a finite non-negative value",
                 s.value());
  return static_cast<Tick>(std::llround(s.value() / units::kPico));
}
inline Seconds to_seconds(Tick t) { return Seconds(static_cast<double>(t) * units::kPico); }

class Engine;

// Receives events. `tag` and `arg` are the handler's own (e.g. what kind of
// event, and which activity), so no per-event closure is allocated.
class EventHandler {
 public:
  virtual ~EventHandler() = default;
  virtual void handle_event(Engine& engine, uint32_t tag, uint64_t arg) = 0;
};

// Names a scheduled event for cancellation. A default-constructed id names
// nothing; cancelling it, or an event that already ran, does nothing.
struct EventId {
  uint32_t slot = UINT32_MAX;
  uint32_t generation = 0;
  bool valid() const { return slot != UINT32_MAX; }
};

class Engine {
 public:
  Engine() = default;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  Tick now() const { return now_; }

  // Schedules handler->handle_event(tag, arg) at now() + delay (delay >= 0).
  EventId schedule(Tick delay, EventHandler* handler, uint32_t tag, uint64_t arg);
  EventId schedule_at(Tick time, EventHandler* handler, uint32_t tag, uint64_t arg);
  // Flags the event cancelled; it is dropped when it reaches the front.
  void cancel(EventId id);

  // Runs events until none is left. Returns the number of events run
  // (cancelled ones are not counted).
  uint64_t run();
  // Runs events with time <= until.
  uint64_t run_until(Tick until);

  uint64_t events_processed() const { return processed_; }
  size_t pending() const { return heap_.size(); }

 private:
  struct Record {
    EventHandler* handler = nullptr;
    uint64_t arg = 0;
    uint32_t tag = 0;
    uint32_t generation = 0;
    bool cancelled = false;
  };
  struct Entry {
    Tick time;
    uint64_t seq;
    uint32_t slot;
  };
  // Min-heap on (time, seq).
  static bool later(const Entry& a, const Entry& b) {
    return a.time != b.time ? a.time > b.time : a.seq > b.seq;
  }
  bool step(Tick until);

  Tick now_ = 0;
  uint64_t next_seq_ = 0;
  uint64_t processed_ = 0;
  std::vector<Entry> heap_;
  std::vector<Record> records_;
  std::vector<uint32_t> free_;
};

}  // namespace trainsim::sim
