// trainsim validate FILE.csv [--engine analytic|des] [--format text|json|md] [--output FILE]
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/error.h"
#include "report/csv.h"
#include "report/validation.h"

namespace trainsim::cli {

int cmd_validate(const std::vector<std::string>& args, Io& io) {
  po::options_description desc("validate options");
  desc.add_options()
      ("file", po::value<std::string>(), "CSV of published runs (columns of training_runs.csv, by header name)")
      ("engine", po::value<std::string>()->default_value("analytic"), "analytic | des")
      ("format", po::value<std::string>()->default_value("text"), "text | json | md")
      ("output,o", po::value<std::string>(), "write to FILE (atomically) instead of stdout");
  po::positional_options_description pos;
  pos.add("file", 1);
  po::variables_map vm;
  const std::string usage = "trainsim validate FILE.csv [--engine analytic|des] [--format text|json|md] [--output FILE]";
  if (!parse_options(args, desc, pos, vm, usage,
                     "trainsim validate tests/validation/public_runs.csv --format md --output reports/validation.md",
                     io)) {
    return kExitOk;
  }
  if (!vm.count("file")) throw UsageError("validate needs a CSV file\nusage: " + usage);
  const std::string format = checked_format(vm, {"text", "json", "md"});
  const std::string engine_name = vm["engine"].as<std::string>();
  report::Engine engine;
  report::Predictor predict;
  if (engine_name == "analytic") {
    engine = report::Engine::kAnalytic;
    predict = report::analytic_predictor();
  } else if (engine_name == "des") {
    engine = report::Engine::kDes;
    predict = report::des_predictor();  // UsageError when the simulator is not built
  } else {
    throw UsageError(fmt::format("--engine {}: expected analytic or des", engine_name));
  }
  const std::string file = vm["file"].as<std::string>();
  const report::CsvTable table = report::read_csv(file);  // IoError / ConfigError
  std::string command = fmt::format("trainsim validate {} --engine {} --format {}", file, engine_name, format);
  if (vm.count("output")) command += " --output " + vm["output"].as<std::string>();
  const report::ValidationReport rep = report::validate_runs(table, predict, engine, command);
  const std::string text = format == "json" ? report::to_json(rep)
                           : format == "md" ? report::to_markdown(rep)
                                            : report::to_text(rep);
  emit(vm, text, io);
  return kExitOk;
}

}  // namespace trainsim::cli
