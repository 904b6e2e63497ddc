// Shared pieces of trainsim-calibrate: return-code checks, the deadline, the event timer and
// its statistics, and a device memory arena. Times are in seconds (double) throughout.
#pragma once

#include <cuda_runtime.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace trainsim::calibrate {

// Prints "file:line: call failed: detail" to stderr and exits with status 2.
[[noreturn]] void die(const char* call, const std::string& detail, const char* file, int line);

#define CAL_CUDA(call)                                                                       \
  do {                                                                                       \
    cudaError_t cal_status_ = (call);                                                        \
    if (cal_status_ != cudaSuccess)                                                          \
      ::trainsim::calibrate::die(#call, cudaGetErrorString(cal_status_), __FILE__, __LINE__); \
  } while (0)

// Wall-clock deadline.
class Deadline {
 public:
  Deadline() : end_(std::chrono::steady_clock::time_point::max()) {}
  explicit Deadline(std::chrono::steady_clock::time_point end) : end_(end) {}
  bool passed() const { return std::chrono::steady_clock::now() >= end_; }
  double remaining_s() const {
    return std::chrono::duration<double>(end_ - std::chrono::steady_clock::now()).count();
  }

 private:
  std::chrono::steady_clock::time_point end_;
};

// Median and spread of per-repetition times. Invariant: p10 <= median <= p90, samples >= 1.
struct Stats {
  double median_s = 0, p10_s = 0, p90_s = 0;
  int samples = 0;
};
Stats summarize(std::vector<double> seconds);

struct TimingOptions {
  double target_point_s = 0.05;    // aim for this much measured GPU time per point
  double min_sample_s = 200e-6;    // a sample groups repetitions until it lasts at least this
  int min_samples = 5, max_samples = 25;
  int max_reps_per_sample = 64;
};

// Times `enqueue(rep)`, which enqueues one repetition on `stream` (rep counts up from 0 so the
// caller can rotate through `rotation` buffer sets). Two warm-up repetitions, an estimate from
// three more, then R back-to-back repetitions (R a multiple of `rotation`) are captured into a
// CUDA graph so that host launch cost does not pace small kernels; the graph is launched once
// more as warm-up and then S times between CUDA events, each launch's time / R being one
// observation. Returns samples == 0 when the deadline would pass before min_samples.
// Seconds that `n` launches of enqueue(first), enqueue(first + 1), ... take on
// `stream`, timed by CUDA events around them (one measurement, no warm-up).
double time_launches(cudaStream_t stream, const std::function<void(int)>& enqueue, int first, int n);

Stats time_on_stream(cudaStream_t stream, const std::function<void(int)>& enqueue, int rotation,
                     const TimingOptions& opts, const Deadline& deadline);

// One large device allocation carved into aligned pieces; reset() frees them all.
class Arena {
 public:
  explicit Arena(size_t bytes);
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  // Returns nullptr when the arena is full.
  void* alloc(size_t bytes);
  void reset() { used_ = 0; }
  size_t capacity() const { return capacity_; }
  size_t available() const { return capacity_ - used_; }

 private:
  char* base_ = nullptr;
  size_t capacity_ = 0, used_ = 0;
};

// What the benchmarks need to know about the device they run on.
struct DeviceInfo {
  int device = 0;
  std::string name;
  int cc_major = 0, cc_minor = 0;
  int sm_count = 0;
  int64_t l2_bytes = 0;
  int max_smem_per_block_optin = 0;
  bool has_fp8() const { return cc_major * 10 + cc_minor >= 89; }
};

// How many copies of a working set of `set_bytes` to rotate through so that the data touched
// between two uses of one copy is at least twice the L2 (so every repetition starts cold).
int rotation_count(size_t set_bytes, int64_t l2_bytes, int max_sets);

// Formats seconds as microseconds with three decimals: "12.345 us".
std::string time_text(double seconds);
// Formats a rate in GB/s (10^9 bytes per second) with two decimals: "2950.31 GB/s".
std::string gbps_text(double bytes_per_second);
std::string bytes_text(int64_t bytes);  // "1048576 B"

}  // namespace trainsim::calibrate
