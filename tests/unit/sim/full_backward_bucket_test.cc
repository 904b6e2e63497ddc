// DP gradient buckets of a workload whose backward runs as one full-backward
// chunk (1F1B, interleaved 1F1B, GPipe): the chunk runs each layer group's
// input and weight gradients before the next group's, as autograd does, so a
// bucket is released when its own group's backward of the last micro-batch
// finishes (sim/pipeline.h, StageWork::grad_bucket_after_full), under the
// remaining groups' backward; with the split B/W of ZB-H1 the weight
// gradients come after all the input gradients, so its buckets go later.
#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

#include "calib/collectives.h"
#include "calib/tables.h"
#include "cost/cost_model.h"
#include "graph/graph.h"
#include "model/model.h"
#include "plan/plan.h"
#include "sim/pipeline.h"
#include "sim/schedule.h"
#include "sim/workload.h"
#include "unit/fixtures.h"

using namespace trainsim;
using namespace trainsim::sim;
using plan::Schedule;

namespace {

// A small dense Llama-style model (4 layers, hidden 512).
model::Model toy_model() { return testing::toy_llama(4); }

// ZeRO-1 over dp = 16 replicas of tp GPUs, one stage, 2 micro-batches per replica.
plan::Plan toy_plan(Schedule schedule, int tp) {
  plan::Plan p;
  p.tp = tp;
  p.dp = 16;
  p.zero_stage = 1;
  p.micro_batch = 1;
  p.global_batch = 16 * 2;
  p.seq_len = 1024;
  p.schedule = schedule;
  p.precision = plan::bf16_policy();
  return p;
}

double seconds_of(Tick t) { return to_seconds(t).value(); }

// A segment's time alone on an idle GPU (no SMs lent: 1F1B and ZB-H1 do not
// overlap communication kernels): compute its work; communication its
// latency plus its bytes over the busier of its links.
double alone(const Segment& s, const ClusterShape& shape) {
  if (s.kind == Segment::Kind::kCompute) return seconds_of(s.work);
  return seconds_of(s.work) + std::max((s.scale_out / shape.nic).value(), (s.scale_up / shape.nvlink).value());
}

double total(const std::vector<Segment>& segs, const ClusterShape& shape) {
  double t = 0;
  for (const Segment& s : segs) t += alone(s, shape);
  return t;
}

struct Interval {
  double start, end;
};

// The DP gradient-sync intervals of GPU 0, in start order.
std::vector<Interval> dp_syncs(const SimOutput& o) {
  std::vector<Interval> v;
  for (const TraceInterval& t : o.trace) {
    if (t.gpu == 0 && t.thread == 4) v.push_back({seconds_of(t.start), seconds_of(t.end)});
  }
  std::sort(v.begin(), v.end(), [](const Interval& a, const Interval& b) { return a.start < b.start; });
  return v;
}

}  // namespace

TEST_CASE("1F1B releases each DP bucket after its own group's backward, earlier than ZB-H1", "[sim][bucket]") {
  // One stage, 2 micro-batches, nothing else on the GPU (pp = 1: no sends).
  // F, B, W: the forward, input-gradient and weight-gradient chunks' times
  // alone (sums of their segments).
  //  - 1F1B runs F0 BW0 F1 BW1; BW runs group by group (head first), each
  //    group's B then W. BW1 starts at T1 = F + (B + W) + F; bucket k
  //    (backward order) is released when segment after_full[k] of BW1 ends:
  //    R_k = T1 + the full chunk's segments up to it.
  //  - ZB-H1 on one stage runs F0 B0 W0 F1 B1 W1: W1 starts at
  //    T0 = 2F + 2B + W and bucket k is released when weight segment
  //    after[k] ends: R_k = T0 + W_0 + ... + W_after[k].
  // The GPU's one DP stream runs them in order: S_0 = R_0,
  // S_k = max(R_k, E_{k-1}) (E = end, from the trace). So 1F1B's head bucket
  // goes at T1 + its group's B and W, before the rest of the backward, and
  // every 1F1B bucket no later than ZB-H1's.
  const model::Model m = toy_model();
  for (int tp : {1, 2}) {
    for (bool merged : {true, false}) {
      const hardware::Cluster c = testing::test_cluster(testing::AcceleratorSpec{}, 2 * tp);
      // No overlap slowdown: the release times below assume each segment's
      // time alone (the slowdown has its own tests, sim/zero3_test.cc).
      const cost::CostModel cost(c, calib::default_tables("h100-sxm", "unit test: default tables"),
                                 calib::nccl_collective_latency(), calib::CollectiveOverlap{});
      std::vector<double> starts_1f1b;
      for (Schedule sched : {Schedule::k1F1B, Schedule::kZeroBubbleH1}) {
        INFO("tp " << tp << (merged ? ", merged layers, " : ", per layer, ") << plan::to_string(sched));
        const plan::Plan p = toy_plan(sched, tp);
        WorkloadOptions opt;
        opt.merge_layers = merged;
        const Workload w = build_workload(m, p, cost, opt);
        REQUIRE(w.work.stages.size() == 1);
        const StageWork& st = w.work.stages[0];
        const auto& fwd = st.chunk[static_cast<size_t>(ChunkType::kForward)];
        const auto& bwd = st.chunk[static_cast<size_t>(ChunkType::kBackwardInput)];
        const auto& wgt = st.chunk[static_cast<size_t>(ChunkType::kBackwardWeight)];
        const auto& full = st.chunk[static_cast<size_t>(ChunkType::kBackwardFull)];
        // Embedding, layers (one group merged, else 4), head: each a bucket.
        REQUIRE(st.grad_sync.size() == (merged ? 3u : 6u));
        REQUIRE(st.grad_bucket_after.size() == st.grad_sync.size());
        REQUIRE(st.grad_bucket_after_full.size() == st.grad_sync.size());
        // The full backward holds the same work as B and W together.
        CHECK(total(full, w.shape) == Approx(total(bwd, w.shape) + total(wgt, w.shape)).epsilon(1e-12));
        if (tp == 1) {
          // And its first group is the head's own input and weight gradients
          // (final norm, head, loss), nothing of the layers': the head's
          // bucket is released after exactly those (no TP collectives at tp 1).
          const graph::Graph g = plan::plan_graph(p, m);
          double head = 0;
          for (const graph::Block& b : g.blocks) {
            if (b.kind != graph::BlockKind::kHead) continue;
            for (const graph::Operator& op : b.ops) {
              head += cost.op_time(op, cost::Pass::kBackwardInput, {}).value() +
                      cost.op_time(op, cost::Pass::kBackwardWeight, {}).value();
            }
          }
          double first = 0;
          for (size_t j = 0; j <= st.grad_bucket_after_full[0]; ++j) first += alone(full[j], w.shape);
          CHECK(first == Approx(head).epsilon(1e-6));
        }

        SimOptions so;
        so.trace = true;
        const SimOutput o = run_pipeline(w.schedule, w.work, w.shape, so);
        const std::vector<Interval> syncs = dp_syncs(o);
        REQUIRE(syncs.size() == st.grad_sync.size());
        const double F = total(fwd, w.shape), B = total(bwd, w.shape), W = total(wgt, w.shape);
        const bool split = sched == Schedule::kZeroBubbleH1;
        const double t_last = split ? 2 * F + 2 * B + W : 2 * F + B + W;
        const auto& segs = split ? wgt : full;
        const auto& after = split ? st.grad_bucket_after : st.grad_bucket_after_full;
        std::vector<double> starts;
        for (size_t k = 0; k < syncs.size(); ++k) {
          double release = t_last;
          for (size_t j = 0; j <= after[k]; ++j) release += alone(segs[j], w.shape);
          const double expected = k == 0 ? release : std::max(release, syncs[k - 1].end);
          INFO("bucket " << k << " after segment " << after[k]);
          CHECK(syncs[k].start == Approx(expected).epsilon(1e-9));
          starts.push_back(syncs[k].start);
        }
        // Bucket 0, the head's: released before the last backward ends.
        CHECK(syncs[0].start > t_last);
        CHECK(syncs[0].start < t_last + (split ? W : B + W) - 1e-9);
        if (sched == Schedule::k1F1B) {
          starts_1f1b = starts;
        } else {
          REQUIRE(starts.size() == starts_1f1b.size());
          for (size_t k = 0; k < starts.size(); ++k) CHECK(starts_1f1b[k] <= starts[k] + 1e-12);
          CHECK(starts_1f1b[0] < starts[0]);
        }
      }
    }
  }
}
