// trainsim-calibrate's own kernels: deliberately simple, vectorised (16-byte) grid-stride
// kernels of the kind a training framework runs between GEMMs. They measure what a plain
// memory-bound kernel achieves, not the best possible fused kernel.
#include "common.h"
#include "kernels.h"

#include <cuda_bf16.h>
#include <cuda_fp8.h>

namespace trainsim::calibrate {
namespace {

constexpr int kThreads = 256;

int grid_for(size_t items) {
  size_t blocks = (items + kThreads - 1) / kThreads;
  if (blocks > 65535u * 16u) blocks = 65535u * 16u;  // grid-stride beyond this
  if (blocks == 0) blocks = 1;
  return static_cast<int>(blocks);
}

// SplitMix64 finaliser (Steele, Lea, Flood, "Fast splittable pseudorandom number generators",
// OOPSLA 2014): a counter hash good enough for benchmark data.
__device__ __forceinline__ uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

__device__ __forceinline__ float random_value(uint64_t seed, size_t i) {
  uint64_t h = mix(seed * 0x9e3779b97f4a7c15ull + i);
  float magnitude = 0.25f + 0.75f * static_cast<float>(h >> 40) / static_cast<float>(1ull << 24);
  return (h & 1) ? magnitude : -magnitude;
}

__global__ void fill_f32_kernel(float* p, size_t n, uint64_t seed) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    p[i] = random_value(seed, i);
}
__global__ void fill_bf16_kernel(__nv_bfloat16* p, size_t n, uint64_t seed) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    p[i] = __float2bfloat16(random_value(seed, i));
}
__global__ void fill_fp8_kernel(__nv_fp8_e4m3* p, size_t n, uint64_t seed) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    p[i] = __nv_fp8_e4m3(random_value(seed, i));
}
__global__ void fill_constant_kernel(float* p, size_t n, float v) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    p[i] = v;
}

__global__ void copy_kernel(const uint4* __restrict__ src, uint4* __restrict__ dst, size_t n16) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n16; i += size_t(gridDim.x) * blockDim.x)
    dst[i] = src[i];
}

// One block per row; 8 BF16 per 16-byte vector.
__global__ void rmsnorm_kernel(const uint4* __restrict__ x, const uint4* __restrict__ w, uint4* __restrict__ y,
                               int vecs_per_row, float inv_hidden) {
  const uint4* row = x + size_t(blockIdx.x) * vecs_per_row;
  uint4* out = y + size_t(blockIdx.x) * vecs_per_row;
  float sum = 0.f;
  for (int i = threadIdx.x; i < vecs_per_row; i += blockDim.x) {
    uint4 v = row[i];
    const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&v);
    for (int j = 0; j < 4; ++j) {
      float2 f = __bfloat1622float2(h[j]);
      sum += f.x * f.x + f.y * f.y;
    }
  }
  __shared__ float partial[32];
  for (int off = 16; off > 0; off /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, off);
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x / 32] = sum;
  __syncthreads();
  if (threadIdx.x < 32) {
    float s = threadIdx.x < blockDim.x / 32 ? partial[threadIdx.x] : 0.f;
    for (int off = 16; off > 0; off /= 2) s += __shfl_xor_sync(0xffffffffu, s, off);
    if (threadIdx.x == 0) partial[0] = rsqrtf(s * inv_hidden + 1e-6f);
  }
  __syncthreads();
  const float r = partial[0];
  for (int i = threadIdx.x; i < vecs_per_row; i += blockDim.x) {
    uint4 v = row[i], wv = w[i], o;
    const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&v);
    const __nv_bfloat162* hw = reinterpret_cast<const __nv_bfloat162*>(&wv);
    __nv_bfloat162* ho = reinterpret_cast<__nv_bfloat162*>(&o);
    for (int j = 0; j < 4; ++j) {
      float2 f = __bfloat1622float2(h[j]), g = __bfloat1622float2(hw[j]);
      ho[j] = __floats2bfloat162_rn(f.x * r * g.x, f.y * r * g.y);
    }
    out[i] = o;
  }
}

__global__ void swiglu_kernel(const uint4* __restrict__ in, uint4* __restrict__ out, size_t rows, int vecs_per_ffn) {
  const size_t n = rows * vecs_per_ffn;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    const size_t r = i / vecs_per_ffn, c = i % vecs_per_ffn;
    uint4 g = in[r * 2 * vecs_per_ffn + c], u = in[r * 2 * vecs_per_ffn + vecs_per_ffn + c], o;
    const __nv_bfloat162* hg = reinterpret_cast<const __nv_bfloat162*>(&g);
    const __nv_bfloat162* hu = reinterpret_cast<const __nv_bfloat162*>(&u);
    __nv_bfloat162* ho = reinterpret_cast<__nv_bfloat162*>(&o);
    for (int j = 0; j < 4; ++j) {
      float2 a = __bfloat1622float2(hg[j]), b = __bfloat1622float2(hu[j]);
      ho[j] = __floats2bfloat162_rn(a.x / (1.f + __expf(-a.x)) * b.x, a.y / (1.f + __expf(-a.y)) * b.y);
    }
    out[i] = o;
  }
}

// AdamW (Loshchilov & Hutter, arXiv:1711.05101, Algorithm 2) with bias correction.
__global__ void adamw_kernel(float4* __restrict__ p, const float4* __restrict__ g, float4* __restrict__ m,
                             float4* __restrict__ v, size_t n4, float lr, float beta1, float beta2, float eps,
                             float weight_decay, float correction1, float correction2) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n4; i += size_t(gridDim.x) * blockDim.x) {
    float4 pp = p[i], gg = g[i], mm = m[i], vv = v[i];
    float* pf = &pp.x;
    const float* gf = &gg.x;
    float* mf = &mm.x;
    float* vf = &vv.x;
    for (int j = 0; j < 4; ++j) {
      mf[j] = beta1 * mf[j] + (1.f - beta1) * gf[j];
      vf[j] = beta2 * vf[j] + (1.f - beta2) * gf[j] * gf[j];
      const float update = (mf[j] / correction1) / (sqrtf(vf[j] / correction2) + eps);
      pf[j] -= lr * (update + weight_decay * pf[j]);
    }
    p[i] = pp;
    m[i] = mm;
    v[i] = vv;
  }
}

// One warp per 128-element block: 4 BF16 per lane, amax by shuffle, scale to E4M3's 448.
__global__ void fp8_quantize_kernel(const uint2* __restrict__ x, uint32_t* __restrict__ y, float* __restrict__ scales,
                                    size_t blocks128) {
  const size_t warps_total = size_t(gridDim.x) * (blockDim.x / 32);
  const int lane = threadIdx.x & 31;
  for (size_t b = blockIdx.x * size_t(blockDim.x / 32) + threadIdx.x / 32; b < blocks128; b += warps_total) {
    uint2 v = x[b * 32 + lane];
    const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&v);
    float2 f0 = __bfloat1622float2(h[0]), f1 = __bfloat1622float2(h[1]);
    float amax = fmaxf(fmaxf(fabsf(f0.x), fabsf(f0.y)), fmaxf(fabsf(f1.x), fabsf(f1.y)));
    for (int off = 16; off > 0; off /= 2) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, off));
    const float scale = amax > 0.f ? 448.f / amax : 1.f;
    __nv_fp8x4_e4m3 q(make_float4(f0.x * scale, f0.y * scale, f1.x * scale, f1.y * scale));
    y[b * 32 + lane] = *reinterpret_cast<const uint32_t*>(&q);
    if (lane == 0) scales[b] = 1.f / scale;
  }
}

__device__ __forceinline__ uint64_t global_ns() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__global__ void persistent_copy_kernel(const uint4* __restrict__ src, uint4* __restrict__ dst, size_t n16,
                                       const volatile int* stop, int* started, uint64_t max_ns) {
  extern __shared__ uint4 hold[];  // never used: its size keeps other kernels' blocks off this SM
  if (threadIdx.x == 0) {
    hold[0] = make_uint4(0, 0, 0, 0);
    atomicAdd_system(started, 1);
  }
  const uint64_t t0 = global_ns();
  const size_t per_block = n16 / gridDim.x;
  const uint4* s = src + blockIdx.x * per_block;
  uint4* d = dst + blockIdx.x * per_block;
  __shared__ int done;
  while (true) {
    for (size_t i = threadIdx.x; i < per_block; i += blockDim.x) d[i] = s[i];
    if (threadIdx.x == 0) done = (*stop != 0) || (global_ns() - t0 > max_ns);
    __syncthreads();
    if (done) break;
    __syncthreads();
  }
}

}  // namespace

void fill_random(void* p, size_t count, DType type, uint64_t seed, cudaStream_t stream) {
  switch (type) {
    case DType::kF32: fill_f32_kernel<<<grid_for(count), kThreads, 0, stream>>>(static_cast<float*>(p), count, seed); break;
    case DType::kBF16:
      fill_bf16_kernel<<<grid_for(count), kThreads, 0, stream>>>(static_cast<__nv_bfloat16*>(p), count, seed);
      break;
    case DType::kFP8E4M3:
      fill_fp8_kernel<<<grid_for(count), kThreads, 0, stream>>>(static_cast<__nv_fp8_e4m3*>(p), count, seed);
      break;
  }
  CAL_CUDA(cudaGetLastError());
}

void fill_constant_f32(float* p, size_t count, float value, cudaStream_t stream) {
  fill_constant_kernel<<<grid_for(count), kThreads, 0, stream>>>(p, count, value);
  CAL_CUDA(cudaGetLastError());
}

void launch_copy(const void* src, void* dst, size_t elements, cudaStream_t stream) {
  const size_t n16 = elements / 8;
  copy_kernel<<<grid_for(n16), kThreads, 0, stream>>>(static_cast<const uint4*>(src), static_cast<uint4*>(dst), n16);
  CAL_CUDA(cudaGetLastError());
}

void launch_rmsnorm(const void* x, const void* weight, void* y, size_t rows, int hidden, cudaStream_t stream) {
  rmsnorm_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
      static_cast<const uint4*>(x), static_cast<const uint4*>(weight), static_cast<uint4*>(y), hidden / 8,
      1.f / static_cast<float>(hidden));
  CAL_CUDA(cudaGetLastError());
}

void launch_swiglu(const void* in, void* out, size_t rows, int ffn, cudaStream_t stream) {
  swiglu_kernel<<<grid_for(rows * (ffn / 8)), kThreads, 0, stream>>>(static_cast<const uint4*>(in),
                                                                       static_cast<uint4*>(out), rows, ffn / 8);
  CAL_CUDA(cudaGetLastError());
}

void launch_adamw(float* param, const float* grad, float* m, float* v, size_t n, int step, cudaStream_t stream) {
  const float beta1 = 0.9f, beta2 = 0.95f;  // DeepSeek-V3's AdamW betas (arXiv:2412.19437 §4.2)
  const float c1 = 1.f - powf(beta1, static_cast<float>(step)), c2 = 1.f - powf(beta2, static_cast<float>(step));
  adamw_kernel<<<grid_for(n / 4), kThreads, 0, stream>>>(
      reinterpret_cast<float4*>(param), reinterpret_cast<const float4*>(grad), reinterpret_cast<float4*>(m),
      reinterpret_cast<float4*>(v), n / 4, 1e-4f, beta1, beta2, 1e-8f, 0.1f, c1, c2);
  CAL_CUDA(cudaGetLastError());
}

void launch_fp8_quantize(const void* x, void* y, float* scales, size_t n, cudaStream_t stream) {
  const size_t blocks128 = n / 128;
  const int warps_per_block = kThreads / 32;
  size_t grid = (blocks128 + warps_per_block - 1) / warps_per_block;
  if (grid > 65535u * 16u) grid = 65535u * 16u;
  fp8_quantize_kernel<<<static_cast<unsigned>(grid ? grid : 1), kThreads, 0, stream>>>(
      static_cast<const uint2*>(x), static_cast<uint32_t*>(y), scales, blocks128);
  CAL_CUDA(cudaGetLastError());
}

void allow_persistent_copy_smem(int smem_bytes) {
  CAL_CUDA(cudaFuncSetAttribute(persistent_copy_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem_bytes));
}

void launch_persistent_copy(const void* src, void* dst, size_t n16, int blocks, int smem_bytes,
                            const volatile int* stop, int* started, uint64_t max_ns, cudaStream_t stream) {
  persistent_copy_kernel<<<blocks, 1024, smem_bytes, stream>>>(static_cast<const uint4*>(src),
                                                               static_cast<uint4*>(dst), n16, stop, started, max_ns);
  CAL_CUDA(cudaGetLastError());
}

}  // namespace trainsim::calibrate
