#include "core/json_reader.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "core/file_io.h"
#include "core/strings.h"

namespace trainsim {

std::string json_pointer_escape(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

JsonView::JsonView(const nlohmann::json* node, std::string file, std::string pointer)
    : node_(node), file_(std::move(file)), pointer_(std::move(pointer)) {}

void JsonView::fail(const std::string& message) const {
  throw ConfigError(file_, pointer_.empty() ? "/" : pointer_, message);
}

std::string JsonView::describe_found() const {
  const auto& j = *node_;
  std::string dumped;
  if (j.is_object()) return "an object";
  if (j.is_array()) return fmt::format("an array of {}", j.size());
  dumped = j.dump();
  if (dumped.size() > 60) dumped = dumped.substr(0, 57) + "...";
  if (j.is_string()) return "the string " + dumped;
  if (j.is_boolean()) return "the boolean " + dumped;
  if (j.is_null()) return "null";
  return "the number " + dumped;
}

void JsonView::fail_expected(const std::string& expected) const {
  fail(fmt::format("expected {}; found {}", expected, describe_found()));
}

bool JsonView::has(std::string_view key) const {
  return node_->is_object() && node_->contains(std::string(key)) &&
         !(*node_)[std::string(key)].is_null();
}

JsonView JsonView::at(std::string_view key) const {
  if (!node_->is_object()) fail_expected(fmt::format("an object with member \"{}\"", key));
  auto it = node_->find(std::string(key));
  if (it == node_->end()) {
    fail(fmt::format("missing required field \"{}\"{}", key, did_you_mean(key, keys())));
  }
  return JsonView(&*it, file_, pointer_ + "/" + json_pointer_escape(key));
}

std::optional<JsonView> JsonView::find(std::string_view key) const {
  if (!node_->is_object()) fail_expected("an object");
  auto it = node_->find(std::string(key));
  if (it == node_->end() || it->is_null()) return std::nullopt;
  return JsonView(&*it, file_, pointer_ + "/" + json_pointer_escape(key));
}

size_t JsonView::size() const {
  if (!node_->is_array()) fail_expected("an array");
  return node_->size();
}

JsonView JsonView::at(size_t index) const {
  if (!node_->is_array()) fail_expected("an array");
  if (index >= node_->size()) fail(fmt::format("missing array element {}", index));
  return JsonView(&(*node_)[index], file_, pointer_ + "/" + std::to_string(index));
}

std::vector<JsonView> JsonView::elements() const {
  std::vector<JsonView> out;
  const size_t n = size();
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.push_back(at(i));
  return out;
}

std::vector<std::string> JsonView::keys() const {
  std::vector<std::string> out;
  if (!node_->is_object()) return out;
  for (auto it = node_->begin(); it != node_->end(); ++it) out.push_back(it.key());
  return out;
}

std::string JsonView::string() const {
  if (!node_->is_string()) fail_expected("a string");
  return node_->get<std::string>();
}

bool JsonView::boolean() const {
  if (!node_->is_boolean()) fail_expected("true or false");
  return node_->get<bool>();
}

double JsonView::number() const {
  if (!node_->is_number()) fail_expected("a number");
  const double v = node_->get<double>();
  if (!std::isfinite(v)) fail_expected("a finite number");
  return v;
}

double JsonView::positive_number() const {
  const double v = number();
  if (!(v > 0)) fail_expected("a positive number");
  return v;
}

double JsonView::non_negative_number() const {
  const double v = number();
  if (v < 0) fail_expected("a number >= 0");
  return v;
}

int64_t JsonView::integer() const {
  if (node_->is_number_integer()) return node_->get<int64_t>();
  if (node_->is_number_float()) {
    const double v = node_->get<double>();
    if (std::isfinite(v) && std::floor(v) == v && std::fabs(v) < 9e15) {
      return static_cast<int64_t>(v);
    }
  }
  fail_expected("an integer");
}

int64_t JsonView::positive_integer() const {
  const int64_t v = integer();
  if (v < 1) fail_expected("a positive integer");
  return v;
}

int64_t JsonView::non_negative_integer() const {
  const int64_t v = integer();
  if (v < 0) fail_expected("an integer >= 0");
  return v;
}

double JsonView::quantity_in(Dimension d) const {
  if (node_->is_object()) return at("value").quantity_in(d);
  if (!node_->is_string()) {
    fail(fmt::format("expected {} as a string with its unit; found {}", describe_dimension(d),
                     describe_found()));
  }
  double v = 0;
  try {
    v = parse_in_dimension(node_->get<std::string>(), d);
  } catch (const UnitError& e) {
    fail(e.what());
  }
  if (v < 0) fail(fmt::format("expected {} >= 0; found {}", describe_dimension(d), describe_found()));
  return v;
}

std::tuple<double, std::string, std::string> JsonView::sourced_in(Dimension d) const {
  if (!node_->is_object()) {
    fail(fmt::format("expected {} as {{\"value\": ..., \"source\": ...}}; found {}",
                     describe_dimension(d), describe_found()));
  }
  const double v = quantity_in(d);
  const std::string src = at("source").string();
  if (src.empty()) at("source").fail("expected a non-empty source");
  std::string note;
  if (auto n = find("note")) note = n->string();
  return {v, src, note};
}

double JsonView::area_mm2() const {
  if (node_->is_object()) return at("value").area_mm2();
  if (!node_->is_string()) fail_expected("an area string such as \"814 mm2\"");
  try {
    const double v = parse_area_mm2(node_->get<std::string>());
    // Die areas are tens to hundreds of mm2; below 1 mm2 is a typo, and a
    // vanishing area would make performance density (TPP / area) infinite.
    if (!(v >= 1)) fail_expected("an area of at least 1 mm2");
    return v;
  } catch (const UnitError& e) {
    fail(e.what());
  }
}

void JsonView::check_keys(const std::vector<std::string>& allowed) const {
  if (!node_->is_object()) fail_expected("an object");
  for (auto it = node_->begin(); it != node_->end(); ++it) {
    if (std::find(allowed.begin(), allowed.end(), it.key()) == allowed.end()) {
      JsonView(&*it, file_, pointer_ + "/" + json_pointer_escape(it.key()))
          .fail(fmt::format("unknown field \"{}\"{}", it.key(), did_you_mean(it.key(), allowed)));
    }
  }
}

std::string JsonView::one_of(const std::vector<std::string>& choices) const {
  const std::string s = string();
  if (std::find(choices.begin(), choices.end(), s) == choices.end()) {
    fail(fmt::format("expected one of {}; found \"{}\"{}", join(choices), s,
                     did_you_mean(s, choices)));
  }
  return s;
}

namespace {

// The DOM builder, remembering the byte offset of the error it is told of.
class LocatingSax : public nlohmann::detail::json_sax_dom_parser<nlohmann::json> {
 public:
  using json_sax_dom_parser::json_sax_dom_parser;
  template <class Exception>
  bool parse_error(std::size_t position, const std::string& token, const Exception& ex) {
    error_byte = position;
    return json_sax_dom_parser::parse_error(position, token, ex);
  }
  size_t error_byte = 0;
};

size_t line_of_out_of_range(const std::string& text) {
  nlohmann::json scratch;
  LocatingSax sax(scratch, /*allow_exceptions=*/false);
  nlohmann::json::sax_parse(text, &sax);
  size_t line = 1;
  for (size_t i = 0; i < text.size() && i + 1 < sax.error_byte; ++i) line += text[i] == '\n';
  return line;
}

}  // namespace

JsonDocument JsonDocument::parse(const std::string& text, const std::string& name) {
  JsonDocument d;
  d.file_ = name;
  try {
    d.doc_ = std::make_shared<nlohmann::json>(nlohmann::json::parse(text));
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is the offset of the error; turn it into a line number.
    size_t line = 1;
    for (size_t i = 0; i < text.size() && i + 1 < e.byte; ++i) line += text[i] == '\n';
    throw ConfigError(name, "", fmt::format("not valid JSON (line {}): {}", line, e.what()));
  } catch (const nlohmann::json::out_of_range& e) {
    // A number too large for a double ("1e999", error 406) carries no byte
    // offset; parse again with a SAX handler that records where it stopped.
    throw ConfigError(name, "", fmt::format("not valid JSON (line {}): {}",
                                            line_of_out_of_range(text), e.what()));
  }
  return d;
}

JsonDocument JsonDocument::load(const std::string& path) {
  return parse(read_file(path), path);
}

}  // namespace trainsim
