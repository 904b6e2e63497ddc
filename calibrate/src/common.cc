#include "common.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace trainsim::calibrate {

void die(const char* call, const std::string& detail, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: %s failed: %s\n", file, line, call, detail.c_str());
  std::exit(2);
}

namespace {
// Linear interpolation between closest ranks (numpy's default "linear" percentile).
double percentile(const std::vector<double>& sorted, double q) {
  if (sorted.size() == 1) return sorted[0];
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - static_cast<double>(lo));
}
}  // namespace

Stats summarize(std::vector<double> seconds) {
  Stats s;
  if (seconds.empty()) return s;
  std::sort(seconds.begin(), seconds.end());
  s.median_s = percentile(seconds, 0.5);
  s.p10_s = percentile(seconds, 0.1);
  s.p90_s = percentile(seconds, 0.9);
  s.samples = static_cast<int>(seconds.size());
  return s;
}

double time_launches(cudaStream_t stream, const std::function<void(int)>& enqueue, int first, int n) {
  cudaEvent_t start, stop;
  CAL_CUDA(cudaEventCreate(&start));
  CAL_CUDA(cudaEventCreate(&stop));
  CAL_CUDA(cudaEventRecord(start, stream));
  for (int i = 0; i < n; ++i) enqueue(first + i);
  CAL_CUDA(cudaEventRecord(stop, stream));
  CAL_CUDA(cudaEventSynchronize(stop));
  float ms = 0;
  CAL_CUDA(cudaEventElapsedTime(&ms, start, stop));
  CAL_CUDA(cudaEventDestroy(start));
  CAL_CUDA(cudaEventDestroy(stop));
  return static_cast<double>(ms) * 1e-3;
}

Stats time_on_stream(cudaStream_t stream, const std::function<void(int)>& enqueue, int rotation,
                     const TimingOptions& opts, const Deadline& deadline) {
  int rep = 0;
  // Warm-up: first launches pay for module loading, algorithm set-up and clock ramp.
  for (int i = 0; i < 2; ++i) enqueue(rep++);
  CAL_CUDA(cudaStreamSynchronize(stream));
  // Estimate from three repetitions (launched one by one, so an upper bound for tiny kernels).
  const double estimate = std::max(1e-7, time_launches(stream, enqueue, rep, 3) / 3.0);
  rep += 3;

  rotation = std::max(1, rotation);
  int reps = std::clamp(static_cast<int>(std::ceil(opts.min_sample_s / estimate)), 1, opts.max_reps_per_sample);
  reps = (reps + rotation - 1) / rotation * rotation;  // each sample walks whole rotations
  int samples = std::clamp(static_cast<int>(opts.target_point_s / (estimate * reps)), opts.min_samples,
                           opts.max_samples);
  const double remaining = deadline.remaining_s();
  if (remaining < estimate * reps * (opts.min_samples + 1) * 1.2) return Stats{};
  samples = std::min(samples, std::max(opts.min_samples, static_cast<int>(remaining / (estimate * reps * 1.2)) - 1));

  rep = 0;  // the graph starts at buffer set 0
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  CAL_CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  for (int r = 0; r < reps; ++r) enqueue(rep++);
  CAL_CUDA(cudaStreamEndCapture(stream, &graph));
  CAL_CUDA(cudaGraphInstantiate(&exec, graph, 0));
  CAL_CUDA(cudaGraphLaunch(exec, stream));  // warm-up of the graph itself
  CAL_CUDA(cudaStreamSynchronize(stream));

  std::vector<cudaEvent_t> events(samples + 1);
  for (cudaEvent_t& e : events) CAL_CUDA(cudaEventCreate(&e));
  CAL_CUDA(cudaEventRecord(events[0], stream));
  for (int s = 0; s < samples; ++s) {
    CAL_CUDA(cudaGraphLaunch(exec, stream));
    CAL_CUDA(cudaEventRecord(events[s + 1], stream));
  }
  CAL_CUDA(cudaEventSynchronize(events[samples]));
  std::vector<double> per_rep;
  for (int s = 0; s < samples; ++s) {
    float sample_ms = 0;
    CAL_CUDA(cudaEventElapsedTime(&sample_ms, events[s], events[s + 1]));
    per_rep.push_back(static_cast<double>(sample_ms) * 1e-3 / reps);
  }
  for (cudaEvent_t& e : events) CAL_CUDA(cudaEventDestroy(e));
  CAL_CUDA(cudaGraphExecDestroy(exec));
  CAL_CUDA(cudaGraphDestroy(graph));
  return summarize(per_rep);
}

Arena::Arena(size_t bytes) : capacity_(bytes) {
  void* p = nullptr;
  CAL_CUDA(cudaMalloc(&p, bytes));
  base_ = static_cast<char*>(p);
}

Arena::~Arena() { cudaFree(base_); }

void* Arena::alloc(size_t bytes) {
  constexpr size_t kAlign = 256;
  const size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
  if (rounded > capacity_ - used_) return nullptr;
  void* p = base_ + used_;
  used_ += rounded;
  return p;
}

int rotation_count(size_t set_bytes, int64_t l2_bytes, int max_sets) {
  if (set_bytes == 0) return 1;
  // A set of twice the L2 or more evicts itself: reusing it is as cold as a fresh one.
  if (static_cast<double>(set_bytes) >= 2.0 * static_cast<double>(l2_bytes)) return 1;
  const double need = 2.0 * static_cast<double>(l2_bytes) / static_cast<double>(set_bytes);
  return std::clamp(static_cast<int>(std::ceil(need)) + 1, 1, max_sets);
}

std::string time_text(double seconds) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f us", seconds * 1e6);
  return buf;
}

std::string gbps_text(double bytes_per_second) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f GB/s", bytes_per_second / 1e9);
  return buf;
}

std::string bytes_text(int64_t bytes) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(bytes));
  return buf;
}

}  // namespace trainsim::calibrate
