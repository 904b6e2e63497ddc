// Hand-built simulator segments shared by the sim unit tests.
#pragma once

#include "sim/pipeline.h"

namespace trainsim::testing {

inline constexpr sim::Tick kMs = 1'000'000'000;  // ticks are picoseconds

// Compute work of `t` ticks.
inline sim::Segment compute(sim::Tick t) {
  sim::Segment s;
  s.kind = sim::Segment::Kind::kCompute;
  s.work = t;
  return s;
}

// A transfer that alone takes `t` on a 1 GB/s NIC: t x 1 GB/s bytes.
inline sim::Segment transfer(sim::Tick t) {
  sim::Segment s;
  s.kind = sim::Segment::Kind::kComm;
  s.scale_out = Bytes(static_cast<double>(t) * 1e-3);  // 1 GB/s = 1e-3 bytes per picosecond
  return s;
}

}  // namespace trainsim::testing
