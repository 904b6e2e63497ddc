// A small RFC 4180 CSV reader (https://www.rfc-editor.org/rfc/rfc4180).
//
// Models a CSV file as a header record plus data records of string fields.
// Fields may be quoted with '"'; a quoted field may hold commas, CR/LF line
// breaks and doubled quotes ("" -> "). Records end at LF or CRLF; a final
// line break is optional; blank lines between records are skipped. A field
// that begins unquoted and later contains a quote, or a quote left open at
// the end of the text, is an error naming the line (1-based, counted in
// physical lines of the file).
//
// Invariants after parse_csv(): header is non-empty; each record remembers
// the physical line it starts on. Records may have a different number of
// fields from the header: the caller decides (validate reports such a row
// with a reason rather than failing the file).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace trainsim::report {

struct CsvRecord {
  int line = 0;                     // physical line the record starts on (1-based)
  std::vector<std::string> fields;
};

class CsvTable {
 public:
  CsvTable() = default;
  CsvTable(std::string file, std::vector<std::string> header, std::vector<CsvRecord> records);

  const std::string& file() const { return file_; }
  const std::vector<std::string>& header() const { return header_; }
  const std::vector<CsvRecord>& records() const { return records_; }

  // Index of a header name (exact match), or nullopt.
  std::optional<size_t> column(const std::string& name) const;
  bool has_column(const std::string& name) const { return column(name).has_value(); }

 private:
  std::string file_;
  std::vector<std::string> header_;
  std::vector<CsvRecord> records_;
  std::map<std::string, size_t> index_;
};

// Parses CSV text. `file` names the source in messages. Throws ConfigError
// (file, "line N", message) on a syntax error, an empty text, an empty or
// duplicated header name.
CsvTable parse_csv(const std::string& text, const std::string& file);

// Reads and parses a file: IoError when it cannot be read, ConfigError when
// it is not CSV.
CsvTable read_csv(const std::string& path);

}  // namespace trainsim::report
