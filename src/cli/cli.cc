#include "cli/cli.h"

#include <iostream>
#include <new>

#include <boost/program_options/errors.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "core/strings.h"

namespace trainsim::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> kCommands = {
      {"claim", "check a published training-cost claim (DeepSeek-V3) from first principles", cmd_claim},
      {"estimate", "predict step time and the cost of a training run for a scenario", cmd_estimate},
      {"simulate", "simulate one training step event by event", cmd_simulate},
      {"validate", "compare predictions with published training runs", cmd_validate},
      {"plan", "find the cluster, parallel layout and schedule for a budget or a deadline", cmd_plan},
      {"compare", "the same training on several accelerators, with export-control status", cmd_compare},
      {"model", "show a model's parameters, FLOPs per token and operator graph", cmd_model},
      {"hardware", "list, show and export-classify accelerators and clusters", cmd_hardware},
      {"calibrate", "fit efficiency tables from kernel measurements", cmd_calibrate},
  };
  return kCommands;
}

namespace {

void print_usage(std::ostream& out) {
  out << "trainsim: what it costs (GPU-hours, dollars, energy, days) to train a large language model\n\n"
         "usage: trainsim COMMAND [options]    (trainsim COMMAND --help for each)\n\ncommands:\n";
  for (const auto& c : commands()) out << fmt::format("  {:<10} {}\n", c.name, c.summary);
}

}  // namespace

int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Io io{out, err};
  try {
    if (args.empty()) {
      print_usage(err);  // no command: a usage error, so the text goes to stderr
      return kExitUsage;
    }
    if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
      print_usage(out);
      return kExitOk;
    }
    if (args[0] == "--version") {
      out << "trainsim 0.1.0\n";
      return kExitOk;
    }
    for (const auto& c : commands()) {
      if (c.name == args[0]) {
        return c.handler(std::vector<std::string>(args.begin() + 1, args.end()), io);
      }
    }
    std::vector<std::string> names;
    for (const auto& c : commands()) names.emplace_back(c.name);
    throw UsageError(fmt::format("unknown command \"{}\"{}; commands: {}", args[0],
                                 did_you_mean(args[0], names), join(names)));
  } catch (const UsageError& e) {
    err << "trainsim: usage error: " << e.what() << "\n";
    return kExitUsage;
  } catch (const boost::program_options::error& e) {
    err << "trainsim: usage error: " << e.what() << "\n";
    return kExitUsage;
  } catch (const ConfigError& e) {
    err << "trainsim: error in " << e.what() << "\n";
    return kExitConfig;
  } catch (const PlanError& e) {
    err << "trainsim: plan cannot run: " << e.what() << "\n";
    return kExitPlan;
  } catch (const IoError& e) {
    err << "trainsim: " << e.what() << "\n";
    return kExitIo;
  } catch (const InternalError& e) {
    err << "trainsim: " << e.what() << "\n";
    return kExitInternal;
  } catch (const nlohmann::json::exception& e) {
    err << "trainsim: internal JSON error: " << e.what() << "\n";
    return kExitInternal;
  } catch (const std::bad_alloc&) {
    err << "trainsim: out of memory\n";
    return kExitInternal;
  } catch (const std::exception& e) {
    err << "trainsim: internal error: " << e.what() << "\n";
    return kExitInternal;
  }
}

int run_main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::ios::sync_with_stdio(true);
  const int rc = run(args, std::cout, std::cerr);
  std::cout.flush();
  return rc;
}

}  // namespace trainsim::cli
