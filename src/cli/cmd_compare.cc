// PLACEHOLDER: replaced by the module that implements "trainsim compare".
#include "cli/commands.h"
#include "core/error.h"

namespace trainsim::cli {

int cmd_compare(const std::vector<std::string>&, Io&) {
  throw UsageError("\"trainsim compare\" is not built yet");
}

}  // namespace trainsim::cli
