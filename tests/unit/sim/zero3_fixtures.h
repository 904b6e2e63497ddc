// Hand-built ZeRO-3 inputs shared by the simulator's ZeRO-3 tests.
#pragma once

#include <cmath>
#include <cstdint>

#include "analytic/step.h"
#include "calib/tables.h"
#include "cost/cost_model.h"
#include "hardware/hardware.h"
#include "model/model.h"
#include "plan/plan.h"
#include "sim/simulator.h"
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

// The cost model of two_node_cluster() with the stated default tables.
inline cost::CostModel two_node_cost(double nic_gbps) {
  return cost::CostModel(two_node_cluster(nic_gbps), calib::default_tables("h100-sxm", "unit test: default tables"));
}

// One plan's step by both engines.
struct BothEngines {
  double simulated = 0;  // s
  double analytic = 0;   // s
  double relative_gap() const { return std::abs(simulated - analytic) / analytic; }
};
inline BothEngines step_by_both(const model::Model& m, const plan::Plan& p, const cost::CostModel& cost) {
  return BothEngines{sim::simulate(m, p, cost, sim::SimulateOptions{}).step_time.value(),
                     analytic::estimate_step(m, p, cost).step_time.value()};
}

}  // namespace trainsim::testing
