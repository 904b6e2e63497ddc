#include <catch2/catch.hpp>

#include "hardware/export_control.h"

using namespace trainsim;
using namespace trainsim::hardware;
using Catch::Matchers::Contains;

namespace {
const ExportRules& rules() {
  static const ExportRules kRules = load_export_rules();
  return kRules;
}
Classification classify_named(const std::string& name) {
  return classify(load_accelerator(name), rules());
}
}  // namespace

TEST_CASE("H800: TPP, PD, I/O and verdicts", "[hardware][export]") {
  Classification c = classify_named("h800");
  // TPP = FP8 1979 dense TFLOP/s x 8 bits = 15,832 (also INT8 1979 x 8).
  CHECK(c.metrics.tpp == Approx(15832));
  // PD = 15832 / 814 mm2 = 19.4496...
  CHECK(c.metrics.performance_density == Approx(19.45).epsilon(0.001));
  // I/O = NVLink 2 x 200 + PCIe Gen5 128 = 528 GB/s.
  CHECK(in_gigabytes_per_second(c.metrics.io_bidirectional) == Approx(528));
  // Oct-2022: TPP 15832 >= 4800 but 528 < 600 by 72, so not controlled.
  CHECK_FALSE(c.verdict("us-2022-10").controlled);
  CHECK_THAT(c.verdict("us-2022-10").reason,
             Contains("I/O 528 GB/s < 600 GB/s threshold by 72 GB/s"));
  // Oct-2023: TPP 15832 >= 4800 -> 3A090.a.1, exceeding by 11032.
  CHECK(c.verdict("us-2023-10").controlled);
  CHECK(c.verdict("us-2023-10").eccn == std::optional<std::string>("3A090.a"));
  CHECK_THAT(c.verdict("us-2023-10").reason, Contains("3A090.a.1") && Contains("by 11032"));
  // Apr-2025: DRAM 3350 >= 1400.
  CHECK(c.verdict("us-2025-04-letters").controlled);
  // Jan-2026: 15832 < 21000 and 3350 < 6500 -> case-by-case, still licensed.
  CHECK(c.verdict("us-2026-01").controlled);
  CHECK(c.verdict("us-2026-01").review == std::optional<std::string>("case-by-case"));
}

TEST_CASE("A800: just under the 2022 interconnect line, 3A090.a in 2023", "[hardware][export]") {
  Classification c = classify_named("a800");
  // TPP = BF16 312 x 16 = 4992 = INT8 624 x 8.
  CHECK(c.metrics.tpp == Approx(4992));
  // PD = 4992 / 826 = 6.0436.
  CHECK(c.metrics.performance_density == Approx(6.04).epsilon(0.001));
  // I/O = 2 x 200 + 64 = 464 GB/s < 600 by 136.
  CHECK(in_gigabytes_per_second(c.metrics.io_bidirectional) == Approx(464));
  CHECK_FALSE(c.verdict("us-2022-10").controlled);
  CHECK_THAT(c.verdict("us-2022-10").reason, Contains("by 136 GB/s"));
  // 4992 >= 4800 -> 3A090.a.1 (by 192).
  CHECK(c.verdict("us-2023-10").eccn == std::optional<std::string>("3A090.a"));
  CHECK_THAT(c.verdict("us-2023-10").reason, Contains("by 192"));
}

TEST_CASE("A100: controlled under both 2022 and 2023 rules", "[hardware][export]") {
  Classification c = classify_named("a100-sxm-80gb");
  CHECK(c.metrics.tpp == Approx(4992));
  // I/O = 2 x 300 + 64 = 664 >= 600.
  CHECK(in_gigabytes_per_second(c.metrics.io_bidirectional) == Approx(664));
  CHECK(c.verdict("us-2022-10").controlled);
  CHECK(c.verdict("us-2023-10").controlled);
  CHECK(c.verdict("us-2023-10").eccn == std::optional<std::string>("3A090.a"));
}

TEST_CASE("H20: outside 3A090, caught by the Apr-2025 letters", "[hardware][export]") {
  Classification c = classify_named("h20");
  // TPP = FP8 296 x 8 = 2368 (= BF16 148 x 16).
  CHECK(c.metrics.tpp == Approx(2368));
  // PD = 2368 / 814 = 2.909.
  CHECK(c.metrics.performance_density == Approx(2.91).epsilon(0.001));
  CHECK_FALSE(c.verdict("us-2022-10").controlled);  // 2368 < 4800
  const Verdict& v = c.verdict("us-2023-10");
  CHECK_FALSE(v.controlled);
  CHECK_FALSE(v.eccn.has_value());
  // b.1 misses by 2400 - 2368 = 32 TPP; b.2 by 3.2 - 2.909 = 0.29 PD.
  CHECK_THAT(v.reason, Contains("b.1 TPP 2368 < 2400 threshold by 32") &&
                           Contains("b.2 PD 2.91 < 3.20 threshold by 0.29"));
  // DRAM 4000 GB/s >= 1400 by 2600.
  CHECK(c.verdict("us-2025-04-letters").controlled);
  CHECK_THAT(c.verdict("us-2025-04-letters").reason,
             Contains("DRAM bandwidth 4000 GB/s >= 1400 GB/s threshold by 2600 GB/s"));
  // Not a 3A090 item, so the Jan-2026 review policy does not apply.
  CHECK_FALSE(c.verdict("us-2026-01").controlled);
}

TEST_CASE("L20 misses every rule; B200 is outside the Jan-2026 zone", "[hardware][export]") {
  Classification l20 = classify_named("l20");
  // TPP = 239 x 8 = 1912; PD = 1912 / 608.5 = 3.142.
  CHECK(l20.metrics.tpp == Approx(1912));
  CHECK(l20.metrics.performance_density == Approx(3.142).epsilon(0.001));
  // PCIe-only: I/O is the host link once, 64 GB/s.
  CHECK(in_gigabytes_per_second(l20.metrics.io_bidirectional) == Approx(64));
  CHECK_FALSE(l20.verdict("us-2023-10").controlled);
  // 864 + 64 = 928 < 1700 (by 772); 864 < 1400; 64 < 1100.
  CHECK_FALSE(l20.verdict("us-2025-04-letters").controlled);
  CHECK_THAT(l20.verdict("us-2025-04-letters").reason, Contains("by 772 GB/s"));

  Classification b200 = classify_named("b200");
  // TPP = max(FP8 4500 x 8, FP4 9000 x 4) = 36000.
  CHECK(b200.metrics.tpp == Approx(36000));
  CHECK(b200.verdict("us-2026-01").review == std::optional<std::string>("presumption of denial"));
  CHECK_THAT(b200.verdict("us-2026-01").reason, Contains("by 15000"));  // 36000 - 21000
}

TEST_CASE("MI325X sits just inside the Jan-2026 ceiling", "[hardware][export]") {
  Classification c = classify_named("mi325x");
  // TPP = FP8 2614.9 x 8 = 20919.2 (TF32 653.7 x 32 = 20918.4 is just below).
  CHECK(c.metrics.tpp == Approx(20919.2));
  CHECK(c.verdict("us-2026-01").review == std::optional<std::string>("case-by-case"));
}

TEST_CASE("what-if: the H800 with H100 NVLink is controlled under Oct-2022", "[hardware][export]") {
  Accelerator a = load_accelerator("h800", {parse_override("h800.scale_up.bandwidth_per_direction=450 GB/s")});
  Classification c = classify(a, rules());
  // I/O = 2 x 450 + 128 = 1028 >= 600.
  CHECK(in_gigabytes_per_second(c.metrics.io_bidirectional) == Approx(1028));
  CHECK(c.verdict("us-2022-10").controlled);
  REQUIRE(c.applied_overrides.size() == 1);
}
