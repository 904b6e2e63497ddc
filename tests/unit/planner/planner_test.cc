// Planner: input parsing, rent-or-buy by hand, budget and deadline filters,
// the scale-up sweep, and deterministic output.
#include <catch2/catch.hpp>

#include <sstream>

#include "cli/cli.h"
#include "core/error.h"
#include "planner/compare.h"
#include "planner/planner.h"

using namespace trainsim;
using Catch::Matchers::Contains;

TEST_CASE("token counts, budgets, deadlines, lists", "[planner]") {
  CHECK(planner::parse_token_count("15T") == Approx(15e12));      // 15 x 10^12
  CHECK(planner::parse_token_count("14.8e12") == Approx(14.8e12));
  CHECK(planner::parse_token_count("300B") == Approx(3e11));      // 300 x 10^9
  CHECK(planner::parse_token_count("2.5M") == Approx(2.5e6));
  CHECK_THROWS_AS(planner::parse_token_count("15X"), UsageError);
  CHECK_THROWS_AS(planner::parse_token_count("-1T"), UsageError);
  CHECK_THROWS_AS(planner::parse_token_count(""), UsageError);
  CHECK(planner::parse_budget("$6M").value() == Approx(6e6));
  CHECK(planner::parse_budget("250k USD").value() == Approx(2.5e5));
  CHECK(planner::parse_budget("1000000").value() == Approx(1e6));
  CHECK_THROWS_AS(planner::parse_budget("six million"), UsageError);
  CHECK(in_days(planner::parse_deadline("60 days")) == Approx(60));
  CHECK_THROWS_AS(planner::parse_deadline("60"), UsageError);       // no unit
  CHECK_THROWS_AS(planner::parse_deadline("60 GB"), UsageError);    // not a time
  CHECK(planner::parse_gpu_counts("512, 1024,512") == std::vector<int>{512, 1024});
  CHECK_THROWS_AS(planner::parse_gpu_counts("512,,1024"), UsageError);
  CHECK_THROWS_AS(planner::parse_gpu_counts("0"), UsageError);
  CHECK(planner::parse_hardware_list("h800,h100-sxm") == std::vector<std::string>{"h800", "h100-sxm"});
  CHECK_THROWS_WITH(planner::parse_hardware_list("h800,h100-sxn"), Contains("did you mean \"h100-sxm\""));
}

TEST_CASE("rent or buy by hand", "[planner]") {
  run::Prices p;
  p.rental_per_gpu = dollars_per_hour(2.0);
  p.purchase_per_gpu = dollars(30000);
  p.network_per_gpu = dollars(5000);
  p.amortisation_life = years(4);                 // 4 x 365.25 x 24 = 35,064 h
  p.datacenter_per_gpu = dollars_per_hour(0.15);
  run::CostBreakdown c;
  c.rental = dollars(2000);                       // 1000 GPU-h x $2
  c.own_capital = dollars(1000 * 35000.0 / 35064.0);  // 1000 GPU-h x $35,000 / 35,064 h = $998.17
  c.own_energy = dollars(100);                    // $0.10 per GPU-hour
  c.own_datacenter = dollars(150);                // 1000 x $0.15
  const planner::RentOrBuy r = planner::rent_or_buy(hours(1000), hours(125), c, 8, p, years(4));
  CHECK(r.rent.value() == Approx(2000));
  CHECK(r.own.value() == Approx(1248.17).epsilon(1e-5));  // 998.17 + 100 + 150
  CHECK(r.capital.value() == Approx(280000));              // 8 x (30,000 + 5,000)
  CHECK(r.run_share_of_life == Approx(125.0 / 35064.0));  // 0.36%
  // fixed = 35,000 / 35,064 + 0.15 = 1.148175 $/GPU-h; u* = 1.148175 / (2 - 0.10) = 0.604303.
  REQUIRE(r.breakeven_utilisation);
  CHECK(*r.breakeven_utilisation == Approx(0.604303).epsilon(1e-5));
  CHECK_THAT(r.summary, Contains("owning is cheaper for this run by 38%"));  // 1 - 1248.17/2000
  CHECK_THAT(r.summary, Contains("busy more than 60% of its 4-year life"));

  // Rental at $1.20: u* = 1.148175 / 1.10 = 1.04 > 1: buying never wins.
  p.rental_per_gpu = dollars_per_hour(1.2);
  c.rental = dollars(1200);
  const planner::RentOrBuy never = planner::rent_or_buy(hours(1000), hours(125), c, 8, p, years(4));
  REQUIRE(never.breakeven_utilisation);
  CHECK(*never.breakeven_utilisation == Approx(1.148175 / 1.1).epsilon(1e-5));
  CHECK_THAT(never.summary, Contains("buying never beats renting over a 4-year life"));
  // Rental below energy ($0.05 < $0.10): no break-even at all.
  p.rental_per_gpu = dollars_per_hour(0.05);
  c.rental = dollars(50);
  CHECK(!planner::rent_or_buy(hours(1000), hours(125), c, 8, p, years(4)).breakeven_utilisation);
}

namespace {

planner::PlanRequest small_request() {
  planner::PlanRequest q;
  q.model = "llama3_8b";
  q.tokens = 1e12;
  q.hardware = {"h100-sxm"};
  q.gpu_counts = {64};
  q.top = 1000;
  return q;
}

}  // namespace

TEST_CASE("budget and deadline keep exactly the options within them", "[planner]") {
  const planner::PlanReport all = planner::make_plan(small_request());
  REQUIRE(all.options.size() >= 3);
  CHECK(all.meeting == all.feasible - all.failed_run);  // no constraint: every runnable option
  // Ranked by rent, ascending.
  for (size_t i = 1; i < all.options.size(); ++i) {
    CHECK(all.options[i - 1].run.phases[0].cost.rental <= all.options[i].run.phases[0].cost.rental);
  }
  // Budget = the third-cheapest rent: exactly the first three (or more on ties) remain.
  planner::PlanRequest q = small_request();
  const Dollars third = all.options[2].run.phases[0].cost.rental;
  q.budget = third;
  int64_t expect = 0;
  for (const auto& o : all.options) expect += o.run.phases[0].cost.rental <= third ? 1 : 0;
  const planner::PlanReport b = planner::make_plan(q);
  CHECK(b.meeting == expect);
  CHECK(b.over_budget == all.meeting - expect);
  for (const auto& o : b.options) CHECK(o.run.phases[0].cost.rental <= third);
  // A budget below the cheapest: nothing.
  q.budget = all.options[0].run.phases[0].cost.rental * 0.5;
  CHECK(planner::make_plan(q).options.empty());

  // Deadline = the fastest option's wall time: only options that fast.
  Seconds fastest = all.options[0].run.total_wall();
  for (const auto& o : all.options) fastest = min(fastest, o.run.total_wall());
  planner::PlanRequest d = small_request();
  d.deadline = fastest;
  d.rank = planner::RankBy::kTime;
  const planner::PlanReport dr = planner::make_plan(d);
  REQUIRE(!dr.options.empty());
  for (const auto& o : dr.options) CHECK(o.run.total_wall() <= fastest);
  CHECK(dr.meeting + dr.over_deadline == all.meeting);
}

TEST_CASE("plan: a missing price is reported, never invented", "[planner]") {
  planner::PlanRequest q = small_request();
  q.hardware = {"h20"};  // its profile has no cloud (rental) price
  q.gpu_counts = {64};
  q.top = 3;
  const planner::PlanReport r = planner::make_plan(q);
  REQUIRE(!r.options.empty());
  CHECK(!r.options[0].has_rent);
  REQUIRE(!r.clusters[0].missing_prices.empty());
  CHECK_THAT(r.clusters[0].missing_prices[0], Contains("no rental price"));
  q.budget = dollars(1e9);  // a budget cannot be checked without the price
  const planner::PlanReport b = planner::make_plan(q);
  CHECK(b.options.empty());
  CHECK(b.unpriced == r.meeting);
}

TEST_CASE("scale-up sweep: less bandwidth never fewer GPU-hours; Oct-2022 I/O prong", "[planner]") {
  planner::CompareRequest q;
  q.scenario = "deepseek-v3";
  q.hardware = {"h800"};
  q.scale_up_sweep = {"900 GB/s", "400 GB/s", "200 GB/s", "100 GB/s"};
  const planner::CompareReport r = planner::make_compare(q);
  REQUIRE(r.sweep.size() == 4);
  for (const auto& w : r.sweep) REQUIRE(w.error.empty());
  for (size_t i = 1; i < r.sweep.size(); ++i) {
    CHECK(r.sweep[i].gpu_time >= r.sweep[i - 1].gpu_time);
    CHECK(r.sweep[i].exposed_comm_share >= r.sweep[i - 1].exposed_comm_share);
  }
  // I/O = 2 x per direction + 128 GB/s host link (hardware.md §6):
  // 900 -> 1928, 400 -> 928, 200 -> 528, 100 -> 328 GB/s; threshold 600 GB/s (us-2022-10),
  // H800 TPP 15,832 >= 4,800, so only the I/O prong decides.
  CHECK(in_gigabytes_per_second(r.sweep[0].io_bidirectional) == Approx(1928));
  CHECK(in_gigabytes_per_second(r.sweep[2].io_bidirectional) == Approx(528));
  CHECK(r.sweep[0].controlled_2022);
  CHECK(r.sweep[1].controlled_2022);
  CHECK(!r.sweep[2].controlled_2022);
  CHECK(!r.sweep[3].controlled_2022);
  CHECK_THAT(r.sweep[1].applied_overrides.at(0), Contains("h800.scale_up.bandwidth_per_direction"));
  // The scenario's own chip keeps the scenario's plan.
  REQUIRE(r.chips.size() == 1);
  CHECK(r.chips[0].plan_changes.empty());
}

TEST_CASE("compare: a chip without FP8 gets a BF16 re-plan, said per phase", "[planner]") {
  planner::CompareRequest q;
  q.scenario = "deepseek-v3";
  q.hardware = {"a100-sxm-80gb"};
  const planner::CompareReport r = planner::make_compare(q);
  REQUIRE(r.chips.size() == 1);
  const auto& c = r.chips[0];
  REQUIRE(c.error.empty());
  REQUIRE(!c.plan_changes.empty());
  CHECK_THAT(c.plan_changes[0], Contains("pre-training"));
  CHECK_THAT(c.plan_changes[0], Contains("no FP8 on the chip"));
  for (const auto& p : c.run.phases) CHECK(p.plan.precision.linear_gemms == Precision::kBF16);
  CHECK(c.classification.verdict("us-2023-10").controlled);
}

TEST_CASE("plan and compare output is deterministic", "[planner]") {
  auto run_cli = [](const std::vector<std::string>& args) {
    std::ostringstream out, err;
    const int rc = cli::run(args, out, err);
    CHECK(rc == 0);
    return out.str();
  };
  const std::vector<std::string> plan = {"plan", "llama3_8b", "--tokens", "300B", "--gpus", "64",
                                         "--hardware", "h100-sxm,a100-sxm-80gb", "--format", "json"};
  CHECK(run_cli(plan) == run_cli(plan));
  const std::vector<std::string> cmp = {"compare", "deepseek-v3", "--hardware", "h800,h20", "--format", "json"};
  CHECK(run_cli(cmp) == run_cli(cmp));
  // Bad flags are usage errors (exit code of UsageError, not 0).
  std::ostringstream out, err;
  CHECK(cli::run({"plan", "llama3_8b", "--tokens", "1T", "--hardware", "h100"}, out, err) != 0);
  CHECK_THAT(err.str(), Contains("did you mean"));
}
