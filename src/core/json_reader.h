// Reading JSON data files with errors that name the file and the JSON path.
//
// A JsonView is a position in a parsed document: the node, the file it came
// from, and its JSON pointer ("/layers/3/hidden_size"). Every accessor checks
// the type and range and, on failure, throws ConfigError with the file, the
// pointer, what was expected and what was found. Nothing here has a silent
// default: optional fields are read with find()/has() and the caller states
// the default.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/units.h"

namespace trainsim {

// The largest count (GPUs, nodes, steps) any input may give; keeps products of
// counts inside 64-bit and int arithmetic.
inline constexpr int64_t kMaxCount = 1'000'000'000;

// A quantity with the source it was taken from.
template <class Q>
struct Sourced {
  Q value;
  std::string source;  // datasheet, paper or measurement; never empty when read via sourced()
  std::string note;    // where sources disagree; may be empty
};

class JsonView {
 public:
  JsonView(const nlohmann::json* node, std::string file, std::string pointer);

  const nlohmann::json& raw() const { return *node_; }
  const std::string& file() const { return file_; }
  const std::string& pointer() const { return pointer_; }

  bool has(std::string_view key) const;
  bool is_null() const { return node_->is_null(); }
  bool is_object() const { return node_->is_object(); }
  bool is_array() const { return node_->is_array(); }
  bool is_string() const { return node_->is_string(); }
  bool is_number() const { return node_->is_number(); }

  // A member that must exist (the object itself must be an object).
  JsonView at(std::string_view key) const;
  // A member that may be absent; a JSON null counts as absent.
  std::optional<JsonView> find(std::string_view key) const;
  // Array access.
  size_t size() const;
  JsonView at(size_t index) const;
  std::vector<JsonView> elements() const;
  std::vector<std::string> keys() const;

  // Typed reads of this node.
  std::string string() const;
  bool boolean() const;
  double number() const;            // finite
  double positive_number() const;   // > 0
  double non_negative_number() const;
  int64_t integer() const;          // an integral JSON number
  int64_t positive_integer() const; // >= 1
  int64_t non_negative_integer() const;

  // A quantity from a unit-bearing string ("3.35 TB/s"), or from an object
  // {"value": "3.35 TB/s", "source": "...", "note": "..."}. Must be >= 0.
  template <class Q>
  Q quantity() const {
    return Q(quantity_in(DimensionOf<Q>::value));
  }
  // As quantity(), but the node must be an object with a non-empty "source".
  template <class Q>
  Sourced<Q> sourced() const {
    auto [v, src, note] = sourced_in(DimensionOf<Q>::value);
    return Sourced<Q>{Q(v), std::move(src), std::move(note)};
  }
  double area_mm2() const;

  // Convenience: member shortcuts.
  std::string string_at(std::string_view key) const { return at(key).string(); }
  int64_t positive_integer_at(std::string_view key) const { return at(key).positive_integer(); }

  // Rejects members not in the list, with a did-you-mean.
  void check_keys(const std::vector<std::string>& allowed) const;

  // One of the listed words; otherwise an error listing them, with did-you-mean.
  std::string one_of(const std::vector<std::string>& choices) const;

  [[noreturn]] void fail(const std::string& message) const;
  // "expected X; found Y" where Y is a short rendering of this node.
  [[noreturn]] void fail_expected(const std::string& expected) const;
  std::string describe_found() const;

 private:
  double quantity_in(Dimension d) const;
  std::tuple<double, std::string, std::string> sourced_in(Dimension d) const;

  const nlohmann::json* node_;
  std::string file_;
  std::string pointer_;
};

// A parsed JSON file. Keeps the document alive for the views into it.
class JsonDocument {
 public:
  // Reads and parses; errors (missing file, syntax) name the file and line.
  static JsonDocument load(const std::string& path);
  static JsonDocument parse(const std::string& text, const std::string& name);

  JsonView root() const { return JsonView(doc_.get(), file_, ""); }
  const std::string& file() const { return file_; }
  nlohmann::json& mutable_json() { return *doc_; }

 private:
  std::shared_ptr<nlohmann::json> doc_;
  std::string file_;
};

// Escapes a key for a JSON pointer (RFC 6901).
std::string json_pointer_escape(std::string_view key);

}  // namespace trainsim
