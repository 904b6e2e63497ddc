#include "sim/resources.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace trainsim::sim {

namespace {
// Ticks until `remaining` units are done at `rate` units per tick: the one
// rounding to the nearest picosecond (a completion is at most half a tick
// early; whatever is left then is sent at the completion).
Tick ticks_for(double remaining, double rate) {
  if (remaining <= 0) return 0;
  const double t = std::round(remaining / rate);
  TRAINSIM_CHECK(t < 9.0e18, "completion {} ticks away overflows the clock", t);
  return static_cast<Tick>(t);
}
}  // namespace

// ---------------------------------------------------------------- ComputeStream

void ComputeStream::submit(Engine& engine, Tick work, double rate_with_comm, TaskSink* sink,
                           uint64_t cookie) {
  TRAINSIM_CHECK(work >= 0, "negative work {}", work);
  TRAINSIM_CHECK(rate_with_comm > 0 && rate_with_comm <= 1, "rate_with_comm {} outside (0, 1]",
                 rate_with_comm);
  queue_.push_back(Task{work, rate_with_comm, sink, cookie});
  if (!running_) start_next(engine);
}

void ComputeStream::start_next(Engine& engine) {
  if (queue_.empty()) return;
  account(engine.now());
  current_ = queue_.front();
  queue_.pop_front();
  running_ = true;
  remaining_ = static_cast<double>(current_.work);
  last_ = engine.now();
  started_ = engine.now();
  completion_ = engine.schedule(ticks_for(remaining_, rate()), this, 0, 0);
}

void ComputeStream::change_rate(Engine& engine, int delta_sm_comm) {
  if (delta_sm_comm == 0) return;
  const double old_rate = rate();
  if (running_) {
    remaining_ = std::max(0.0, remaining_ - static_cast<double>(engine.now() - last_) * old_rate);
    last_ = engine.now();
  }
  sm_comm_ += delta_sm_comm;
  if (running_ && rate() != old_rate) {
    engine.cancel(completion_);
    completion_ = engine.schedule(ticks_for(remaining_, rate()), this, 0, 0);
  }
}

void ComputeStream::comm_started(Engine& engine, bool lends_sms) {
  account(engine.now());
  ++comm_;
  change_rate(engine, lends_sms ? 1 : 0);
}

void ComputeStream::comm_finished(Engine& engine, bool lends_sms) {
  TRAINSIM_CHECK(comm_ > 0 && (!lends_sms || sm_comm_ > 0), "comm_finished without comm_started");
  account(engine.now());
  --comm_;
  change_rate(engine, lends_sms ? -1 : 0);
}

void ComputeStream::handle_event(Engine& engine, uint32_t, uint64_t) {
  account(engine.now());
  running_ = false;
  busy_ += engine.now() - started_;
  const Task done = current_;
  const Tick started = started_;
  // Start the next task before notifying, so a task the sink submits now
  // queues behind those already waiting (FIFO).
  start_next(engine);
  done.sink->task_done(engine, done.cookie, started);
}

// ---------------------------------------------------------------- Network

uint32_t Network::add_link(BytesPerSecond capacity) {
  TRAINSIM_CHECK(capacity.value() > 0 && std::isfinite(capacity.value()),
                 "link capacity {} B/s must be positive", capacity.value());
  Link l;
  l.capacity = capacity.value() * units::kPico;  // bytes per picosecond tick
  links_.push_back(std::move(l));
  return static_cast<uint32_t>(links_.size() - 1);
}

BytesPerSecond Network::capacity(uint32_t link) const {
  return BytesPerSecond(links_[link].capacity / units::kPico);
}

BytesPerSecond Network::rate(uint32_t flow) const {
  return BytesPerSecond(flows_[flow].rate / units::kPico);
}

uint32_t Network::start_flow(Engine& engine, Bytes size, std::span<const uint32_t> path,
                             FlowSink* sink, uint64_t cookie) {
  TRAINSIM_CHECK(!path.empty() && path.size() <= kMaxPath, "flow path of {} links", path.size());
  TRAINSIM_CHECK(size.value() >= 0 && std::isfinite(size.value()), "flow of {} bytes", size.value());
  uint32_t id;
  if (!free_flows_.empty()) {
    id = free_flows_.back();
    free_flows_.pop_back();
  } else {
    id = static_cast<uint32_t>(flows_.size());
    flows_.emplace_back();
  }
  Flow& f = flows_[id];
  f.remaining = size.value();
  f.rate = 0;
  f.last = engine.now();
  f.started = engine.now();
  f.hops = static_cast<uint8_t>(path.size());
  for (size_t i = 0; i < path.size(); ++i) {
    TRAINSIM_CHECK(path[i] < links_.size(), "flow over unknown link {}", path[i]);
    f.path[i] = path[i];
    links_[path[i]].flows.push_back(id);
  }
  f.active = true;
  f.sink = sink;
  f.cookie = cookie;
  f.completion = EventId{};
  ++active_;
  resolve(engine, path);
  return id;
}

void Network::advance(Flow& f, Tick now) {
  if (now == f.last) return;
  const double sent = std::min(f.remaining, f.rate * static_cast<double>(now - f.last));
  f.remaining -= sent;
  for (int i = 0; i < f.hops; ++i) links_[f.path[i]].carried += sent;
  f.last = now;
}

void Network::resolve(Engine& engine, std::span<const uint32_t> seed_links) {
  // 1. The connected component (links <-> flows) of the seed links.
  const uint64_t mark = ++epoch_;
  comp_links_.clear();
  comp_flows_.clear();
  for (uint32_t l : seed_links) {
    if (links_[l].mark != mark) {
      links_[l].mark = mark;
      comp_links_.push_back(l);
    }
  }
  for (size_t i = 0; i < comp_links_.size(); ++i) {
    for (uint32_t fid : links_[comp_links_[i]].flows) {
      Flow& f = flows_[fid];
      if (f.mark == mark) continue;
      f.mark = mark;
      comp_flows_.push_back(fid);
      for (int h = 0; h < f.hops; ++h) {
        Link& l = links_[f.path[h]];
        if (l.mark != mark) {
          l.mark = mark;
          comp_links_.push_back(f.path[h]);
        }
      }
    }
  }
  // 2. Advance every flow of the component to now at its old rate.
  const Tick now = engine.now();
  for (uint32_t fid : comp_flows_) {
    Flow& f = flows_[fid];
    advance(f, now);
    f.fixed = false;
  }
  // 3. Progressive filling: saturate the link with the smallest fair share,
  // fix the rates of its flows, repeat (SimGrid lmm_solve).
  for (uint32_t lid : comp_links_) {
    Link& l = links_[lid];
    l.residual = l.capacity;
    l.unfixed = static_cast<int>(l.flows.size());
  }
  size_t unfixed = comp_flows_.size();
  while (unfixed > 0) {
    double best = std::numeric_limits<double>::infinity();
    uint32_t best_link = UINT32_MAX;
    for (uint32_t lid : comp_links_) {
      const Link& l = links_[lid];
      if (l.unfixed == 0) continue;
      const double share = std::max(0.0, l.residual) / l.unfixed;
      if (share < best) {
        best = share;
        best_link = lid;
      }
    }
    TRAINSIM_CHECK(best_link != UINT32_MAX, "max-min: {} flows without a link", unfixed);
    for (uint32_t fid : links_[best_link].flows) {
      Flow& f = flows_[fid];
      if (f.fixed) continue;
      f.fixed = true;
      --unfixed;
      const double old = f.rate;
      f.rate = best;
      for (int h = 0; h < f.hops; ++h) {
        Link& l = links_[f.path[h]];
        l.residual -= best;
        --l.unfixed;
      }
      // 4. Reschedule the completion when the rate changed (or is new).
      if (old != f.rate || !f.completion.valid()) {
        TRAINSIM_CHECK(f.rate > 0, "flow with zero rate");
        engine.cancel(f.completion);
        f.completion = engine.schedule(ticks_for(f.remaining, f.rate), this, 0, fid);
      }
    }
  }
}

void Network::handle_event(Engine& engine, uint32_t, uint64_t arg) {
  const auto fid = static_cast<uint32_t>(arg);
  Flow& f = flows_[fid];
  advance(f, engine.now());
  // Whatever rounding left is sent now.
  for (int h = 0; h < f.hops; ++h) links_[f.path[h]].carried += f.remaining;
  f.remaining = 0;
  f.active = false;
  f.completion = EventId{};
  --active_;
  std::array<uint32_t, kMaxPath> path = f.path;
  const int hops = f.hops;
  for (int h = 0; h < hops; ++h) {
    auto& v = links_[path[h]].flows;
    v.erase(std::find(v.begin(), v.end(), fid));
  }
  FlowSink* sink = f.sink;
  const uint64_t cookie = f.cookie;
  const Tick started = f.started;
  free_flows_.push_back(fid);
  resolve(engine, std::span<const uint32_t>(path.data(), hops));
  sink->flow_done(engine, cookie, started);
}

}  // namespace trainsim::sim
