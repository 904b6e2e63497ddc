#include "report/csv.h"

#include <fmt/format.h>

#include "core/error.h"
#include "core/file_io.h"

namespace trainsim::report {

CsvTable::CsvTable(std::string file, std::vector<std::string> header, std::vector<CsvRecord> records)
    : file_(std::move(file)), header_(std::move(header)), records_(std::move(records)) {
  for (size_t i = 0; i < header_.size(); ++i) index_.emplace(header_[i], i);
}

std::optional<size_t> CsvTable::column(const std::string& name) const {
  const auto it = index_.find(name);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

namespace {

std::string line_pointer(int line) { return fmt::format("line {}", line); }

// Splits text into records following RFC 4180 section 2, with CRLF or LF
// record ends accepted (rule 2 allows the last record without one).
std::vector<CsvRecord> split_records(const std::string& text, const std::string& file) {
  std::vector<CsvRecord> out;
  size_t i = 0;
  int line = 1;
  const size_t n = text.size();
  // Skips a UTF-8 byte order mark, which spreadsheet exports prepend.
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) i = 3;
  while (i < n) {
    // Blank line between records: skip.
    if (text[i] == '\n' || (text[i] == '\r' && i + 1 < n && text[i + 1] == '\n')) {
      i += text[i] == '\r' ? 2 : 1;
      ++line;
      continue;
    }
    CsvRecord rec;
    rec.line = line;
    std::string field;
    bool record_done = false;
    while (!record_done) {
      field.clear();
      if (i < n && text[i] == '"') {
        // Quoted field: runs to the closing quote; "" is one quote.
        const int open_line = line;
        ++i;
        bool closed = false;
        while (i < n) {
          const char c = text[i];
          if (c == '"') {
            if (i + 1 < n && text[i + 1] == '"') {
              field.push_back('"');
              i += 2;
              continue;
            }
            ++i;
            closed = true;
            break;
          }
          if (c == '\n') ++line;
          field.push_back(c);
          ++i;
        }
        if (!closed) {
          throw ConfigError(file, line_pointer(open_line),
                            "expected a closing '\"' for the quoted field opened here; found the end of the file");
        }
        if (i < n && text[i] != ',' && text[i] != '\n' && !(text[i] == '\r' && i + 1 < n && text[i + 1] == '\n')) {
          throw ConfigError(file, line_pointer(line),
                            fmt::format("expected ',' or a line end after a closing quote; found '{}'", text[i]));
        }
      } else {
        // Unquoted field: runs to ',' or the line end; a quote inside is an error.
        while (i < n && text[i] != ',' && text[i] != '\n' &&
               !(text[i] == '\r' && i + 1 < n && text[i + 1] == '\n')) {
          if (text[i] == '"') {
            throw ConfigError(file, line_pointer(line),
                              fmt::format("field {} has a '\"' inside an unquoted field; expected the whole "
                                          "field in quotes with inner quotes doubled",
                                          rec.fields.size() + 1));
          }
          field.push_back(text[i]);
          ++i;
        }
      }
      rec.fields.push_back(field);
      if (i >= n) {
        record_done = true;
      } else if (text[i] == ',') {
        ++i;
        if (i >= n) {
          rec.fields.emplace_back();  // trailing comma at end of text: one more empty field
          record_done = true;
        }
      } else {
        i += text[i] == '\r' ? 2 : 1;  // CRLF or LF
        ++line;
        record_done = true;
      }
    }
    out.push_back(std::move(rec));
  }
  return out;
}

}  // namespace

CsvTable parse_csv(const std::string& text, const std::string& file) {
  std::vector<CsvRecord> records = split_records(text, file);
  if (records.empty()) {
    throw ConfigError(file, "line 1", "expected a header line of column names; found an empty file");
  }
  std::vector<std::string> header = std::move(records.front().fields);
  const int header_line = records.front().line;
  records.erase(records.begin());
  std::map<std::string, size_t> seen;
  for (size_t c = 0; c < header.size(); ++c) {
    if (header[c].empty()) {
      throw ConfigError(file, line_pointer(header_line),
                        fmt::format("expected a name for header column {}; found an empty name", c + 1));
    }
    if (!seen.emplace(header[c], c).second) {
      throw ConfigError(file, line_pointer(header_line),
                        fmt::format("column \"{}\" appears twice in the header (columns {} and {})", header[c],
                                    seen[header[c]] + 1, c + 1));
    }
  }
  return CsvTable(file, std::move(header), std::move(records));
}

CsvTable read_csv(const std::string& path) { return parse_csv(read_file(path), path); }

}  // namespace trainsim::report
