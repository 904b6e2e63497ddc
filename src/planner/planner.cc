#include "planner/planner.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "calib/tables.h"
#include "core/error.h"
#include "core/strings.h"
#include "run/output.h"

namespace trainsim::planner {
namespace {

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(s.begin());
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

// Splits "14.8e12" / "15T" / "300 B" into number and suffix.
bool split_number(const std::string& text, double& number, std::string& suffix) {
  const std::string s = trim(text);
  if (s.empty()) return false;
  size_t used = 0;
  try {
    number = std::stod(s, &used);
  } catch (const std::exception&) {
    return false;
  }
  suffix = trim(s.substr(used));
  return std::isfinite(number);
}

std::optional<double> count_suffix(const std::string& suffix) {
  if (suffix.empty()) return 1.0;
  if (suffix == "k" || suffix == "K") return units::kKilo;
  if (suffix == "M") return units::kMega;
  if (suffix == "B" || suffix == "G") return units::kGiga;
  if (suffix == "T") return units::kTera;
  return std::nullopt;
}

}  // namespace

double parse_token_count(const std::string& text) {
  double n = 0;
  std::string suffix;
  if (split_number(text, n, suffix)) {
    if (const auto f = count_suffix(suffix); f && n > 0 && std::isfinite(n * *f)) return n * *f;
  }
  throw UsageError(fmt::format(
      "--tokens: expected a positive token count such as \"15T\", \"14.8e12\" or \"300B\" (suffixes k, M, "
      "B, T); found \"{}\"",
      text));
}

Dollars parse_budget(const std::string& text) {
  std::string s = trim(text);
  if (!s.empty() && s.front() == '$') s = s.substr(1);
  if (s.size() > 3 && s.substr(s.size() - 3) == "USD") s = trim(s.substr(0, s.size() - 3));
  double n = 0;
  std::string suffix;
  if (split_number(s, n, suffix)) {
    if (const auto f = count_suffix(suffix); f && n > 0 && std::isfinite(n * *f)) return dollars(n * *f);
  }
  throw UsageError(fmt::format(
      "--budget: expected a positive amount such as \"$6M\", \"6M USD\" or \"250k USD\"; found \"{}\"", text));
}

Seconds parse_deadline(const std::string& text) {
  try {
    const Seconds s = parse_quantity<Seconds>(text);
    if (s.value() > 0 && std::isfinite(s.value())) return s;
  } catch (const UnitError&) {
  }
  throw UsageError(fmt::format(
      "--deadline: expected a positive duration with a unit such as \"60 days\" or \"1000 h\"; found \"{}\"",
      text));
}

std::vector<int> parse_gpu_counts(const std::string& text) {
  std::vector<int> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    const std::string item = trim(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    size_t used = 0;
    long v = 0;
    bool ok = !item.empty();
    if (ok) {
      try {
        v = std::stol(item, &used);
      } catch (const std::exception&) {
        ok = false;
      }
    }
    if (!ok || used != item.size() || v < 1 || v > 1000000) {
      throw UsageError(fmt::format("--gpus: expected a comma-separated list of GPU counts such as \"512,1024\"; "
                                   "found \"{}\" in \"{}\"",
                                   item, text));
    }
    if (std::find(out.begin(), out.end(), static_cast<int>(v)) == out.end()) out.push_back(static_cast<int>(v));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::vector<std::string> parse_hardware_list(const std::string& text) {
  const std::vector<std::string> known = hardware::list_accelerators();
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    const std::string item = trim(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (std::find(known.begin(), known.end(), item) == known.end()) {
      throw UsageError(fmt::format("--hardware: unknown accelerator \"{}\"{}; known: {}", item,
                                   did_you_mean(item, known), join(known)));
    }
    if (std::find(out.begin(), out.end(), item) == out.end()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

RunDefaults load_run_defaults(const std::string& scenario) { return run_defaults_of(run::load_scenario(scenario)); }

RunDefaults run_defaults_of(const run::Scenario& s) {
  RunDefaults d;
  d.scenario = s.name;
  d.goodput = s.goodput;
  d.amortisation_life = s.prices.amortisation_life;
  d.datacenter_per_gpu = s.prices.datacenter_per_gpu;
  d.idle_fraction_of_tdp = s.power.idle_fraction_of_tdp;
  d.busy_fraction_of_tdp = s.power.busy_fraction_of_tdp;
  d.expert_load_imbalance = s.plan.expert_load_imbalance;
  for (const auto& a : s.assumptions) {
    const std::string& n = a.name;
    if (n.rfind("goodput/", 0) == 0 || n == "prices/amortisation_life" || n == "prices/datacenter_per_gpu_hour" ||
        n == "power/gpu_idle_fraction_of_tdp" || n == "power/gpu_busy_fraction_of_tdp" ||
        n == "plan/expert_load_imbalance") {
      d.assumptions.push_back(a);
    }
  }
  return d;
}

ClusterPrices cluster_prices(const hardware::Cluster& c, const RunDefaults& d) {
  ClusterPrices p;
  const auto& a = c.accelerator;
  auto src = [](const std::map<std::string, hardware::SourceInfo>& m, const std::string& k, const std::string& f) {
    auto it = m.find(k);
    return it != m.end() && !it->second.source.empty() ? it->second.source : "profile " + f;
  };
  if (c.rental_price_per_gpu) {
    p.prices.rental_per_gpu = *c.rental_price_per_gpu;
    p.has_rental = true;
    p.sources.push_back({"prices/rental_per_gpu_hour", to_string(*c.rental_price_per_gpu),
                         src(c.sources, "prices.rental_price_per_gpu", c.file)});
  } else if (a.cloud_price) {
    p.prices.rental_per_gpu = *a.cloud_price;
    p.has_rental = true;
    p.sources.push_back({a.name + "/cloud_price", to_string(*a.cloud_price), src(a.sources, "cloud_price", a.file)});
  } else {
    p.missing.push_back(fmt::format("{}: no rental price (cloud_price) in its profile; rental cost not computed",
                                    a.name));
  }
  if (a.purchase_price) {
    p.prices.purchase_per_gpu = *a.purchase_price;
    p.has_purchase = true;
    p.sources.push_back(
        {a.name + "/purchase_price", to_string(*a.purchase_price), src(a.sources, "purchase_price", a.file)});
  } else {
    p.missing.push_back(
        fmt::format("{}: no purchase price in its profile; ownership cost not computed", a.name));
  }
  if (c.network_cost_per_gpu) {
    p.prices.network_per_gpu = *c.network_cost_per_gpu;
    p.has_network = true;
  } else {
    p.missing.push_back(fmt::format("{}: no network cost per GPU; ownership cost not computed", c.name));
  }
  if (c.electricity_price) {
    p.prices.electricity = *c.electricity_price;
    p.has_electricity = true;
  } else {
    p.missing.push_back(fmt::format("{}: no electricity price; ownership cost not computed", c.name));
  }
  p.prices.amortisation_life = d.amortisation_life;
  p.prices.datacenter_per_gpu = d.datacenter_per_gpu;
  return p;
}

run::Scenario make_scenario(const model::Model& m, const hardware::Cluster& c, const plan::Plan& p,
                            const std::string& precision, double tokens, const RunDefaults& d,
                            const ClusterPrices& prices) {
  run::Scenario s;
  s.name = "plan";
  s.file = "(planner)";
  s.model = m;
  s.cluster = c;
  s.plan = p;
  s.precision_policy = precision;
  run::PhaseSpec ph;
  ph.name = "pre-training";
  ph.kind = run::PhaseKind::kPretraining;
  ph.amount = run::PhaseAmount::kTokens;
  ph.tokens = tokens;
  ph.seq_len = p.seq_len;
  ph.global_batch = p.global_batch;
  s.phases.push_back(ph);
  s.goodput = d.goodput;
  s.prices = prices.prices;
  s.power.gpu_tdp = c.accelerator.tdp;
  s.power.idle_fraction_of_tdp = d.idle_fraction_of_tdp;
  s.power.busy_fraction_of_tdp = d.busy_fraction_of_tdp;
  s.power.node_overhead = c.node_overhead_power;
  s.power.gpus_per_node = c.accelerators_per_node;
  s.power.pue = c.pue;
  s.uncertainty.compute_efficiency_scale = {1.0, 1.0, 1.0, "nominal"};
  s.uncertainty.comm_efficiency_scale = {1.0, 1.0, 1.0, "nominal"};
  return s;
}

RentOrBuy rent_or_buy(Seconds gpu_time, Seconds wall, const run::CostBreakdown& cost, int gpus,
                      const run::Prices& prices, Seconds life) {
  RentOrBuy r;
  r.rent = cost.rental;
  r.own = cost.own_total();
  r.capital = (prices.purchase_per_gpu + prices.network_per_gpu) * static_cast<double>(gpus);
  r.run_share_of_life = life.value() > 0 ? wall / life : 0.0;
  const double gpu_s = gpu_time.value();
  // Per GPU-second rates.
  const double rental = prices.rental_per_gpu.value();
  const double energy = gpu_s > 0 ? cost.own_energy.value() / gpu_s : 0.0;
  const double fixed = (prices.purchase_per_gpu + prices.network_per_gpu).value() / life.value() +
                       prices.datacenter_per_gpu.value();
  if (rental > energy && fixed > 0) {
    r.breakeven_utilisation = fixed / (rental - energy);
  }
  const double years = life.value() / units::kSecondsPerYear;
  std::string cheaper;
  if (r.own < r.rent) {
    cheaper = fmt::format("owning is cheaper for this run by {:.0f}% if the hardware is kept busy",
                          100.0 * (1.0 - r.own / r.rent));
  } else {
    cheaper = fmt::format("renting is cheaper for this run by {:.0f}% even with the hardware kept busy",
                          r.rent.value() > 0 ? 100.0 * (1.0 - r.rent / r.own) : 0.0);
  }
  std::string breakeven;
  if (!r.breakeven_utilisation) {
    breakeven = "buying never beats renting at these prices (rent does not exceed energy per GPU-hour)";
  } else if (*r.breakeven_utilisation > 1.0) {
    breakeven = fmt::format("buying never beats renting over a {:.3g}-year life (it would need {:.0f}% utilisation)",
                            years, 100.0 * *r.breakeven_utilisation);
  } else {
    breakeven = fmt::format(
        "buying ({} capital) beats renting when the cluster is busy more than {:.0f}% of its {:.3g}-year life; "
        "this run alone fills {:.1f}%",
        to_string(r.capital), 100.0 * *r.breakeven_utilisation, years, 100.0 * r.run_share_of_life);
  }
  r.summary = fmt::format("rent {} vs own {} (the run's share of a {:.3g}-year life): {}; {}", to_string(r.rent),
                          to_string(r.own), years, cheaper, breakeven);
  return r;
}

PlanReport make_plan(const PlanRequest& req) {
  if (req.tokens <= 0) throw UsageError("--tokens must be > 0");
  if (req.hardware.empty()) throw UsageError("--hardware: at least one accelerator");
  if (req.gpu_counts.empty()) throw UsageError("--gpus: at least one GPU count");
  if (req.top < 1) throw UsageError(fmt::format("--top: expected >= 1; found {}", req.top));
  if (req.seq_len < 1) throw UsageError(fmt::format("--seq-len: expected >= 1; found {}", req.seq_len));
  PlanReport rep;
  rep.request = req;
  rep.model = model::load_model(req.model);
  rep.defaults = load_run_defaults(req.defaults_scenario);
  rep.global_batch = req.global_batch > 0 ? req.global_batch : std::max<int64_t>(1, kDefaultTokensPerStep / req.seq_len);
  if (req.global_batch < 0) throw UsageError(fmt::format("--global-batch: expected >= 1; found {}", req.global_batch));
  if (req.seq_len > rep.model.max_seq_len && rep.model.max_seq_len > 0) {
    throw UsageError(fmt::format("--seq-len {} exceeds {}'s maximum sequence length {}", req.seq_len,
                                 rep.model.name, rep.model.max_seq_len));
  }

  SearchOptions so;
  so.seq_len = req.seq_len;
  so.global_batch = rep.global_batch;
  so.expert_load_imbalance = rep.model.moe ? rep.defaults.expert_load_imbalance : 1.0;

  std::vector<PlanOption> all;
  for (const std::string& acc : req.hardware) {
    for (int gpus : req.gpu_counts) {
      ClusterSearch cs;
      cs.accelerator = acc;
      cs.gpus = gpus;
      hardware::Cluster cluster;
      try {
        cluster = hardware::generic_cluster(acc, gpus);
      } catch (const UsageError& e) {
        cs.error = e.what();
        rep.clusters.push_back(cs);
        continue;
      }
      cs.cluster = cluster.name;
      const calib::EfficiencyTables tables = calib::load_tables_for(cluster.accelerator);
      cs.tables = tables.is_default() ? "defaults (no measurement)" : tables.profile;
      const run::AnalyticStepModel steps(rep.model, cluster, tables);
      const SearchResult sr = search_layouts(rep.model, cluster, steps, so);
      if (rep.rules.empty()) rep.rules = sr.rules;
      cs.enumerated = sr.enumerated;
      cs.dominated = sr.dominated;
      cs.feasible = static_cast<int64_t>(sr.feasible.size());
      cs.rejected = sr.rejected;
      const ClusterPrices prices = cluster_prices(cluster, rep.defaults);
      cs.missing_prices = prices.missing;
      rep.feasible += cs.feasible;
      for (const Candidate& cand : sr.feasible) {
        const run::Scenario s =
            make_scenario(rep.model, cluster, cand.plan, cand.precision, req.tokens, rep.defaults, prices);
        PlanOption o;
        try {
          o.run = run::evaluate_run(s, run::nominal_perturbation(s), steps);
        } catch (const PlanError&) {
          ++rep.failed_run;
          continue;
        }
        o.accelerator = acc;
        o.cluster = cluster.name;
        o.gpus = gpus;
        o.candidate = cand;
        o.hbm_capacity = cluster.accelerator.hbm_capacity;
        o.has_rent = prices.has_rental;
        o.has_own = prices.can_own();
        const auto& ph = o.run.phases.front();
        if (o.has_rent && o.has_own) {
          o.rent_or_buy = rent_or_buy(ph.gpu_time, ph.wall, ph.cost, gpus, s.prices, s.prices.amortisation_life);
        }
        const bool has_basis = req.basis == CostBasis::kRent ? o.has_rent : o.has_own;
        const Dollars basis_cost = req.basis == CostBasis::kRent ? ph.cost.rental : ph.cost.own_total();
        if (req.budget) {
          if (!has_basis) {
            ++rep.unpriced;
            continue;
          }
          if (basis_cost > *req.budget) {
            ++rep.over_budget;
            continue;
          }
        }
        if (req.deadline && ph.wall > *req.deadline) {
          ++rep.over_deadline;
          continue;
        }
        all.push_back(std::move(o));
      }
      rep.clusters.push_back(std::move(cs));
    }
  }
  rep.meeting = static_cast<int64_t>(all.size());
  auto basis = [&](const PlanOption& o) {
    const auto& c = o.run.phases.front().cost;
    return req.basis == CostBasis::kRent ? c.rental.value() : c.own_total().value();
  };
  auto has_basis = [&](const PlanOption& o) { return req.basis == CostBasis::kRent ? o.has_rent : o.has_own; };
  std::stable_sort(all.begin(), all.end(), [&](const PlanOption& a, const PlanOption& b) {
    const double wa = a.run.total_wall().value(), wb = b.run.total_wall().value();
    if (req.rank == RankBy::kCost) {
      if (has_basis(a) != has_basis(b)) return has_basis(a);  // priced options first
      if (has_basis(a) && basis(a) != basis(b)) return basis(a) < basis(b);
      if (wa != wb) return wa < wb;
    } else {
      if (wa != wb) return wa < wb;
      if (has_basis(a) != has_basis(b)) return has_basis(a);
      if (has_basis(a) && basis(a) != basis(b)) return basis(a) < basis(b);
    }
    if (a.accelerator != b.accelerator) return a.accelerator < b.accelerator;
    if (a.gpus != b.gpus) return a.gpus < b.gpus;
    return plan_key(a.candidate.plan) < plan_key(b.candidate.plan);
  });
  if (static_cast<int>(all.size()) > req.top) all.resize(static_cast<size_t>(req.top));
  for (PlanOption& o : all) o.memory = plan::memory_per_gpu(o.candidate.plan, rep.model);
  rep.options = std::move(all);
  return rep;
}

}  // namespace trainsim::planner
