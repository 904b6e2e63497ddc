// PLACEHOLDER: replaced by the module that implements "trainsim simulate".
#include "cli/commands.h"
#include "core/error.h"

namespace trainsim::cli {

int cmd_simulate(const std::vector<std::string>&, Io&) {
  throw UsageError("\"trainsim simulate\" is not built yet");
}

}  // namespace trainsim::cli
