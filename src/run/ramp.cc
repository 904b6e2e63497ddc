#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "run/training_run.h"

namespace trainsim::run {

RampIntegral integrate_ramp(int64_t b0, int64_t b1, double tokens, int64_t seq_len,
                            RampShape shape, int points, int64_t batch_quantum,
                            const std::function<Seconds(int64_t batch)>& step_time_at,
                            int64_t min_batch) {
  TRAINSIM_CHECK(b0 >= 1 && b1 >= b0 && seq_len >= 1 && tokens >= 0 && points >= 2 &&
                     batch_quantum >= 1,
                 "bad ramp b0={} b1={} seq={} tokens={} points={} quantum={}", b0, b1, seq_len,
                 tokens, points, batch_quantum);
  RampIntegral r;
  const double s = static_cast<double>(seq_len);
  // Evaluation points, each rounded to a runnable batch; T scaled back per sequence.
  std::vector<double> b;
  std::vector<double> t;
  const int n = b1 == b0 ? 1 : points;
  for (int i = 0; i < n; ++i) {
    const double bi = n == 1 ? static_cast<double>(b0)
                             : static_cast<double>(b0) +
                                   static_cast<double>(b1 - b0) * i / static_cast<double>(n - 1);
    const int64_t nominal = static_cast<int64_t>(std::llround(bi));
    int64_t rounded =
        static_cast<int64_t>(std::llround(bi / static_cast<double>(batch_quantum))) * batch_quantum;
    const int64_t floor_batch = (std::max(min_batch, batch_quantum) + batch_quantum - 1) /
                                batch_quantum * batch_quantum;
    rounded = std::max(rounded, floor_batch);
    const Seconds tr = step_time_at(rounded);
    r.points.push_back(RampPoint{nominal, rounded, tr});
    b.push_back(bi);
    t.push_back(tr.value() * bi / static_cast<double>(rounded));
  }
  if (n == 1) {
    r.steps = tokens / (static_cast<double>(b0) * s);
    r.time = Seconds(r.steps * t[0]);
    return r;
  }
  const double db = static_cast<double>(b1 - b0);
  double time = 0;
  if (shape == RampShape::kLinearInTokens) {
    r.steps = tokens * std::log(static_cast<double>(b1) / static_cast<double>(b0)) / (db * s);
    for (int i = 0; i + 1 < n; ++i) {
      const double beta = (t[i + 1] - t[i]) / (b[i + 1] - b[i]);
      const double alpha = t[i] - beta * b[i];
      time += tokens / (db * s) * (alpha * std::log(b[i + 1] / b[i]) + beta * (b[i + 1] - b[i]));
    }
  } else {
    r.steps = 2.0 * tokens / ((static_cast<double>(b0) + static_cast<double>(b1)) * s);
    for (int i = 0; i + 1 < n; ++i) {
      const double beta = (t[i + 1] - t[i]) / (b[i + 1] - b[i]);
      const double alpha = t[i] - beta * b[i];
      time += r.steps / db *
              (alpha * (b[i + 1] - b[i]) + beta * (b[i + 1] * b[i + 1] - b[i] * b[i]) / 2.0);
    }
  }
  r.time = Seconds(time);
  return r;
}

}  // namespace trainsim::run
