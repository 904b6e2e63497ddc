// The cluster planner behind `trainsim plan`: for a model and a token count,
// which accelerator, GPU count, parallel layout and schedule; the time and
// cost of the run; whether it fits a budget or a deadline; rent or buy.
//
// For each (accelerator, GPU count) a generic cluster (hardware::
// generic_cluster) is searched (planner/search.h); each runnable layout is
// turned into a one-phase pre-training run (run::evaluate_run: steps, goodput,
// energy, rental and ownership cost). Inputs a model and a chip do not give
// (goodput rates, hardware life, datacenter overhead, power fractions,
// routing imbalance) come from a defaults scenario (RunDefaults; by default
// the shipped deepseek-v3 scenario, whose every value carries its source).
// Prices come from the accelerator profile (rental: cloud_price; purchase)
// and the cluster (electricity, network per GPU); a missing one is reported
// and the cost that needs it is left out, never invented.
// Units: Seconds, Dollars, Joules. Invariants: every number reported is
// finite and >= 0; ranking ties are broken by a stable key, so output is
// deterministic.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/units.h"
#include "hardware/hardware.h"
#include "model/model.h"
#include "planner/search.h"
#include "run/economics.h"
#include "run/goodput.h"
#include "run/scenario.h"
#include "run/training_run.h"

namespace trainsim::planner {

// "15T", "14.8e12", "300B", "1.5M", "2e9" -> tokens. UsageError otherwise.
double parse_token_count(const std::string& text);
// "$6M", "6M USD", "6000000 USD", "$250k", "1.5B USD" -> dollars. UsageError otherwise.
Dollars parse_budget(const std::string& text);
// "60 days", "8 weeks"... (any time with a unit) -> Seconds > 0. UsageError otherwise.
Seconds parse_deadline(const std::string& text);
// "512,1024" -> {512, 1024}; each >= 1. UsageError otherwise.
std::vector<int> parse_gpu_counts(const std::string& text);
// "h800,h100-sxm" -> names checked against hardware::list_accelerators()
// (UsageError with a did-you-mean).
std::vector<std::string> parse_hardware_list(const std::string& text);

// Inputs of a run that neither the model nor the chip gives.
struct RunDefaults {
  std::string scenario;  // the scenario they were read from
  run::GoodputInputs goodput;
  Seconds amortisation_life;
  DollarsPerSecond datacenter_per_gpu;
  double idle_fraction_of_tdp = 0;
  double busy_fraction_of_tdp = 0;
  double expert_load_imbalance = 1.0;  // used for MoE models
  std::vector<run::Assumption> assumptions;  // the values above with their sources
};
RunDefaults load_run_defaults(const std::string& scenario = "deepseek-v3");
RunDefaults run_defaults_of(const run::Scenario& s);

// Prices of a cluster: what the profiles give, and what is missing.
struct ClusterPrices {
  run::Prices prices;                  // missing entries are zero
  bool has_rental = false;
  bool has_purchase = false;           // accelerator purchase price
  bool has_network = false;
  bool has_electricity = false;
  bool can_own() const { return has_purchase && has_network && has_electricity; }
  std::vector<std::string> missing;    // "h20: no cloud_price (rental)"...
  std::vector<run::Assumption> sources;
};
ClusterPrices cluster_prices(const hardware::Cluster& c, const RunDefaults& d);

// A one-phase scenario: `tokens` of pre-training at the plan's seq_len and
// global batch, on `c`, with the defaults' goodput, power fractions and the
// cluster's prices.
run::Scenario make_scenario(const model::Model& m, const hardware::Cluster& c, const plan::Plan& p,
                            const std::string& precision, double tokens, const RunDefaults& d,
                            const ClusterPrices& prices);

// Rent or buy for one run.
//   rent    = GPU-hours x rental rate
//   own     = the run's share of owning (economics.h): GPU-hours x (capital /
//             life + datacenter) + energy x price, i.e. the hardware busy
//             with other work for the rest of its life
//   Buying the cluster and using it a fraction u of its life charges this
//   run fixed / u + energy per GPU-hour, fixed = (purchase + network) / life
//   + datacenter (both accrue whether busy or not; energy only when busy).
//   Buying beats renting when fixed / u + energy < rental, i.e.
//     u > u* = fixed / (rental - energy)      (never when rental <= energy)
//   capital = GPUs x (purchase + network); run_share_of_life = wall / life.
struct RentOrBuy {
  Dollars rent;
  Dollars own;
  Dollars capital;
  double run_share_of_life = 0;                  // this run's wall time / life
  std::optional<double> breakeven_utilisation;   // u*, nullopt = renting always cheaper
  std::string summary;                           // one plain sentence
};
RentOrBuy rent_or_buy(Seconds gpu_time, Seconds wall, const run::CostBreakdown& cost, int gpus,
                      const run::Prices& prices, Seconds life);

enum class RankBy { kCost, kTime };
enum class CostBasis { kRent, kOwn };

struct PlanRequest {
  std::string model;                       // name or path
  double tokens = 0;
  std::optional<Dollars> budget;
  std::optional<Seconds> deadline;
  std::vector<std::string> hardware;       // accelerator profile names
  std::vector<int> gpu_counts;
  int64_t seq_len = 4096;
  int64_t global_batch = 0;                // 0: kDefaultTokensPerStep / seq_len
  int top = 5;
  RankBy rank = RankBy::kCost;
  CostBasis basis = CostBasis::kRent;
  std::string defaults_scenario = "deepseek-v3";
};

// Default tokens per optimizer step when --global-batch is not given: 4M
// tokens (2^22), Llama 3's initial pre-training batch (arXiv:2407.21783
// §3.4.1: 4M tokens at sequence length 4096).
inline constexpr int64_t kDefaultTokensPerStep = int64_t{1} << 22;

// One ranked option.
struct PlanOption {
  std::string accelerator;
  std::string cluster;
  int gpus = 0;
  Candidate candidate;
  plan::MemoryBreakdown memory;
  Bytes hbm_capacity;
  run::RunEstimate run;             // one phase
  bool has_rent = false;
  bool has_own = false;
  RentOrBuy rent_or_buy;
};

// Search statistics of one (accelerator, GPU count).
struct ClusterSearch {
  std::string accelerator;
  int gpus = 0;
  std::string cluster;
  std::string error;                // why the cluster could not be built (then nothing else)
  int64_t enumerated = 0;
  int64_t dominated = 0;
  int64_t feasible = 0;
  std::vector<RejectionCount> rejected;
  std::vector<std::string> missing_prices;
  std::string tables;               // calibration tables used ("h100-sxm", or "defaults")
};

struct PlanReport {
  PlanRequest request;
  model::Model model;
  RunDefaults defaults;
  int64_t global_batch = 0;
  std::vector<ClusterSearch> clusters;
  std::vector<std::string> rules;    // search pruning rules
  int64_t feasible = 0;              // runnable layouts over all clusters
  int64_t over_budget = 0;
  int64_t over_deadline = 0;
  int64_t unpriced = 0;              // dropped: a budget was set but the basis price is missing
  int64_t failed_run = 0;            // dropped: the run model refused (e.g. goodput: failures too frequent)
  std::vector<PlanOption> options;   // ranked, at most request.top
  int64_t meeting = 0;               // options meeting every constraint (before the top-N cut)
};

PlanReport make_plan(const PlanRequest& r);

}  // namespace trainsim::planner
