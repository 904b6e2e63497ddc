#include "fuzz/mutator.h"

#include <algorithm>
#include <cstdint>
#include <regex>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "report/csv.h"

namespace trainsim::fuzz {
namespace {

using ojson = nlohmann::ordered_json;

template <class T>
const T& pick(const std::vector<T>& v, Rng& rng) {
  return v[rng.below(v.size())];
}

// Every node below the root, as JSON pointers, in document order.
void collect(const ojson& j, const ojson::json_pointer& here, std::vector<ojson::json_pointer>& out) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      ojson::json_pointer p = here / it.key();
      out.push_back(p);
      collect(it.value(), p, out);
    }
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) {
      ojson::json_pointer p = here / i;
      out.push_back(p);
      collect(j[i], p, out);
    }
  }
}

std::vector<ojson::json_pointer> nodes_where(const ojson& doc, bool (*keep)(const ojson&)) {
  std::vector<ojson::json_pointer> all, out;
  collect(doc, ojson::json_pointer(), all);
  for (const auto& p : all) {
    if (keep(doc.at(p))) out.push_back(p);
  }
  return out;
}

bool any_node(const ojson&) { return true; }
bool number_node(const ojson& j) { return j.is_number(); }
bool string_node(const ojson& j) { return j.is_string(); }
bool array_node(const ojson& j) { return j.is_array(); }
bool non_empty_object_node(const ojson& j) { return j.is_object() && !j.empty(); }

// "3.35 TB/s" -> ("3.35", " ", "TB/s"); strings without a leading number are not quantities.
const std::regex& quantity_re() {
  static const std::regex re(R"(^\s*([-+]?[0-9][0-9.eE+-]*)(\s*)(.+)$)");
  return re;
}

const std::vector<std::string> kUnits = {"GB",  "GB/s",  "W",     "TFLOP/s", "TB/s", "s",  "us",
                                         "GiB", "Gb/s",  "USD/h", "kWh",     "%",    "mm^2", "furlongs",
                                         "",    "GB/s/s", "TFLOP", "J",      "USD",  "h"};
const std::vector<std::string> kNumberTexts = {"-1", "0", "-0", "nan", "NaN", "inf", "-inf", "1e999",
                                               "1e308", "-1e308", "1e-320", "", ".", "1.2.3", "0x10",
                                               "99999999999999999999999"};

// Replaces the node at p with a new value (or deletes it); returns a description.
std::string mutate_value(ojson& doc, Rng& rng) {
  std::vector<ojson::json_pointer> all = nodes_where(doc, any_node);
  if (all.empty()) {
    doc = ojson::array();
    return "root -> []";
  }
  switch (rng.below(9)) {
    case 0: {  // delete a member or element
      const auto p = pick(all, rng);
      ojson& parent = doc.at(p.parent_pointer());
      if (parent.is_object()) {
        parent.erase(p.back());
      } else {
        parent.erase(static_cast<size_t>(std::stoul(p.back())));
      }
      return fmt::format("delete {}", p.to_string());
    }
    case 1: {  // a number to an adversarial number
      const auto nums = nodes_where(doc, number_node);
      if (nums.empty()) break;
      const auto p = pick(nums, rng);
      ojson& n = doc.at(p);
      const double x = n.get<double>();
      static const std::vector<std::string> kinds = {"negate", "zero", "half", "huge", "bounded-max",
                                                     "int-max", "minus-one", "tiny", "2^31"};
      const std::string kind = pick(kinds, rng);
      if (kind == "negate") n = x == 0 ? ojson(-1) : ojson(-x);
      if (kind == "zero") n = 0;
      if (kind == "half") n = x / 2 + 0.5;
      if (kind == "huge") n = 1e300;
      if (kind == "bounded-max") n = int64_t{1} << 24;  // model sizes are bounded at 2^24
      if (kind == "int-max") n = INT64_MAX;
      if (kind == "minus-one") n = -1;
      if (kind == "tiny") n = 1e-300;
      if (kind == "2^31") n = int64_t{1} << 31;
      return fmt::format("{} {} ({} -> {})", kind, p.to_string(), x, n.dump());
    }
    case 2: {  // a number to a string
      const auto nums = nodes_where(doc, number_node);
      if (nums.empty()) break;
      const auto p = pick(nums, rng);
      const std::string s = pick(kNumberTexts, rng);
      doc.at(p) = s;
      return fmt::format("{} -> string \"{}\"", p.to_string(), s);
    }
    case 3:
    case 4: {  // a unit-bearing string: swap the unit or break the number
      const auto strs = nodes_where(doc, string_node);
      if (strs.empty()) break;
      std::vector<ojson::json_pointer> quantities;
      for (const auto& p : strs) {
        if (std::regex_match(doc.at(p).get<std::string>(), quantity_re())) quantities.push_back(p);
      }
      const auto& pool = quantities.empty() ? strs : quantities;
      const auto p = pick(pool, rng);
      const std::string old = doc.at(p).get<std::string>();
      std::smatch m;
      std::string fresh;
      if (std::regex_match(old, m, quantity_re())) {
        if (rng.below(2) == 0) {
          fresh = m[1].str() + m[2].str() + pick(kUnits, rng);
        } else {
          fresh = pick(kNumberTexts, rng) + (m[2].length() ? m[2].str() : " ") + m[3].str();
        }
      } else {
        static const std::vector<std::string> words = {"", " ", "x", "null", "NaN",
                                                       old + "_typo", "1"};
        fresh = pick(words, rng);
      }
      doc.at(p) = fresh;
      return fmt::format("{}: \"{}\" -> \"{}\"", p.to_string(), old, fresh);
    }
    case 5: {  // change the type of a node
      const auto p = pick(all, rng);
      ojson& n = doc.at(p);
      const std::string before = n.type_name();
      switch (rng.below(7)) {
        case 0:
          if (n.is_object()) {
            ojson a = ojson::array();
            for (auto& [k, v] : n.items()) a.push_back(v);
            n = a;
          } else {
            n = ojson::array({n});
          }
          break;
        case 1:
          if (n.is_array()) {
            ojson o = ojson::object();
            for (size_t i = 0; i < n.size(); ++i) o[std::to_string(i)] = n[i];
            n = o;
          } else {
            n = ojson::object({{"value", n}});
          }
          break;
        case 2: n = nullptr; break;
        case 3: n = true; break;
        case 4: n = n.is_string() ? ojson(42) : ojson(n.dump()); break;
        case 5: n = ojson::object(); break;
        default: n = ojson::array(); break;
      }
      return fmt::format("{}: {} -> {}", p.to_string(), before, n.dump().substr(0, 60));
    }
    case 6: {  // an unknown or misspelt key
      const auto objs = nodes_where(doc, non_empty_object_node);
      if (objs.empty()) break;
      const auto p = pick(objs, rng);
      ojson& o = doc.at(p);
      if (rng.below(2) == 0) {
        o["bogus_field"] = 1;
        return fmt::format("add {}/bogus_field", p.to_string());
      }
      std::vector<std::string> keys;
      for (auto it = o.begin(); it != o.end(); ++it) keys.push_back(it.key());
      const std::string k = pick(keys, rng);
      ojson v = o[k];
      o.erase(k);
      const std::string typo = k.size() > 1 ? k.substr(0, k.size() - 1) : k + "_";
      o[typo] = v;
      return fmt::format("rename {}/{} -> {}", p.to_string(), k, typo);
    }
    case 7: {  // arrays: empty, or an element duplicated
      const auto arrs = nodes_where(doc, array_node);
      if (arrs.empty()) break;
      const auto p = pick(arrs, rng);
      ojson& a = doc.at(p);
      if (a.empty() || rng.below(2) == 0) {
        a = ojson::array();
        return fmt::format("empty {}", p.to_string());
      }
      a.push_back(a[rng.below(a.size())]);
      return fmt::format("duplicate an element of {}", p.to_string());
    }
    default: {  // a root-level member deleted (most loaders require every one)
      if (!doc.is_object() || doc.empty()) break;
      std::vector<std::string> keys;
      for (auto it = doc.begin(); it != doc.end(); ++it) keys.push_back(it.key());
      const std::string k = pick(keys, rng);
      doc.erase(k);
      return fmt::format("delete /{}", k);
    }
  }
  return "no-op";
}

// Appends a duplicate of one member to its object, as text (nlohmann keeps the last).
std::string duplicate_key(ojson& doc, Rng& rng, std::string& text) {
  const auto objs = nodes_where(doc, non_empty_object_node);
  if (objs.empty()) {
    text = doc.dump(2);
    return "no duplicate possible";
  }
  const auto p = pick(objs, rng);
  ojson& o = doc.at(p);
  std::vector<std::string> keys;
  for (auto it = o.begin(); it != o.end(); ++it) keys.push_back(it.key());
  const std::string k = pick(keys, rng);
  static const std::vector<std::string> values = {"-1", "\"x\"", "null", "{}", "[]", "1e999", "0"};
  const std::string v = rng.below(3) == 0 ? o[k].dump() : pick(values, rng);
  o["\x01dup\x01"] = 0;
  text = doc.dump(2);
  const std::string marker = ojson("\x01dup\x01").dump() + ": 0";
  const size_t at = text.find(marker);
  if (at != std::string::npos) text.replace(at, marker.size(), ojson(k).dump() + ": " + v);
  return fmt::format("duplicate key {}/{} = {}", p.to_string(), k, v);
}

std::string garbage(Rng& rng) {
  static const std::vector<std::string> bits = {std::string(1, '\0'), "\xff", "\xc3", "{", "}", "[",
                                                "]", "\"", ",", ":", "\\", "/*", "nan", "\n",
                                                "\xef\xbb\xbf", "1e", "-"};
  std::string g;
  const uint64_t n = 1 + rng.below(4);
  for (uint64_t i = 0; i < n; ++i) g += pick(bits, rng);
  return g;
}

std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c < 0x20 || c >= 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// Text-level damage: truncation or garbage bytes at a random offset.
std::string damage_text(std::string& text, Rng& rng) {
  if (text.empty()) return "empty";
  const size_t at = rng.below(text.size() + 1);
  if (rng.below(2) == 0) {
    text.resize(at);
    return fmt::format("truncate at byte {}", at);
  }
  const std::string g = garbage(rng);
  text.insert(at, g);
  return fmt::format("insert \"{}\" at byte {}", printable(g), at);
}

std::string csv_quote(const std::string& f) {
  if (f.find_first_of(",\"\r\n") == std::string::npos) return f;
  std::string out = "\"";
  for (char c : f) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

Mutant mutate_json(const std::string& json_text, Rng& rng) {
  ojson doc = ojson::parse(json_text);
  Mutant m;
  const uint64_t op = rng.below(10);
  if (op < 7) {  // one to three value mutations
    const uint64_t n = 1 + (rng.below(4) == 0 ? rng.below(3) : 0);
    for (uint64_t i = 0; i < n; ++i) {
      if (!m.what.empty()) m.what += "; ";
      m.what += mutate_value(doc, rng);
    }
    m.text = doc.dump(2);
  } else if (op == 7) {
    m.what = duplicate_key(doc, rng, m.text);
  } else {
    m.text = json_text;
    m.what = damage_text(m.text, rng);
  }
  return m;
}

Mutant mutate_csv(const std::string& csv_text, Rng& rng) {
  const report::CsvTable t = report::parse_csv(csv_text, "mutator");
  std::vector<std::vector<std::string>> rows;
  rows.push_back(t.header());
  for (const auto& r : t.records()) rows.push_back(r.fields);
  Mutant m;
  static const std::vector<std::string> cells = {
      "",    "-1",   "0",    "-5",     "1e999", "nan",  "NaN",  "inf",        "-inf",  "abc", "1.5",
      "2.5e3", "99999999999999999999", "9223372036854775807", "4294967297", "-0", " 8 ", "\"",
      "0x10", "1e-320", "8,16", "1/2",  "dense", "MoE",  "h800", "deepseek_v3", "bogus_model",
      // Cells the tolerant reading of validate takes (whole numbers in float
      // notation, token batches below a sequence, degrees that overflowed a
      // product, free-text conventions and frameworks).
      "2048.0", "4e6", "1000", "4503599627370496", "1e-400", "torchtitan", "no MoE", "GPT, SwiGLU",
      "hardware FLOPs", "MFU", "v100-sxm-32gb"};
  bool damage = false;
  const uint64_t n = 1 + rng.below(3);
  for (uint64_t i = 0; i < n; ++i) {
    if (!m.what.empty()) m.what += "; ";
    const uint64_t op = rng.below(10);
    if (op < 7 && rows.size() > 1) {  // a data cell
      const size_t r = 1 + rng.below(rows.size() - 1);
      if (rows[r].empty()) continue;
      const size_t c = rng.below(rows[r].size());
      const std::string v = pick(cells, rng);
      const std::string col = c < rows[0].size() ? rows[0][c] : "?";
      m.what += fmt::format("row {} column {}: \"{}\" -> \"{}\"", r, col, rows[r][c].substr(0, 30),
                            printable(v));
      rows[r][c] = v;
    } else if (op == 7 && rows.size() > 1) {  // a row shortened or lengthened
      const size_t r = 1 + rng.below(rows.size() - 1);
      if (rng.below(2) == 0 && !rows[r].empty()) {
        rows[r].resize(rng.below(rows[r].size()));
        m.what += fmt::format("row {} cut to {} fields", r, rows[r].size());
      } else {
        rows[r].push_back("extra");
        m.what += fmt::format("row {} gets an extra field", r);
      }
    } else if (op == 8) {  // a header name changed or duplicated
      const size_t c = rng.below(rows[0].size());
      const std::string v = rng.below(2) == 0 ? rows[0][(c + 1) % rows[0].size()] : rows[0][c] + "_x";
      m.what += fmt::format("header {} -> {}", rows[0][c], v);
      rows[0][c] = v;
    } else {
      damage = true;  // text damage below, after the text is rebuilt
    }
  }
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) {
      if (i) m.text += ',';
      m.text += csv_quote(r[i]);
    }
    m.text += '\n';
  }
  if (damage) m.what += (m.what.empty() ? "" : "; ") + damage_text(m.text, rng);
  return m;
}

}  // namespace trainsim::fuzz
