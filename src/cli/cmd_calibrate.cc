// PLACEHOLDER: replaced by the module that implements "trainsim calibrate".
#include "cli/commands.h"
#include "core/error.h"

namespace trainsim::cli {

int cmd_calibrate(const std::vector<std::string>&, Io&) {
  throw UsageError("\"trainsim calibrate\" is not built yet");
}

}  // namespace trainsim::cli
