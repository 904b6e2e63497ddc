// Dollars and energy of a training run.
//
// Rental: GPU-hours x rental price per GPU-hour (every hour the GPUs are held,
// including goodput losses).
// Ownership: the run is charged for the fraction of the hardware's life it
// occupies. Capital per GPU (purchase price incl. its share of the server, plus
// its share of the network) is amortised linearly over a stated life; energy
// is bought at a stated price; datacenter overheads (space, staff, maintenance)
// are a stated price per GPU-hour.
//   own = GPU-hours x (capital / life + datacenter per GPU-hour) + energy x price
// Energy: each GPU draws TDP x (idle + (busy - idle) x u), where u is the
// fraction of time it computes (a stated, utilisation-dependent power factor),
// plus its share of the node's overhead power (CPUs, NICs, fans); facility
// energy is that x PUE.
// Units: Dollars, Joules, Watts, Seconds of GPU time (GPU-seconds).
// Invariants: all results finite and >= 0 for inputs >= 0 (life > 0).
#pragma once

#include "core/units.h"

namespace trainsim::run {

struct PowerModel {
  Watts gpu_tdp;
  double idle_fraction_of_tdp = 0;  // power at u = 0, as a fraction of TDP
  double busy_fraction_of_tdp = 0;  // power at u = 1
  Watts node_overhead;              // per node, beyond the accelerators
  int gpus_per_node = 8;
  double pue = 1.0;                 // facility / IT power
};

// Facility power drawn per GPU at compute fraction u in [0, 1].
Watts facility_power_per_gpu(const PowerModel& p, double utilisation);
// Facility energy of `gpu_time` GPU-seconds at compute fraction u.
Joules energy(Seconds gpu_time, double utilisation, const PowerModel& p);

struct Prices {
  DollarsPerSecond rental_per_gpu;   // $/GPU-second (written per hour)
  Dollars purchase_per_gpu;          // accelerator incl. its share of the server
  Dollars network_per_gpu;           // scale-out fabric per endpoint
  Seconds amortisation_life;         // straight-line life of the capital
  DollarsPerJoule electricity;
  DollarsPerSecond datacenter_per_gpu;  // space, staff, maintenance per GPU-second
};

struct CostBreakdown {
  Dollars rental;
  Dollars own_capital;
  Dollars own_energy;
  Dollars own_datacenter;
  Dollars own_total() const { return own_capital + own_energy + own_datacenter; }
};

// gpu_time: GPU-seconds held; facility_energy: from energy().
CostBreakdown cost(Seconds gpu_time, Joules facility_energy, const Prices& prices);

}  // namespace trainsim::run
