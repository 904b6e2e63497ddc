#include "run/economics.h"

#include <algorithm>

#include "core/error.h"

namespace trainsim::run {

Watts facility_power_per_gpu(const PowerModel& p, double utilisation) {
  TRAINSIM_CHECK(p.gpus_per_node >= 1, "gpus_per_node = {}", p.gpus_per_node);
  const double u = std::clamp(utilisation, 0.0, 1.0);
  // Linear power factor between idle and busy draw (a stated assumption).
  const double factor = p.idle_fraction_of_tdp + (p.busy_fraction_of_tdp - p.idle_fraction_of_tdp) * u;
  const Watts it = p.gpu_tdp * factor + p.node_overhead / static_cast<double>(p.gpus_per_node);
  return it * p.pue;
}

Joules energy(Seconds gpu_time, double utilisation, const PowerModel& p) {
  return facility_power_per_gpu(p, utilisation) * gpu_time;
}

CostBreakdown cost(Seconds gpu_time, Joules facility_energy, const Prices& prices) {
  TRAINSIM_CHECK(prices.amortisation_life.value() > 0, "amortisation life must be > 0");
  CostBreakdown c;
  c.rental = prices.rental_per_gpu * gpu_time;
  // Straight-line amortisation: capital / life per GPU-second held.
  const Dollars capital = prices.purchase_per_gpu + prices.network_per_gpu;
  c.own_capital = capital * (gpu_time / prices.amortisation_life);
  c.own_energy = prices.electricity * facility_energy;
  c.own_datacenter = prices.datacenter_per_gpu * gpu_time;
  return c;
}

}  // namespace trainsim::run
