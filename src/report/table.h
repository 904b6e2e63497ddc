// A table of strings rendered as aligned text, Markdown or CSV. Numbers are
// formatted by the caller (deterministically, with fmt), so every renderer
// prints the same cells.
#pragma once

#include <string>
#include <vector>

namespace trainsim::report {

enum class Align { kLeft, kRight };

class Table {
 public:
  explicit Table(std::vector<std::string> headers, std::vector<Align> align = {});
  void add_row(std::vector<std::string> cells);
  // A full-width separator line in text output (ignored by CSV/Markdown).
  void add_separator();

  std::string to_text() const;
  std::string to_markdown() const;
  std::string to_csv() const;
  size_t rows() const { return rows_.size(); }

 private:
  std::vector<std::string> headers_;
  std::vector<Align> align_;
  std::vector<std::vector<std::string>> rows_;  // an empty row is a separator
};

// Fixed-precision helpers used across reports.
std::string fixed(double v, int decimals);
std::string with_commas(double v, int decimals = 0);  // 2,788,000
std::string percent(double fraction, int decimals = 1);  // 0.4123 -> "41.2%"

}  // namespace trainsim::report
