// Hand-built ZeRO-3 inputs shared by the simulator's ZeRO-3 tests.
#pragma once

#include <cstdint>

#include "hardware/hardware.h"
#include "plan/plan.h"
#include "unit/fixtures.h"

namespace trainsim::testing {

// ZeRO-3 over 16 GPUs (2 nodes of 8), one stage, 1F1B, BF16,
// `micro_batches` sequences of `seq_len` per replica.
inline plan::Plan zero3_plan(int64_t micro_batches, int64_t seq_len) {
  plan::Plan p;
  p.dp = 16;
  p.zero_stage = 3;
  p.micro_batch = 1;
  p.global_batch = 16 * micro_batches;
  p.seq_len = seq_len;
  p.schedule = plan::Schedule::k1F1B;
  p.precision = plan::bf16_policy();
  return p;
}

// Two nodes of 8 test GPUs with a NIC of `nic_gbps` GB/s per GPU.
inline hardware::Cluster two_node_cluster(double nic_gbps) {
  AcceleratorSpec s;
  s.nic_gbps = nic_gbps;
  return test_cluster(s, 2);
}

}  // namespace trainsim::testing
