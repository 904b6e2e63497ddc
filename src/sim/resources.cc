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
  const double t = remaining / rate + 0.5;  // round half up (positive)
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

void ComputeStream::set_overlap_rate(double rate) {
  TRAINSIM_CHECK(rate > 0 && rate <= 1, "overlap rate {} outside (0, 1]", rate);
  TRAINSIM_CHECK(interfering_ == 0, "overlap rate changed while a collective interferes");
  overlap_rate_ = rate;
}

void ComputeStream::change_rate(Engine& engine, int delta_sm_comm, int delta_interfering) {
  if (delta_sm_comm == 0 && delta_interfering == 0) return;
  const double old_rate = rate();
  if (running_) {
    remaining_ = std::max(0.0, remaining_ - static_cast<double>(engine.now() - last_) * old_rate);
    last_ = engine.now();
  }
  sm_comm_ += delta_sm_comm;
  interfering_ += delta_interfering;
  if (running_ && rate() != old_rate) {
    engine.cancel(completion_);
    completion_ = engine.schedule(ticks_for(remaining_, rate()), this, 0, 0);
  }
}

void ComputeStream::comm_started(Engine& engine, bool lends_sms, bool interferes) {
  account(engine.now());
  ++comm_;
  change_rate(engine, lends_sms ? 1 : 0, interferes ? 1 : 0);
}

void ComputeStream::comm_finished(Engine& engine, bool lends_sms, bool interferes) {
  TRAINSIM_CHECK(comm_ > 0 && (!lends_sms || sm_comm_ > 0) && (!interferes || interfering_ > 0),
                 "comm_finished without comm_started");
  account(engine.now());
  --comm_;
  change_rate(engine, lends_sms ? -1 : 0, interferes ? -1 : 0);
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
  f.due = -1;
  ++active_;
  ++started_;
  if (held_ > 0) {
    deferred_.insert(deferred_.end(), path.begin(), path.end());
  } else {
    resolve(engine, path);
  }
  return id;
}

void Network::release(Engine& engine) {
  TRAINSIM_CHECK(held_ > 0, "Network::release without hold");
  if (--held_ > 0) return;
  std::vector<uint32_t> seeds;
  seeds.swap(deferred_);
  if (!seeds.empty()) resolve(engine, seeds);
  seeds.clear();
  if (deferred_.empty()) deferred_.swap(seeds);  // keep the buffer
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
    for (uint32_t lid : comp_links_) {
      const Link& l = links_[lid];
      if (l.unfixed == 0) continue;
      best = std::min(best, std::max(0.0, l.residual) / l.unfixed);
    }
    TRAINSIM_CHECK(std::isfinite(best), "max-min: {} flows without a link", unfixed);
    // Every link at the smallest fair share saturates at once (fixing one's
    // flows at `best` leaves the others' share at `best`), so all are fixed in
    // one round; a relative 1e-12 absorbs rounding of equal shares.
    bottlenecks_.clear();
    const double limit = best * (1.0 + 1e-12);
    for (uint32_t lid : comp_links_) {
      const Link& l = links_[lid];
      if (l.unfixed > 0 && std::max(0.0, l.residual) / l.unfixed <= limit) bottlenecks_.push_back(lid);
    }
    for (uint32_t bl : bottlenecks_) {
      for (uint32_t fid : links_[bl].flows) {
        Flow& f = flows_[fid];
        if (f.fixed) continue;
        f.fixed = true;
        --unfixed;
        f.rate = best;
        for (int h = 0; h < f.hops; ++h) {
          Link& l = links_[f.path[h]];
          l.residual -= best;
          --l.unfixed;
        }
        // 4. Reschedule the completion when its tick changed (or is new).
        TRAINSIM_CHECK(f.rate > 0, "flow with zero rate");
        const Tick due = now + ticks_for(f.remaining, f.rate);
        if (due != f.due) schedule_completion(engine, fid, due);
      }
    }
  }
}

void Network::schedule_completion(Engine& engine, uint32_t fid, Tick due) {
  Flow& f = flows_[fid];
  f.due = due;
  ++f.gen;  // any older bucket entry of this flow is now stale
  auto [it, fresh] = bucket_of_.try_emplace(due, 0);
  if (fresh) {
    uint32_t b;
    if (!free_buckets_.empty()) {
      b = free_buckets_.back();
      free_buckets_.pop_back();
    } else {
      b = static_cast<uint32_t>(buckets_.size());
      buckets_.emplace_back();
    }
    it->second = b;
    engine.schedule_at(due, this, 0, b);
  }
  buckets_[it->second].push_back(Due{fid, f.gen});
}

void Network::handle_event(Engine& engine, uint32_t, uint64_t arg) {
  const auto b = static_cast<uint32_t>(arg);
  const Tick now = engine.now();
  bucket_of_.erase(now);
  // 1. Remove every flow finishing now (whatever rounding left is sent now).
  done_.clear();
  std::vector<Due>& bucket = buckets_[b];
  for (const Due& d : bucket) {
    Flow& f = flows_[d.flow];
    if (!f.active || f.gen != d.gen) continue;  // rescheduled or finished
    advance(f, now);
    for (int h = 0; h < f.hops; ++h) links_[f.path[h]].carried += f.remaining;
    f.remaining = 0;
    f.active = false;
    f.due = -1;
    --active_;
    for (int h = 0; h < f.hops; ++h) {
      auto& v = links_[f.path[h]].flows;
      v.erase(std::find(v.begin(), v.end(), d.flow));
      deferred_.push_back(f.path[h]);
    }
    done_.push_back(d.flow);
  }
  bucket.clear();
  free_buckets_.push_back(b);
  // 2. One solve for all of them.
  if (held_ == 0 && !deferred_.empty()) {
    std::vector<uint32_t> seeds;
    seeds.swap(deferred_);
    resolve(engine, seeds);
    seeds.clear();
    if (deferred_.empty()) deferred_.swap(seeds);
  }
  // 3. Report, in scheduling order; the ids are freed first (a sink may
  // start flows that reuse them), so what the sinks need is copied out.
  std::vector<Report> reports;
  reports.swap(reports_);
  for (uint32_t fid : done_) {
    const Flow& f = flows_[fid];
    reports.push_back(Report{f.sink, f.cookie, f.started});
    free_flows_.push_back(fid);
  }
  done_.clear();
  for (const Report& r : reports) r.sink->flow_done(engine, r.cookie, r.started);
  reports.clear();
  if (reports_.empty()) reports_.swap(reports);
}

}  // namespace trainsim::sim
