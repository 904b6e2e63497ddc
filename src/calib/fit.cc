#include "calib/fit.h"

#include "calib/collectives.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "core/error.h"

namespace trainsim::calib {

namespace {

FlopsPerSecond peak_for(const hardware::Accelerator& a, Precision p) {
  const auto v = hardware::tensor_peak(a, p);
  TRAINSIM_CHECK(v.has_value(), "accelerator {} has no dense {} peak", a.name, to_string(p));
  return *v;
}

bool is_all_to_all(const std::string& op) { return op == "all_to_all" || op == "ep_dispatch" || op == "ep_combine"; }

// nccl-tests PERFORMANCE.md: busbw = algbw * factor.
double bus_factor(const std::string& op, int64_t n) {
  const double f = static_cast<double>(n - 1) / static_cast<double>(n);
  if (op == "all_reduce") return 2 * f;
  if (op == "all_gather" || op == "reduce_scatter" || op == "all_to_all") return f;
  return 1.0;  // send_recv; ep_dispatch/ep_combine report bytes over the tier / time
}
// A ring collective (NCCL's latency model prices it; the other rows pay one message latency, alpha).
bool is_ring(const std::string& op) { return op == "all_reduce" || op == "all_gather" || op == "reduce_scatter"; }

BytesPerSecond link_bandwidth(const Measurement& m, const hardware::Accelerator& a) {
  if (m.tier == "scale_up") return a.scale_up.bandwidth_per_direction;
  // Across nodes the ranks of one node leave it through their own NICs together.
  const BytesPerSecond nic = m.nic_bandwidth ? *m.nic_bandwidth : a.nic_per_accelerator;
  return nic * static_cast<double>(std::max<int64_t>(1, m.ranks_per_node));
}

double mean_head_dim(const Measurement& m) { return 0.5 * static_cast<double>(m.qk_head_dim + m.v_head_dim); }

Residual summarize(const std::string& kind, const std::vector<double>& r) {
  Residual out;
  out.kind = kind;
  out.rows = static_cast<int>(r.size());
  double ss = 0;
  for (double x : r) {
    ss += x * x;
    out.max_relative = std::max(out.max_relative, std::abs(x));
  }
  out.rms_relative = r.empty() ? 0 : std::sqrt(ss / static_cast<double>(r.size()));
  return out;
}

std::string rows_text(const std::vector<const Measurement*>& rows, const std::map<const Measurement*, std::string>& file_of) {
  std::map<std::string, std::vector<std::string>> by_file;
  for (const auto* m : rows) by_file[file_of.at(m)].push_back(m->pointer.substr(m->pointer.rfind('/') + 1));
  std::string out;
  for (const auto& [f, ids] : by_file) {
    if (!out.empty()) out += "; ";
    out += fmt::format("{} rows {}", f, fmt::join(ids, ","));
  }
  return out;
}

std::string base_name(const std::string& path) {
  const auto pos = path.find("calibrate/");
  if (pos != std::string::npos) return path.substr(pos + 10);
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

LeastSquaresResult levenberg_marquardt(
    const std::function<std::vector<double>(const std::vector<double>&)>& residuals, std::vector<double> theta,
    const std::vector<double>& lower, const std::vector<double>& upper, int max_iterations) {
  const size_t p = theta.size();
  auto clamp = [&](std::vector<double>& t) {
    for (size_t i = 0; i < p; ++i) t[i] = std::clamp(t[i], lower[i], upper[i]);
  };
  auto cost_of = [](const std::vector<double>& r) {
    double s = 0;
    for (double x : r) s += x * x;
    return std::isfinite(s) ? s : std::numeric_limits<double>::infinity();
  };
  clamp(theta);
  std::vector<double> r = residuals(theta);
  double cost = cost_of(r);
  double lambda = 1e-3;
  LeastSquaresResult out;
  for (int it = 0; it < max_iterations; ++it) {
    out.iterations = it + 1;
    // Forward-difference Jacobian, step relative to the parameter's scale.
    const size_t n = r.size();
    std::vector<std::vector<double>> jac(n, std::vector<double>(p, 0.0));
    for (size_t j = 0; j < p; ++j) {
      std::vector<double> t = theta;
      const double h = 1e-6 * std::max(std::abs(theta[j]), 1e-3 * (upper[j] - lower[j]) + 1e-12);
      t[j] += (t[j] + h <= upper[j]) ? h : -h;
      const double step = t[j] - theta[j];
      const std::vector<double> r2 = residuals(t);
      for (size_t i = 0; i < n; ++i) jac[i][j] = (r2[i] - r[i]) / step;
    }
    // Normal equations (J^T J + lambda diag(J^T J)) delta = -J^T r.
    std::vector<std::vector<double>> a(p, std::vector<double>(p, 0.0));
    std::vector<double> g(p, 0.0);
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = 0; j < p; ++j) {
        g[j] += jac[i][j] * r[i];
        for (size_t k = 0; k < p; ++k) a[j][k] += jac[i][j] * jac[i][k];
      }
    }
    bool improved = false;
    for (int tries = 0; tries < 20 && !improved; ++tries) {
      std::vector<std::vector<double>> m = a;
      std::vector<double> b(p);
      for (size_t j = 0; j < p; ++j) {
        m[j][j] += lambda * std::max(a[j][j], 1e-12);
        b[j] = -g[j];
      }
      // Gaussian elimination with partial pivoting (p is a handful).
      std::vector<double> delta(p, 0.0);
      bool singular = false;
      for (size_t c = 0; c < p; ++c) {
        size_t piv = c;
        for (size_t rr = c + 1; rr < p; ++rr) if (std::abs(m[rr][c]) > std::abs(m[piv][c])) piv = rr;
        if (std::abs(m[piv][c]) < 1e-300) { singular = true; break; }
        std::swap(m[c], m[piv]);
        std::swap(b[c], b[piv]);
        for (size_t rr = c + 1; rr < p; ++rr) {
          const double f = m[rr][c] / m[c][c];
          for (size_t k = c; k < p; ++k) m[rr][k] -= f * m[c][k];
          b[rr] -= f * b[c];
        }
      }
      if (!singular) {
        for (size_t c = p; c-- > 0;) {
          double s = b[c];
          for (size_t k = c + 1; k < p; ++k) s -= m[c][k] * delta[k];
          delta[c] = s / m[c][c];
        }
      }
      std::vector<double> t = theta;
      for (size_t j = 0; j < p; ++j) t[j] += singular ? 0.0 : delta[j];
      clamp(t);
      const std::vector<double> r2 = residuals(t);
      const double c2 = cost_of(r2);
      if (!singular && c2 < cost) {
        const double gain = cost - c2;
        theta = t;
        r = r2;
        cost = c2;
        lambda = std::max(lambda / 10, 1e-12);
        improved = true;
        if (gain < 1e-16 * std::max(1.0, cost) || cost < 1e-24) {
          out.theta = theta;
          out.cost = cost;
          return out;
        }
      } else {
        lambda *= 10;
      }
    }
    if (!improved) break;
  }
  out.theta = theta;
  out.cost = cost;
  return out;
}

Seconds measured_time(const Measurement& m) {
  if (m.time) return *m.time;
  switch (m.kind) {
    case MeasurementKind::kGemm:
    case MeasurementKind::kGroupedGemm:
    case MeasurementKind::kAttention: return measurement_flops(m) / *m.achieved_flops;
    case MeasurementKind::kMemory: return m.bytes / *m.achieved_bandwidth;
    case MeasurementKind::kCollective:
      if (m.bus_bandwidth) return m.message * bus_factor(m.op, m.ranks) / *m.bus_bandwidth;
      return m.message / *m.algo_bandwidth;
    case MeasurementKind::kInterference: break;
  }
  return Seconds::zero();
}

Seconds model_time(const Measurement& m, const EfficiencyTables& t, const hardware::Accelerator& a) {
  switch (m.kind) {
    case MeasurementKind::kGemm:
    case MeasurementKind::kGroupedGemm: {
      const bool grouped = m.kind == MeasurementKind::kGroupedGemm;
      const GemmParams& g = grouped ? t.grouped_gemm_for(m.precision) : t.gemm_for(m.precision);
      return gemm_model_time(g, m.m, m.n, m.k, m.groups, peak_for(a, m.precision), a.sm_count, a.sm_count,
                             gemm_min_bytes(m), a.hbm_bandwidth, t.memory.eta);
    }
    case MeasurementKind::kAttention: {
      const AttentionParams& p = t.attention_for(m.flash2 ? AttentionKernel::kFlash2 : AttentionKernel::kFastest, m.backward);
      // Causal: a query block visits on average half the keys.
      const double keys = static_cast<double>(m.seq) * (m.causal ? 0.5 : 1.0);
      const double eff = attention_efficiency(p, keys, mean_head_dim(m));
      return measurement_flops(m) / (peak_for(a, Precision::kBF16) * eff);
    }
    case MeasurementKind::kMemory: return memory_model_time(t.memory, m.bytes, a.hbm_bandwidth);
    case MeasurementKind::kCollective: {
      const TierParams& tier = m.tier == "scale_up" ? t.scale_up : t.scale_out;
      const LinkParams& l = is_all_to_all(m.op) ? tier.all_to_all : tier.collective;
      const Seconds bytes = m.message * bus_factor(m.op, m.ranks) / (link_bandwidth(m, a) * l.eta);
      // Ring collectives pay NCCL's latency (as CostModel::ring_time does);
      // a send/recv, an all-to-all or an EP exchange one message latency.
      if (is_ring(m.op)) {
        const int ranks = static_cast<int>(m.ranks);
        const int per_node = m.tier == "scale_up" ? ranks : static_cast<int>(std::max<int64_t>(1, m.ranks_per_node));
        const int nodes = (ranks + per_node - 1) / per_node;
        return calib::ring_latency(nccl_collective_latency(), m.op == "all_reduce", ranks, nodes,
                                   a.scale_up.via_host_link) +
               bytes;
      }
      return l.alpha + bytes;
    }
    case MeasurementKind::kInterference: break;
  }
  return Seconds::zero();
}

namespace {

// The best achieved fraction of the dense peak among best-of-search rows
// (burst or sustained ceilings). A shapeless sustained ceiling has only its
// rate (measurements.cc).
double best_fraction_of_peak(const std::vector<const Measurement*>& rows, const hardware::Accelerator& acc,
                             Precision p) {
  double best = 0;
  for (const auto* m : rows) {
    const FlopsPerSecond rate = m->achieved_flops ? *m->achieved_flops : measurement_flops(*m) / measured_time(*m);
    best = std::max(best, rate / peak_for(acc, p));
  }
  return best;
}

}  // namespace

double sustained_factor(const std::vector<const Measurement*>& series, const std::string& file,
                        std::vector<const Measurement*>* used, const Measurement** earliest) {
  TRAINSIM_CHECK(series.size() >= kMinSustainedWindows, "sustained series of {} windows", series.size());
  std::vector<const Measurement*> rows = series;
  std::sort(rows.begin(), rows.end(), [](const Measurement* a, const Measurement* b) { return *a->elapsed < *b->elapsed; });
  for (size_t i = 1; i < rows.size(); ++i) {
    if (!(*rows[i - 1]->elapsed < *rows[i]->elapsed)) {
      throw ConfigError(file, rows[i]->pointer + "/elapsed",
                        fmt::format("expected distinct elapsed times in a sustained series; found {} twice",
                                    to_string(*rows[i]->elapsed)));
    }
  }
  auto achieved = [](const Measurement* m) { return measurement_flops(*m) / measured_time(*m); };
  const Seconds half = *rows.back()->elapsed * 0.5;
  FlopsPerSecond sum = FlopsPerSecond::zero();
  int n = 0;
  for (const auto* m : rows) {
    if (*m->elapsed >= half) {
      sum += achieved(m);
      ++n;
      if (used) used->push_back(m);
    }
  }
  if (earliest) *earliest = rows.front();
  // n >= 1: the last window always qualifies.
  return (sum / static_cast<double>(n)) / achieved(rows.front());
}

FitResult fit_tables(const std::vector<MeasurementFile>& files, const hardware::Accelerator& acc,
                     EfficiencyTables base) {
  FitResult out;
  EfficiencyTables& t = base;
  std::map<const Measurement*, std::string> file_of;
  std::vector<const Measurement*> all;
  for (const auto& f : files) {
    t.provenance.fitted_from.push_back(base_name(f.path));
    for (const auto& m : f.measurements) {
      file_of[&m] = base_name(f.path);
      all.push_back(&m);
    }
  }
  {
    std::set<std::string> gpus, dates;
    for (const auto& f : files) { gpus.insert(f.gpu); dates.insert(f.date); }
    t.provenance.gpu = fmt::format("{}", fmt::join(gpus, "; "));
    t.provenance.date = fmt::format("{}", fmt::join(dates, "; "));
    std::set<std::string> drivers;
    for (const auto& f : files) if (!f.driver.empty()) drivers.insert(f.driver);
    t.provenance.driver = fmt::format("{}", fmt::join(drivers, "; "));
  }
  t.provenance.is_default = false;
  t.provenance.default_reason.clear();
  auto select = [&](auto pred) {
    std::vector<const Measurement*> rows;
    for (const auto* m : all) if (pred(*m)) rows.push_back(m);
    return rows;
  };
  auto relres = [&](const std::vector<const Measurement*>& rows, const EfficiencyTables& tab) {
    std::vector<double> r;
    for (const auto* m : rows) r.push_back(model_time(*m, tab, acc) / measured_time(*m) - 1.0);
    return r;
  };

  // 1. Memory first: GEMM memory bounds use it.
  if (auto rows = select([](const Measurement& m) { return m.kind == MeasurementKind::kMemory; }); !rows.empty()) {
    double lo = INFINITY, hi = 0;
    for (const auto* m : rows) { lo = std::min(lo, m->bytes.value()); hi = std::max(hi, m->bytes.value()); }
    const bool fit_latency = hi / lo >= 16;
    auto res = [&](const std::vector<double>& th) {
      EfficiencyTables x = t;
      x.memory.eta = th[0];
      if (fit_latency) x.memory.latency = microseconds(th[1]);
      return relres(rows, x);
    };
    std::vector<double> th{t.memory.eta}, lb{0.05}, ub{1.0};  // HBM cannot beat its datasheet rate
    if (fit_latency) { th.push_back(t.memory.latency.value() / units::kMicro); lb.push_back(0); ub.push_back(1000); }
    const auto r = levenberg_marquardt(res, th, lb, ub);
    t.memory.eta = r.theta[0];
    if (fit_latency) t.memory.latency = microseconds(r.theta[1]);
    t.memory.basis = fmt::format("fitted ({}) from {}", fit_latency ? "eta, latency" : "eta; latency kept: " + t.memory.basis,
                                 rows_text(rows, file_of));
    out.residuals.push_back(summarize("memory", relres(rows, t)));
  }

  // 2. GEMMs per precision, dense and grouped.
  for (const bool grouped : {false, true}) {
    std::set<Precision> precisions;
    const MeasurementKind kind = grouped ? MeasurementKind::kGroupedGemm : MeasurementKind::kGemm;
    // Sustained windows and sustained ceilings never enter the shape fit
    // (step 2b reads them): the shape fit describes burst throughput.
    auto burst = [](const Measurement& m) { return !m.sustained && !m.sustained_ceiling; };
    for (const auto* m : all) if (m->kind == kind && burst(*m)) precisions.insert(m->precision);
    for (const Precision p : precisions) {
      const auto all_rows = select([&](const Measurement& m) { return m.kind == kind && m.precision == p && burst(m); });
      // Best-of-search ceilings (MAMF) bound eta_max from above; only shape
      // rows are least-squares fitted.
      const auto rows = select([&](const Measurement& m) { return m.kind == kind && m.precision == p && !m.ceiling && burst(m); });
      const auto ceil_rows = select([&](const Measurement& m) { return m.kind == kind && m.precision == p && m.ceiling; });
      auto& dst = grouped ? t.grouped_gemm : t.gemm;
      GemmParams start = grouped ? t.grouped_gemm_for(p) : t.gemm_for(p);
      if (rows.empty()) {
        // Only ceilings: the model's efficiency eta_max * (wave fill) * K/(K + k_overhead)
        // never exceeds eta_max and approaches it for shapes with full waves and
        // long K, so the best a brute-force shape search finds is eta_max itself.
        GemmParams g = start;
        g.eta_max = best_fraction_of_peak(ceil_rows, acc, p);
        g.basis = fmt::format("eta_max = best achieved / dense peak of best-of-search ceiling rows (the supremum of the "
                              "tile model over shapes; typical shapes run below it through wave quantization and the "
                              "K prologue); tile, k_overhead and launch_overhead kept from: {}; from {}",
                              start.basis, rows_text(ceil_rows, file_of));
        dst[p] = g;
        out.residuals.push_back(summarize(fmt::format("{}/{}", grouped ? "grouped_gemm" : "gemm", to_string(p)), relres(all_rows, t)));
        continue;
      }
      std::set<int64_t> ks;
      for (const auto* m : rows) ks.insert(m->k);
      const bool full = rows.size() >= 4 && ks.size() >= 2;
      GemmParams best = start;
      double best_cost = INFINITY;
      const std::vector<int64_t> tiles = full ? std::vector<int64_t>{128, 64, 256} : std::vector<int64_t>{start.tile_m};
      const std::vector<int64_t> tiles_n = full ? std::vector<int64_t>{128, 64, 256} : std::vector<int64_t>{start.tile_n};
      for (const int64_t tm : tiles) {
        for (const int64_t tn : tiles_n) {
          auto make = [&](const std::vector<double>& th) {
            GemmParams g = start;
            g.tile_m = tm;
            g.tile_n = tn;
            g.eta_max = th[0];
            if (full) { g.k_overhead = th[1]; g.launch_overhead = microseconds(th[2]); }
            return g;
          };
          auto res = [&](const std::vector<double>& th) {
            EfficiencyTables x = t;
            (grouped ? x.grouped_gemm : x.gemm)[p] = make(th);
            return relres(rows, x);
          };
          std::vector<double> th{start.eta_max}, lb{0.05}, ub{1.2};
          if (full) {
            th.insert(th.end(), {start.k_overhead, start.launch_overhead.value() / units::kMicro});
            lb.insert(lb.end(), {0.0, 0.0});
            ub.insert(ub.end(), {8192.0, 200.0});
          }
          const auto r = levenberg_marquardt(res, th, lb, ub);
          if (r.cost < best_cost) { best_cost = r.cost; best = make(r.theta); }
        }
      }
      best.basis = fmt::format("fitted ({}) from {}", full ? "eta_max, k_overhead, launch_overhead, tile" :
                               "eta_max only; tile, k_overhead and launch_overhead kept from: " + start.basis,
                               rows_text(rows, file_of));
      if (!ceil_rows.empty()) {
        const double cap = best_fraction_of_peak(ceil_rows, acc, p);
        if (best.eta_max > cap) {
          best.eta_max = cap;
          best.basis += fmt::format("; eta_max capped at the best-of-search ceiling of {}", rows_text(ceil_rows, file_of));
        }
      }
      dst[p] = best;
      out.residuals.push_back(summarize(fmt::format("{}/{}", grouped ? "grouped_gemm" : "gemm", to_string(p)), relres(all_rows, t)));
    }
  }

  // 2b. Sustained factor per precision (dense GEMMs): from the sustained
  // series ("bound": "sustained"), one series per shape, several qualifying
  // series of one precision giving the mean of their factors; then capped by
  // the sustained ceilings ("bound": "sustained-ceiling"): the best shape's
  // sustained efficiency, eta_max x factor, never exceeds the best rate a
  // search found sustainable (factor <= ceiling / peak / eta_max).
  {
    std::map<Precision, std::map<std::tuple<int64_t, int64_t, int64_t>, std::vector<const Measurement*>>> series;
    std::map<Precision, std::vector<const Measurement*>> caps;
    for (const auto* m : all) {
      if (m->kind != MeasurementKind::kGemm) continue;
      if (m->sustained) series[m->precision][{m->m, m->n, m->k}].push_back(m);
      if (m->sustained_ceiling) caps[m->precision].push_back(m);
    }
    std::set<Precision> precisions;
    for (const auto& [p, shapes] : series) precisions.insert(p);
    for (const auto& [p, rows] : caps) precisions.insert(p);
    for (const Precision p : precisions) {
      double sum = 0;
      int used_series = 0;
      std::vector<std::string> parts;
      if (auto it = series.find(p); it != series.end()) {
        for (const auto& [shape, rows] : it->second) {
          const std::string shape_text = fmt::format("{}x{}x{}", std::get<0>(shape), std::get<1>(shape), std::get<2>(shape));
          if (rows.size() < kMinSustainedWindows) {
            out.sustained.push_back(fmt::format("gemm/{} sustained series {}: {} windows, at least {} needed; not used",
                                                to_string(p), shape_text, rows.size(), kMinSustainedWindows));
            continue;
          }
          std::vector<const Measurement*> used;
          const Measurement* earliest = nullptr;
          const double f = sustained_factor(rows, file_of.at(rows.front()), &used, &earliest);
          const std::vector<const Measurement*> first{earliest};
          parts.push_back(fmt::format("series {} of {} windows: {:.4g} = mean achieved of {} / achieved of the earliest "
                                      "window, {}",
                                      shape_text, rows.size(), f, rows_text(used, file_of), rows_text(first, file_of)));
          sum += f;
          ++used_series;
        }
      }
      const auto cap_it = caps.find(p);
      if (used_series == 0 && cap_it == caps.end()) continue;
      GemmParams& g = t.gemm.count(p) ? t.gemm[p] : (t.gemm[p] = t.gemm_for(p));
      double factor = used_series > 0 ? sum / used_series : 1.0;
      if (cap_it != caps.end()) {
        const double best = best_fraction_of_peak(cap_it->second, acc, p);
        const double cap = best / g.eta_max;
        if (cap < factor) {
          parts.push_back(fmt::format("capped at {:.4g} = sustained ceiling {:.4g} of peak / eta_max {:.4g} ({})", cap,
                                      best, g.eta_max, rows_text(cap_it->second, file_of)));
          factor = cap;
        } else {
          parts.push_back(fmt::format("sustained ceiling {:.4g} of peak at or above eta_max {:.4g} x {:.4g}: no cap ({})",
                                      best, g.eta_max, factor, rows_text(cap_it->second, file_of)));
        }
      }
      // A new measurement replaces the base table's factor and its basis.
      if (g.sustained) parts.push_back(fmt::format("replaces the factor {:.4g} of the base table", *g.sustained));
      g.sustained = factor;
      const std::string why = fmt::format("sustained {:.4g} ({}{})", factor,
                                          used_series > 0 ? "windows with elapsed >= half the last window's; " : "",
                                          fmt::join(parts, "; "));
      g.sustained_basis = why;
      out.sustained.push_back(fmt::format("gemm/{} {}", to_string(p), why));
    }
  }

  // 3. Attention per kernel and direction. FlashAttention-2 rows ("kernel":
  // "flash2") fit the FlashAttention-2 group; rows without "kernel" fit the
  // fastest-kernel group. A part measured only with FlashAttention-2 (Ampere,
  // where it is the fastest kernel there is) takes that fit for both. A group
  // without rows keeps the base table's values (carried or default).
  bool flash2_fitted[2] = {false, false};  // per direction (forward, backward)
  for (const AttentionKernel kernel : {AttentionKernel::kFlash2, AttentionKernel::kFastest}) {
    const bool flash2 = kernel == AttentionKernel::kFlash2;
    for (const bool bwd : {false, true}) {
      const auto rows = select([&](const Measurement& m) {
        return m.kind == MeasurementKind::kAttention && m.backward == bwd && m.flash2 == flash2;
      });
      const std::string group = fmt::format("attention{}/{}", flash2 ? "-flash2" : "", bwd ? "bwd" : "fwd");
      AttentionParams& a = t.attention_for(kernel, bwd);
      if (rows.empty()) {
        if (!flash2 && flash2_fitted[bwd]) {
          a = t.attention_for(AttentionKernel::kFlash2, bwd);
          a.basis = fmt::format("as attention-flash2/{} (FlashAttention-2 is the fastest kernel measured on this part): {}",
                                bwd ? "bwd" : "fwd", a.basis);
        }
        continue;
      }
      std::set<int64_t> seqs;
      std::set<double> dims;
      for (const auto* m : rows) { seqs.insert(m->seq); dims.insert(mean_head_dim(*m)); }
      const bool fit_seq = seqs.size() >= 3, fit_dim = dims.size() >= 2;
      auto apply = [&](AttentionParams& x, const std::vector<double>& th) {
        size_t i = 0;
        x.eta_max = th[i++];
        if (fit_seq) x.seq_half = th[i++];
        if (fit_dim) x.head_dim_half = th[i++];
      };
      auto res = [&](const std::vector<double>& th) {
        EfficiencyTables x = t;
        apply(x.attention_for(kernel, bwd), th);
        return relres(rows, x);
      };
      std::vector<double> th{a.eta_max}, lb{0.05}, ub{1.2};
      if (fit_seq) { th.push_back(a.seq_half); lb.push_back(0); ub.push_back(65536); }
      if (fit_dim) { th.push_back(a.head_dim_half); lb.push_back(0); ub.push_back(1024); }
      const std::string kept = a.basis;
      const auto r = levenberg_marquardt(res, th, lb, ub);
      apply(a, r.theta);
      std::string what = "eta_max";
      if (fit_seq) what += ", seq_half";
      if (fit_dim) what += ", head_dim_half";
      if (!fit_seq || !fit_dim) what += std::string("; ") + (!fit_seq ? "seq_half " : "") + (!fit_dim ? "head_dim_half " : "") + "kept from: " + kept;
      a.basis = fmt::format("fitted ({}) from {}", what, rows_text(rows, file_of));
      out.residuals.push_back(summarize(group, relres(rows, t)));
      if (flash2) flash2_fitted[bwd] = true;
    }
  }

  // 4. Links per tier and class.
  for (const std::string tier : {"scale_up", "scale_out"}) {
    for (const bool a2a : {false, true}) {
      const auto rows = select([&](const Measurement& m) {
        return m.kind == MeasurementKind::kCollective && m.tier == tier && is_all_to_all(m.op) == a2a;
      });
      if (rows.empty()) continue;
      TierParams& tp = tier == "scale_up" ? t.scale_up : t.scale_out;
      LinkParams& l = a2a ? tp.all_to_all : tp.collective;
      // Below 1 MiB a message measures latency: alpha, from the rows it prices
      // (send/recv, all-to-all; a ring collective pays NCCL's model instead).
      const double kSmall = 1024.0 * 1024.0;
      bool any_small = false, any_large = false;
      for (const auto* m : rows) {
        if (m->message.value() >= kSmall) any_large = true;
        else if (!is_ring(m->op)) any_small = true;
      }
      if (!any_small && !any_large) continue;
      auto apply = [&](LinkParams& x, const std::vector<double>& th) {
        size_t i = 0;
        if (any_large) x.eta = th[i++];
        if (any_small) x.alpha = microseconds(th[i++]);
      };
      auto res = [&](const std::vector<double>& th) {
        EfficiencyTables x = t;
        TierParams& xt = tier == "scale_up" ? x.scale_up : x.scale_out;
        apply(a2a ? xt.all_to_all : xt.collective, th);
        return relres(rows, x);
      };
      std::vector<double> th, lb, ub;
      // A link cannot beat its line rate: eta <= 1.
      if (any_large) { th.push_back(l.eta); lb.push_back(0.05); ub.push_back(1.0); }
      if (any_small) { th.push_back(l.alpha.value() / units::kMicro); lb.push_back(0); ub.push_back(1000); }
      const std::string kept = l.basis;
      const auto r = levenberg_marquardt(res, th, lb, ub);
      apply(l, r.theta);
      std::string what = any_large && any_small ? "eta, alpha" : any_large ? "eta; alpha kept from: " + kept
                                                                          : "alpha; eta kept from: " + kept;
      l.basis = fmt::format("fitted ({}) from {}", what, rows_text(rows, file_of));
      out.residuals.push_back(summarize(fmt::format("{}/{}", a2a ? "all_to_all" : "collective", tier), relres(rows, t)));
    }
    // A tier whose all-to-all rows are all large takes the latency fitted on its small messages.
    TierParams& tp = tier == "scale_up" ? t.scale_up : t.scale_out;
    if (tp.collective.basis.find("fitted (eta, alpha)") == 0 || tp.collective.basis.find("fitted (alpha;") == 0) {
      if (tp.all_to_all.basis.find("fitted (eta; alpha kept") == 0) {
        tp.all_to_all.alpha = tp.collective.alpha;
        tp.all_to_all.basis += "; alpha taken from this tier's fitted collective latency";
      }
    }
  }

  // 5. Interference points (averaged per SM fraction).
  if (auto rows = select([](const Measurement& m) { return m.kind == MeasurementKind::kInterference; }); !rows.empty()) {
    std::map<double, std::pair<double, int>> pts;
    for (const auto* m : rows) {
      auto& e = pts[static_cast<double>(m->comm_sms) / static_cast<double>(m->total_sms)];
      e.first += m->gemm_fraction;
      e.second += 1;
    }
    t.interference.points.clear();
    if (!pts.count(0.0)) t.interference.points.push_back({0.0, 1.0});
    for (const auto& [f, e] : pts) t.interference.points.push_back({f, e.first / e.second});
    t.interference.basis = fmt::format("measured points from {}; linear between them, flat beyond the last",
                                       rows_text(rows, file_of));
  }

  for (const auto& line : out.sustained) out.log.push_back(line);
  for (const auto& r : out.residuals) {
    out.log.push_back(fmt::format("{}: {} rows, rms {:.1f}%, max {:.1f}%", r.kind, r.rows, 100 * r.rms_relative,
                                  100 * r.max_relative));
  }
  t.residuals = out.residuals;
  out.tables = std::move(t);
  return out;
}

EfficiencyTables carry_tables(const EfficiencyTables& source, const hardware::Accelerator& from,
                              const hardware::Accelerator& to, const PowerElasticity* power) {
  EfficiencyTables t = source;
  t.profile = to.name;
  t.provenance.carried_from = from.name;
  t.provenance.fitted_from.clear();
  t.residuals.clear();
  auto& adj = t.provenance.adjustments;
  adj.clear();
  auto rate = [](const hardware::Accelerator& a, hardware::Format f) {
    auto it = a.dense_peak.find(f);
    return it == a.dense_peak.end() ? std::string("none") : to_string(it->second);
  };
  adj.push_back(fmt::format(
      "GEMM and attention efficiencies kept as fractions of the target's dense peak (BF16 {} -> {}, FP8 {} -> {}); "
      "wave quantization over the target's {} SMs (source {})",
      rate(from, hardware::Format::kBF16), rate(to, hardware::Format::kBF16), rate(from, hardware::Format::kFP8),
      rate(to, hardware::Format::kFP8), to.sm_count, from.sm_count));
  adj.push_back(fmt::format("memory efficiency kept as a fraction of datasheet HBM bandwidth ({} -> {})",
                            to_string(from.hbm_bandwidth), to_string(to.hbm_bandwidth)));
  adj.push_back(fmt::format("scale-up efficiencies kept as fractions of the datasheet per-direction bandwidth ({} -> {})",
                            to_string(from.scale_up.bandwidth_per_direction),
                            to_string(to.scale_up.bandwidth_per_direction)));
  adj.push_back(fmt::format("scale-out efficiencies kept as fractions of the NIC bandwidth ({} -> {})",
                            to_string(from.nic_per_accelerator), to_string(to.nic_per_accelerator)));
  // Sustained factors measure clocks settling under the power limit, so they
  // hold as measured only for a part with the same TDP. A part of the same die
  // (SM count and dense peak of the precision equal, which fixes the boost
  // clock too) with a lower limit takes
  // the factor scaled by the measured power elasticity; any other part drops
  // it. Lines only when the source has one.
  for (auto& [p, g] : t.gemm) {
    if (!g.sustained) continue;
    const bool same_die = hardware::same_compute_die(from, to, p);
    if (from.tdp.value() == to.tdp.value()) {
      adj.push_back(fmt::format("GEMM sustained factor {} {:.4g} kept: source and target have the same TDP ({})",
                                to_string(p), *g.sustained, to_string(to.tdp)));
    } else if (power && same_die && to.tdp < from.tdp) {
      const double r = power->ratio(from.tdp, to.tdp);
      const double before = *g.sustained;
      g.sustained = before * r;
      g.sustained_basis = fmt::format("{}; x {:.4g} = ({} / {})^{:.3f} for the lower power limit of the same die, {}",
                                      g.sustained_basis, r, to_string(to.tdp), to_string(from.tdp),
                                      power->elasticity, power->basis());
      adj.push_back(fmt::format("GEMM sustained factor {} {:.4g} scaled to {:.4g} for the lower power limit of the "
                                "same die ({} -> {}; power elasticity {:.3f}, calibrate/{})",
                                to_string(p), before, *g.sustained, to_string(from.tdp), to_string(to.tdp),
                                power->elasticity, kPowerElasticityFile));
    } else {
      adj.push_back(fmt::format("GEMM sustained factor {} {:.4g} dropped to 1.0 (no measurement): the power-limited "
                                "clock depends on the TDP, which differs ({} -> {})",
                                to_string(p), *g.sustained, to_string(from.tdp), to_string(to.tdp)));
      g.sustained.reset();
      g.sustained_basis.clear();
    }
  }
  auto carried = [&](std::string& basis) { basis = carried_basis(from.name, basis); };
  for (auto& [p, g] : t.gemm) {
    carried(g.basis);
    if (g.sustained) carried(g.sustained_basis);
  }
  for (auto& [p, g] : t.grouped_gemm) carried(g.basis);
  for (auto* a : {&t.attention_fwd, &t.attention_bwd, &t.flash2_fwd, &t.flash2_bwd}) carried(a->basis);
  carried(t.memory.basis);
  for (auto* l : {&t.scale_up.collective, &t.scale_up.all_to_all, &t.scale_out.collective, &t.scale_out.all_to_all}) {
    carried(l->basis);
  }
  carried(t.interference.basis);
  return t;
}

}  // namespace trainsim::calib
