// The collective library's latency model (calibrate/collectives/).
#include <catch2/catch.hpp>

#include "calib/collectives.h"
#include "core/error.h"

using namespace trainsim;
using Catch::Matchers::Contains;

TEST_CASE("NCCL's ring and tree latencies load with a source for every value", "[calib][collectives]") {
  const calib::CollectiveLatency& c = calib::nccl_collective_latency();
  // NVIDIA/nccl src/graph/tuning.cc @b6475625, Simple protocol: ring base 8.4 us,
  // 3.4 us per NVLink step (5.7 over PCIe), 14 us per network step, a 3 x 1 us proxy floor in
  // multi-node rings; tree base 0, 28 us per step on either link.
  CHECK(c.ring_base.value() == Approx(8.4e-6));
  CHECK(c.ring_scale_up_step.value() == Approx(3.4e-6));
  CHECK(c.ring_scale_up_pci_step.value() == Approx(5.7e-6));
  CHECK(c.ring_scale_out_step.value() == Approx(14e-6));
  CHECK(c.ring_multi_node_step_floor.value() == Approx(3e-6));
  CHECK(c.tree_base.value() == 0.0);
  CHECK(c.tree_scale_up_step.value() == Approx(28e-6));
  CHECK(c.tree_scale_out_step.value() == Approx(28e-6));
  // Eight values, eight sources.
  CHECK(c.sources.size() == 8);
  for (const auto& s : c.sources) CHECK(s.size() > 20);
}

TEST_CASE("a collective-latency file with a negative step is refused with its path", "[calib][collectives]") {
  CHECK_THROWS_WITH(calib::load_collective_latency(TRAINSIM_TEST_DATA_DIR "/calib/collectives_negative.json"),
                    Contains("collectives_negative.json") && Contains("/ring/scale_up_step/value") &&
                        Contains("expected a duration >= 0"));
}

TEST_CASE("The collective-overlap file: the shipped one loads, bad ones are refused with the path", "[calib][overlap]") {
  const calib::CollectiveOverlap& o = calib::collective_overlap();
  // Lee et al. 2025 (arXiv:2507.03114): mean compute slowdown 18.9% -> rate 1 / 1.189 = 0.8410.
  CHECK(o.compute_slowdown == Approx(0.189));
  CHECK(o.compute_rate() == Approx(0.8410).epsilon(1e-4));
  CHECK(o.source.find("2507.03114") != std::string::npos);
  // A slowdown of 1.89 (a percentage typed as a fraction's tenfold) is refused.
  CHECK_THROWS_WITH(calib::load_collective_overlap(TRAINSIM_TEST_DATA_DIR "/calib/overlap_too_large.json"),
                    Contains("overlap_too_large.json") && Contains("/compute_slowdown/value") &&
                        Contains("a fraction in [0, 1]") && Contains("1.89"));
  CHECK_THROWS_WITH(calib::load_collective_overlap(TRAINSIM_TEST_DATA_DIR "/calib/overlap_no_source.json"),
                    Contains("overlap_no_source.json") && Contains("at /compute_slowdown") &&
                        Contains("missing required field \"source\""));
  // No slowdown: compute keeps its full rate.
  CHECK(calib::CollectiveOverlap{}.compute_rate() == 1.0);
}
