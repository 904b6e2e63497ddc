#include "sim/trace.h"

#include <fmt/format.h>

namespace trainsim::sim {

namespace {
const char* kThreads[] = {"compute", "comm lane 0", "comm lane 1", "pipeline send", "DP grad sync", "tail comm"};

// Picoseconds as microseconds with all six decimals (exact).
std::string us(Tick t) { return fmt::format("{}.{:06d}", t / 1'000'000, static_cast<int>(t % 1'000'000)); }
}  // namespace

std::string chrome_trace_json(const SimOutput& out, int devices) {
  std::string s;
  s.reserve(out.trace.size() * 140 + out.gpus.size() * 400 + 64);
  s += "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n";
  bool first = true;
  auto sep = [&] {
    if (!first) s += ",\n";
    first = false;
  };
  for (const GpuStats& g : out.gpus) {
    sep();
    fmt::format_to(std::back_inserter(s),
                   R"J({{"ph":"M","pid":{},"tid":0,"name":"process_name","args":{{"name":"GPU {} (replica {}, pipeline rank {})"}}}})J",
                   g.gpu, g.gpu, g.gpu / devices, g.gpu % devices);
    for (int t = 0; t < 6; ++t) {
      s += ",\n";
      fmt::format_to(std::back_inserter(s), R"J({{"ph":"M","pid":{},"tid":{},"name":"thread_name","args":{{"name":"{}"}}}})J",
                     g.gpu, t, kThreads[t]);
    }
  }
  for (const TraceInterval& t : out.trace) {
    sep();
    const std::string& label = t.label < out.labels.size() ? out.labels[t.label] : out.labels.front();
    std::string name = t.chunk == 255 ? label
                                      : fmt::format("{} mb{} s{} {}", to_string(static_cast<ChunkType>(t.chunk)),
                                                    t.micro_batch, t.stage, t.thread == 3 ? "send" : label);
    fmt::format_to(std::back_inserter(s), R"J({{"ph":"X","pid":{},"tid":{},"ts":{},"dur":{},"name":"{}"}})J", t.gpu,
                   static_cast<int>(t.thread), us(t.start), us(t.end - t.start), name);
  }
  s += "\n]}\n";
  return s;
}

}  // namespace trainsim::sim
