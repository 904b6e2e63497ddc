// Measurement-file text for the calibration tests: the file envelope, a
// sustained series, and the error a malformed file raises.
#pragma once

#include <string>
#include <vector>

#include <fmt/format.h>

#include "calib/measurements.h"
#include "core/error.h"

namespace trainsim::testing {

// A "trainsim-measurements/1" file around `rows` (JSON objects, comma-separated).
inline std::string measurement_file(const std::string& rows) {
  return "{\"format\": \"trainsim-measurements/1\", \"provenance\": {\"gpu\": \"test\", \"profile\": \"test-gpu\", "
         "\"source\": \"synthetic\", \"date\": \"2026-01-01\"}, \"measurements\": [" + rows + "]}";
}

// 8192^3 BF16 sustained windows at 1, 2, ... s achieving the given TFLOP/s (rows, comma-separated).
inline std::string sustained_series_rows(const std::vector<double>& tflops) {
  std::string rows;
  for (size_t i = 0; i < tflops.size(); ++i) {
    rows += fmt::format("{}{{\"kind\": \"gemm\", \"precision\": \"bf16\", \"m\": 8192, \"n\": 8192, \"k\": 8192, "
                        "\"bound\": \"sustained\", \"elapsed\": \"{} s\", \"achieved\": \"{} TFLOP/s\"}}",
                        i ? ",\n" : "", i + 1, tflops[i]);
  }
  return rows;
}

// What the ConfigError that parsing `text` (as "bad.json") throws names;
// all empty when it parses.
struct ParseFailure {
  std::string file;     // "bad.json"
  std::string pointer;  // the JSON pointer
  std::string message;
};
inline ParseFailure measurement_parse_failure(const std::string& text) {
  try {
    calib::parse_measurements(text, "bad.json");
  } catch (const ConfigError& e) {
    return {e.file(), e.pointer(), e.what()};
  }
  return {};
}

}  // namespace trainsim::testing
