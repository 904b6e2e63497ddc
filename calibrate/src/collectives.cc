#include "collectives.h"

#include <nccl.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "kernels.h"

namespace trainsim::calibrate {

#define CAL_NCCL(call)                                                                          \
  do {                                                                                          \
    ncclResult_t cal_status_ = (call);                                                          \
    if (cal_status_ != ncclSuccess)                                                             \
      ::trainsim::calibrate::die(#call, ncclGetErrorString(cal_status_), __FILE__, __LINE__);   \
  } while (0)

namespace {
constexpr size_t kElementBytes = 2;  // BF16, the gradient type of mixed-precision training
constexpr size_t kMaxMessage = size_t(1) << 30;

// nccl-tests' bus-bandwidth factor for `op` over n ranks.
double bus_factor(CollectiveOp op, int n) {
  switch (op) {
    case CollectiveOp::kAllReduce: return 2.0 * (n - 1) / n;
    case CollectiveOp::kAllGather:
    case CollectiveOp::kReduceScatter:
    case CollectiveOp::kAllToAll: return static_cast<double>(n - 1) / n;
    case CollectiveOp::kSendRecv: return 1.0;
  }
  return 1.0;
}

// The message size actually moved: `requested` rounded down to whole elements per rank.
size_t actual_message(CollectiveOp op, size_t requested, int n) {
  const bool split = op == CollectiveOp::kAllGather || op == CollectiveOp::kReduceScatter ||
                     op == CollectiveOp::kAllToAll;
  const size_t granule = kElementBytes * (split ? n : 1);
  return std::max(granule, requested / granule * granule);
}
}  // namespace

std::string nccl_version_text() {
  int v = 0;
  CAL_NCCL(ncclGetVersion(&v));
  // NCCL_VERSION(X,Y,Z) = X*10000 + Y*100 + Z since 2.9.
  return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
}

CollectiveBench::CollectiveBench(int ndev) : ndev_(ndev), comms_(ndev), streams_(ndev), send_(ndev), recv_(ndev) {
  capacity_ = kMaxMessage;
  std::vector<int> devs(ndev);
  for (int i = 0; i < ndev; ++i) devs[i] = i;
  CAL_NCCL(ncclCommInitAll(comms_.data(), ndev, devs.data()));
  for (int i = 0; i < ndev; ++i) {
    CAL_CUDA(cudaSetDevice(i));
    CAL_CUDA(cudaStreamCreateWithFlags(&streams_[i], cudaStreamNonBlocking));
    CAL_CUDA(cudaMalloc(&send_[i], capacity_));
    CAL_CUDA(cudaMalloc(&recv_[i], capacity_));
    fill_random(send_[i], capacity_ / kElementBytes, DType::kBF16, 500 + i, streams_[i]);
    CAL_CUDA(cudaStreamSynchronize(streams_[i]));
  }
  CAL_CUDA(cudaSetDevice(0));
}

CollectiveBench::~CollectiveBench() {
  for (int i = 0; i < ndev_; ++i) {
    cudaSetDevice(i);
    cudaFree(send_[i]);
    cudaFree(recv_[i]);
    cudaStreamDestroy(streams_[i]);
    ncclCommDestroy(comms_[i]);
  }
  cudaSetDevice(0);
}

void CollectiveBench::enqueue(CollectiveOp op, size_t bytes) {
  const size_t n = static_cast<size_t>(ndev_);
  const size_t elements = bytes / kElementBytes;
  CAL_NCCL(ncclGroupStart());
  for (int r = 0; r < ndev_; ++r) {
    switch (op) {
      case CollectiveOp::kAllReduce:
        CAL_NCCL(ncclAllReduce(send_[r], recv_[r], elements, ncclBfloat16, ncclSum, comms_[r], streams_[r]));
        break;
      case CollectiveOp::kAllGather:  // bytes = the gathered output
        CAL_NCCL(ncclAllGather(send_[r], recv_[r], elements / n, ncclBfloat16, comms_[r], streams_[r]));
        break;
      case CollectiveOp::kReduceScatter:  // bytes = the input
        CAL_NCCL(ncclReduceScatter(send_[r], recv_[r], elements / n, ncclBfloat16, ncclSum, comms_[r], streams_[r]));
        break;
      case CollectiveOp::kAllToAll:  // bytes = each rank's whole send buffer
        CAL_NCCL(ncclAlltoAll(send_[r], recv_[r], elements / n, ncclBfloat16, comms_[r], streams_[r]));
        break;
      case CollectiveOp::kSendRecv: {  // ring: send to r+1, receive from r-1
        const int next = (r + 1) % ndev_, prev = (r + ndev_ - 1) % ndev_;
        CAL_NCCL(ncclSend(send_[r], elements, ncclBfloat16, next, comms_[r], streams_[r]));
        CAL_NCCL(ncclRecv(recv_[r], elements, ncclBfloat16, prev, comms_[r], streams_[r]));
        break;
      }
    }
  }
  CAL_NCCL(ncclGroupEnd());
}

CollectiveResult CollectiveBench::run(const CollectivePoint& point, const TimingOptions& opts,
                                      const Deadline& deadline) {
  CollectiveResult result;
  const size_t bytes = actual_message(point.op, static_cast<size_t>(point.message_bytes), ndev_);
  auto sync_all = [&] {
    for (int r = 0; r < ndev_; ++r) CAL_CUDA(cudaStreamSynchronize(streams_[r]));
  };
  for (int i = 0; i < 2; ++i) enqueue(point.op, bytes);
  sync_all();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) enqueue(point.op, bytes);
  sync_all();
  const double estimate =
      std::max(1e-7, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 3.0);
  const int reps = std::clamp(static_cast<int>(std::ceil(opts.min_sample_s / estimate)), 1, opts.max_reps_per_sample);
  int samples = std::clamp(static_cast<int>(opts.target_point_s / (estimate * reps)), opts.min_samples,
                           opts.max_samples);
  const double remaining = deadline.remaining_s();
  if (remaining < estimate * reps * opts.min_samples * 1.2) {
    result.why_not = "time budget spent";
    return result;
  }
  samples = std::min(samples, std::max(opts.min_samples, static_cast<int>(remaining / (estimate * reps * 1.2))));

  std::vector<std::vector<cudaEvent_t>> events(ndev_, std::vector<cudaEvent_t>(samples + 1));
  for (int r = 0; r < ndev_; ++r) {
    CAL_CUDA(cudaSetDevice(r));
    for (cudaEvent_t& e : events[r]) CAL_CUDA(cudaEventCreate(&e));
    CAL_CUDA(cudaEventRecord(events[r][0], streams_[r]));
  }
  for (int s = 0; s < samples; ++s) {
    for (int i = 0; i < reps; ++i) enqueue(point.op, bytes);
    for (int r = 0; r < ndev_; ++r) {
      CAL_CUDA(cudaSetDevice(r));
      CAL_CUDA(cudaEventRecord(events[r][s + 1], streams_[r]));
    }
  }
  std::vector<double> per_call(samples, 0.0);
  for (int r = 0; r < ndev_; ++r) {
    CAL_CUDA(cudaSetDevice(r));
    CAL_CUDA(cudaEventSynchronize(events[r][samples]));
    for (int s = 0; s < samples; ++s) {
      float ms = 0;
      CAL_CUDA(cudaEventElapsedTime(&ms, events[r][s], events[r][s + 1]));
      per_call[s] = std::max(per_call[s], static_cast<double>(ms) * 1e-3 / reps);  // slowest rank
    }
    for (cudaEvent_t& e : events[r]) CAL_CUDA(cudaEventDestroy(e));
  }
  CAL_CUDA(cudaSetDevice(0));
  result.message_bytes = static_cast<int64_t>(bytes);
  result.time = summarize(per_call);
  const double factor = bus_factor(point.op, ndev_);
  result.bus_bandwidth = static_cast<double>(bytes) / result.time.median_s * factor;
  result.bus_p10 = static_cast<double>(bytes) / result.time.p90_s * factor;  // slow tail = low bandwidth
  result.bus_p90 = static_cast<double>(bytes) / result.time.p10_s * factor;
  result.ok = true;
  return result;
}

}  // namespace trainsim::calibrate
