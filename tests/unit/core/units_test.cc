#include <catch2/catch.hpp>

#include "core/units.h"

using namespace trainsim;
using Catch::Matchers::Contains;

TEST_CASE("unit strings parse into base units", "[core]") {
  // 989 TFLOP/s = 989e12 FLOP/s.
  CHECK(parse_quantity<FlopsPerSecond>("989 TFLOP/s").value() == Approx(989e12));
  // "TFLOPS" is shorthand for TFLOP/s.
  CHECK(parse_quantity<FlopsPerSecond>("1979 TFLOPS").value() == Approx(1979e12));
  // 3.35 TB/s: SI tera bytes = 3.35e12 B/s.
  CHECK(parse_quantity<BytesPerSecond>("3.35 TB/s").value() == Approx(3.35e12));
  // 400 Gb/s is bits: 400e9 / 8 = 50e9 B/s.
  CHECK(parse_quantity<BytesPerSecond>("400 Gb/s").value() == Approx(50e9));
  CHECK(parse_quantity<BytesPerSecond>("400 Gbps").value() == Approx(50e9));
  // 80 GiB is IEC: 80 * 2^30 = 85,899,345,920 B; 80 GB is 80e9 B.
  CHECK(parse_quantity<Bytes>("80 GiB").value() == Approx(85899345920.0));
  CHECK(parse_quantity<Bytes>("80 GB").value() == Approx(80e9));
  // 1.6 TiB/s = 1.6 * 2^40 = 1.759e12 B/s (Huawei's 910B figure).
  CHECK(parse_quantity<BytesPerSecond>("1.6 TiB/s").value() == Approx(1.6 * 1099511627776.0));
  CHECK(parse_quantity<Watts>("700 W").value() == Approx(700.0));
  CHECK(parse_quantity<Watts>("1.2 kW").value() == Approx(1200.0));
  // $2/GPU-hour = 2/3600 $/s.
  CHECK(parse_quantity<DollarsPerSecond>("2 USD/h").value() == Approx(2.0 / 3600.0));
  CHECK(parse_quantity<DollarsPerSecond>("$2/GPU-hour").value() == Approx(2.0 / 3600.0));
  // 0.08 USD/kWh = 0.08 / 3.6e6 $/J.
  CHECK(parse_quantity<DollarsPerJoule>("0.08 USD/kWh").value() == Approx(0.08 / 3.6e6));
  CHECK(parse_quantity<Seconds>("20 min").value() == Approx(1200.0));
  CHECK(parse_quantity<Seconds>("3.7 us").value() == Approx(3.7e-6));
  CHECK(parse_quantity<Dollars>("$25,000").value() == Approx(25000.0));
  CHECK(parse_area_mm2("814 mm2") == Approx(814.0));
}

TEST_CASE("bad unit strings say what was expected", "[core]") {
  // A size where a bandwidth belongs.
  CHECK_THROWS_WITH(parse_quantity<BytesPerSecond>("80 GB"),
                    Contains("expected a bandwidth") && Contains("a size in bytes"));
  CHECK_THROWS_WITH(parse_quantity<BytesPerSecond>("fast"), Contains("no number"));
  CHECK_THROWS_WITH(parse_quantity<Bytes>("80"), Contains("no unit"));
  CHECK_THROWS_WITH(parse_quantity<Bytes>("80 GX"), Contains("unknown unit \"GX\""));
  // IEC prefixes only on bytes and bits.
  CHECK_THROWS_AS(parse_quantity<Watts>("7 KiW"), UnitError);
  // Milli on bytes is not a thing.
  CHECK_THROWS_AS(parse_quantity<Bytes>("7 mB"), UnitError);
}

TEST_CASE("only dimensionally valid arithmetic", "[core]") {
  // 989e12 FLOP at 989e12 FLOP/s takes 1 s.
  const Seconds t = Flops(989e12) / teraflops_per_second(989);
  CHECK(t.value() == Approx(1.0));
  // 50 GB/s for 2 s moves 100 GB.
  const Bytes b = gigabytes_per_second(50) * seconds(2);
  CHECK(b.value() == Approx(100e9));
  // 700 W for one hour is 2.52 MJ = 0.0007 MWh.
  const Joules j = watts(700) * hours(1);
  CHECK(in_megawatt_hours(j) == Approx(0.0007));
  // Same-dimension ratio is a plain double.
  const double r = seconds(3) / seconds(2);
  CHECK(r == Approx(1.5));
  // $2/h for 2,788,000 GPU-hours is $5.576M.
  const Dollars d = dollars_per_hour(2.0) * hours(2788000);
  CHECK(d.value() == Approx(5576000.0));
}

TEST_CASE("readable formatting", "[core]") {
  CHECK(to_string(teraflops_per_second(989)) == "989 TFLOP/s");
  CHECK(to_string(gigabytes_per_second(3350)) == "3.35 TB/s");
  CHECK(to_string(gigabytes(80)) == "80 GB");
  CHECK(to_string(dollars(5576000)) == "$5.576M");
}
