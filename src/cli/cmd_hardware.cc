// PLACEHOLDER: replaced by the module that implements "trainsim hardware".
#include "cli/commands.h"
#include "core/error.h"

namespace trainsim::cli {

int cmd_hardware(const std::vector<std::string>&, Io&) {
  throw UsageError("\"trainsim hardware\" is not built yet");
}

}  // namespace trainsim::cli
