// trainsim estimate SCENARIO [--set PATH=VALUE]... [--ops] [--format text|json] [-o FILE]
//
// One step and a whole training run for a scenario (run/scenario.h): the step
// time with its breakdown, tokens/s/GPU, MFU, memory per GPU, GPU-hours per
// phase with goodput losses apart, wall days, cost by rental and by
// ownership, and energy. --ops adds the step's compute operator by operator
// on the slowest pipeline rank (analytic::operator_times): time per pass,
// share, and the FLOP and byte rates each operator achieves.
#include <cmath>
#include <optional>
#include <ostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/error.h"
#include "core/strings.h"
#include "report/table.h"
#include "run/output.h"
#include "run/scenario.h"
#include "run/training_run.h"

namespace trainsim::cli {
namespace {

using json = nlohmann::ordered_json;
using report::Align;
using report::Table;

std::string secs(Seconds s) { return report::fixed(s.value(), 3) + " s"; }
std::string gpu_hours(Seconds s) { return report::with_commas(in_hours(s)); }

std::string ms(Seconds s) { return report::fixed(in_milliseconds(s), 1); }

// Rate of `work` over `t`, or "-" when there is no time to divide by.
std::string tflops(Flops work, Seconds t) {
  return t.value() > 0 && work.value() > 0 ? report::fixed(in_tflops_per_second(work / t), 1) : "-";
}
std::string gbps(Bytes bytes, Seconds t) {
  return t.value() > 0 && bytes.value() > 0 ? report::fixed(in_gigabytes_per_second(bytes / t), 0) : "-";
}

std::string ops_text(const std::vector<analytic::OperatorTime>& ops, int rank, Seconds compute, plan::Schedule schedule) {
  std::string out = fmt::format(
      "\nCompute by operator (pipeline rank {}, the slowest; whole step, ms; rates over the operator's own time)\n",
      rank);
  Table t({"block", "operator", "kind", "prec", "per mb", "forward", "bwd input", "bwd weight", "recompute",
           "total", "share", "TFLOP/s", "GB/s"},
          {Align::kLeft, Align::kLeft, Align::kLeft, Align::kLeft, Align::kRight, Align::kRight, Align::kRight,
           Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kRight});
  Seconds f, bi, w, rc;
  for (const auto& o : ops) {
    t.add_row({graph::to_string(o.block), o.name, graph::to_string(o.kind), to_string(o.precision),
               report::fixed(o.instances, o.instances == std::floor(o.instances) ? 0 : 1), ms(o.forward),
               ms(o.backward_input), ms(o.backward_weight), ms(o.recompute), ms(o.total()),
               compute.value() > 0 ? report::percent(o.total() / compute) : "-", tflops(o.flops, o.total()),
               gbps(o.bytes, o.total())});
    f += o.forward;
    bi += o.backward_input;
    w += o.backward_weight;
    rc += o.recompute;
  }
  t.add_separator();
  t.add_row({"total", "", "", "", "", ms(f), ms(bi), ms(w), ms(rc), ms(f + bi + w + rc),
             compute.value() > 0 ? report::percent((f + bi + w + rc) / compute) : "-", "", ""});
  out += t.to_text();
  out += "  note: FLOPs as counted by the operator graph (forward again where recomputed; not FlashAttention's internal "
         "QK^T recompute), bytes the minimum HBM traffic; the expert load imbalance scales expert times, not their "
         "work\n";
  if (schedule == plan::Schedule::kDualPipe) {
    out += "  note: DualPipe: a micro-batch visits one of the rank's two stages (its direction's), so per-micro-batch "
           "counts are the mean of the two stages'\n";
  }
  return out;
}

nlohmann::ordered_json ops_json(const std::vector<analytic::OperatorTime>& ops, int rank) {
  json rows = json::array();
  for (const auto& o : ops) {
    rows.push_back({{"block", graph::to_string(o.block)},
                    {"operator", o.name},
                    {"kind", graph::to_string(o.kind)},
                    {"precision", to_string(o.precision)},
                    {"instances_per_micro_batch", run::sig(o.instances)},
                    {"forward_s", run::sig(o.forward.value())},
                    {"backward_input_s", run::sig(o.backward_input.value())},
                    {"backward_weight_s", run::sig(o.backward_weight.value())},
                    {"recompute_s", run::sig(o.recompute.value())},
                    {"total_s", run::sig(o.total().value())},
                    {"flops", run::sig(o.flops.value())},
                    {"bytes", run::sig(o.bytes.value())}});
  }
  return json{{"pipeline_rank", rank}, {"rows", rows}};
}

std::string text_report(const run::Scenario& s, const run::RunEstimate& r,
                        const plan::MemoryBreakdown& mem, const calib::EfficiencyTables& tables,
                        const std::vector<analytic::OperatorTime>* ops) {
  std::string out;
  out += fmt::format("scenario {}: {}\n", s.name, s.description);
  out += fmt::format("model {} on {} ({} x {}); calibration tables: {}{}\n\n", s.model.name,
                     s.cluster.name, s.cluster.total_accelerators(), s.cluster.accelerator.name,
                     tables.profile, tables.is_default() ? " (DEFAULTS: no measurement)" : "");
  const run::PhaseResult& m = run::main_phase(r);
  const auto& e = m.step;
  const auto& b = e.breakdown;
  if (!run::has_step(m)) {
    out += "Step: none estimated: every phase states its GPU-hours (a phase given by tokens or steps has a step)\n";
  } else {
    out += fmt::format("Step of phase \"{}\": global batch {} x {} tokens, {} micro-batches per replica\n",
                       m.name, m.plan.global_batch, m.plan.seq_len, e.micro_batches);
    Table st({"part", "time", "share"}, {Align::kLeft, Align::kRight, Align::kRight});
    auto row = [&](const char* name, Seconds t) {
      st.add_row({name, secs(t), report::percent(t / e.step_time)});
    };
    row("compute (fwd + bwd)", b.compute);
    row("  of which recompute", b.recompute);
    row("exposed communication", b.exposed_comm);
    row("pipeline bubble", b.bubble);
    row("exposed DP reduction", b.dp_exposed);
    row("optimizer", b.optimizer);
    st.add_separator();
    row("step time", e.step_time);
    out += st.to_text();
    out += fmt::format("tokens/s/GPU {}   MFU {} causal, {} non-causal (vs dense BF16 peak)   HFU {}\n",
                       report::with_commas(e.tokens_per_second_per_gpu), report::percent(e.mfu_causal),
                       report::percent(e.mfu_noncausal), report::percent(e.hfu));
    for (const auto& n : e.notes) out += "  note: " + n + "\n";
    if (ops) out += ops_text(*ops, e.critical_rank, b.compute, m.plan.schedule);
  }

  out += fmt::format("\nMemory per GPU (pipeline rank {}, largest)\n", mem.pipeline_rank);
  Table mt({"part", "GiB"}, {Align::kLeft, Align::kRight});
  auto mrow = [&](const char* name, Bytes v) { mt.add_row({name, report::fixed(in_gibibytes(v), 1)}); };
  mrow("weights", mem.weights);
  mrow("gradients", mem.gradients);
  mrow("optimizer states", mem.optimizer_states);
  mrow("activations", mem.activations);
  mrow("recompute buffers", mem.recompute_buffers);
  mrow("communication buffers", mem.communication_buffers);
  mt.add_separator();
  mrow("total", mem.total());
  mrow("capacity", s.cluster.accelerator.hbm_capacity);
  out += mt.to_text();

  out += "\nPhases\n";
  Table pt({"phase", "GPUs", "tokens", "steps", "step time", "MFU", "ideal GPU-h", "GPU-h", "goodput",
            "days"},
           {Align::kLeft, Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kRight,
            Align::kRight, Align::kRight, Align::kRight, Align::kRight});
  for (const auto& p : r.phases) {
    const bool stated = p.amount == run::PhaseAmount::kStatedGpuHours;
    pt.add_row({p.name, std::to_string(p.gpus), stated ? "-" : fmt::format("{:.4g}", p.tokens),
                stated ? "-" : report::with_commas(p.steps), stated ? "stated" : secs(p.step.step_time),
                stated ? "-" : report::percent(p.step.mfu_causal), gpu_hours(p.ideal_gpu_time),
                gpu_hours(p.gpu_time), report::percent(p.goodput.goodput()),
                report::fixed(in_days(p.wall), 2)});
  }
  pt.add_separator();
  pt.add_row({"total", "", "", "", "", "", gpu_hours(r.total_ideal_gpu_time()),
              gpu_hours(r.total_gpu_time()), report::percent(r.total_ideal_gpu_time() / r.total_gpu_time()),
              report::fixed(in_days(r.total_wall()), 2)});
  out += pt.to_text();
  for (const auto& p : r.phases) {
    if (p.amount == run::PhaseAmount::kStatedGpuHours) continue;
    const auto& g = p.goodput;
    out += fmt::format(
        "  {}: job MTBF {:.1f} h, checkpoint every {:.0f} s, {:.1f} failures expected; lost to "
        "checkpoints {:.1f} h, redone work {:.1f} h, restarts {:.1f} h of wall time\n",
        p.name, in_hours(g.mtbf), g.checkpoint_interval.value(), g.expected_failures,
        in_hours(g.checkpoint_overhead), in_hours(g.lost_work), in_hours(g.restarts));
  }
  const run::CostBreakdown c = r.total_cost();
  out += "\nCost and energy\n";
  Table ct({"item", "value"}, {Align::kLeft, Align::kRight});
  ct.add_row({"rental", "$" + report::with_commas(c.rental.value())});
  ct.add_row({"ownership: capital amortised", "$" + report::with_commas(c.own_capital.value())});
  ct.add_row({"ownership: electricity", "$" + report::with_commas(c.own_energy.value())});
  ct.add_row({"ownership: datacenter", "$" + report::with_commas(c.own_datacenter.value())});
  ct.add_row({"ownership: total", "$" + report::with_commas(c.own_total().value())});
  ct.add_row({"facility energy", report::fixed(in_megawatt_hours(r.total_energy()), 0) + " MWh"});
  out += ct.to_text();
  return out;
}

}  // namespace

int cmd_estimate(const std::vector<std::string>& args, Io& io) {
  po::options_description desc("options");
  desc.add_options()("scenario", po::value<std::string>(), "scenario name or .json path")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "override PATH=VALUE: a scenario value (plan.micro_batch=2) or a hardware value "
      "(h800.scale_up.bandwidth_per_direction=\"450 GB/s\")")(
      "ops", "also the step's compute operator by operator (slowest pipeline rank)")(
      "format", po::value<std::string>()->default_value("text"), "text|json")(
      "output,o", po::value<std::string>(), "write to FILE (atomically) instead of stdout");
  po::positional_options_description pos;
  pos.add("scenario", 1);
  const std::string usage =
      "trainsim estimate SCENARIO [--set PATH=VALUE]... [--ops] [--format text|json] [-o FILE]";
  po::variables_map vm;
  if (!parse_options(args, desc, pos, vm, usage, "trainsim estimate deepseek-v3 --format json", io)) {
    return kExitOk;
  }
  if (!vm.count("scenario")) {
    throw UsageError(fmt::format("missing SCENARIO (one of {})\nusage: {}", join(run::list_scenarios()),
                                 usage));
  }
  const std::string format = checked_format(vm, {"text", "json"});
  std::vector<hardware::Override> overrides;
  if (vm.count("set")) overrides = hardware::parse_overrides(vm["set"].as<std::vector<std::string>>());

  const run::Scenario s = run::load_scenario(vm["scenario"].as<std::string>(), overrides);
  const auto steps = run::analytic_step_model(s);
  const run::RunEstimate r = run::evaluate_run(s, run::nominal_perturbation(s), *steps);
  const run::PhaseResult& m = run::main_phase(r);
  const plan::MemoryBreakdown mem = plan::memory_per_gpu(m.plan, s.model);
  std::optional<std::vector<analytic::OperatorTime>> ops;
  if (vm.count("ops") && run::has_step(m)) {
    // The main phase's step as evaluated (nominal scales: the tables as calibrated).
    const cost::CostModel cost(s.cluster, steps->tables());
    ops = analytic::operator_times(s.model, m.plan, cost, m.step.critical_rank);
  }

  if (format == "json") {
    json phases = json::array();
    for (const auto& p : r.phases) phases.push_back(run::to_json(p));
    json j{{"command", "trainsim estimate " + join(args, " ")},
           {"scenario", s.name},
           {"model", s.model.name},
           {"cluster", s.cluster.name},
           {"gpus", s.cluster.total_accelerators()},
           {"calibration", run::to_json(steps->tables())},
           {"step_phase", run::has_step(m) ? json(m.name) : json(nullptr)},
           {"step", run::has_step(m) ? run::to_json(m.step) : json(nullptr)},
           {"memory_gib", run::to_json(mem, s.cluster.accelerator.hbm_capacity)},
           {"phases", phases},
           {"totals", run::totals_json(r)},
           {"assumptions", run::assumptions_json(s.assumptions)}};
    if (vm.count("ops")) j["operators"] = ops ? ops_json(*ops, m.step.critical_rank) : json(nullptr);
    emit(vm, j.dump(2) + "\n", io);
  } else {
    emit(vm, text_report(s, r, mem, steps->tables(), ops ? &*ops : nullptr), io);
  }
  return kExitOk;
}

}  // namespace trainsim::cli
