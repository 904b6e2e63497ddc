#include "cli/options.h"

#include <ostream>

#include <fmt/format.h>

#include "core/error.h"
#include "core/file_io.h"
#include "core/strings.h"

namespace trainsim::cli {

bool parse_options(const std::vector<std::string>& args, const po::options_description& desc,
                   const po::positional_options_description& positional, po::variables_map& vm,
                   const std::string& usage, const std::string& example, Io& io) {
  po::options_description all(desc);
  all.add_options()("help,h", "show this help");
  try {
    po::store(po::command_line_parser(args).options(all).positional(positional).run(), vm);
    if (vm.count("help")) {
      io.out << "usage: " << usage << "\n\n" << all << "\nexample:\n  " << example << "\n";
      return false;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(fmt::format("{}\nusage: {}", e.what(), usage));
  }
  return true;
}

std::string checked_format(const po::variables_map& vm, const std::vector<std::string>& allowed) {
  const std::string f = vm.count("format") ? vm["format"].as<std::string>() : allowed.front();
  for (const auto& a : allowed) {
    if (a == f) return f;
  }
  throw UsageError(fmt::format("--format {}: expected one of {}{}", f, join(allowed, "|"),
                               did_you_mean(f, allowed)));
}

void emit(const po::variables_map& vm, const std::string& text, Io& io) {
  if (vm.count("output")) {
    write_file_atomic(vm["output"].as<std::string>(), text);
  } else {
    io.out << text;
  }
}

}  // namespace trainsim::cli
