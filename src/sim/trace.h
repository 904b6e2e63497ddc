// Chrome trace-event JSON of a simulated step (opens in Perfetto and
// chrome://tracing): one process per simulated GPU (pid = GPU index), one
// thread per stream or link: 0 compute, 1 and 2 the communication of the two
// lanes of an op (an F&B pair has two), 3 pipeline sends (on the sender), 4 DP
// gradient sync, 5 tail communication. Complete events ("ph":"X") with
// microsecond timestamps printed to the picosecond, so the latest end equals
// the step time.
#pragma once

#include <string>

#include "sim/pipeline.h"

namespace trainsim::sim {

// `devices`: GPUs per replica (to name processes "replica R stage-rank D").
std::string chrome_trace_json(const SimOutput& out, int devices);

}  // namespace trainsim::sim
