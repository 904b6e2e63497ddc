#include <catch2/catch.hpp>

#include "run/economics.h"

using namespace trainsim;
using namespace trainsim::run;

namespace {
PowerModel power() {
  PowerModel p;
  p.gpu_tdp = watts(700);
  p.idle_fraction_of_tdp = 0.3;
  p.busy_fraction_of_tdp = 0.9;
  p.node_overhead = watts(1600);
  p.gpus_per_node = 8;
  p.pue = 1.2;
  return p;
}
}  // namespace

TEST_CASE("Facility power per GPU by hand", "[run]") {
  // u = 0.5: factor = 0.3 + 0.6 * 0.5 = 0.6 -> 420 W; + 1600/8 = 200 W; x 1.2 = 744 W.
  CHECK(facility_power_per_gpu(power(), 0.5).value() == Approx(744.0));
  // u = 0: 0.3 * 700 + 200 = 410 W x 1.2 = 492 W.
  CHECK(facility_power_per_gpu(power(), 0.0).value() == Approx(492.0));
}

TEST_CASE("Energy by hand", "[run]") {
  // 1000 GPU-hours at 744 W = 744 kWh = 0.744 MWh.
  const Joules e = energy(hours(1000), 0.5, power());
  CHECK(in_megawatt_hours(e) == Approx(0.744));
}

TEST_CASE("Rental and ownership cost by hand", "[run]") {
  Prices p;
  p.rental_per_gpu = dollars_per_hour(2);
  p.purchase_per_gpu = dollars(30000);
  p.network_per_gpu = dollars(4390);
  p.amortisation_life = years(4);
  p.electricity = dollars_per_kwh(0.1);
  p.datacenter_per_gpu = dollars_per_hour(0.25);
  const Joules e = energy(hours(1000), 0.5, power());  // 744 kWh
  const CostBreakdown c = cost(hours(1000), e, p);
  // Rental: 1000 GPU-h x $2 = $2000.
  CHECK(c.rental.value() == Approx(2000.0));
  // Capital: (30000 + 4390) / (4 x 365.25 x 24 = 35064 h) = $0.980778/h x 1000 h = $980.78.
  CHECK(c.own_capital.value() == Approx(980.778));
  // Energy: 744 kWh x $0.10 = $74.40.
  CHECK(c.own_energy.value() == Approx(74.4));
  // Datacenter: 1000 h x $0.25 = $250.
  CHECK(c.own_datacenter.value() == Approx(250.0));
  CHECK(c.own_total().value() == Approx(980.778 + 74.4 + 250.0));
}
