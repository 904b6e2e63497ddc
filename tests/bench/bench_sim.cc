// Times the discrete-event simulator on a scenario's pre-training step:
// the representative replica (default mode), every rank with node-pair
// all-to-alls (the default for --ranks all), every rank with the symmetric
// per-GPU network, and every rank with node pairs and sampled expert load.
// Reports events, network flows, events/s, wall time of the event loop,
// total wall time (workload build, analytic comparison) and the process's
// peak resident memory so far (getrusage; monotone over the runs).
//   bench_sim [SCENARIO] [CASE]   (default deepseek-v3; CASE replica|all|all-symmetric|all-sampled, default every one)
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <string>

#include "calib/tables.h"
#include "cost/cost_model.h"
#include "run/scenario.h"
#include "sim/simulator.h"

using namespace trainsim;

namespace {
double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // ru_maxrss is KiB on Linux
}
}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string name = argc > 1 ? argv[1] : "deepseek-v3";
    const run::Scenario s = run::load_scenario(name);
    const run::PhaseSpec* phase = &s.phases.front();
    for (const auto& p : s.phases) {
      if (p.kind == run::PhaseKind::kPretraining) {
        phase = &p;
        break;
      }
    }
    const plan::Plan p = run::phase_plan(s, *phase);
    const cost::CostModel cost(s.cluster, calib::load_tables_for(s.cluster.accelerator));
    const std::string only = argc > 2 ? argv[2] : "";
    for (const char* c : {"replica", "all", "all-symmetric", "all-sampled"}) {
      const std::string mode = c;
      if (!only.empty() && only != mode) continue;
      sim::SimulateOptions o;
      o.workload.all_ranks = mode != "replica";
      if (mode == "all-symmetric") o.workload.network = sim::NetworkModel::kSymmetric;
      if (mode == "all-sampled") o.workload.load = sim::LoadModel::kSampled;
      const auto t0 = std::chrono::steady_clock::now();
      const sim::SimReport r = sim::simulate(s.model, p, cost, o);
      const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("%-13s gpus %5zu  step %.4f s  events %9llu  flows %9llu  loop %.3f s  events/s %.3g  total %.3f s  "
                  "peak RSS %.1f MiB\n",
                  c, r.out.gpus.size(), r.step_time.value(), static_cast<unsigned long long>(r.out.events),
                  static_cast<unsigned long long>(r.out.flows), r.wall_seconds,
                  r.wall_seconds > 0 ? static_cast<double>(r.out.events) / r.wall_seconds : 0.0, total, peak_rss_mib());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_sim: %s\n", e.what());
    return 1;
  }
  return 0;
}
