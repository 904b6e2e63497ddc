#include "core/error.h"

namespace trainsim {

namespace {
std::string compose(const std::string& file, const std::string& pointer, const std::string& msg) {
  std::string where = file.empty() ? std::string("<input>") : file;
  if (!pointer.empty()) where += ": at " + pointer;
  return where + ": " + msg;
}
}  // namespace

ConfigError::ConfigError(std::string file, std::string pointer, std::string message)
    : std::runtime_error(compose(file, pointer, message)),
      file_(std::move(file)),
      pointer_(std::move(pointer)),
      message_(std::move(message)) {}

void check_failed(const char* file, int line, const char* cond, const std::string& msg) {
  throw InternalError(fmt::format("internal error at {}:{}: check '{}' failed: {}", file, line,
                                  cond, msg));
}

}  // namespace trainsim
