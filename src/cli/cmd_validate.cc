// PLACEHOLDER: replaced by the module that implements "trainsim validate".
#include "cli/commands.h"
#include "core/error.h"

namespace trainsim::cli {

int cmd_validate(const std::vector<std::string>&, Io&) {
  throw UsageError("\"trainsim validate\" is not built yet");
}

}  // namespace trainsim::cli
