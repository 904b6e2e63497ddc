// trainsim simulate SCENARIO [--seed N] [--trace FILE] [--format text|json]
//                   [--ranks replica|all] [--load plan|balanced|sampled]
//                   [--network auto|symmetric|pairs] [--merge-layers] [--no-timing]
//
// Simulates one training step of the scenario's pre-training phase with the
// discrete-event simulator (sim/simulator.h): step time, per-rank compute,
// exposed communication and idle time, the critical path, the bubble
// fraction, and a comparison with the analytic estimate naming the
// components that differ and why. --trace writes a Chrome trace-event JSON
// (Perfetto) atomically. Output is deterministic for a scenario and seed
// except wall time and events/s, which --no-timing leaves out (for goldens).
#include <ostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "calib/tables.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/strings.h"
#include "cost/cost_model.h"
#include "report/table.h"
#include "run/scenario.h"
#include "sim/simulator.h"
#include "sim/trace.h"

namespace trainsim::cli {
namespace {

using nlohmann::json;
using report::Align;
using report::Table;

double secs(sim::Tick t) { return sim::to_seconds(t).value(); }
std::string ms(double s) { return report::fixed(s / units::kMilli, 3); }

json to_json(const sim::SimReport& r, bool timing, const std::string& command) {
  json ranks = json::array();
  for (const auto& g : r.out.gpus) {
    ranks.push_back({{"rank", g.gpu},
                     {"replica", g.replica},
                     {"pipeline_rank", g.device},
                     {"compute_s", secs(g.compute)},
                     {"exposed_comm_s", secs(g.exposed_comm)},
                     {"idle_s", secs(g.idle)},
                     {"end_s", secs(g.end)}});
  }
  json crit = json::array();
  for (const auto& c : r.out.critical_path) {
    crit.push_back({{"rank", c.gpu}, {"start_s", secs(c.start)}, {"end_s", secs(c.end)}, {"ops", c.ops},
                    {"first", c.first}, {"last", c.last}});
  }
  json cmp = json::array();
  for (const auto& c : r.comparison) {
    json e{{"component", c.component}, {"simulated_s", c.simulated.value()}, {"analytic_s", c.analytic.value()},
           {"difference_s", c.simulated.value() - c.analytic.value()}};
    if (!c.why.empty()) e["why"] = c.why;
    cmp.push_back(e);
  }
  json j{{"command", command},
         {"step_time_s", r.step_time.value()},
         {"bubble_fraction", r.out.bubble_fraction},
         {"events", r.out.events},
         {"network_flows", r.out.flows},
         {"network_links", r.out.links},
         {"simulated_gpus", r.out.gpus.size()},
         {"gpus_per_simulated_rank", r.gpus_per_simulated_rank},
         {"replicas_simulated", r.replicas},
         {"micro_batches_per_replica", r.micro_batches},
         {"ranks", ranks},
         {"critical_path", crit},
         {"analytic_step_time_s", r.analytic.step_time.value()},
         {"comparison_with_analytic", cmp},
         {"notes", r.notes}};
  if (timing) {
    j["wall_seconds"] = r.wall_seconds;
    j["events_per_second"] = r.wall_seconds > 0 ? static_cast<double>(r.out.events) / r.wall_seconds : 0.0;
  }
  return j;
}

std::string to_text(const run::Scenario& s, const sim::SimReport& r, bool timing) {
  std::string out;
  out += fmt::format("scenario {}: simulated step of {} on {} ({} simulated GPUs, {} of {} replicas)\n", s.name,
                     s.model.name, s.cluster.name, r.out.gpus.size(), r.replicas, r.replicas == 1 ? "1 representative" : "all", r.replicas);
  out += fmt::format("step time {} s   bubble fraction {}   events {}   flows {}", report::fixed(r.step_time.value(), 4),
                     report::percent(r.out.bubble_fraction), report::with_commas(static_cast<double>(r.out.events)),
                     report::with_commas(static_cast<double>(r.out.flows)));
  if (timing) out += fmt::format("   wall {} s", report::fixed(r.wall_seconds, 3));
  out += "\n\n";
  // Per pipeline rank: replica 0 (all replicas in all-ranks mode are listed in JSON).
  Table t({"rank", "compute ms", "exposed comm ms", "idle ms", "end ms"},
          {Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kRight});
  for (const auto& g : r.out.gpus) {
    if (g.replica != 0) continue;
    t.add_row({std::to_string(g.gpu), ms(secs(g.compute)), ms(secs(g.exposed_comm)), ms(secs(g.idle)),
               ms(secs(g.end))});
  }
  out += "Per rank (replica 0)\n" + t.to_text();
  out += "\nCritical path (runs of ops on one rank)\n";
  Table c({"rank", "from ms", "to ms", "ops", "first", "last"},
          {Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kLeft, Align::kLeft});
  for (const auto& cr : r.out.critical_path) {
    c.add_row({std::to_string(cr.gpu), ms(secs(cr.start)), ms(secs(cr.end)), std::to_string(cr.ops), cr.first, cr.last});
  }
  out += c.to_text();
  out += fmt::format("\nCompared with the analytic estimate ({} s), on pipeline rank {} (the estimate's slowest; "
                     "replica 0)\n",
                     report::fixed(r.analytic.step_time.value(), 4), r.analytic.critical_rank);
  Table k({"component", "simulated ms", "analytic ms", "why they differ"},
          {Align::kLeft, Align::kRight, Align::kRight, Align::kLeft});
  for (const auto& cc : r.comparison) {
    k.add_row({cc.component, ms(cc.simulated.value()), ms(cc.analytic.value()), cc.why.empty() ? "-" : cc.why});
  }
  out += k.to_text();
  for (const auto& n : r.notes) out += "  note: " + n + "\n";
  return out;
}

}  // namespace

int cmd_simulate(const std::vector<std::string>& args, Io& io) {
  po::options_description desc("options");
  desc.add_options()("scenario", po::value<std::string>(), "scenario name (model_configs/scenarios/) or path")(
      "seed", po::value<uint64_t>()->default_value(0), "seed of the sampled expert load")(
      "trace", po::value<std::string>(), "write a Chrome trace-event JSON (Perfetto) to FILE")(
      "ranks", po::value<std::string>()->default_value("replica"),
      "replica: one representative data-parallel replica; all: every rank")(
      "load", po::value<std::string>()->default_value("plan"),
      "expert load: plan (busiest GPU at the plan's imbalance), balanced, sampled (seeded)")(
      "network", po::value<std::string>()->default_value("auto"),
      "all-to-all network: auto (node pairs with --ranks all where the layout allows, else symmetric), "
      "symmetric (each GPU's part over its own NVLink and NIC), pairs (flows between node and GPU pairs over "
      "the planes and leaves of the fabric; needs --ranks all)")(
      "per-layer", "one segment group (and DP bucket) per layer: the default, kept for old command lines")(
      "merge-layers", "one segment group per block kind of a stage (faster; one DP bucket per group)")(
      "no-timing", "leave wall time and events/s out (deterministic output)")(
      "format", po::value<std::string>()->default_value("text"), "text|json")(
      "output,o", po::value<std::string>(), "write to FILE (atomically) instead of stdout");
  po::positional_options_description pos;
  pos.add("scenario", 1);
  const std::string usage =
      "trainsim simulate SCENARIO [--seed N] [--trace FILE] [--format text|json] [--ranks replica|all] "
      "[--load plan|balanced|sampled] [--network auto|symmetric|pairs] [--merge-layers] [--no-timing]";
  po::variables_map vm;
  if (!parse_options(args, desc, pos, vm, usage, "trainsim simulate deepseek-v3 --format json --trace step.json", io)) {
    return kExitOk;
  }
  if (!vm.count("scenario")) {
    throw UsageError(fmt::format("missing SCENARIO (one of {})\nusage: {}", join(run::list_scenarios()), usage));
  }
  const std::string format = checked_format(vm, {"text", "json"});
  const std::string ranks = vm["ranks"].as<std::string>();
  if (ranks != "replica" && ranks != "all") {
    throw UsageError(fmt::format("--ranks {}: expected replica or all{}", ranks, did_you_mean(ranks, {"replica", "all"})));
  }
  if (vm.count("per-layer") && vm.count("merge-layers")) {
    throw UsageError("--per-layer and --merge-layers exclude each other");
  }
  // Per layer by default, as claim's cross-check and validate run it
  // (SimulateOptions::per_layer()).
  sim::SimulateOptions opt = sim::SimulateOptions::per_layer();
  opt.workload.merge_layers = vm.count("merge-layers") > 0;
  opt.workload.all_ranks = ranks == "all";
  opt.workload.load = sim::parse_load_model(vm["load"].as<std::string>());
  opt.workload.seed = vm["seed"].as<uint64_t>();
  opt.workload.network = sim::parse_network_model(vm["network"].as<std::string>());
  opt.trace = vm.count("trace") > 0;
  const bool timing = !vm.count("no-timing");

  const run::Scenario s = run::load_scenario(vm["scenario"].as<std::string>());
  const plan::Plan p = run::phase_plan(s, s.phases.at(run::main_phase_index(s.phases)));
  const cost::CostModel cost(s.cluster, calib::load_tables_for(s.cluster.accelerator));
  const sim::SimReport r = sim::simulate(s.model, p, cost, opt);

  if (opt.trace) write_file_atomic(vm["trace"].as<std::string>(), sim::chrome_trace_json(r.out, r.devices));
  if (format == "json") {
    emit(vm, to_json(r, timing, "trainsim simulate " + join(args, " ")).dump(2) + "\n", io);
  } else {
    emit(vm, to_text(s, r, timing), io);
  }
  return kExitOk;
}

}  // namespace trainsim::cli
