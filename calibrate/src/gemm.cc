#include "gemm.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>
#include <vector>

#include "kernels.h"

namespace trainsim::calibrate {

#define CAL_CUBLAS(call)                                                                          \
  do {                                                                                            \
    cublasStatus_t cal_status_ = (call);                                                          \
    if (cal_status_ != CUBLAS_STATUS_SUCCESS)                                                     \
      ::trainsim::calibrate::die(#call, cublasLtGetStatusString(cal_status_), __FILE__, __LINE__); \
  } while (0)

struct GemmBench::Prepared {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
  std::vector<void*> a_bufs, b_bufs, d_bufs;
  float* scale_a = nullptr;  // per-tensor scalar or block-scale tensor, all ones
  float* scale_b = nullptr;
  char* reserve = nullptr;   // reserve_bytes taken before the operands (interference copy buffers)
  std::string algo_text;
};

namespace {

size_t round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

template <typename T>
void set_desc(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attr, const T& value) {
  CAL_CUBLAS(cublasLtMatmulDescSetAttribute(desc, attr, &value, sizeof(value)));
}

cublasLtMatrixLayout_t make_layout(cudaDataType_t type, int64_t rows, int64_t cols, int batch) {
  cublasLtMatrixLayout_t layout = nullptr;
  CAL_CUBLAS(cublasLtMatrixLayoutCreate(&layout, type, rows, cols, rows));
  if (batch > 1) {
    const int32_t count = batch;
    const int64_t stride = rows * cols;
    CAL_CUBLAS(cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)));
    CAL_CUBLAS(
        cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)));
  }
  return layout;
}

}  // namespace

GemmBench::GemmBench(const DeviceInfo& dev, Arena& arena, cudaStream_t stream)
    : dev_(dev), arena_(arena), stream_(stream) {
  CAL_CUBLAS(cublasLtCreate(&handle_));
  CAL_CUDA(cudaMalloc(&workspace_, workspace_bytes_));
}

GemmBench::~GemmBench() {
  cudaFree(workspace_);
  cublasLtDestroy(handle_);
}

bool GemmBench::prepare(Prepared& p, GemmVariant v, int batch, int64_t m, int64_t n, int64_t k, int sm_target,
                        size_t reserve_bytes, std::string* why_not) {
  const bool fp8 = v.precision == GemmPrecision::kFP8;
  if (fp8 && !dev_.has_fp8()) {
    *why_not = "FP8 needs compute capability >= 8.9";
    return false;
  }
  const cudaDataType_t in_type = fp8 ? CUDA_R_8F_E4M3 : CUDA_R_16BF;
  const size_t in_bytes = fp8 ? 1 : 2;
  const size_t a_bytes = size_t(m) * k * in_bytes * batch, b_bytes = size_t(n) * k * in_bytes * batch;
  const size_t d_bytes = size_t(m) * n * 2 * batch;
  const size_t set_bytes = a_bytes + b_bytes + d_bytes;

  // Scale tensors: generous sizes (rows padded to 128) so any layout cuBLASLt expects fits; the
  // values are all 1, so their order does not matter for timing.
  size_t scale_a_count = 1, scale_b_count = 1;
  if (v.scaling == GemmScaling::kBlock) {
    scale_a_count = (round_up(m, 128) * ((k + 127) / 128) + 1024) * batch;                 // 1 x 128 tiles
    scale_b_count = (((n + 127) / 128) * ((k + 127) / 128) + 1024) * batch;               // 128 x 128 blocks
  }

  arena_.reset();
  if (reserve_bytes > 0) {
    p.reserve = static_cast<char*>(arena_.alloc(reserve_bytes));
    if (p.reserve == nullptr) {
      *why_not = "device memory arena too small for the copy kernel's buffers";
      return false;
    }
  }
  const size_t fixed = (scale_a_count + scale_b_count) * sizeof(float) + 4096;
  if (set_bytes + fixed > arena_.available()) {
    *why_not = "operands (" + std::to_string(set_bytes >> 20) + " MiB) exceed the device memory arena";
    return false;
  }
  int sets = rotation_count(set_bytes, dev_.l2_bytes, 16);
  sets = std::max(1, std::min<int>(sets, static_cast<int>((arena_.available() - fixed) / (set_bytes + 3 * 256))));
  p.scale_a = static_cast<float*>(arena_.alloc(scale_a_count * sizeof(float)));
  p.scale_b = static_cast<float*>(arena_.alloc(scale_b_count * sizeof(float)));
  fill_constant_f32(p.scale_a, scale_a_count, 1.0f, stream_);
  fill_constant_f32(p.scale_b, scale_b_count, 1.0f, stream_);
  const DType dtype = fp8 ? DType::kFP8E4M3 : DType::kBF16;
  for (int s = 0; s < sets; ++s) {
    p.a_bufs.push_back(arena_.alloc(a_bytes));
    p.b_bufs.push_back(arena_.alloc(b_bytes));
    p.d_bufs.push_back(arena_.alloc(d_bytes));
    fill_random(p.a_bufs.back(), a_bytes / in_bytes, dtype, 1000 + 3 * s, stream_);
    fill_random(p.b_bufs.back(), b_bytes / in_bytes, dtype, 1001 + 3 * s, stream_);
    fill_random(p.d_bufs.back(), d_bytes / 2, DType::kBF16, 1002 + 3 * s, stream_);
  }

  CAL_CUBLAS(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  set_desc(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, CUBLAS_OP_T);
  set_desc(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, CUBLAS_OP_N);
  if (sm_target > 0) set_desc(p.desc, CUBLASLT_MATMUL_DESC_SM_COUNT_TARGET, int32_t(sm_target));
  if (fp8) {
    set_desc(p.desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, static_cast<const void*>(p.scale_a));
    set_desc(p.desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, static_cast<const void*>(p.scale_b));
    if (v.scaling == GemmScaling::kBlock) {
      set_desc(p.desc, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, int32_t(CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F));
      set_desc(p.desc, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, int32_t(CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F));
    } else {
      // Per-tensor FP8 with fast accumulation, as Transformer Engine runs its forward GEMMs.
      set_desc(p.desc, CUBLASLT_MATMUL_DESC_FAST_ACCUM, int8_t(1));
    }
  }
  p.a = make_layout(in_type, k, m, batch);
  p.b = make_layout(in_type, k, n, batch);
  p.d = make_layout(CUDA_R_16BF, m, n, batch);

  cublasLtMatmulPreference_t pref = nullptr;
  CAL_CUBLAS(cublasLtMatmulPreferenceCreate(&pref));
  CAL_CUBLAS(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace_bytes_,
                                                  sizeof(workspace_bytes_)));
  cublasLtMatmulHeuristicResult_t heuristic{};
  int found = 0;
  const cublasStatus_t st =
      cublasLtMatmulAlgoGetHeuristic(handle_, p.desc, p.a, p.b, p.d, p.d, pref, 1, &heuristic, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  // A combination cuBLASLt does not offer (say block scaling with batching) is a skipped point,
  // not a failed run: the heuristic's status and one trial call decide.
  if (st != CUBLAS_STATUS_SUCCESS || found == 0) {
    *why_not = std::string("cuBLASLt offers no algorithm (") + cublasLtGetStatusName(st) + ")";
    release(p);
    return false;
  }
  p.algo = heuristic.algo;
  {
    const float alpha = 1.0f, beta = 0.0f;
    const cublasStatus_t trial = cublasLtMatmul(handle_, p.desc, &alpha, p.a_bufs[0], p.a, p.b_bufs[0], p.b, &beta,
                                                p.d_bufs[0], p.d, p.d_bufs[0], p.d, &p.algo, workspace_,
                                                workspace_bytes_, stream_);
    if (trial != CUBLAS_STATUS_SUCCESS) {
      *why_not = std::string("cuBLASLt rejected the call (") + cublasLtGetStatusName(trial) + ")";
      release(p);
      return false;
    }
    CAL_CUDA(cudaStreamSynchronize(stream_));
  }
  int32_t algo_id = 0, tile = 0;
  size_t written = 0;
  cublasLtMatmulAlgoConfigGetAttribute(&p.algo, CUBLASLT_ALGO_CONFIG_ID, &algo_id, sizeof(algo_id), &written);
  cublasLtMatmulAlgoConfigGetAttribute(&p.algo, CUBLASLT_ALGO_CONFIG_TILE_ID, &tile, sizeof(tile), &written);
  p.algo_text = "cuBLASLt algo " + std::to_string(algo_id) + " tile " + std::to_string(tile);
  return true;
}

void GemmBench::enqueue(const Prepared& p, int rep, cudaStream_t stream) {
  const float alpha = 1.0f, beta = 0.0f;
  const size_t s = static_cast<size_t>(rep) % p.a_bufs.size();
  CAL_CUBLAS(cublasLtMatmul(handle_, p.desc, &alpha, p.a_bufs[s], p.a, p.b_bufs[s], p.b, &beta, p.d_bufs[s], p.d,
                            p.d_bufs[s], p.d, &p.algo, workspace_, workspace_bytes_, stream));
}

void GemmBench::release(Prepared& p) {
  if (p.desc) cublasLtMatmulDescDestroy(p.desc);
  if (p.a) cublasLtMatrixLayoutDestroy(p.a);
  if (p.b) cublasLtMatrixLayoutDestroy(p.b);
  if (p.d) cublasLtMatrixLayoutDestroy(p.d);
  p = Prepared{};
  arena_.reset();
}

GemmResult GemmBench::run(GemmVariant v, int batch, int64_t m, int64_t n, int64_t k, const TimingOptions& opts,
                          const Deadline& deadline) {
  GemmResult r;
  Prepared p;
  if (!prepare(p, v, batch, m, n, k, 0, 0, &r.why_not)) return r;
  r.stats = time_on_stream(stream_, [&](int rep) { enqueue(p, rep, stream_); }, static_cast<int>(p.a_bufs.size()), opts, deadline);
  r.algo = p.algo_text;
  CAL_CUDA(cudaStreamSynchronize(stream_));
  release(p);
  r.ok = r.stats.samples > 0;
  if (!r.ok) r.why_not = "time budget spent";
  return r;
}

SustainedResult GemmBench::run_sustained(GemmVariant v, int64_t m, int64_t n, int64_t k, double seconds,
                                         double window_s, const Deadline& deadline) {
  SustainedResult r;
  Prepared p;
  if (!prepare(p, v, 1, m, n, k, 0, 0, &r.why_not)) return r;
  r.algo = p.algo_text;
  // Estimate one GEMM from 10 back-to-back launches (after prepare's trial call).
  const double per_gemm_s =
      std::max(1e-6, time_launches(stream_, [&](int i) { enqueue(p, i, stream_); }, 0, 10) / 10);
  const int reps = std::max(1, static_cast<int>(window_s / per_gemm_s));
  const int planned = std::max(1, static_cast<int>(std::lround(seconds / (reps * per_gemm_s))));

  // Two event pairs in flight: window i+1 is enqueued before window i is read.
  cudaEvent_t run_start;
  CAL_CUDA(cudaEventCreate(&run_start));
  cudaEvent_t ev[2][2];
  for (auto& pair : ev) for (auto& e : pair) CAL_CUDA(cudaEventCreate(&e));
  int rep = 0;
  auto enqueue_window = [&](int w) {
    cudaEvent_t* e = ev[w % 2];
    CAL_CUDA(cudaEventRecord(e[0], stream_));
    for (int i = 0; i < reps; ++i) enqueue(p, rep++, stream_);
    CAL_CUDA(cudaEventRecord(e[1], stream_));
  };
  CAL_CUDA(cudaEventRecord(run_start, stream_));
  int enqueued = 0;
  enqueue_window(enqueued++);
  for (int w = 0; w < enqueued; ++w) {
    // Keep the GPU fed: the next window goes in before this one is waited on.
    if (enqueued < planned && !deadline.passed()) enqueue_window(enqueued++);
    cudaEvent_t* e = ev[w % 2];
    CAL_CUDA(cudaEventSynchronize(e[1]));
    float win_ms = 0, elapsed_ms = 0;
    CAL_CUDA(cudaEventElapsedTime(&win_ms, e[0], e[1]));
    CAL_CUDA(cudaEventElapsedTime(&elapsed_ms, run_start, e[1]));
    r.windows.push_back({elapsed_ms / 1e3, win_ms / 1e3, reps});
  }
  r.cut_short = enqueued < planned;
  CAL_CUDA(cudaStreamSynchronize(stream_));
  for (auto& pair : ev) for (auto& e : pair) CAL_CUDA(cudaEventDestroy(e));
  CAL_CUDA(cudaEventDestroy(run_start));
  release(p);
  r.ok = !r.windows.empty();
  if (!r.ok) r.why_not = "time budget spent";
  return r;
}

GemmResult GemmBench::run_with_copy(GemmVariant v, int64_t m, int64_t n, int64_t k, int comm_sms,
                                    const TimingOptions& opts, const Deadline& deadline) {
  GemmResult r;
  if (comm_sms == 0) return run(v, 1, m, n, k, opts, deadline);
  if (comm_sms > dev_.sm_count - 8) {
    r.why_not = "comm_sms leaves fewer than 8 SMs of " + std::to_string(dev_.sm_count);
    return r;
  }
  // The copy kernel streams 2 x 256 MiB through HBM, as a communication kernel moves data.
  constexpr size_t kCopyBytes = size_t(256) << 20;
  Prepared p;
  if (!prepare(p, v, 1, m, n, k, dev_.sm_count - comm_sms, 2 * kCopyBytes + 512, &r.why_not)) return r;
  void* copy_src = p.reserve;
  void* copy_dst = p.reserve + kCopyBytes;
  fill_random(copy_src, kCopyBytes / 4, DType::kF32, 77, stream_);

  int* host_flags = nullptr;  // [0] stop, [1] started
  CAL_CUDA(cudaHostAlloc(&host_flags, 2 * sizeof(int), cudaHostAllocMapped));
  int* dev_flags = nullptr;
  CAL_CUDA(cudaHostGetDevicePointer(reinterpret_cast<void**>(&dev_flags), host_flags, 0));
  volatile int* flags = host_flags;
  flags[0] = 0;
  flags[1] = 0;
  cudaStream_t copy_stream;
  CAL_CUDA(cudaStreamCreateWithFlags(&copy_stream, cudaStreamNonBlocking));
  const int smem = dev_.max_smem_per_block_optin;
  allow_persistent_copy_smem(smem);
  CAL_CUDA(cudaStreamSynchronize(stream_));
  launch_persistent_copy(copy_src, copy_dst, kCopyBytes / 16, comm_sms, smem, dev_flags, dev_flags + 1,
                         20ull * 1000 * 1000 * 1000, copy_stream);
  const auto wait_start = std::chrono::steady_clock::now();
  while (flags[1] < comm_sms) {
    if (std::chrono::steady_clock::now() - wait_start > std::chrono::seconds(5)) break;
    std::this_thread::yield();
  }
  if (flags[1] < comm_sms) {
    r.why_not = "copy kernel blocks did not all become resident";
  } else {
    r.stats = time_on_stream(stream_, [&](int rep) { enqueue(p, rep, stream_); }, static_cast<int>(p.a_bufs.size()), opts, deadline);
    r.ok = r.stats.samples > 0;
    if (!r.ok) r.why_not = "time budget spent";
  }
  CAL_CUDA(cudaStreamSynchronize(stream_));
  flags[0] = 1;
  CAL_CUDA(cudaStreamSynchronize(copy_stream));
  CAL_CUDA(cudaStreamDestroy(copy_stream));
  CAL_CUDA(cudaFreeHost(host_flags));
  r.algo = p.algo_text;
  release(p);
  return r;
}

}  // namespace trainsim::calibrate
