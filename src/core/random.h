// Deterministic random numbers: the same seed gives the same sequence on
// every platform and standard library. std::mt19937_64's output is specified
// by the standard; std's distributions are not, so the few we need are here.
#pragma once

#include <cstdint>
#include <random>

namespace trainsim {

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  // Uniform in [0, 1), 53 random bits.
  double uniform();
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Standard normal by Box-Muller (no cached second value, so order is simple).
  double normal();
  double normal(double mean, double sd) { return mean + sd * normal(); }
  // Integer in [0, n).
  uint64_t below(uint64_t n);
  // Gamma(shape, 1) by Marsaglia-Tsang (shape > 0); for Dirichlet draws.
  double gamma(double shape);
  uint64_t next() { return engine_(); }

 private:
  std::mt19937_64 engine_;
};

}  // namespace trainsim
