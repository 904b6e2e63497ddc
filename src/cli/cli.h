// The trainsim command line.
//
// Subcommands live in one table {name, summary, handler} (ninja's tool
// table); an unknown one gets a did-you-mean. Each handler parses its own
// options with Boost.Program_options and writes to the given streams, so the
// whole command line is testable in-process. Exceptions map to exit codes in
// run() (see core/error.h).
#pragma once

#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

namespace trainsim::cli {

struct Io {
  std::ostream& out;
  std::ostream& err;
};

using Handler = int (*)(const std::vector<std::string>& args, Io& io);

struct Command {
  std::string_view name;
  std::string_view summary;
  Handler handler;
};

const std::vector<Command>& commands();

// Runs "trainsim ARGS..." (args excludes the program name); returns the exit code.
int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int run_main(int argc, char** argv);

}  // namespace trainsim::cli
