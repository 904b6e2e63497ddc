// Host entry points for trainsim-calibrate's own CUDA kernels: random fill, the memory-bound
// training kernels measured by size, and the persistent copy kernel that occupies SMs for the
// interference benchmark. Every launcher enqueues on `stream` and checks the launch.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace trainsim::calibrate {

enum class DType { kF32, kBF16, kFP8E4M3 };

// Random non-zero values (magnitude in [0.25, 1], random sign) from a counter hash of
// (seed, index); no cuRAND needed. `count` elements of `type`.
void fill_random(void* p, size_t count, DType type, uint64_t seed, cudaStream_t stream);
void fill_constant_f32(float* p, size_t count, float value, cudaStream_t stream);

// BF16 copy of `elements` elements (16-byte vectors; elements % 8 == 0).
void launch_copy(const void* src, void* dst, size_t elements, cudaStream_t stream);
// RMSNorm over rows of `hidden` BF16 values (hidden % 8 == 0), BF16 weight, FP32 statistics.
void launch_rmsnorm(const void* x, const void* weight, void* y, size_t rows, int hidden, cudaStream_t stream);
// SwiGLU: out[r, c] = silu(in[r, c]) * in[r, ffn + c], BF16, ffn % 8 == 0.
void launch_swiglu(const void* in, void* out, size_t rows, int ffn, cudaStream_t stream);
// AdamW step on FP32 param, grad, m, v (n % 4 == 0).
void launch_adamw(float* param, const float* grad, float* m, float* v, size_t n, int step, cudaStream_t stream);
// BF16 -> FP8 E4M3 with one FP32 scale per 128-element block (amax / 448), n % 128 == 0.
void launch_fp8_quantize(const void* x, void* y, float* scales, size_t n, cudaStream_t stream);

// Persistent copy kernel: `blocks` blocks, each holding one SM through `smem_bytes` of dynamic
// shared memory, copying `src` to `dst` (n16 16-byte vectors) over and over until *stop != 0 or
// `max_ns` nanoseconds pass. Each block adds 1 to *started when it begins. stop/started are
// device pointers to mapped pinned host memory.
void launch_persistent_copy(const void* src, void* dst, size_t n16, int blocks, int smem_bytes,
                            const volatile int* stop, int* started, uint64_t max_ns, cudaStream_t stream);
// Allows the persistent copy kernel `smem_bytes` of dynamic shared memory.
void allow_persistent_copy_smem(int smem_bytes);

}  // namespace trainsim::calibrate
