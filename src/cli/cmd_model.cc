// PLACEHOLDER: replaced by the module that implements "trainsim model".
#include "cli/commands.h"
#include "core/error.h"

namespace trainsim::cli {

int cmd_model(const std::vector<std::string>&, Io&) {
  throw UsageError("\"trainsim model\" is not built yet");
}

}  // namespace trainsim::cli
