// Framework behaviour files (calibrate/frameworks/).
#include <catch2/catch.hpp>

#include "calib/frameworks.h"
#include "core/error.h"

using namespace trainsim;
using Catch::Matchers::Contains;

TEST_CASE("the DeepSpeed 2021 ZeRO-3 file loads with a source for every value", "[calib][frameworks]") {
  const calib::Zero3Framework f = calib::load_zero3_framework("deepspeed-zero3-2021");
  CHECK(f.per_parameter);
  CHECK(f.blocking_gathers);
  CHECK(f.list_form_copies);
  CHECK(f.reduce_scatter_overlaps_backward);
  // Issue #1069: 130 us pre-launch + 250 us launch = 380 us.
  CHECK(f.host_overhead_per_gather.value() == Approx(380e-6));
  CHECK(f.param_persistence_threshold == 100000);
  // stage3_max_reuse_distance's default, 1e9 elements.
  CHECK(f.max_reuse_distance == 1000000000);
  // Four behaviours, the overhead, the threshold and the reuse distance: seven sourced values.
  CHECK(f.sources.size() == 7);
  for (const auto& s : f.sources) CHECK(s.size() > 20);
}

TEST_CASE("an unknown framework name suggests the known one", "[calib][frameworks]") {
  CHECK_THROWS_WITH(calib::load_zero3_framework("deepspeed-zero3-2012"),
                    Contains("unknown ZeRO-3 framework") && Contains("did you mean \"deepspeed-zero3-2021\""));
  const auto names = calib::zero3_framework_names();
  CHECK(std::find(names.begin(), names.end(), "deepspeed-zero3-2021") != names.end());
}
