#include <catch2/catch.hpp>

#include "run/training_run.h"

using namespace trainsim;
using namespace trainsim::run;

namespace {

// Every step takes 10 s, 8 s of it computing; 1e15 model FLOPs per step.
class ConstantStep : public StepModel {
 public:
  analytic::StepEstimate step(const plan::Plan&, double compute_scale, double) const override {
    analytic::StepEstimate e;
    e.step_time = seconds(10.0 / compute_scale);
    e.breakdown.compute = seconds(8.0 / compute_scale);
    e.model_flops_per_step = flops(1e15);
    return e;
  }
};

Scenario toy() {
  Scenario s;
  s.plan.dp = 100;
  s.plan.micro_batch = 1;
  s.plan.seq_len = 1000;
  s.plan.global_batch = 1000;
  s.goodput.failures_per_gpu = Hertz(0);
  s.goodput.checkpoint_write = seconds(10);
  s.goodput.restart = seconds(0);
  s.goodput.checkpoint_interval = seconds(1000);
  s.power.gpu_tdp = watts(1000);
  s.power.idle_fraction_of_tdp = 0.1;
  s.power.busy_fraction_of_tdp = 0.9;
  s.power.node_overhead = watts(0);
  s.power.gpus_per_node = 8;
  s.power.pue = 1.0;
  s.prices.rental_per_gpu = dollars_per_hour(1);
  s.prices.amortisation_life = years(4);
  s.uncertainty.compute_efficiency_scale = Range{1, 1, 1, "test"};
  s.uncertainty.comm_efficiency_scale = Range{1, 1, 1, "test"};
  PhaseSpec pre;
  pre.name = "pre";
  pre.kind = PhaseKind::kPretraining;
  pre.amount = PhaseAmount::kTokens;
  pre.tokens = 1e12;
  pre.seq_len = 1000;
  pre.global_batch = 1000;
  s.phases.push_back(pre);
  return s;
}

}  // namespace

TEST_CASE("Tokens -> steps -> wall time -> GPU-hours, constant step time, by hand", "[run]") {
  const Scenario s = toy();
  const RunEstimate r = evaluate_run(s, nominal_perturbation(s), ConstantStep());
  REQUIRE(r.phases.size() == 1);
  const PhaseResult& p = r.phases[0];
  // 1e12 tokens / (1000 x 1000 tokens per step) = 1e6 steps x 10 s = 1e7 s on 100 GPUs.
  CHECK(p.steps == Approx(1e6));
  CHECK(p.ideal_wall.value() == Approx(1e7));
  // 1e7 s x 100 GPUs = 1e9 GPU-s = 277,777.8 GPU-h.
  CHECK(in_hours(p.ideal_gpu_time) == Approx(277777.78));
  // No failures; checkpoints stall 10 s every 1000 s: wall 1.01e7 s -> 280,555.6 GPU-h.
  CHECK(in_hours(p.gpu_time) == Approx(280555.56));
  CHECK(in_hours(r.total_gpu_time()) == Approx(280555.56));
  // Energy: 1e9 GPU-s at u = 8/10 = 0.8 -> (0.1 + 0.8 x 0.8) x 1000 W = 740 W;
  // 1e5 s x 100 GPUs = 1e7 GPU-s checkpointing at idle 100 W.
  // 7.4e11 + 1e9 = 7.41e11 J = 205.833 MWh.
  CHECK(p.utilisation == Approx(0.8));
  CHECK(in_megawatt_hours(p.energy) == Approx(205.8333));
  // Rental: 280,555.6 GPU-h x $1.
  CHECK(p.cost.rental.value() == Approx(280555.56));
  // Model FLOPs: 1e6 steps x 1e15.
  CHECK(r.model_flops(PhaseKind::kPretraining).value() == Approx(1e21));
}

TEST_CASE("Phases in steps, compute multipliers and stated GPU-hours, by hand", "[run]") {
  Scenario s = toy();
  s.goodput.checkpoint_interval = std::nullopt;  // zero failure rate: no checkpoints at all
  PhaseSpec ext;
  ext.name = "ext";
  ext.kind = PhaseKind::kContextExtension;
  ext.amount = PhaseAmount::kSteps;
  ext.steps = 500;
  ext.seq_len = 1000;
  ext.global_batch = 2000;
  ext.compute_multiplier = 2.0;
  s.phases.push_back(ext);
  PhaseSpec post;
  post.name = "post";
  post.kind = PhaseKind::kPostTraining;
  post.amount = PhaseAmount::kStatedGpuHours;
  post.stated_gpu_time = hours(5000);
  s.phases.push_back(post);
  const RunEstimate r = evaluate_run(s, nominal_perturbation(s), ConstantStep());
  // ext: 500 steps x 2000 x 1000 = 1e9 tokens; 500 x 10 s x 2 = 10,000 s x 100 GPUs = 277.78 GPU-h.
  CHECK(r.phases[1].tokens == Approx(1e9));
  CHECK(in_hours(r.gpu_time(PhaseKind::kContextExtension)) == Approx(277.7778));
  // post: as stated, 5000 GPU-h; wall = 5000 h / 100 GPUs = 50 h.
  CHECK(in_hours(r.gpu_time(PhaseKind::kPostTraining)) == Approx(5000.0));
  CHECK(in_hours(r.phases[2].wall) == Approx(50.0));
  // Total: 277,777.78 + 277.78 + 5000.
  CHECK(in_hours(r.total_gpu_time()) == Approx(283055.56));
}

TEST_CASE("A ramp phase adds the ramp's integral to the constant-batch rest", "[run]") {
  Scenario s = toy();
  s.goodput.checkpoint_interval = std::nullopt;
  s.phases[0].ramp = BatchRamp{500, 1e11, RampShape::kLinearInSteps, 3};
  const RunEstimate r = evaluate_run(s, nominal_perturbation(s), ConstantStep());
  // Ramp 500 -> 1000 over 1e11 tokens, linear in steps: S = 2e11 / (1500 x 1000) = 133,333.3
  // steps. Points b = 500, 750, 1000 are evaluated at 500, 800, 1000 (multiples of dp x
  // micro_batch = 100), each 10 s, scaled per sequence: T = 10, 10 x 750/800 = 9.375, 10 s.
  // Time = S / (b1 - b0) x integral of T db = 266.667 x (250 x 9.6875 + 250 x 9.6875)
  //      = 266.667 x 4843.75 = 1,291,666.7 s.
  // Rest: 9e11 tokens / 1e6 per step = 900,000 steps x 10 s = 9e6 s. Total 10,291,666.7 s.
  CHECK(r.phases[0].steps == Approx(133333.33 + 900000.0));
  CHECK(r.phases[0].ideal_wall.value() == Approx(10291666.67));
  REQUIRE(r.phases[0].ramp.size() == 3);
  // Batches 500, 750, 1000 rounded to multiples of dp x micro_batch = 100: 500, 800, 1000.
  CHECK(r.phases[0].ramp[1].evaluated_batch == 800);
}

TEST_CASE("Efficiency scales reach the step model", "[run]") {
  const Scenario s = toy();
  Perturbation p = nominal_perturbation(s);
  p.compute_scale = 0.5;
  const RunEstimate r = evaluate_run(s, p, ConstantStep());
  // Step time doubles: 20 s x 1e6 steps = 2e7 s.
  CHECK(r.phases[0].ideal_wall.value() == Approx(2e7));
}
