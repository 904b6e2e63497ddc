// PLACEHOLDER: replaced by the module that implements "trainsim estimate".
#include "cli/commands.h"
#include "core/error.h"

namespace trainsim::cli {

int cmd_estimate(const std::vector<std::string>&, Io&) {
  throw UsageError("\"trainsim estimate\" is not built yet");
}

}  // namespace trainsim::cli
