// Goodput: the wall time a run loses to failures and checkpoints.
//
// A job of `gpus` GPUs fails as a Poisson process with rate
// failures_per_gpu_second x gpus, so the job's mean time between failures is
// M = 1 / (rate x gpus). It writes a checkpoint every tau seconds of work, each
// write stalling training for delta seconds; after a failure it restarts in R
// seconds and redoes on average (tau + delta) / 2 of lost work (Daly 2006,
// "A higher order estimate of the optimum checkpoint interval for restart
// dumps", FGCS 22(3), first-order model). The wall time W then satisfies
//   W = T (1 + delta / tau) + (W / M) (R + (tau + delta) / 2)
// so W = T (1 + delta / tau) / (1 - (R + (tau + delta) / 2) / M).
// Units: Seconds throughout; rates in failures per GPU-second (Hertz).
// Invariants: every result is finite and >= 0; W >= T; the model refuses
// inputs where failures come faster than work can be saved (denominator <= 0).
#pragma once

#include <optional>

#include "core/units.h"

namespace trainsim::run {

struct GoodputInputs {
  Hertz failures_per_gpu;                 // failures per GPU-second (e.g. 1.97e-5 per GPU-hour)
  Seconds checkpoint_write;               // delta: time training stalls per checkpoint
  Seconds restart;                        // R: detect, reschedule, reload after a failure
  std::optional<Seconds> checkpoint_interval;  // tau; nullopt = Daly's optimum for delta and M
};

struct GoodputResult {
  Seconds mtbf;                 // M of the whole job
  Seconds checkpoint_interval;  // tau used
  Seconds ideal;                // T: failure-free, checkpoint-free wall time
  Seconds wall;                 // W
  Seconds checkpoint_overhead;  // T delta / tau
  Seconds lost_work;            // failures x (tau + delta) / 2
  Seconds restarts;             // failures x R
  double expected_failures = 0; // W / M
  double goodput() const { return wall.value() > 0 ? ideal / wall : 1.0; }
};

// Young (1974), "A first order approximation to the optimum checkpoint
// interval", CACM 17(9): tau = sqrt(2 delta M).
Seconds young_interval(Seconds delta, Seconds mtbf);

// Daly (2006) eq. 37, higher-order optimum: for delta < 2M,
//   tau = sqrt(2 delta M) [1 + (1/3) sqrt(delta / 2M) + (1/9) (delta / 2M)] - delta;
// for delta >= 2M, tau = M.
Seconds daly_interval(Seconds delta, Seconds mtbf);

// Job MTBF for `gpus` GPUs failing independently at `per_gpu` each; +inf-free:
// a zero rate gives a zero-failure result through apply_goodput (M is reported as 0).
Seconds job_mtbf(Hertz per_gpu, int gpus);

// Wall time of `ideal` seconds of failure-free work on `gpus` GPUs (see top).
// Throws PlanError when failures arrive faster than the run can progress.
GoodputResult apply_goodput(Seconds ideal, int gpus, const GoodputInputs& in);

}  // namespace trainsim::run
