#include "sim/engine.h"

#include <algorithm>

namespace trainsim::sim {

EventId Engine::schedule(Tick delay, EventHandler* handler, uint32_t tag, uint64_t arg) {
  TRAINSIM_CHECK(delay >= 0, "event scheduled {} ps in the past", -delay);
  return schedule_at(now_ + delay, handler, tag, arg);
}

EventId Engine::schedule_at(Tick time, EventHandler* handler, uint32_t tag, uint64_t arg) {
  TRAINSIM_CHECK(time >= now_, "event at {} ps scheduled at {} ps", time, now_);
  uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = static_cast<uint32_t>(records_.size());
    records_.emplace_back();
  }
  Record& r = records_[slot];
  r.handler = handler;
  r.arg = arg;
  r.tag = tag;
  r.cancelled = false;
  heap_.push_back(Entry{time, next_seq_++, slot});
  std::push_heap(heap_.begin(), heap_.end(), later);
  return EventId{slot, r.generation};
}

void Engine::cancel(EventId id) {
  if (!id.valid() || id.slot >= records_.size()) return;
  Record& r = records_[id.slot];
  if (r.generation == id.generation) r.cancelled = true;
}

bool Engine::step(Tick until) {
  while (!heap_.empty()) {
    const Entry top = heap_.front();
    if (top.time > until) return false;
    std::pop_heap(heap_.begin(), heap_.end(), later);
    heap_.pop_back();
    Record& r = records_[top.slot];
    const bool cancelled = r.cancelled;
    EventHandler* handler = r.handler;
    const uint32_t tag = r.tag;
    const uint64_t arg = r.arg;
    // Free the slot before running, so the handler may reuse it; a stale
    // EventId no longer matches the generation.
    ++r.generation;
    free_.push_back(top.slot);
    if (cancelled) continue;
    now_ = top.time;
    ++processed_;
    handler->handle_event(*this, tag, arg);
    return true;
  }
  return false;
}

uint64_t Engine::run() { return run_until(INT64_MAX); }

uint64_t Engine::run_until(Tick until) {
  const uint64_t before = processed_;
  while (step(until)) {
  }
  return processed_ - before;
}

}  // namespace trainsim::sim
