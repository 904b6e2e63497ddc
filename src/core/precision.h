// Numeric precision of an operator's operands.
#pragma once

namespace trainsim {

enum class Precision { kFP32, kBF16, kFP16, kFP8 };

inline const char* to_string(Precision p) {
  switch (p) {
    case Precision::kFP32: return "fp32";
    case Precision::kBF16: return "bf16";
    case Precision::kFP16: return "fp16";
    case Precision::kFP8: return "fp8";
  }
  return "?";
}

// Bytes per element: FP32 4, BF16/FP16 2, FP8 1.
inline double bytes_per_element(Precision p) {
  switch (p) {
    case Precision::kFP32: return 4.0;
    case Precision::kBF16: return 2.0;
    case Precision::kFP16: return 2.0;
    case Precision::kFP8: return 1.0;
  }
  return 0.0;
}

}  // namespace trainsim
