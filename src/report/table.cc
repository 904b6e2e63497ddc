#include "report/table.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace trainsim::report {

Table::Table(std::vector<std::string> headers, std::vector<Align> align)
    : headers_(std::move(headers)), align_(std::move(align)) {
  align_.resize(headers_.size(), Align::kRight);
  if (!align_.empty() && align.empty()) align_[0] = Align::kLeft;
}

void Table::add_row(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

void Table::add_separator() { rows_.emplace_back(); }

namespace {
// Display width: count UTF-8 code points, not bytes.
size_t width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}
std::string pad(const std::string& s, size_t w, Align a) {
  const size_t n = width(s);
  if (n >= w) return s;
  const std::string fill(w - n, ' ');
  return a == Align::kLeft ? s + fill : fill + s;
}
}  // namespace

std::string Table::to_text() const {
  std::vector<size_t> w(headers_.size());
  for (size_t i = 0; i < headers_.size(); ++i) w[i] = width(headers_[i]);
  for (const auto& r : rows_) {
    for (size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], width(r[i]));
  }
  size_t total = 0;
  for (size_t x : w) total += x + 2;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t i = 0; i < cells.size(); ++i) {
      if (i) out += "  ";
      out += pad(cells[i], w[i], align_[i]);
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out = line(headers_);
  out += std::string(total > 2 ? total - 2 : 0, '-') + "\n";
  for (const auto& r : rows_) {
    out += r.empty() ? std::string(total > 2 ? total - 2 : 0, '-') + "\n" : line(r);
  }
  return out;
}

std::string Table::to_markdown() const {
  auto esc = [](const std::string& s) {
    std::string o;
    for (char c : s) {
      if (c == '|') o += "\\|";
      else o += c;
    }
    return o;
  };
  std::string out = "|";
  for (const auto& h : headers_) out += " " + esc(h) + " |";
  out += "\n|";
  for (size_t i = 0; i < headers_.size(); ++i) out += align_[i] == Align::kLeft ? "---|" : "---:|";
  out += "\n";
  for (const auto& r : rows_) {
    if (r.empty()) continue;
    out += "|";
    for (const auto& c : r) out += " " + esc(c) + " |";
    out += "\n";
  }
  return out;
}

std::string Table::to_csv() const {
  auto esc = [](const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string o = "\"";
    for (char c : s) {
      if (c == '"') o += "\"\"";
      else o += c;
    }
    return o + "\"";
  };
  std::string out;
  for (size_t i = 0; i < headers_.size(); ++i) out += (i ? "," : "") + esc(headers_[i]);
  out += "\n";
  for (const auto& r : rows_) {
    if (r.empty()) continue;
    for (size_t i = 0; i < r.size(); ++i) out += (i ? "," : "") + esc(r[i]);
    out += "\n";
  }
  return out;
}

std::string fixed(double v, int decimals) {
  if (v == 0.0) v = 0.0;  // no "-0"
  std::string s = fmt::format("{:.{}f}", v, decimals);
  if (s.rfind("-0", 0) == 0 && std::stod(s) == 0.0) s.erase(0, 1);
  return s;
}

std::string with_commas(double v, int decimals) {
  std::string s = fixed(v, decimals);
  const bool neg = !s.empty() && s[0] == '-';
  if (neg) s.erase(0, 1);
  const size_t dot = s.find('.');
  std::string ip = s.substr(0, dot), fp = dot == std::string::npos ? "" : s.substr(dot);
  std::string out;
  for (size_t i = 0; i < ip.size(); ++i) {
    if (i && (ip.size() - i) % 3 == 0) out += ',';
    out += ip[i];
  }
  return (neg ? "-" : "") + out + fp;
}

std::string percent(double fraction, int decimals) { return fixed(fraction * 100.0, decimals) + "%"; }

}  // namespace trainsim::report
