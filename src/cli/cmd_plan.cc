// PLACEHOLDER: replaced by the module that implements "trainsim plan".
#include "cli/commands.h"
#include "core/error.h"

namespace trainsim::cli {

int cmd_plan(const std::vector<std::string>&, Io&) {
  throw UsageError("\"trainsim plan\" is not built yet");
}

}  // namespace trainsim::cli
