// Errors and invariants.
//
// Bad input is reported with exceptions at the boundary, each mapped by main
// to one exit code (after ninja's Fatal):
//   UsageError   -> kExitUsage    (bad command line)
//   ConfigError  -> kExitConfig   (a data file: file, JSON pointer, what was expected, what was found)
//   PlanError    -> kExitPlan     (a parallel plan that cannot run: the reason and the numbers)
//   IoError      -> kExitIo       (a file that cannot be read or written)
//   InternalError-> kExitInternal (a broken invariant: a bug in trainsim)
// TRAINSIM_CHECK stays on in every build.
#pragma once

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace trainsim {

inline constexpr int kExitOk = 0;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitConfig = 3;
inline constexpr int kExitPlan = 4;
inline constexpr int kExitIo = 5;
inline constexpr int kExitInternal = 70;

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A data file is wrong. what() reads "FILE: at JSON_POINTER: MESSAGE".
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string file, std::string pointer, std::string message);
  const std::string& file() const { return file_; }
  const std::string& pointer() const { return pointer_; }
  const std::string& message() const { return message_; }

 private:
  std::string file_;
  std::string pointer_;
  std::string message_;
};

class PlanError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class IoError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class InternalError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

[[noreturn]] void check_failed(const char* file, int line, const char* cond, const std::string& msg);

}  // namespace trainsim

// Invariant that holds for every validated input; on in every build.
#define TRAINSIM_CHECK(cond, ...)                                                            \
  do {                                                                                       \
    if (!(cond)) ::trainsim::check_failed(__FILE__, __LINE__, #cond, fmt::format(__VA_ARGS__)); \
  } while (0)
