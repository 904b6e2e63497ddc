// The predictors behind `trainsim validate --engine analytic|des`
// (validation.h). Kept apart from validation.cc so that the row logic can be
// tested with a fixed predictor.
#include <filesystem>
#include <map>
#include <memory>
#include <utility>

#include <fmt/format.h>

#include "analytic/step.h"
#include "calib/tables.h"
#include "core/error.h"
#include "core/paths.h"
#include "cost/cost_model.h"
#include "hardware/hardware.h"
#include "plan/plan.h"
#include "report/validation.h"

// The discrete-event engine is used when the sim module is in the tree.
#if __has_include("sim/simulator.h")
#include "sim/simulator.h"
#define TRAINSIM_VALIDATE_HAS_SIM 1
#else
#define TRAINSIM_VALIDATE_HAS_SIM 0
#endif

namespace trainsim::report {
namespace {

// validate_plan() also rejects a plan whose modelled memory exceeds the HBM.
// A published run did run, so a memory overflow here is an error of the
// memory model: the row is still predicted, and the overflow is reported in
// its notes. Every other reason to reject the plan still skips the row.
void check_plan(const plan::Plan& p, const model::Model& m, const hardware::Cluster& c,
                std::vector<std::string>& notes) {
  try {
    plan::validate_plan(p, m, c);
  } catch (const PlanError& original) {
    Bytes need;
    try {
      need = plan::memory_per_gpu(p, m).total();
    } catch (const std::exception&) {
      throw original;
    }
    if (!(need > c.accelerator.hbm_capacity)) throw original;
    hardware::Cluster relaxed = c;
    relaxed.accelerator.hbm_capacity = need * 2.0;
    plan::validate_plan(p, m, relaxed);  // any other reason throws here
    notes.push_back(fmt::format(
        "memory model: {:.1f} GB per GPU exceeds the {:.1f} GB of HBM, yet the published run ran; "
        "the memory model overestimates this configuration (reported, not a reason to skip)",
        in_gigabytes(need), in_gigabytes(c.accelerator.hbm_capacity)));
  }
}

// Clusters and cost models are built once per (profile, GPU count); tables once per profile.
class CostCache {
 public:
  const cost::CostModel& get(const std::string& hw, int gpus) {
    const auto key = std::make_pair(hw, gpus);
    auto it = costs_.find(key);
    if (it == costs_.end()) {
      hardware::Cluster cluster = hardware::generic_cluster(hw, gpus);
      auto& tables = tables_[hw];
      if (!tables) tables = std::make_shared<calib::EfficiencyTables>(calib::load_tables_for(cluster.accelerator));
      it = costs_.emplace(key, std::make_shared<cost::CostModel>(std::move(cluster), *tables)).first;
    }
    return *it->second;
  }

 private:
  std::map<std::string, std::shared_ptr<calib::EfficiencyTables>> tables_;
  std::map<std::pair<std::string, int>, std::shared_ptr<cost::CostModel>> costs_;
};

void note_tables(const cost::CostModel& cost, const std::string& hw, Prediction& pred) {
  const auto peak = hardware::utilisation_peak(cost.cluster().accelerator);
  if (!peak) throw UsageError(fmt::format("hardware profile {} states no dense BF16 or FP16 peak", hw));
  pred.peak_bf16 = *peak;
  if (cost.tables().is_default()) {
    pred.default_tables = true;
    pred.engine_notes.push_back(fmt::format("no calibration table for {}: default efficiencies ({})", hw,
                                            cost.tables().provenance.default_reason));
  }
}

}  // namespace

Predictor analytic_predictor() {
  auto cache = std::make_shared<CostCache>();
  return [cache](const RunSpec& s) -> Prediction {
    const cost::CostModel& cost = cache->get(s.hw, s.gpus);
    Prediction pred;
    check_plan(s.plan, s.model, cost.cluster(), pred.notes);
    const analytic::StepEstimate est = analytic::estimate_step(s.model, s.plan, cost);
    pred.step_time = est.step_time;
    pred.mfu = est.mfu_noncausal;
    pred.hfu = est.hfu;
    const analytic::StepBreakdown& b = est.breakdown;
    pred.breakdown = {{"compute", b.compute},       {"recompute", b.recompute}, {"exposed_comm", b.exposed_comm},
                      {"bubble", b.bubble},         {"dp_exposed", b.dp_exposed}, {"optimizer", b.optimizer}};
    for (const auto& n : est.notes) pred.notes.push_back("analytic: " + n);
    note_tables(cost, s.hw, pred);
    return pred;
  };
}

TrackRecords::TrackRecords() {
  const std::string path = paths::data_dir() + "/" + kValidationRuns;
  std::error_code ec;  // a path that cannot even be examined (permissions, a link loop) is missing too
  if (!std::filesystem::is_regular_file(path, ec)) {
    missing_ = fmt::format("{} is not under the data directory {}", kValidationRuns, paths::data_dir());
    return;
  }
  try {
    report_ = validate_runs(read_csv(path), analytic_predictor(), Engine::kAnalytic,
                            std::string("trainsim validate ") + kValidationRuns);
  } catch (const IoError& err) {
    missing_ = err.what();
  } catch (const ConfigError& err) {
    missing_ = err.what();
  }
}

TrackRecord TrackRecords::of(const hardware::Accelerator& accelerator) const {
  TrackRecord e;
  if (!missing_.empty()) {
    e.missing = missing_;
    return e;
  }
  std::map<std::string, bool> same;  // per hardware profile of the rows
  auto on_die = [&](const RowResult& r) {
    auto it = same.find(r.hw);
    if (it == same.end()) {
      bool s = false;
      try {
        s = hardware::same_compute_die(hardware::load_accelerator(r.hw), accelerator, Precision::kBF16);
      } catch (const UsageError&) {
      } catch (const ConfigError&) {
      }
      it = same.emplace(r.hw, s).first;
    }
    return it->second;
  };
  e.all = time_error_summary(report_, [](const RowResult&) { return true; });
  e.die = time_error_summary(report_, on_die);
  if (e.all.stats.n == 0) e.missing = fmt::format("no row of {} could be compared", kValidationRuns);
  return e;
}

TrackRecord TrackRecords::of(const std::string& accelerator_name) const {
  try {
    return of(hardware::load_accelerator(accelerator_name));
  } catch (const UsageError& e) {
    TrackRecord t;
    t.missing = e.what();
    return t;
  } catch (const ConfigError& e) {
    TrackRecord t;
    t.missing = e.what();
    return t;
  }
}

#if TRAINSIM_VALIDATE_HAS_SIM
bool des_available() { return true; }

// One representative data-parallel replica is simulated event by event
// (sim::WorkloadOptions defaults); MFU and HFU scale the analytic ones by
// the ratio of step times (same FLOPs, different time).
Predictor des_predictor() {
  auto cache = std::make_shared<CostCache>();
  return [cache](const RunSpec& s) -> Prediction {
    const cost::CostModel& cost = cache->get(s.hw, s.gpus);
    Prediction pred;
    check_plan(s.plan, s.model, cost.cluster(), pred.notes);
    const sim::SimReport rep = sim::simulate(s.model, s.plan, cost, sim::SimulateOptions::per_layer());
    pred.step_time = rep.step_time;
    const double ratio = rep.analytic.step_time / rep.step_time;
    pred.mfu = rep.analytic.mfu_noncausal * ratio;
    pred.hfu = rep.analytic.hfu * ratio;
    for (const auto& c : rep.comparison) pred.breakdown.emplace_back(c.component, c.simulated);
    for (const auto& n : rep.notes) pred.notes.push_back("des: " + n);
    note_tables(cost, s.hw, pred);
    return pred;
  };
}
#else
bool des_available() { return false; }

Predictor des_predictor() {
  throw UsageError("--engine des: this trainsim was built without the discrete-event simulator (src/sim); "
                   "use --engine analytic");
}
#endif

}  // namespace trainsim::report
