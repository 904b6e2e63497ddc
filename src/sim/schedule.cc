#include "sim/schedule.h"

#include <algorithm>
#include <deque>

#include <fmt/format.h>

#include "core/error.h"

namespace trainsim::sim {

const char* to_string(ChunkType t) {
  switch (t) {
    case ChunkType::kForward: return "F";
    case ChunkType::kBackwardInput: return "B";
    case ChunkType::kBackwardWeight: return "W";
    case ChunkType::kBackwardFull: return "BW";
  }
  return "?";
}

namespace {

ScheduleOp single(ChunkType t, int64_t mb, int stage) {
  ScheduleOp op;
  op.first = Chunk{t, static_cast<int32_t>(mb), static_cast<int32_t>(stage)};
  return op;
}

void linear_layout(PipelineSchedule& s, int devices, int stages, int64_t m) {
  s.devices = devices;
  s.stages = stages;
  s.micro_batches = m;
  s.direction.assign(static_cast<size_t>(m), 0);
  s.stage_device.assign(1, std::vector<int>(static_cast<size_t>(stages)));
  for (int st = 0; st < stages; ++st) s.stage_device[0][static_cast<size_t>(st)] = st % devices;
  s.order.assign(static_cast<size_t>(devices), {});
}

void build_gpipe(PipelineSchedule& s, int p, int64_t m) {
  linear_layout(s, p, p, m);
  for (int d = 0; d < p; ++d) {
    auto& o = s.order[static_cast<size_t>(d)];
    for (int64_t i = 0; i < m; ++i) o.push_back(single(ChunkType::kForward, i, d));
    for (int64_t i = 0; i < m; ++i) o.push_back(single(ChunkType::kBackwardFull, i, d));
  }
}

void build_1f1b(PipelineSchedule& s, int p, int64_t m) {
  linear_layout(s, p, p, m);
  for (int d = 0; d < p; ++d) {
    auto& o = s.order[static_cast<size_t>(d)];
    const int64_t warmup = std::min<int64_t>(p - d - 1, m);
    for (int64_t i = 0; i < warmup; ++i) o.push_back(single(ChunkType::kForward, i, d));
    for (int64_t i = 0; i < m - warmup; ++i) {
      o.push_back(single(ChunkType::kForward, warmup + i, d));
      o.push_back(single(ChunkType::kBackwardFull, i, d));
    }
    for (int64_t i = m - warmup; i < m; ++i) o.push_back(single(ChunkType::kBackwardFull, i, d));
  }
}

// ZB-H1: device d lags each W by d behind its B (the last device lags most),
// so the B chain towards device 0 runs at B speed and the W's fill the
// cool-down; in-flight forwards stay those of 1F1B.
void build_zb_h1(PipelineSchedule& s, int p, int64_t m) {
  linear_layout(s, p, p, m);
  for (int d = 0; d < p; ++d) {
    auto& o = s.order[static_cast<size_t>(d)];
    const int64_t warmup = std::min<int64_t>(p - d - 1, m);
    const int64_t lag = d;
    for (int64_t i = 0; i < warmup; ++i) o.push_back(single(ChunkType::kForward, i, d));
    int64_t next_w = 0;
    for (int64_t i = 0; i < m; ++i) {
      if (i + warmup < m) o.push_back(single(ChunkType::kForward, i + warmup, d));
      o.push_back(single(ChunkType::kBackwardInput, i, d));
      if (i - lag >= 0) o.push_back(single(ChunkType::kBackwardWeight, next_w++, d));
    }
    while (next_w < m) o.push_back(single(ChunkType::kBackwardWeight, next_w++, d));
  }
}

// Megatron-LM interleaved 1F1B: virtual micro-batch k runs model chunk
// (k mod p*v) / p (reversed for backward) of micro-batch (k / p*v)*p + k mod p.
void build_interleaved(PipelineSchedule& s, int p, int v, int64_t m) {
  if (m % p != 0) {
    throw PlanError(fmt::format(
        "interleaved 1F1B needs micro-batches ({}) divisible by pipeline stages ({})", m, p));
  }
  linear_layout(s, p, p * v, m);
  const int64_t total = m * v;
  const int64_t group = static_cast<int64_t>(p) * v;
  auto mb_of = [&](int64_t k) { return (k / group) * p + k % p; };
  auto chunk_of = [&](int64_t k, bool forward) {
    const int64_t c = (k % group) / p;
    return static_cast<int>(forward ? c : v - 1 - c);
  };
  for (int d = 0; d < p; ++d) {
    auto& o = s.order[static_cast<size_t>(d)];
    const int64_t warmup = std::min<int64_t>(static_cast<int64_t>(p - d - 1) * 2 + static_cast<int64_t>(v - 1) * p, total);
    auto f = [&](int64_t k) { o.push_back(single(ChunkType::kForward, mb_of(k), chunk_of(k, true) * p + d)); };
    auto b = [&](int64_t k) { o.push_back(single(ChunkType::kBackwardFull, mb_of(k), chunk_of(k, false) * p + d)); };
    for (int64_t k = 0; k < warmup; ++k) f(k);
    for (int64_t i = 0; i < total - warmup; ++i) {
      f(warmup + i);
      b(i);
    }
    for (int64_t i = total - warmup; i < total; ++i) b(i);
  }
}

// DualPipe's step() (github.com/deepseek-ai/DualPipe dualpipe.py), as an
// order of chunks for one rank. `ranks` pipeline positions; the rank runs
// local phases 0 and 1; stage_of[phase] and mb_of(phase, index) place them.
struct DualPipeRank {
  int ranks = 0;
  int rank = 0;
  int64_t half_chunks = 0;  // micro-batches per phase
  bool middle = false;
  int stage_of[2] = {0, 0};
  int64_t mb_base[2] = {0, 0};  // micro-batch id of a phase's first chunk
  std::vector<ScheduleOp>* out = nullptr;
  int64_t next_f[2] = {0, 0};
  int64_t next_b[2] = {0, 0};
  std::deque<Chunk> weight_store;  // FIFO of deferred W (DualPipe's WeightGradStore)

  Chunk forward_chunk(int ph) {
    return Chunk{ChunkType::kForward, static_cast<int32_t>(mb_base[ph] + next_f[ph]++), stage_of[ph]};
  }
  void f(int ph) { out->push_back(ScheduleOp{forward_chunk(ph), {}, false}); }
  void b(int ph, bool zero_bubble) {
    const auto mb = static_cast<int32_t>(mb_base[ph] + next_b[ph]++);
    if (zero_bubble) {
      out->push_back(ScheduleOp{Chunk{ChunkType::kBackwardInput, mb, stage_of[ph]}, {}, false});
      weight_store.push_back(Chunk{ChunkType::kBackwardWeight, mb, stage_of[ph]});
    } else {
      out->push_back(ScheduleOp{Chunk{ChunkType::kBackwardFull, mb, stage_of[ph]}, {}, false});
    }
  }
  void w() {
    TRAINSIM_CHECK(!weight_store.empty(), "DualPipe rank {}: W with no deferred weight gradient", rank);
    out->push_back(ScheduleOp{weight_store.front(), {}, false});
    weight_store.pop_front();
  }
  void fb(int f_ph, int b_ph) {
    const Chunk fc = forward_chunk(f_ph);
    const auto mb = static_cast<int32_t>(mb_base[b_ph] + next_b[b_ph]++);
    out->push_back(ScheduleOp{fc, Chunk{ChunkType::kBackwardFull, mb, stage_of[b_ph]}, true});
  }

  void run() {
    const int half_ranks = ranks / 2;
    const int half_rank = std::min(rank, ranks - 1 - rank);
    // 1: nF0
    for (int i = 0; i < (half_ranks - half_rank - 1) * 2; ++i) f(0);
    // 2: nF0F1
    for (int i = 0; i < half_rank + 1; ++i) {
      f(0);
      f(1);
    }
    // 3: nB1W1F1 (zero bubble)
    for (int i = 0; i < half_ranks - half_rank - 1; ++i) {
      b(1, true);
      w();
      f(1);
    }
    // 4: nF0B1F1B0 (main)
    const int64_t step4 = half_chunks - ranks + half_rank + 1;
    for (int64_t i = 0; i < step4; ++i) {
      if (i == 0 && middle) {
        // DualPipe does not overlap the middle ranks' first pair.
        f(0);
        b(1, false);
      } else {
        fb(0, 1);
      }
      fb(1, 0);
    }
    // 5: nB1F1B0
    for (int i = 0; i < half_ranks - half_rank - 1; ++i) {
      b(1, false);
      fb(1, 0);
    }
    // 6: nB1B0, the second half with zero bubble
    const int step6 = half_rank + 1;
    bool zb = false;
    for (int i = 0; i < step6; ++i) {
      if (i == step6 / 2 && half_rank % 2 == 1) zb = true;
      b(1, zb);
      if (i == step6 / 2 && half_rank % 2 == 0) zb = true;
      b(0, zb);
    }
    // 7: nWB0 (zero bubble)
    for (int i = 0; i < half_ranks - half_rank - 1; ++i) {
      w();
      b(0, true);
    }
    // 8: nW
    for (int i = 0; i < half_rank + 1; ++i) w();
    TRAINSIM_CHECK(weight_store.empty(), "DualPipe rank {}: {} weight gradients left", rank,
                   weight_store.size());
  }
};

void build_dualpipe(PipelineSchedule& s, int p, int64_t m) {
  if (p % 2 != 0 || m % 2 != 0 || m < 2 * p) {
    throw PlanError(fmt::format(
        "DualPipe needs an even number of pipeline stages ({}) and an even number of "
        "micro-batches ({}) of at least twice the stages ({})",
        p, m, 2 * p));
  }
  s.devices = p;
  s.stages = p;
  s.micro_batches = m;
  const int64_t half = m / 2;
  s.direction.assign(static_cast<size_t>(m), 0);
  for (int64_t i = half; i < m; ++i) s.direction[static_cast<size_t>(i)] = 1;
  s.stage_device.assign(2, std::vector<int>(static_cast<size_t>(p)));
  for (int st = 0; st < p; ++st) {
    s.stage_device[0][static_cast<size_t>(st)] = st;          // direction 0: stage st on rank st
    s.stage_device[1][static_cast<size_t>(st)] = p - 1 - st;  // direction 1: fed at the last rank
  }
  s.order.assign(static_cast<size_t>(p), {});
  for (int r = 0; r < p; ++r) {
    DualPipeRank dr;
    dr.ranks = p;
    dr.rank = r;
    dr.half_chunks = half;
    dr.middle = (r == p / 2 - 1) || (r == p / 2);
    const int second = r >= p / 2 ? 1 : 0;  // for the second half, local phase 0 is direction 1
    for (int ph = 0; ph < 2; ++ph) {
      const int dir = ph ^ second;
      dr.stage_of[ph] = dir == 0 ? r : p - 1 - r;
      dr.mb_base[ph] = dir == 0 ? 0 : half;
    }
    dr.out = &s.order[static_cast<size_t>(r)];
    dr.run();
  }
}

void build_dualpipev(PipelineSchedule& s, int devices, int64_t m) {
  if (m < 2 * devices) {
    throw PlanError(fmt::format("DualPipeV needs at least twice as many micro-batches ({}) as devices ({})",
                                m, devices));
  }
  const int stages = 2 * devices;
  s.devices = devices;
  s.stages = stages;
  s.micro_batches = m;
  s.direction.assign(static_cast<size_t>(m), 0);
  s.stage_device.assign(1, std::vector<int>(static_cast<size_t>(stages)));
  for (int st = 0; st < stages; ++st) {
    s.stage_device[0][static_cast<size_t>(st)] = st < devices ? st : stages - 1 - st;
  }
  s.order.assign(static_cast<size_t>(devices), {});
  for (int r = 0; r < devices; ++r) {
    DualPipeRank dr;
    dr.ranks = stages;
    dr.rank = r;
    dr.half_chunks = m;
    dr.middle = r == devices - 1;
    dr.stage_of[0] = r;
    dr.stage_of[1] = stages - 1 - r;
    dr.out = &s.order[static_cast<size_t>(r)];
    dr.run();
  }
}

}  // namespace

PipelineSchedule build_schedule(plan::Schedule kind, int devices, int64_t micro_batches, int vpp) {
  if (devices < 1 || micro_batches < 1) {
    throw PlanError(fmt::format("a pipeline needs >= 1 device and micro-batch (got {} and {})", devices,
                                micro_batches));
  }
  PipelineSchedule s;
  s.kind = kind;
  switch (kind) {
    case plan::Schedule::kGpipe: build_gpipe(s, devices, micro_batches); break;
    case plan::Schedule::k1F1B: build_1f1b(s, devices, micro_batches); break;
    case plan::Schedule::kInterleaved1F1B:
      if (vpp < 1) throw PlanError(fmt::format("interleaved 1F1B needs vpp >= 1 (got {})", vpp));
      build_interleaved(s, devices, vpp, micro_batches);
      break;
    case plan::Schedule::kZeroBubbleH1: build_zb_h1(s, devices, micro_batches); break;
    case plan::Schedule::kDualPipe: build_dualpipe(s, devices, micro_batches); break;
    case plan::Schedule::kDualPipeV: build_dualpipev(s, devices, micro_batches); break;
  }
  check_schedule(s);
  return s;
}

void check_schedule(const PipelineSchedule& s) {
  const auto n = static_cast<size_t>(s.micro_batches) * static_cast<size_t>(s.stages);
  std::vector<uint8_t> f(n, 0), b(n, 0), w(n, 0), full(n, 0);
  for (int d = 0; d < s.devices; ++d) {
    for (const ScheduleOp& op : s.order[static_cast<size_t>(d)]) {
      for (int k = 0; k < (op.pair ? 2 : 1); ++k) {
        const Chunk& c = k == 0 ? op.first : op.second;
        if (c.micro_batch < 0 || c.micro_batch >= s.micro_batches || c.stage < 0 || c.stage >= s.stages) {
          throw InternalError(fmt::format("schedule: chunk {} mb {} stage {} out of range", to_string(c.type),
                                          c.micro_batch, c.stage));
        }
        if (s.device_of(c.micro_batch, c.stage) != d) {
          throw InternalError(fmt::format("schedule: {} of mb {} stage {} on device {}, stage is on {}",
                                          to_string(c.type), c.micro_batch, c.stage, d,
                                          s.device_of(c.micro_batch, c.stage)));
        }
        const size_t i = static_cast<size_t>(c.micro_batch) * static_cast<size_t>(s.stages) +
                         static_cast<size_t>(c.stage);
        switch (c.type) {
          case ChunkType::kForward: ++f[i]; break;
          case ChunkType::kBackwardInput: ++b[i]; break;
          case ChunkType::kBackwardFull: ++full[i]; break;
          case ChunkType::kBackwardWeight:
            if (b[i] != 1) {
              throw InternalError(fmt::format("schedule: W of mb {} stage {} before its B", c.micro_batch, c.stage));
            }
            ++w[i];
            break;
        }
      }
    }
  }
  for (size_t i = 0; i < n; ++i) {
    const bool ok = f[i] == 1 && ((full[i] == 1 && b[i] == 0 && w[i] == 0) || (full[i] == 0 && b[i] == 1 && w[i] == 1));
    if (!ok) {
      throw InternalError(fmt::format("schedule: mb {} stage {} has F x{}, B x{}, W x{}, BW x{}",
                                      i / static_cast<size_t>(s.stages), i % static_cast<size_t>(s.stages),
                                      f[i], b[i], w[i], full[i]));
    }
  }
}

}  // namespace trainsim::sim
