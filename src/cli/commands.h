// Handlers of the subcommands, one file each (cmd_<name>.cc).
#pragma once

#include "cli/cli.h"

namespace trainsim::cli {

int cmd_model(const std::vector<std::string>& args, Io& io);
int cmd_hardware(const std::vector<std::string>& args, Io& io);
int cmd_calibrate(const std::vector<std::string>& args, Io& io);
int cmd_estimate(const std::vector<std::string>& args, Io& io);
int cmd_claim(const std::vector<std::string>& args, Io& io);
int cmd_simulate(const std::vector<std::string>& args, Io& io);
int cmd_plan(const std::vector<std::string>& args, Io& io);
int cmd_compare(const std::vector<std::string>& args, Io& io);
int cmd_validate(const std::vector<std::string>& args, Io& io);

}  // namespace trainsim::cli
