#include <catch2/catch.hpp>

#include "core/error.h"
#include "hardware/hardware.h"

using namespace trainsim;
using namespace trainsim::hardware;
using Catch::Matchers::Contains;

TEST_CASE("h800 profile loads with DeepSeek's figures", "[hardware]") {
  Accelerator a = load_accelerator("h800");
  CHECK(a.name == "h800");
  // 989 TFLOP/s dense BF16 (H100 datasheet's sparse 1979 halved).
  CHECK(in_tflops_per_second(*a.peak(Precision::kBF16)) == Approx(989));
  // FP8 dense 1979.
  CHECK(in_tflops_per_second(*a.peak(Precision::kFP8)) == Approx(1979));
  // kFP32 maps to the TF32 tensor rate, 494.7, not the 67 TFLOP/s FP32 vector rate.
  CHECK(in_tflops_per_second(*a.peak(Precision::kFP32)) == Approx(494.7));
  // 400 GB/s bidirectional NVLink -> 200 per direction; 160 measured.
  CHECK(in_gigabytes_per_second(a.scale_up.bandwidth_per_direction) == Approx(200));
  CHECK(in_gigabytes_per_second(*a.scale_up.measured_per_direction) == Approx(160));
  CHECK(a.scale_up.domain_size == 8);
  // 400 Gb/s = 50 GB/s.
  CHECK(in_gigabytes_per_second(a.nic_per_accelerator) == Approx(50));
  // 3.35 TB/s = 3350 GB/s; 80 GB.
  CHECK(in_gigabytes_per_second(a.hbm_bandwidth) == Approx(3350));
  CHECK(in_gigabytes(a.hbm_capacity) == Approx(80));
  CHECK(a.tdp.value() == Approx(700));
  CHECK(a.die_area_mm2 == Approx(814));
  CHECK(a.sm_count == 132);
  // $2 per GPU-hour.
  REQUIRE(a.cloud_price);
  CHECK(in_dollars_per_hour(*a.cloud_price) == Approx(2.0));
  CHECK(a.sources.at("scale_up.bandwidth_per_direction").source.find("DeepSeek") !=
        std::string::npos);
}

TEST_CASE("h100-sxm and a100-sxm-80gb profiles", "[hardware]") {
  Accelerator h = load_accelerator("h100-sxm");
  CHECK(in_gigabytes_per_second(h.scale_up.bandwidth_per_direction) == Approx(450));
  Accelerator a = load_accelerator("a100-sxm-80gb");
  CHECK(in_tflops_per_second(*a.peak(Precision::kBF16)) == Approx(312));
  CHECK_FALSE(a.peak(Precision::kFP8).has_value());  // Ampere has no FP8
  CHECK(in_gigabytes_per_second(a.hbm_bandwidth) == Approx(2039));
}

TEST_CASE("the DeepSeek cluster", "[hardware]") {
  Cluster c = load_cluster("h800-2048-deepseek");
  CHECK(c.total_accelerators() == 2048);  // 256 x 8
  CHECK(c.accelerator.name == "h800");
  CHECK(c.scale_up_domain() == 8);
  CHECK(c.scale_out.planes == 8);
  CHECK(c.scale_out.levels == 2);
  CHECK(c.scale_out.nics_per_node == 8);
  CHECK(in_gigabytes_per_second(c.scale_out.nic_bandwidth) == Approx(50));
  // ISCA Table 5: hop = (3.7 - 2.8) / 2 = 0.45 us; endpoint = 2.8 - 0.45 = 2.35 us.
  CHECK(c.scale_out.hop_latency.value() == Approx(0.45e-6));
  CHECK(c.scale_out.endpoint_latency.value() == Approx(2.35e-6));
  CHECK(c.scale_up_latency.value() == Approx(3.33e-6));
  REQUIRE(c.rental_price_per_gpu);
  CHECK(in_dollars_per_hour(*c.rental_price_per_gpu) == Approx(2.0));
  // 0.08 USD/kWh = 0.08 / 3.6e6 USD/J.
  CHECK(c.electricity_price->value() == Approx(0.08 / 3.6e6));
}

TEST_CASE("generic clusters", "[hardware]") {
  Cluster c = generic_cluster("h100-sxm", 2048);
  CHECK(c.nodes == 256);  // 2048 / 8
  CHECK(c.accelerators_per_node == 8);
  // 64-port switches: 2 levels reach 64^2/2 = 2048 endpoints.
  CHECK(c.scale_out.levels == 2);
  CHECK(generic_cluster("h100-sxm", 2056).scale_out.levels == 3);  // 2056 > 2048
  CHECK(generic_cluster("h100-sxm", 64).scale_out.levels == 1);    // one 64-port switch
  Cluster small = generic_cluster("a100-sxm-80gb", 4);
  CHECK(small.nodes == 1);
  CHECK(small.accelerators_per_node == 4);
  CHECK(small.scale_up_domain() == 4);  // min(8, 4)
  CHECK_THROWS_AS(generic_cluster("h100-sxm", 12), UsageError);  // not a multiple of 8
  CHECK_THROWS_WITH(generic_cluster("h100-sx", 8), Contains("did you mean"));
}

TEST_CASE("same compute die and the utilisation peak", "[hardware]") {
  const Accelerator h100 = load_accelerator("h100-sxm"), h800 = load_accelerator("h800");
  const Accelerator h20 = load_accelerator("h20"), v100 = load_accelerator("v100-sxm-32gb");
  // H800: the H100's 132 SMs and 989 TFLOP/s dense BF16; only NVLink differs.
  CHECK(same_compute_die(h100, h800, Precision::kBF16));
  // H20: a cut-down GH100 (78 SMs, 148 TFLOP/s): not the same compute die.
  CHECK_FALSE(same_compute_die(h100, h20, Precision::kBF16));
  // MFU divides by the dense 16-bit peak: BF16 989 on H100, FP16 125 on V100 (no BF16).
  CHECK(in_tflops_per_second(*utilisation_peak(h100)) == Approx(989));
  CHECK_FALSE(v100.peak(Precision::kBF16));
  CHECK(in_tflops_per_second(*utilisation_peak(v100)) == Approx(125));
}
