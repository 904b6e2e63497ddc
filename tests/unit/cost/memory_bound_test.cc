// Memory-bound operators of a Llama 3 8B layer at seq 8192: every non-GEMM
// operator is timed by its bytes in each pass, plus a per-kernel latency;
// expected values derived by hand beside each check.
#include <catch2/catch.hpp>

#include "unit/fixtures.h"

#include "calib/tables.h"
#include "cost/cost_model.h"
#include "graph/graph.h"
#include "model/model.h"

namespace trainsim::cost {
namespace {

hardware::Cluster a100_like() {
  return testing::test_cluster(
      {.name = "test-a100", .bf16_tflops = 312, .sms = 108, .hbm_gbps = 2000, .scale_up_gbps = 300, .nic_gbps = 25}, 1);
}

bool memory_bound(graph::OpKind k) {
  return k != graph::OpKind::kGemm && k != graph::OpKind::kGroupedGemm && k != graph::OpKind::kAttention &&
         k != graph::OpKind::kDispatch && k != graph::OpKind::kCombine;
}

}  // namespace

TEST_CASE("Llama 3 8B layer: memory-bound operators by hand", "[cost][memory]") {
  calib::EfficiencyTables t = calib::default_tables("test-a100", "test");
  t.memory.eta = 1.0;                  // 2000 GB/s achieved, to keep the arithmetic exact
  t.memory.latency = microseconds(4);  // per kernel
  const CostModel cost(a100_like(), t);
  const graph::Graph g = graph::build_graph(model::load_model("llama3_8b"), 8192, 1);
  const graph::Block* layer = nullptr;
  for (const auto& b : g.blocks) {
    if (b.kind == graph::BlockKind::kDenseLayer) layer = &b;
  }
  REQUIRE(layer != nullptr);
  double bytes = 0, time = 0;
  int kernels = 0;
  for (const auto& op : layer->ops) {
    if (!memory_bound(op.kind)) continue;
    for (const Pass p : {Pass::kForward, Pass::kBackwardInput, Pass::kBackwardWeight}) {
      const graph::Work& w = p == Pass::kForward ? op.fwd : p == Pass::kBackwardInput ? op.bwd_input : op.bwd_weight;
      const Seconds s = cost.op_time(op, p, {});
      if (w.bytes.value() > 0) {
        ++kernels;
        bytes += w.bytes.value();
        // Every kernel pays the latency: no memory-bound pass is free.
        CHECK(s.value() > 4e-6);
      }
      time += s.value();
    }
  }
  // Forward bytes (t = 8192 tokens, h = 4096, BF16; graph.cc):
  //   2 RMSNorms: read + write t*h*2 = 134,217,728 each (+ 8 KiB weight) -> 2 x 134,225,920
  //   rotary on q (4096) and k (1024): 2 x t*5120*2 = 167,772,160
  //   SwiGLU: read t*28672*2, write t*14336*2 = 704,643,072
  //   2 residual adds: 3 x t*h*2 = 201,326,592 each
  // Sum forward = 268,451,840 + 167,772,160 + 704,643,072 + 402,653,184 = 1,543,520,256 B.
  // Backward (graph.cc): RMSNorm dX reads x and dY, writes dX: 3 x 67,108,864 + 8,192 =
  //   201,334,784 each, and dgamma 4096 x 4 = 16,384 each -> 402,702,336;
  //   rotary 2 x t*5120*2 = 167,772,160; residuals 2 x t*h*2 = 134,217,728 each
  //   -> 268,435,456; SwiGLU reads its input and dY, writes dInput:
  //   (234,881,024 + 117,440,512 + 234,881,024) x 2 = 1,174,405,120.
  //   Sum backward = 2,013,315,072; with the forward 3,556,835,328 B.
  CHECK(bytes == 3'556'835'328.0);
  // Kernels: 6 forward + 6 input-gradient + 2 norm weight-gradient = 14.
  CHECK(kernels == 14);
  // Time = bytes / 2000 GB/s + 4 us per kernel (FP32 vector work is far below the byte time).
  CHECK(time == Approx(bytes / 2.0e12 + kernels * 4e-6).epsilon(1e-6));
  // = 3,556,835,328 / 2e12 + 14 x 4 us = 1.7784 ms + 0.056 ms = 1.8344 ms per layer,
  // against ~12.4 TFLOP of layer GEMM + attention work per micro-batch (3 x 4.12 TFLOP
  // forward; ~61 ms at
  // 65% of 312 TFLOP/s): about 3% of the layer (no recompute).
  CHECK(time == Approx(1.8344e-3).epsilon(1e-3));
}

}  // namespace trainsim::cost
