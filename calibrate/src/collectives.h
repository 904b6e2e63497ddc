// NCCL collective benchmarks in one process: ncclCommInitAll over every visible GPU, one
// thread, one stream per GPU, each call issued to all ranks inside ncclGroupStart/End.
// Bandwidths follow nccl-tests' conventions (doc/PERFORMANCE.md in NVIDIA/nccl-tests):
// algbw = size / time; busbw = algbw x 2(n-1)/n for all-reduce, x (n-1)/n for all-gather,
// reduce-scatter and all-to-all, x 1 for send/recv.
#pragma once

#include <string>
#include <vector>

#include "common.h"
#include "plan.h"

struct ncclComm;  // nccl.h: typedef struct ncclComm* ncclComm_t

namespace trainsim::calibrate {

struct CollectiveResult {
  bool ok = false;
  std::string why_not;
  int64_t message_bytes = 0;  // actually moved: the request rounded to whole elements per rank
  Stats time;                  // per call, slowest rank
  double bus_bandwidth = 0;    // bytes/s at the median time
  double bus_p10 = 0, bus_p90 = 0;
};

class CollectiveBench {
 public:
  // Opens communicators over devices 0..ndev-1. Requires ndev >= 2.
  explicit CollectiveBench(int ndev);
  ~CollectiveBench();
  CollectiveBench(const CollectiveBench&) = delete;
  CollectiveBench& operator=(const CollectiveBench&) = delete;

  CollectiveResult run(const CollectivePoint& point, const TimingOptions& opts, const Deadline& deadline);
  int ranks() const { return ndev_; }

 private:
  void enqueue(CollectiveOp op, size_t bytes);

  int ndev_;
  std::vector<::ncclComm*> comms_;
  std::vector<cudaStream_t> streams_;
  std::vector<void*> send_, recv_;
  size_t capacity_ = 0;  // bytes in each send and receive buffer
};

// NCCL's version as "2.28.3".
std::string nccl_version_text();

}  // namespace trainsim::calibrate
