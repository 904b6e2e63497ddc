// PLACEHOLDER: replaced by the module that implements "trainsim claim".
#include "cli/commands.h"
#include "core/error.h"

namespace trainsim::cli {

int cmd_claim(const std::vector<std::string>&, Io&) {
  throw UsageError("\"trainsim claim\" is not built yet");
}

}  // namespace trainsim::cli
