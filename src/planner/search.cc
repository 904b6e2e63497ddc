#include "planner/search.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "core/error.h"
#include "core/strings.h"
#include "run/scenario.h"

namespace trainsim::planner {
namespace {

std::vector<int> divisors(int n) {
  std::vector<int> d;
  for (int i = 1; i <= n; ++i) {
    if (n % i == 0) d.push_back(i);
  }
  return d;
}

bool is_mla(const model::Model& m) { return m.attention == model::AttentionKind::kMla; }

int default_max_nodes(const model::Model& m) {
  if (m.moe && m.moe->n_group > 0 && m.moe->topk_group > 0) return static_cast<int>(m.moe->topk_group);
  return 0;
}

struct Tally {
  std::vector<RejectionCount> counts;
  void add(const std::string& message, int64_t n = 1) {
    const std::string reason = rejection_reason(message);
    for (auto& c : counts) {
      if (c.reason == reason) {
        c.count += n;
        return;
      }
    }
    counts.push_back(RejectionCount{reason, n, message});
  }
};

}  // namespace

std::string rejection_reason(const std::string& m) {
  // Categories of plan/validate.cc's messages; anything else keeps its text.
  if (contains(m, "attention heads are not divisible") || contains(m, "key/value heads are not divisible")) {
    return "heads not divisible by tp";
  }
  if (contains(m, "dense FFN width")) return "FFN width not divisible by tp";
  if (contains(m, "routed experts are not divisible")) return "experts not divisible by ep";
  if (contains(m, "expert parallelism lives inside")) return "ep does not divide dp x cp x tp";
  if (contains(m, "is not divisible by dp x micro_batch")) return "global batch not divisible by dp x micro-batch";
  if (contains(m, "needs layers divisible by pp x vpp")) return "layers not divisible by pp x vpp (interleaved)";
  if (contains(m, "needs micro-batches divisible by pp")) return "micro-batches not divisible by pp (interleaved)";
  if (contains(m, "needs an even number of pipeline stages")) return "odd pp (dualpipe)";
  if (contains(m, "needs micro-batches even and >= 2 x pp")) return "fewer than 2 x pp micro-batches (dualpipe)";
  if (contains(m, "cannot fill")) return "fewer layers than pipeline stages";
  if (contains(m, "FP8")) return "no FP8 on the chip";
  if (contains(m, "per GPU on pipeline rank")) return "memory over HBM capacity (even at ZeRO-3)";
  if (contains(m, "seq_len")) return "seq_len not divisible by cp";
  const std::string prefix = "plan rejected: ";
  return m.rfind(prefix, 0) == 0 ? m.substr(prefix.size()) : m;
}

std::string layout_string(const plan::Plan& p) {
  std::string s = fmt::format("tp {} pp {}", p.tp, p.pp);
  if (p.vpp > 1) s += fmt::format(" (vpp {})", p.vpp);
  s += fmt::format(" dp {}", p.dp);
  if (p.ep > 1) s += fmt::format(" ep {}", p.ep);
  if (p.cp > 1) s += fmt::format(" cp {}{}", p.cp, p.cp_ring == graph::CpRing::kLatent ? " latent-ring" : "");
  if (p.sequence_parallel) s += " sp";
  s += fmt::format(" zero-{} mb {}", p.zero_stage, p.micro_batch);
  return s;
}

std::string plan_key(const plan::Plan& p) {
  const auto& q = p.precision;
  return fmt::format("{:06d} {:06d} {:03d} {:06d} {:06d} {:06d} {} {} {:04d} {:08d} {:08d} {} {} {:03d} {:03d} {:.6f} {}",
                     p.tp, p.pp, p.vpp, p.dp, p.ep, p.cp, p.sequence_parallel ? 1 : 0, p.zero_stage,
                     p.micro_batch, p.global_batch, p.seq_len, static_cast<int>(p.schedule),
                     static_cast<int>(p.recompute), p.comm_sms, p.max_nodes_per_token,
                     p.expert_load_imbalance, static_cast<int>(q.linear_gemms));
}

std::vector<int> tp_options(const hardware::Cluster& c, int cp) {
  const int gpus = c.total_accelerators();
  const int domain = std::max(1, std::min(c.scale_up_domain(), c.accelerators_per_node));
  std::vector<int> out;
  for (int t : divisors(domain)) {
    if (gpus % (t * cp) == 0) out.push_back(t);
  }
  return out;
}

std::vector<std::string> precision_options(const hardware::Accelerator& a, const SearchOptions& o) {
  if (!o.precisions.empty()) {
    std::vector<std::string> out;
    for (const auto& name : o.precisions) {
      if (name != "deepseek-fp8" || a.peak(Precision::kFP8)) out.push_back(name);
    }
    return out;
  }
  std::vector<std::string> out = {"bf16"};
  if (o.allow_fp8 && !o.only_bf16 && a.peak(Precision::kFP8)) out.push_back("deepseek-fp8");
  return out;
}

SearchResult search_layouts(const model::Model& m, const hardware::Cluster& c,
                            const run::AnalyticStepModel& steps, const SearchOptions& o) {
  TRAINSIM_CHECK(o.cp >= 1 && o.seq_len >= 1 && o.global_batch >= 1, "bad search options");
  SearchResult r;
  r.rules = {
      "tp: divisors of the scale-up domain (TP stays inside one NVLink-class domain)",
      fmt::format("pp: divisors of GPUs / (tp x cp) up to min(layers, {})", kMaxPp),
      "ep (MoE): powers of two dividing dp x cp x tp and the routed experts",
      "schedule: 1f1b; with pp > 1 also interleaved-1f1b (vpp 2); for MoE also dualpipe with "
      "20/132 of the SMs lent to communication (V3TR §3.2.2)",
      "recompute: none, selective, full (and deepseek for MLA models)",
      "recompute dominance: once a policy fits at ZeRO stage z, policies recomputing a superset (full; "
      "everything after none) are tried only below z (more recompute at the same or a higher stage is never "
      "faster)",
      "zero: the lowest of 1, 2, 3 that fits (ZeRO-0 moves the same bytes as ZeRO-1 and holds more)",
      "sequence parallelism on whenever tp > 1 (Megatron-LM default with TP)",
      o.overlap_p2p_comm ? "interleaved layouts overlap their pipeline sends with compute (NeMo 2.0 sets "
                           "overlap_p2p_comm whenever vpp > 1); 1f1b exposes them"
                         : "pipeline sends exposed between chunks (overlap_p2p_comm off, as the scenario states)",
      "precision: bf16, and deepseek-fp8 where the chip has a dense FP8 rate"};

  const int gpus = c.total_accelerators();
  const int max_nodes = o.max_nodes_per_token >= 0 ? o.max_nodes_per_token : default_max_nodes(m);
  const int dualpipe_sms = plan::dualpipe_comm_sms(c.accelerator.sm_count);

  std::vector<plan::Recompute> recomputes = {plan::Recompute::kNone, plan::Recompute::kSelective};
  if (is_mla(m)) recomputes.push_back(plan::Recompute::kDeepSeek);
  recomputes.push_back(plan::Recompute::kFull);

  auto base_plan = [&](int tp, int pp, int vpp, int dp, int ep, plan::Schedule schedule,
                       const plan::PrecisionPolicy& policy) {
    plan::Plan p;
    p.tp = tp;
    p.pp = pp;
    p.vpp = vpp;
    p.dp = dp;
    p.ep = ep;
    p.cp = o.cp;
    p.cp_ring = o.cp_ring;
    p.attention = o.attention;
    p.elementwise = o.elementwise;
    p.zero3_framework = o.zero3_framework;
    p.overlap_grad_reduce = o.overlap_grad_reduce;
    p.gradient_accumulation_fusion = o.gradient_accumulation_fusion;
    p.overlap_p2p_comm = o.overlap_p2p_comm && schedule == plan::Schedule::kInterleaved1F1B;
    p.sequence_parallel = tp > 1;
    p.global_batch = o.global_batch;
    p.seq_len = o.seq_len;
    p.schedule = schedule;
    p.precision = policy;
    p.comm_sms = schedule == plan::Schedule::kDualPipe ? dualpipe_sms : 0;
    p.max_nodes_per_token = m.moe ? max_nodes : 0;
    p.expert_load_imbalance = m.moe ? o.expert_load_imbalance : 1.0;
    return p;
  };
  Tally tally;
  std::vector<Candidate> feasible;
  for (const std::string& prec : precision_options(c.accelerator, o)) {
    const plan::PrecisionPolicy policy = run::precision_policy(prec);
    for (int tp : tp_options(c, o.cp)) {
      const int rest = gpus / (tp * o.cp);
      for (int pp : divisors(rest)) {
        if (pp > m.layers || pp > kMaxPp) break;
        const int dp = rest / pp;
        std::vector<int> eps = {1};
        if (m.moe) {
          eps.clear();
          const int outer = dp * o.cp * tp;
          for (int ep = std::max(1, kMinEp); ep <= outer; ep *= 2) {
            if (outer % ep == 0 && m.moe->n_routed_experts % ep == 0) eps.push_back(ep);
          }
          if (eps.empty()) eps.push_back(1);
        }
        std::vector<std::pair<plan::Schedule, int>> schedules = {{plan::Schedule::k1F1B, 1}};
        if (pp > 1) {
          schedules.push_back({plan::Schedule::kInterleaved1F1B, 2});
          if (m.moe) schedules.push_back({plan::Schedule::kDualPipe, 1});
        }
        for (int ep : eps) {
          for (const auto& [schedule, vpp] : schedules) {
            // Memory probe: full recompute, ZeRO-3 and the smallest micro-batch
            // hold the least; if that is over capacity, so is every variant of
            // this (tp, pp, ep, schedule, precision), and they are counted as
            // memory rejections without building each one.
            {
              plan::Plan p = base_plan(tp, pp, vpp, dp, ep, schedule, policy);
              p.micro_batch = *std::min_element(o.micro_batches.begin(), o.micro_batches.end());
              p.recompute = plan::Recompute::kFull;
              p.zero_stage = 3;
              try {
                plan::validate_plan(p, m, c);
              } catch (const PlanError& e) {
                if (contains(e.what(), "per GPU on pipeline rank")) {
                  const int64_t n = static_cast<int64_t>(o.micro_batches.size() * recomputes.size());
                  r.enumerated += n;
                  tally.add(e.what(), n);
                  continue;
                }
              }
            }
            std::vector<int64_t> mbs = o.micro_batches;
            std::sort(mbs.begin(), mbs.end());
            for (size_t mi = 0; mi < mbs.size(); ++mi) {
              const int64_t mb = mbs[mi];
              int memory_failures = 0;
              std::string memory_message;
              // Dominance: more recomputation at the same or a higher ZeRO stage
              // is never faster (it adds backward compute; higher stages add
              // communication), so once a policy fits at ZeRO stage z, the
              // policies recomputing a superset are tried only below z.
              std::map<plan::Recompute, int> zero_limit;  // highest stage still worth trying
              for (plan::Recompute rc : recomputes) {
                const int limit = zero_limit.count(rc) ? zero_limit[rc] : 3;
                if (limit < 1) {
                  ++r.dominated;
                  continue;
                }
                plan::Plan p = base_plan(tp, pp, vpp, dp, ep, schedule, policy);
                p.micro_batch = mb;
                p.recompute = rc;
                std::optional<std::string> last_error;
                bool ok = false;
                for (int zero = 1; zero <= limit; ++zero) {
                  p.zero_stage = zero;
                  try {
                    plan::validate_plan(p, m, c);
                    ok = true;
                    break;
                  } catch (const PlanError& e) {
                    last_error = e.what();
                    // Only memory depends on the ZeRO stage.
                    if (!contains(*last_error, "per GPU on pipeline rank")) break;
                  }
                }
                if (!ok && limit < 3 && last_error && contains(*last_error, "per GPU on pipeline rank")) {
                  // Fits only at a stage where a lighter policy already runs: dominated.
                  ++r.dominated;
                  continue;
                }
                ++r.enumerated;
                if (!ok) {
                  tally.add(*last_error);
                  if (contains(*last_error, "per GPU on pipeline rank")) {
                    ++memory_failures;
                    memory_message = *last_error;
                  }
                  continue;
                }
                auto restrict_to = [&](plan::Recompute heavier) {
                  const int lim = p.zero_stage - 1;
                  if (!zero_limit.count(heavier) || zero_limit[heavier] > lim) zero_limit[heavier] = lim;
                };
                if (rc == plan::Recompute::kNone) {
                  for (plan::Recompute h : recomputes) {
                    if (h != rc) restrict_to(h);
                  }
                } else if (rc != plan::Recompute::kFull) {
                  restrict_to(plan::Recompute::kFull);
                }
                Candidate cand;
                cand.plan = p;
                cand.precision = prec;
                cand.step = steps.step(p, 1.0, 1.0);
                feasible.push_back(std::move(cand));
              }
              if (memory_failures == static_cast<int>(recomputes.size()) && mi + 1 < mbs.size()) {
                const int64_t n = static_cast<int64_t>((mbs.size() - mi - 1) * recomputes.size());
                r.enumerated += n;
                tally.add(memory_message, n);
                break;
              }
            }
          }
        }
      }
    }
  }
  std::stable_sort(feasible.begin(), feasible.end(), [](const Candidate& a, const Candidate& b) {
    if (a.step.step_time != b.step.step_time) return a.step.step_time < b.step.step_time;
    return plan_key(a.plan) < plan_key(b.plan);
  });
  r.feasible = std::move(feasible);
  r.rejected = std::move(tally.counts);
  return r;
}

}  // namespace trainsim::planner
