#include "run/goodput.h"

#include <cmath>

#include "core/error.h"

namespace trainsim::run {

Seconds young_interval(Seconds delta, Seconds mtbf) {
  // Young 1974: tau = sqrt(2 delta M).
  return Seconds(std::sqrt(2.0 * delta.value() * mtbf.value()));
}

Seconds daly_interval(Seconds delta, Seconds mtbf) {
  // Daly 2006, eq. 37.
  if (delta.value() >= 2.0 * mtbf.value()) return mtbf;
  const double x = delta.value() / (2.0 * mtbf.value());
  const double tau = std::sqrt(2.0 * delta.value() * mtbf.value()) *
                         (1.0 + std::sqrt(x) / 3.0 + x / 9.0) -
                     delta.value();
  return Seconds(tau);
}

Seconds job_mtbf(Hertz per_gpu, int gpus) {
  TRAINSIM_CHECK(gpus >= 1, "gpus = {}", gpus);
  if (per_gpu.value() <= 0) return Seconds(0);
  return Seconds(1.0 / (per_gpu.value() * gpus));
}

GoodputResult apply_goodput(Seconds ideal, int gpus, const GoodputInputs& in) {
  TRAINSIM_CHECK(ideal.value() >= 0 && std::isfinite(ideal.value()), "ideal = {}", ideal.value());
  GoodputResult r;
  r.ideal = ideal;
  r.mtbf = job_mtbf(in.failures_per_gpu, gpus);
  if (r.mtbf.value() <= 0) {
    // No failures: checkpoints still cost their stall if an interval is stated.
    r.checkpoint_interval = in.checkpoint_interval.value_or(Seconds(0));
    if (r.checkpoint_interval.value() > 0) {
      r.checkpoint_overhead = ideal * (in.checkpoint_write / r.checkpoint_interval);
    }
    r.wall = ideal + r.checkpoint_overhead;
    return r;
  }
  r.checkpoint_interval = in.checkpoint_interval ? *in.checkpoint_interval
                                                 : daly_interval(in.checkpoint_write, r.mtbf);
  const double tau = r.checkpoint_interval.value();
  const double delta = in.checkpoint_write.value();
  const double m = r.mtbf.value();
  if (!(tau > 0)) {
    throw PlanError(fmt::format("checkpoint interval must be > 0 s; found {} s", tau));
  }
  // Daly 2006 first-order model (see goodput.h).
  const double per_failure = in.restart.value() + (tau + delta) / 2.0;
  const double denominator = 1.0 - per_failure / m;
  if (!(denominator > 0.01)) {
    throw PlanError(fmt::format(
        "the run cannot make progress: each failure costs {:.0f} s (restart {:.0f} s + half an "
        "interval of lost work) but failures arrive every {:.0f} s on {} GPUs",
        per_failure, in.restart.value(), m, gpus));
  }
  r.checkpoint_overhead = Seconds(ideal.value() * delta / tau);
  r.wall = Seconds((ideal.value() + r.checkpoint_overhead.value()) / denominator);
  r.expected_failures = r.wall.value() / m;
  r.lost_work = Seconds(r.expected_failures * (tau + delta) / 2.0);
  r.restarts = Seconds(r.expected_failures * in.restart.value());
  return r;
}

}  // namespace trainsim::run
