// trainsim calibrate fit MEASUREMENTS.json... --profile NAME -o FILE [--carry-from PROFILE]
// trainsim calibrate show PROFILE [--format text|json]
// trainsim calibrate list
//
// `fit` fits efficiency tables (calib/tables.h) to measurement files
// (calibrate/FORMAT.md), prints the residuals per operator kind and writes
// the table atomically with its provenance. Without --carry-from the groups
// no row describes keep the stated generic defaults; with it they keep the
// named profile's fitted table, carried by calib::carry_tables().
// `show` prints the table the cost model uses for a profile (a fitted file or
// the stated default).
#include <algorithm>
#include <ostream>

#include <fmt/format.h>

#include "calib/fit.h"
#include "calib/measurements.h"
#include "calib/tables.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "core/error.h"
#include "core/strings.h"
#include "core/file_io.h"
#include "hardware/hardware.h"
#include "report/table.h"

namespace trainsim::cli {
namespace {

std::string show_text(const calib::EfficiencyTables& t) {
  std::string out = fmt::format("efficiency tables for {}{}\n", t.profile, t.is_default() ? " (DEFAULT)" : "");
  const auto& p = t.provenance;
  if (p.is_default) out += fmt::format("  default: {}\n", p.default_reason);
  if (!p.gpu.empty() && !p.is_default) out += fmt::format("  gpu: {}\n", p.gpu);
  if (!p.date.empty()) out += fmt::format("  date: {}\n", p.date);
  if (!p.fitted_from.empty()) out += fmt::format("  fitted from: {}\n", fmt::join(p.fitted_from, ", "));
  if (!p.carried_from.empty()) {
    out += fmt::format("  carried from: {}\n", p.carried_from);
    for (const auto& a : p.adjustments) out += fmt::format("    adjustment: {}\n", a);
  }
  report::Table tab({"parameter group", "values", "basis"});
  auto us = [](Seconds s) { return fmt::format("{:.3g} us", s.value() / units::kMicro); };
  for (const auto& [prec, g] : t.gemm) {
    tab.add_row({fmt::format("gemm/{}", to_string(prec)),
                 fmt::format("eta {:.3f}, tile {}x{}, k_overhead {:.0f}, launch {}{}", g.eta_max, g.tile_m, g.tile_n,
                             g.k_overhead, us(g.launch_overhead),
                             g.sustained ? fmt::format(", sustained {:.3f}", *g.sustained) : std::string()),
                 g.full_basis()});
  }
  for (const auto& [prec, g] : t.grouped_gemm) {
    tab.add_row({fmt::format("grouped_gemm/{}", to_string(prec)),
                 fmt::format("eta {:.3f}, tile {}x{}, k_overhead {:.0f}, launch {}", g.eta_max, g.tile_m, g.tile_n,
                             g.k_overhead, us(g.launch_overhead)),
                 g.basis});
  }
  for (const auto& [name, a] : {std::pair{"attention/fwd", &t.attention_fwd}, std::pair{"attention/bwd", &t.attention_bwd},
                                std::pair{"attention-flash2/fwd", &t.flash2_fwd},
                                std::pair{"attention-flash2/bwd", &t.flash2_bwd}}) {
    tab.add_row({name, fmt::format("eta {:.3f}, seq_half {:.0f}, head_dim_half {:.1f}", a->eta_max, a->seq_half,
                                   a->head_dim_half),
                 a->basis});
  }
  tab.add_row({"memory", fmt::format("eta {:.3f}, latency {}", t.memory.eta, us(t.memory.latency)), t.memory.basis});
  for (const auto& [name, l] : {std::pair{"collective/scale_up", &t.scale_up.collective},
                                std::pair{"all_to_all/scale_up", &t.scale_up.all_to_all},
                                std::pair{"collective/scale_out", &t.scale_out.collective},
                                std::pair{"all_to_all/scale_out", &t.scale_out.all_to_all}}) {
    tab.add_row({name, fmt::format("eta {:.3f}, message latency {}", l->eta, us(l->alpha)), l->basis});
  }
  std::string pts;
  for (const auto& pt : t.interference.points) {
    pts += fmt::format("{}({:.3f}, {:.3f})", pts.empty() ? "" : " ", pt.sm_fraction_taken, pt.compute_fraction);
  }
  tab.add_row({"interference", pts, t.interference.basis});
  out += tab.to_text();
  if (!t.residuals.empty()) {
    report::Table res({"kind", "rows", "rms rel. error", "max rel. error"});
    for (const auto& r : t.residuals) {
      res.add_row({r.kind, std::to_string(r.rows), report::percent(r.rms_relative), report::percent(r.max_relative)});
    }
    out += "residuals of the fit:\n" + res.to_text();
  }
  return out;
}

// calib::carry_tables with the GEMM power elasticity, read only when a
// sustained factor meets a different power limit (the only use it has).
calib::EfficiencyTables carried(const calib::EfficiencyTables& source, const hardware::Accelerator& from,
                                const hardware::Accelerator& to) {
  const bool needs_power = from.tdp != to.tdp && std::any_of(source.gemm.begin(), source.gemm.end(), [](const auto& g) {
                             return g.second.sustained.has_value();
                           });
  if (!needs_power) return calib::carry_tables(source, from, to);
  const calib::PowerElasticity power = calib::load_power_elasticity(calib::power_elasticity_path());
  return calib::carry_tables(source, from, to, &power);
}

int fit(const std::vector<std::string>& args, Io& io) {
  po::options_description desc("calibrate fit options");
  desc.add_options()("measurements", po::value<std::vector<std::string>>()->multitoken(), "measurement files")(
      "profile", po::value<std::string>()->required(), "hardware profile the table is for")(
      "output,o", po::value<std::string>()->required(), "table file to write (atomically)")(
      "carry-from", po::value<std::string>(), "start from this profile's table, carried with stated adjustments");
  po::positional_options_description pos;
  pos.add("measurements", -1);
  po::variables_map vm;
  if (!parse_options(args, desc, pos, vm,
                     "trainsim calibrate fit MEASUREMENTS.json... --profile NAME -o FILE [--carry-from PROFILE]",
                     "trainsim calibrate fit calibrate/measurements/deepgemm-h800.json --profile h800 "
                     "--carry-from h100-sxm -o calibrate/tables/h800.json",
                     io)) {
    return kExitOk;
  }
  if (!vm.count("measurements")) throw UsageError("calibrate fit: give at least one measurement file");
  const std::string profile = vm["profile"].as<std::string>();
  const hardware::Accelerator acc = hardware::load_accelerator(profile);
  std::vector<calib::MeasurementFile> files;
  for (const auto& path : vm["measurements"].as<std::vector<std::string>>()) {
    files.push_back(calib::load_measurements(path));
  }
  calib::EfficiencyTables base;
  if (vm.count("carry-from")) {
    const std::string from = vm["carry-from"].as<std::string>();
    const std::string path = calib::tables_path_for(from);
    if (!file_exists(path)) throw UsageError(fmt::format("--carry-from {}: no fitted table {}", from, path));
    base = carried(calib::load_tables(path), hardware::load_accelerator(from), acc);
  } else {
    base = calib::default_tables(profile, "no measurement for this parameter group");
    base.provenance.is_default = false;
  }
  calib::FitResult r = calib::fit_tables(files, acc, base);
  r.tables.profile = profile;
  std::string cmd = "trainsim calibrate fit";
  for (const auto& a : args) cmd += " " + a;
  r.tables.provenance.command = cmd;
  report::Table res({"kind", "rows", "rms rel. error", "max rel. error"});
  for (const auto& x : r.residuals) {
    res.add_row({x.kind, std::to_string(x.rows), report::percent(x.rms_relative), report::percent(x.max_relative)});
  }
  io.out << "residuals (model time / measured time - 1):\n" << res.to_text();
  for (const auto& line : r.sustained) io.out << line << "\n";  // none without sustained rows
  calib::save_tables(r.tables, vm["output"].as<std::string>());
  io.out << "wrote " << vm["output"].as<std::string>() << "\n";
  return kExitOk;
}

// A table for a part with no measurement of its own, carried from a fitted one.
int carry(const std::vector<std::string>& args, Io& io) {
  po::options_description desc("calibrate carry options");
  desc.add_options()("from", po::value<std::string>()->required(), "profile with a fitted table")(
      "profile", po::value<std::string>()->required(), "target hardware profile")(
      "output,o", po::value<std::string>()->required(), "table file to write (atomically)");
  po::positional_options_description pos;
  po::variables_map vm;
  if (!parse_options(args, desc, pos, vm, "trainsim calibrate carry --from PROFILE --profile NAME -o FILE",
                     "trainsim calibrate carry --from h100-sxm --profile h200 -o calibrate/tables/h200.json", io)) {
    return kExitOk;
  }
  const std::string from = vm["from"].as<std::string>();
  const std::string path = calib::tables_path_for(from);
  if (!file_exists(path)) throw UsageError(fmt::format("--from {}: no fitted table {}", from, path));
  calib::EfficiencyTables t = carried(calib::load_tables(path), hardware::load_accelerator(from),
                                      hardware::load_accelerator(vm["profile"].as<std::string>()));
  std::string cmd = "trainsim calibrate carry";
  for (const auto& a : args) cmd += " " + a;
  t.provenance.command = cmd;
  calib::save_tables(t, vm["output"].as<std::string>());
  for (const auto& a : t.provenance.adjustments) io.out << "adjustment: " << a << "\n";
  io.out << "wrote " << vm["output"].as<std::string>() << "\n";
  return kExitOk;
}

int show(const std::vector<std::string>& args, Io& io) {
  po::options_description desc("calibrate show options");
  desc.add_options()("profile", po::value<std::string>()->required(), "hardware profile")(
      "format", po::value<std::string>()->default_value("text"), "text|json");
  po::positional_options_description pos;
  pos.add("profile", 1);
  po::variables_map vm;
  if (!parse_options(args, desc, pos, vm, "trainsim calibrate show PROFILE [--format text|json]",
                     "trainsim calibrate show h800", io)) {
    return kExitOk;
  }
  const std::string format = checked_format(vm, {"text", "json"});
  const calib::EfficiencyTables t = calib::load_tables_for(hardware::load_accelerator(vm["profile"].as<std::string>()));
  io.out << (format == "json" ? calib::tables_to_json(t) : show_text(t));
  return kExitOk;
}

}  // namespace

int cmd_calibrate(const std::vector<std::string>& args, Io& io) {
  const std::string usage =
      "usage: trainsim calibrate fit MEASUREMENTS.json... --profile NAME -o FILE [--carry-from PROFILE]\n"
      "       trainsim calibrate carry --from PROFILE --profile NAME -o FILE\n"
      "       trainsim calibrate show PROFILE [--format text|json]\n"
      "       trainsim calibrate list";
  if (args.empty()) throw UsageError("calibrate: expected a subcommand (fit, carry, show, list)\n" + usage);
  const std::string sub = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (sub == "fit") return fit(rest, io);
  if (sub == "show") return show(rest, io);
  if (sub == "carry") return carry(rest, io);
  if (sub == "list") {
    for (const auto& p : calib::list_tables()) io.out << p << "\n";
    return kExitOk;
  }
  if (sub == "--help" || sub == "-h") {
    io.out << usage << "\n\nexample:\n"
           << "  trainsim calibrate fit calibrate/measurements/deepgemm-h800.json "
              "calibrate/measurements/deepep-h800.json --profile h800 --carry-from h100-sxm -o /tmp/h800.json\n";
    return kExitOk;
  }
  const std::vector<std::string> subs = {"fit", "carry", "show", "list"};
  throw UsageError(fmt::format("calibrate: unknown subcommand \"{}\"{} (expected fit, carry, show, list)\n{}", sub,
                               did_you_mean(sub, subs), usage));
}

}  // namespace trainsim::cli
