// Shared option handling for subcommands: Boost.Program_options parsing with
// errors turned into UsageError, --help with an example, --format, --output.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "cli/cli.h"

namespace trainsim::cli {

namespace po = boost::program_options;

// Parses args against desc (and positional). Returns false when --help was
// printed (the handler then returns 0). Usage text shows `usage` and `example`.
bool parse_options(const std::vector<std::string>& args, const po::options_description& desc,
                   const po::positional_options_description& positional, po::variables_map& vm,
                   const std::string& usage, const std::string& example, Io& io);

// Checks --format against the allowed set and returns it.
std::string checked_format(const po::variables_map& vm, const std::vector<std::string>& allowed);

// Writes text to --output FILE atomically if given, else to io.out.
void emit(const po::variables_map& vm, const std::string& text, Io& io);

}  // namespace trainsim::cli
