// Pipeline schedules as orders of chunks per device.
//
// A schedule says, for each device of a pipeline, the order in which it runs
// its chunks: the forward (F) of a micro-batch on one of its stages, the
// input-gradient backward (B), the weight-gradient backward (W), the full
// backward (BW = B then W, when the schedule does not split them), and
// overlapped F&B pairs (DualPipe: a forward and a full backward of two
// micro-batches on one device, their computation and communication
// interleaved). It contains no times: the simulator executes these orders
// with the real dependencies (F of stage s needs F of stage s-1 of the same
// micro-batch, B of stage s needs B of stage s+1, W needs B), so bubbles come
// out of the execution, not out of a formula.
//
// Stages are numbered along a micro-batch's path, 0 .. stages-1. Each
// micro-batch has a direction (DualPipe feeds half of them from each end);
// stage_device[direction][stage] is the device that holds that stage.
//
// Sources of the orders:
//  - GPipe: all forwards, then all backwards (Huang et al. 2019).
//  - 1F1B: p-d-1 warm-up forwards on device d, then one forward one backward,
//    then the cool-down backwards (PipeDream-Flush; Narayanan et al. 2021).
//  - Interleaved 1F1B: Megatron-LM's virtual-pipeline order (Narayanan et al.
//    2021 §2.2; megatron/core/pipeline_parallel/schedules.py): v model chunks
//    per device, stage c*p + d on device d, micro-batches in groups of p.
//  - ZB-H1: 1F1B with the backward split into B and W, each W deferred by
//    the device's warm-up depth so that the tail bubble fills with W (Qi et
//    al. 2024, "Zero Bubble Pipeline Parallelism", §3 handcrafted H1).
//  - DualPipe: the eight phases of DeepSeek's DualPipe (DeepSeek-V3 §3.2.1;
//    github.com/deepseek-ai/DualPipe, dualpipe.py step()), two stage chunks
//    per device, micro-batches fed from both ends.
//  - DualPipeV: the "cut-in-half" DualPipe on p/2 devices, each holding
//    stages d and p-1-d of a single direction (V shape), running DualPipe's
//    order of its first half of ranks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "plan/plan.h"

namespace trainsim::sim {

enum class ChunkType : uint8_t {
  kForward,         // F
  kBackwardInput,   // B (input gradient only; its W comes later)
  kBackwardWeight,  // W
  kBackwardFull,    // B then W as one chunk
};
const char* to_string(ChunkType t);

struct Chunk {
  ChunkType type = ChunkType::kForward;
  int32_t micro_batch = 0;
  int32_t stage = 0;
};

// One step of a device's order: a single chunk, or an overlapped F&B pair
// (first = the forward, second = the full backward).
struct ScheduleOp {
  Chunk first;
  Chunk second;
  bool pair = false;
};

struct PipelineSchedule {
  plan::Schedule kind = plan::Schedule::k1F1B;
  int devices = 1;
  int stages = 1;          // stages on a micro-batch's path
  int64_t micro_batches = 1;
  std::vector<uint8_t> direction;                 // per micro-batch: 0 or 1
  std::vector<std::vector<int>> stage_device;     // [direction][stage] -> device
  std::vector<std::vector<ScheduleOp>> order;     // per device

  int device_of(int32_t micro_batch, int32_t stage) const {
    return stage_device[direction[static_cast<size_t>(micro_batch)]][static_cast<size_t>(stage)];
  }
};

// Builds the order for `devices` pipeline ranks and `micro_batches` per step.
// vpp is the number of model chunks per device for interleaved 1F1B (ignored
// otherwise). DualPipe needs an even device count and micro_batches >= 2 *
// devices, even; DualPipeV needs micro_batches >= devices (its devices hold
// two stages each, so `devices` here is the number of GPUs in the pipeline,
// and stages = 2 * devices). Throws PlanError when the counts do not fit.
PipelineSchedule build_schedule(plan::Schedule kind, int devices, int64_t micro_batches, int vpp = 1);

// Checks that every chunk a pipeline needs appears exactly once on the
// device holding its stage, and that each W follows its B. Throws
// InternalError naming the first violation.
void check_schedule(const PipelineSchedule& s);

}  // namespace trainsim::sim
