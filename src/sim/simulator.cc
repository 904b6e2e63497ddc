#include "sim/simulator.h"

#include <chrono>
#include <cmath>

#include <fmt/format.h>

namespace trainsim::sim {

SimReport simulate(const model::Model& m, const plan::Plan& p, const cost::CostModel& cost,
                   const SimulateOptions& options) {
  SimReport r;
  const Workload w = build_workload(m, p, cost, options.workload);
  SimOptions so;
  so.trace = options.trace;
  const auto t0 = std::chrono::steady_clock::now();
  r.out = run_pipeline(w.schedule, w.work, w.shape, so);
  const auto t1 = std::chrono::steady_clock::now();
  r.wall_seconds = std::chrono::duration<double>(t1 - t0).count();
  r.devices = w.schedule.devices;
  r.replicas = w.shape.replicas;
  r.gpus_per_simulated_rank = w.gpus_per_simulated_rank;
  r.micro_batches = w.schedule.micro_batches;
  r.step_time = to_seconds(r.out.step);
  r.notes = w.notes;
  r.analytic = analytic::estimate_step(m, p, cost);

  // Compare like with like: the simulated GPU of replica 0 at the analytic
  // estimate's critical pipeline rank (device index = pipeline rank). Each
  // side's components add up to its own step time (a simulated GPU's idle is
  // the step less its compute and exposed communication), so the step's
  // difference is still the sum of the components' differences.
  TRAINSIM_CHECK(r.analytic.critical_rank >= 0 && r.analytic.critical_rank < static_cast<int>(r.out.gpus.size()),
                 "critical rank {} of {} simulated GPUs", r.analytic.critical_rank, r.out.gpus.size());
  const GpuStats* last = &r.out.gpus[static_cast<size_t>(r.analytic.critical_rank)];
  TRAINSIM_CHECK(last->replica == 0 && last->device == r.analytic.critical_rank, "GPU {} is replica {} device {}",
                 last->gpu, last->replica, last->device);
  const analytic::StepBreakdown& b = r.analytic.breakdown;
  const double step = r.step_time.value();
  auto add = [&](const char* name, Seconds sim, Seconds ana, std::string why) {
    ComponentComparison c;
    c.component = name;
    c.simulated = sim;
    c.analytic = ana;
    if (std::abs(sim.value() - ana.value()) > 0.01 * step) c.why = std::move(why);
    r.comparison.push_back(std::move(c));
  };
  const bool ovl = overlapped(p.schedule);
  add("step_time", r.step_time, r.analytic.step_time,
      "the sum of the component differences below");
  add("compute", to_seconds(last->compute), b.compute + b.optimizer,
      ovl ? fmt::format("the simulator slows a kernel only while communication holds {} SMs; the analytic estimate "
                        "runs every kernel on the reduced SM count{}",
                        p.comm_sms,
                        options.workload.load == LoadModel::kSampled
                            ? "; expert load sampled per micro-batch instead of the plan's busiest-GPU factor"
                            : "")
          : "the simulator counts the compute slowed beside data-parallel collectives (calibrate/collectives/"
            "overlap.json) as compute, the analytic estimate as exposed DP time (the exposed_comm row); otherwise "
            "expert load or rounding: both sum the same operator times");
  add("exposed_comm", to_seconds(last->exposed_comm), b.exposed_comm + b.dp_exposed,
      ovl ? "the simulator hides an all-to-all only under the computation the paired chunk is doing at that "
            "moment, and DP gradient buckets (each reduced once the last micro-batch's weight gradients of its layers "
            "finish) share the NIC with all-to-alls (max-min); the analytic estimate takes max(0, comm - compute) per "
            "micro-batch and a fixed DP window"
      : p.zero3_per_tensor()
          ? "ZeRO-3 by parameter tensor: both engines expose the blocking gathers; the simulator releases a "
            "layer's reduce-scatters after its whole weight gradient, so under blocking gathers (which wait for "
            "them) they hide under nothing, where the analytic estimate hides them under the backward of the "
            "operators that gather nothing"
      : p.zero_stage == 3
          ? "ZeRO-3: the simulator gathers each layer group's own parameters (embedding and head apart) one group "
            "ahead and reduce-scatters each after its weight gradient, slowing the compute beside them; the "
            "analytic estimate spreads the rank's parameters evenly over its transformer layers (per phase the "
            "first layer's collective alone, the rest beside compute at the overlap rate: zero3_exposed), counts "
            "the slowed compute here rather than as compute, and exposes every pipeline send unless "
            "plan.overlap_p2p_comm"
          : "the simulator runs pipeline sends as flows on the links (the sender's next chunk waits for them "
            "unless plan.overlap_p2p_comm) and each DP gradient bucket beside the remaining backward as the schedule "
            "allows, counting the compute it slows as compute; the analytic estimate charges each send whole (its "
            "excess over the chunk's compute under plan.overlap_p2p_comm) and uses a fixed DP window, counting the "
            "slowed compute here");
  add("idle", to_seconds(last->idle), b.bubble,
      "the simulator executes the schedule's chunk order with real dependencies and the real (unequal) F, B, W "
      "chunks of each stage; the analytic estimate uses the published bubble formula with mean chunk times");
  return r;
}

}  // namespace trainsim::sim
