#include "calib/measurements.h"

#include <fmt/format.h>

#include "core/error.h"
#include "core/json_reader.h"

namespace trainsim::calib {

const char* to_string(MeasurementKind k) {
  switch (k) {
    case MeasurementKind::kGemm: return "gemm";
    case MeasurementKind::kGroupedGemm: return "grouped_gemm";
    case MeasurementKind::kAttention: return "attention";
    case MeasurementKind::kMemory: return "memory";
    case MeasurementKind::kCollective: return "collective";
    case MeasurementKind::kInterference: return "interference";
  }
  return "?";
}

namespace {

Precision read_precision(const JsonView& v) {
  const std::string p = v.one_of({"bf16", "fp16", "fp8", "fp32"});
  if (p == "bf16") return Precision::kBF16;
  if (p == "fp16") return Precision::kFP16;
  if (p == "fp8") return Precision::kFP8;
  return Precision::kFP32;
}

// Reads the optional statistics; p10/p90 must have the value's dimension.
template <class Q>
void read_stats(const JsonView& row, Measurement& m) {
  if (auto s = row.find("samples")) m.samples = s->positive_integer();
  if (auto p = row.find("p10")) (void)p->quantity<Q>();
  if (auto p = row.find("p90")) (void)p->quantity<Q>();
}

void require_one(const JsonView& row, const std::vector<std::string>& names) {
  int found = 0;
  for (const auto& n : names) found += row.has(n) ? 1 : 0;
  if (found != 1) {
    std::string list;
    for (size_t i = 0; i < names.size(); ++i) list += (i ? ", \"" : "\"") + names[i] + "\"";
    row.fail(fmt::format("expected exactly one of {}; found {}", list, found));
  }
}

// Shape sizes are bounded so that FLOP and byte products stay far inside
// int64 and double range (a fuzzed INT64_MAX head dim overflowed them).
int64_t size_at(const JsonView& row, const char* key) {
  const JsonView v = row.at(key);
  const int64_t x = v.positive_integer();
  if (x > (int64_t{1} << 31)) v.fail_expected("a positive integer at most 2^31");
  return x;
}

Measurement read_row(const JsonView& row) {
  Measurement m;
  m.pointer = row.pointer();
  if (!row.is_object()) row.fail_expected("a measurement object");
  const std::string kind = row.at("kind").one_of(
      {"gemm", "grouped_gemm", "attention", "memory", "collective", "interference"});
  const std::vector<std::string> common{"kind", "source", "note", "samples", "p10", "p90"};
  auto keys = [&](std::vector<std::string> extra) {
    extra.insert(extra.end(), common.begin(), common.end());
    row.check_keys(extra);
  };
  if (auto s = row.find("source")) m.source = s->string();
  if (auto s = row.find("note")) m.note = s->string();
  if (kind == "gemm" || kind == "grouped_gemm") {
    const bool grouped = kind == "grouped_gemm";
    m.kind = grouped ? MeasurementKind::kGroupedGemm : MeasurementKind::kGemm;
    keys(grouped ? std::vector<std::string>{"precision", "groups", "m", "n", "k", "time", "achieved", "bound"}
                 : std::vector<std::string>{"precision", "m", "n", "k", "time", "achieved", "bound", "elapsed"});
    if (auto b = row.find("bound")) {
      const std::string bound =
          grouped ? b->one_of({"ceiling", "shape"}) : b->one_of({"ceiling", "shape", "sustained", "sustained-ceiling"});
      m.ceiling = bound == "ceiling";
      m.sustained = bound == "sustained";
      m.sustained_ceiling = bound == "sustained-ceiling";
    }
    // A sustained window is placed in its run by "elapsed"; no other row has one.
    if (m.sustained) {
      const JsonView e = row.at("elapsed");
      m.elapsed = e.quantity<Seconds>();
      if (!(m.elapsed->value() > 0)) e.fail_expected("a time > 0 since the start of the sustained run");
    } else if (auto e = row.find("elapsed")) {
      e->fail("\"elapsed\" is only for rows with \"bound\": \"sustained\"; expected no \"elapsed\" here");
    }
    m.precision = read_precision(row.at("precision"));
    if (grouped) m.groups = size_at(row, "groups");
    // A sustained ceiling is a rate only (the fitter reads nothing else), so
    // a source that states the rate but not the shape may leave out m, n and
    // k together; then it must give "achieved", not a time.
    const bool shapeless = m.sustained_ceiling && !row.has("m") && !row.has("n") && !row.has("k");
    if (!shapeless) {
      m.m = size_at(row, "m");
      m.n = size_at(row, "n");
      m.k = size_at(row, "k");
    }
    require_one(row, {"time", "achieved"});
    if (shapeless && row.has("time")) {
      row.at("time").fail("a sustained ceiling without m, n and k gives \"achieved\"; expected no \"time\" here");
    }
    if (auto t = row.find("time")) { m.time = t->quantity<Seconds>(); read_stats<Seconds>(row, m); }
    if (auto a = row.find("achieved")) { m.achieved_flops = a->quantity<FlopsPerSecond>(); read_stats<FlopsPerSecond>(row, m); }
  } else if (kind == "attention") {
    m.kind = MeasurementKind::kAttention;
    keys({"direction", "precision", "batch", "seq", "heads", "qk_head_dim", "v_head_dim", "causal", "time",
          "achieved", "kernel"});
    m.backward = row.at("direction").one_of({"fwd", "bwd"}) == "bwd";
    if (auto k = row.find("kernel")) m.flash2 = k->one_of({"flash2"}) == "flash2";
    m.precision = read_precision(row.at("precision"));
    m.batch = size_at(row, "batch");
    m.seq = size_at(row, "seq");
    m.heads = size_at(row, "heads");
    m.qk_head_dim = size_at(row, "qk_head_dim");
    m.v_head_dim = size_at(row, "v_head_dim");
    m.causal = row.at("causal").boolean();
    require_one(row, {"time", "achieved"});
    if (auto t = row.find("time")) { m.time = t->quantity<Seconds>(); read_stats<Seconds>(row, m); }
    if (auto a = row.find("achieved")) { m.achieved_flops = a->quantity<FlopsPerSecond>(); read_stats<FlopsPerSecond>(row, m); }
  } else if (kind == "memory") {
    m.kind = MeasurementKind::kMemory;
    keys({"op", "bytes", "time", "achieved"});
    m.op = row.at("op").one_of({"copy", "rmsnorm", "swiglu", "adamw", "quantize", "other"});
    m.bytes = row.at("bytes").quantity<Bytes>();
    if (!(m.bytes.value() > 0)) row.at("bytes").fail_expected("a size > 0");
    require_one(row, {"time", "achieved"});
    if (auto t = row.find("time")) { m.time = t->quantity<Seconds>(); read_stats<Seconds>(row, m); }
    if (auto a = row.find("achieved")) { m.achieved_bandwidth = a->quantity<BytesPerSecond>(); read_stats<BytesPerSecond>(row, m); }
  } else if (kind == "collective") {
    m.kind = MeasurementKind::kCollective;
    keys({"op", "tier", "ranks", "ranks_per_node", "message", "nic_bandwidth", "time", "bus_bandwidth",
          "algo_bandwidth"});
    m.op = row.at("op").one_of(
        {"all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv", "ep_dispatch", "ep_combine"});
    m.tier = row.at("tier").one_of({"scale_up", "scale_out"});
    m.ranks = size_at(row, "ranks");
    if (m.ranks < 2) row.at("ranks").fail_expected("at least 2 ranks");
    if (row.find("ranks_per_node")) m.ranks_per_node = size_at(row, "ranks_per_node");
    m.message = row.at("message").quantity<Bytes>();
    if (!(m.message.value() > 0)) row.at("message").fail_expected("a size > 0");
    if (auto b = row.find("nic_bandwidth")) m.nic_bandwidth = b->quantity<BytesPerSecond>();
    require_one(row, {"time", "bus_bandwidth", "algo_bandwidth"});
    if (auto t = row.find("time")) { m.time = t->quantity<Seconds>(); read_stats<Seconds>(row, m); }
    if (auto b = row.find("bus_bandwidth")) { m.bus_bandwidth = b->quantity<BytesPerSecond>(); read_stats<BytesPerSecond>(row, m); }
    if (auto b = row.find("algo_bandwidth")) { m.algo_bandwidth = b->quantity<BytesPerSecond>(); read_stats<BytesPerSecond>(row, m); }
  } else {
    m.kind = MeasurementKind::kInterference;
    keys({"comm_sms", "total_sms", "gemm_fraction"});
    m.comm_sms = row.at("comm_sms").non_negative_integer();
    m.total_sms = size_at(row, "total_sms");
    if (m.comm_sms >= m.total_sms) row.at("comm_sms").fail_expected("fewer SMs than total_sms");
    m.gemm_fraction = row.at("gemm_fraction").positive_number();
    if (m.gemm_fraction > 1) row.at("gemm_fraction").fail_expected("a fraction in (0, 1]");
  }
  for (auto* v : {&m.achieved_flops}) {
    if (*v && !(v->value().value() > 0)) row.fail_expected("a rate > 0");
  }
  if (m.time && !(m.time->value() > 0)) row.at("time").fail_expected("a time > 0");
  for (auto* v : {&m.achieved_bandwidth, &m.bus_bandwidth, &m.algo_bandwidth}) {
    if (*v && !(v->value().value() > 0)) row.fail_expected("a bandwidth > 0");
  }
  return m;
}

MeasurementFile read_file(const JsonView& root, const std::string& path) {
  MeasurementFile f;
  f.path = path;
  root.check_keys({"format", "provenance", "measurements"});
  if (root.at("format").string() != kMeasurementsFormat) {
    root.at("format").fail_expected(fmt::format("\"{}\"", kMeasurementsFormat));
  }
  const JsonView p = root.at("provenance");
  p.check_keys({"gpu", "profile", "source", "date", "driver", "cuda", "clocks", "notes"});
  f.gpu = p.at("gpu").string();
  f.profile = p.at("profile").string();
  f.source = p.at("source").string();
  f.date = p.at("date").string();
  if (auto v = p.find("driver")) f.driver = v->string();
  if (auto v = p.find("cuda")) f.cuda = v->string();
  if (auto v = p.find("clocks")) f.clocks = v->string();
  if (auto v = p.find("notes")) f.notes = v->string();
  const JsonView rows = root.at("measurements");
  if (!rows.is_array() || rows.size() == 0) rows.fail_expected("a non-empty array of measurements");
  for (const auto& row : rows.elements()) f.measurements.push_back(read_row(row));
  return f;
}

}  // namespace

MeasurementFile load_measurements(const std::string& path) {
  const JsonDocument doc = JsonDocument::load(path);
  return read_file(doc.root(), path);
}

MeasurementFile parse_measurements(const std::string& text, const std::string& name) {
  const JsonDocument doc = JsonDocument::parse(text, name);
  return read_file(doc.root(), name);
}

Flops measurement_flops(const Measurement& m) {
  if (m.kind == MeasurementKind::kAttention) {
    // S = QK^T: 2 b h s^2 d_qk; O = PV: 2 b h s^2 d_v; causal keeps half;
    // backward 2.5x forward (FlashAttention-2 benchmark convention).
    const double s = static_cast<double>(m.seq);
    double f = 2.0 * m.batch * m.heads * s * s * static_cast<double>(m.qk_head_dim + m.v_head_dim);
    if (m.causal) f *= 0.5;
    if (m.backward) f *= 2.5;
    return Flops(f);
  }
  return Flops(2.0 * m.groups * static_cast<double>(m.m) * static_cast<double>(m.n) * static_cast<double>(m.k));
}

Bytes gemm_min_bytes(const Measurement& m) {
  const double e = bytes_per_element(m.precision);
  const double mm = static_cast<double>(m.m), n = static_cast<double>(m.n), k = static_cast<double>(m.k);
  return Bytes(static_cast<double>(m.groups) * ((mm * k + k * n) * e + mm * n * 2.0));
}

}  // namespace trainsim::calib
