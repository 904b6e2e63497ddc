#include "run/scenario.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "calib/frameworks.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/json_reader.h"
#include "core/paths.h"
#include "core/strings.h"

namespace trainsim::run {

const char* to_string(PhaseKind k) {
  switch (k) {
    case PhaseKind::kPretraining: return "pretraining";
    case PhaseKind::kContextExtension: return "context_extension";
    case PhaseKind::kPostTraining: return "post_training";
  }
  return "?";
}

const char* to_string(RampShape s) {
  switch (s) {
    case RampShape::kLinearInTokens: return "linear-in-tokens";
    case RampShape::kLinearInSteps: return "linear-in-steps";
  }
  return "?";
}

plan::PrecisionPolicy precision_policy(const std::string& name) {
  if (name == "bf16") return plan::bf16_policy();
  if (name == "deepseek-fp8") return plan::deepseek_fp8_policy();
  throw UsageError(fmt::format("precision policy \"{}\": expected bf16 or deepseek-fp8{}", name,
                               did_you_mean(name, {"bf16", "deepseek-fp8"})));
}

namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kSections = {"plan", "phases", "goodput", "prices", "power",
                                            "uncertainty"};

// Reads {"value": ..., "source": ...} objects and records each as an Assumption.
class Reader {
 public:
  explicit Reader(std::vector<Assumption>& out) : out_(out) {}

  // The "value" member of a sourced object, after checking its keys and source.
  JsonView value(const JsonView& v) {
    if (!v.is_object()) v.fail_expected("an object {\"value\": ..., \"source\": \"...\"}");
    v.check_keys({"value", "source", "note"});
    const JsonView src = v.at("source");
    if (src.string().empty()) src.fail("expected a non-empty source (a citation or \"assumption: <why>\")");
    const JsonView val = v.at("value");
    std::string text = val.is_string() ? val.raw().get<std::string>() : val.raw().dump();
    out_.push_back(Assumption{v.pointer().empty() ? "" : v.pointer().substr(1), text, src.string()});
    return val;
  }
  double number(const JsonView& v) { return value(v).number(); }
  double positive(const JsonView& v) { return value(v).positive_number(); }
  double non_negative(const JsonView& v) { return value(v).non_negative_number(); }
  int64_t positive_int(const JsonView& v) { return value(v).positive_integer(); }
  int64_t non_negative_int(const JsonView& v) { return value(v).non_negative_integer(); }
  std::string one_of(const JsonView& v, const std::vector<std::string>& c) {
    return value(v).one_of(c);
  }
  bool boolean(const JsonView& v) { return value(v).boolean(); }
  template <class Q>
  Q quantity(const JsonView& v) {
    return value(v).quantity<Q>();
  }

  // A range object {"low", ["nominal",] "high", "source"}; values read by `read`.
  template <class F>
  Range range(const JsonView& v, bool has_nominal, F read) {
    if (!v.is_object()) v.fail_expected("an object {\"low\": ..., \"high\": ..., \"source\": ...}");
    std::vector<std::string> keys = {"low", "high", "source", "note"};
    if (has_nominal) keys.push_back("nominal");
    v.check_keys(keys);
    Range r;
    r.low = read(v.at("low"));
    r.high = read(v.at("high"));
    if (has_nominal) r.nominal = read(v.at("nominal"));
    r.source = v.at("source").string();
    if (r.source.empty()) v.at("source").fail("expected a non-empty source");
    if (!(r.low <= r.high)) v.fail(fmt::format("expected low <= high; found low {} > high {}", r.low, r.high));
    const std::string shown =
        has_nominal ? fmt::format("{:g} ({:g} .. {:g})", r.nominal, r.low, r.high)
                    : fmt::format("{:g} .. {:g}", r.low, r.high);
    out_.push_back(Assumption{v.pointer().substr(1), shown, r.source});
    return r;
  }

 private:
  std::vector<Assumption>& out_;
};

const std::vector<std::string> kPatchKeys = {
    "tp", "pp", "vpp", "dp", "ep", "cp", "sequence_parallel", "zero", "micro_batch", "schedule",
    "recompute", "precision", "comm_sms", "max_nodes_per_token", "expert_load_imbalance", "attention",
    "elementwise", "zero3_framework", "cp_ring", "overlap_grad_reduce",
    "gradient_accumulation_fusion", "overlap_p2p_comm"};

const std::vector<std::string> kSchedules = {"gpipe", "1f1b", "interleaved-1f1b", "zb-h1",
                                             "zero-bubble", "dualpipe", "dualpipev"};
const std::vector<std::string> kRecomputes = plan::recompute_names();
const std::vector<std::string> kPolicies = {"bf16", "deepseek-fp8"};
const std::vector<std::string> kAttentionImpls = plan::attention_names();
const std::vector<std::string> kElementwiseImpls = plan::elementwise_names();
const std::vector<std::string> kCpRings = plan::cp_ring_names();

int as_int(int64_t v, const JsonView& where) {
  if (v > kMaxCount) where.fail(fmt::format("expected at most {}; found {}", kMaxCount, v));
  return static_cast<int>(v);
}

PlanPatch read_patch(Reader& rd, const JsonView& v, std::vector<std::string> extra_keys = {}) {
  extra_keys.insert(extra_keys.end(), kPatchKeys.begin(), kPatchKeys.end());
  v.check_keys(extra_keys);
  PlanPatch p;
  auto int_field = [&](const char* key, std::optional<int>& dst, bool allow_zero) {
    if (auto f = v.find(key)) {
      const int64_t x = allow_zero ? rd.non_negative_int(*f) : rd.positive_int(*f);
      dst = as_int(x, *f);
    }
  };
  int_field("tp", p.tp, false);
  int_field("pp", p.pp, false);
  int_field("vpp", p.vpp, false);
  int_field("dp", p.dp, false);
  int_field("ep", p.ep, false);
  int_field("cp", p.cp, false);
  int_field("zero", p.zero_stage, true);
  int_field("comm_sms", p.comm_sms, true);
  int_field("max_nodes_per_token", p.max_nodes_per_token, true);
  if (p.zero_stage && *p.zero_stage > 3) {
    v.at("zero").at("value").fail(fmt::format("expected a ZeRO stage 0..3; found {}", *p.zero_stage));
  }
  if (auto f = v.find("sequence_parallel")) p.sequence_parallel = rd.boolean(*f);
  if (auto f = v.find("overlap_grad_reduce")) p.overlap_grad_reduce = rd.boolean(*f);
  if (auto f = v.find("gradient_accumulation_fusion")) p.gradient_accumulation_fusion = rd.boolean(*f);
  if (auto f = v.find("overlap_p2p_comm")) p.overlap_p2p_comm = rd.boolean(*f);
  if (auto f = v.find("micro_batch")) p.micro_batch = rd.positive_int(*f);
  if (auto f = v.find("schedule")) p.schedule = plan::parse_schedule(rd.one_of(*f, kSchedules));
  if (auto f = v.find("recompute")) p.recompute = plan::parse_recompute(rd.one_of(*f, kRecomputes));
  if (auto f = v.find("precision")) p.precision = rd.one_of(*f, kPolicies);
  if (auto f = v.find("attention")) p.attention = plan::parse_attention(rd.one_of(*f, kAttentionImpls));
  if (auto f = v.find("elementwise")) p.elementwise = plan::parse_elementwise(rd.one_of(*f, kElementwiseImpls));
  if (auto f = v.find("cp_ring")) p.cp_ring = plan::parse_cp_ring(rd.one_of(*f, kCpRings));
  if (auto f = v.find("zero3_framework")) {
    std::vector<std::string> names = calib::zero3_framework_names();
    names.insert(names.begin(), plan::kFsdpZero3);
    p.zero3_framework = rd.one_of(*f, names);
  }
  if (auto f = v.find("expert_load_imbalance")) {
    const double x = rd.number(*f);
    if (!(x >= 1.0)) f->at("value").fail(fmt::format("expected a ratio >= 1 (busiest / mean); found {}", x));
    p.expert_load_imbalance = x;
  }
  return p;
}

void apply_patch(plan::Plan& p, const PlanPatch& q) {
  if (q.tp) p.tp = *q.tp;
  if (q.pp) p.pp = *q.pp;
  if (q.vpp) p.vpp = *q.vpp;
  if (q.dp) p.dp = *q.dp;
  if (q.ep) p.ep = *q.ep;
  if (q.cp) p.cp = *q.cp;
  if (q.zero_stage) p.zero_stage = *q.zero_stage;
  if (q.comm_sms) p.comm_sms = *q.comm_sms;
  if (q.max_nodes_per_token) p.max_nodes_per_token = *q.max_nodes_per_token;
  if (q.sequence_parallel) p.sequence_parallel = *q.sequence_parallel;
  if (q.overlap_grad_reduce) p.overlap_grad_reduce = *q.overlap_grad_reduce;
  if (q.gradient_accumulation_fusion) p.gradient_accumulation_fusion = *q.gradient_accumulation_fusion;
  if (q.overlap_p2p_comm) p.overlap_p2p_comm = *q.overlap_p2p_comm;
  if (q.micro_batch) p.micro_batch = *q.micro_batch;
  if (q.schedule) p.schedule = *q.schedule;
  if (q.recompute) p.recompute = *q.recompute;
  if (q.precision) p.precision = precision_policy(*q.precision);
  if (q.attention) p.attention = *q.attention;
  if (q.elementwise) p.elementwise = *q.elementwise;
  if (q.cp_ring) p.cp_ring = *q.cp_ring;
  if (q.zero3_framework) p.zero3_framework = *q.zero3_framework;
  if (q.expert_load_imbalance) p.expert_load_imbalance = *q.expert_load_imbalance;
}

// Applies "--set plan.micro_batch=2"-style overrides to the scenario JSON.
// The target must exist; a sourced object gets its value replaced and its
// source set to the override.
void apply_scenario_override(nlohmann::json& root, const hardware::Override& o,
                             const std::string& file) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t dot = o.path.find('.', start);
    parts.push_back(o.path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  nlohmann::json* node = &root;
  std::string pointer;
  for (const std::string& part : parts) {
    if (node->is_array()) {
      // Phases by name: "phases.pre-training.tokens".
      nlohmann::json* found = nullptr;
      std::vector<std::string> names;
      for (auto& e : *node) {
        if (e.is_object() && e.contains("name") && e["name"].is_string()) {
          names.push_back(e["name"].get<std::string>());
          if (names.back() == part) found = &e;
        }
      }
      if (found == nullptr) {
        throw UsageError(fmt::format("--set {}: no phase named \"{}\"{}", o.path, part,
                                     did_you_mean(part, names)));
      }
      node = found;
      pointer += "/" + part;
      continue;
    }
    if (!node->is_object() || !node->contains(part)) {
      std::vector<std::string> keys;
      if (node->is_object()) {
        for (auto it = node->begin(); it != node->end(); ++it) keys.push_back(it.key());
      }
      throw UsageError(fmt::format("--set {}: {} has no field \"{}\"{}", o.path,
                                   pointer.empty() ? file : pointer, part, did_you_mean(part, keys)));
    }
    node = &(*node)[part];
    pointer += "/" + part;
  }
  nlohmann::json* target = node;
  if (node->is_object() && node->contains("value")) {
    target = &(*node)["value"];
    (*node)["source"] = fmt::format("override: --set {}={}", o.path, o.value);
  }
  if (target->is_number()) {
    try {
      size_t used = 0;
      const double x = std::stod(o.value, &used);
      if (used != o.value.size()) throw std::invalid_argument("trailing text");
      // stod accepts "nan" and "inf" (JSON would hold them as null); the cast
      // to int64 below is only defined inside its range.
      if (!std::isfinite(x)) throw std::invalid_argument("not finite");
      if (target->is_number_integer() && std::fabs(x) < 9e18 &&
          x == static_cast<double>(static_cast<int64_t>(x))) {
        *target = static_cast<int64_t>(x);
      } else {
        *target = x;
      }
    } catch (const std::exception&) {
      throw UsageError(fmt::format("--set {}: expected a number; found \"{}\"", o.path, o.value));
    }
  } else if (target->is_boolean()) {
    if (o.value != "true" && o.value != "false") {
      throw UsageError(fmt::format("--set {}: expected true or false; found \"{}\"", o.path, o.value));
    }
    *target = o.value == "true";
  } else if (target->is_string()) {
    *target = o.value;
  } else {
    throw UsageError(fmt::format("--set {}: only a number, string or true/false can be set", o.path));
  }
}

std::string shown(DollarsPerSecond v) { return fmt::format("{:g} USD/h", in_dollars_per_hour(v)); }
std::string shown(Dollars v) { return fmt::format("{:g} USD", v.value()); }
std::string shown(DollarsPerJoule v) {
  return fmt::format("{:g} USD/kWh", v.value() * units::kJoulesPerKilowattHour);
}

bool is_scenario_override(const hardware::Override& o) {
  const std::string first = o.path.substr(0, o.path.find('.'));
  return std::find(kSections.begin(), kSections.end(), first) != kSections.end();
}

std::string resolve_relative(const std::string& name, const std::string& scenario_file) {
  if (name.find('/') == std::string::npos) return name;
  const fs::path p(name);
  if (p.is_absolute()) return name;
  const fs::path beside = fs::path(scenario_file).parent_path() / p;
  return fs::exists(beside) ? beside.string() : name;
}

PhaseSpec read_phase(Reader& rd, const JsonView& v) {
  v.check_keys({"name", "kind", "tokens", "steps", "gpu_hours", "seq_len", "global_batch", "ramp",
                "plan", "compute_multiplier", "note"});
  PhaseSpec ph;
  ph.name = v.at("name").string();
  if (ph.name.empty()) v.at("name").fail("expected a non-empty phase name");
  const std::string kind =
      v.at("kind").one_of({"pretraining", "context_extension", "post_training"});
  ph.kind = kind == "pretraining"         ? PhaseKind::kPretraining
            : kind == "context_extension" ? PhaseKind::kContextExtension
                                          : PhaseKind::kPostTraining;
  const int amounts = v.has("tokens") + v.has("steps") + v.has("gpu_hours");
  if (amounts != 1) {
    v.fail(fmt::format("expected exactly one of \"tokens\", \"steps\" or \"gpu_hours\"; found {}",
                       amounts));
  }
  if (auto f = v.find("tokens")) {
    ph.amount = PhaseAmount::kTokens;
    ph.tokens = rd.positive(*f);
  } else if (auto f2 = v.find("steps")) {
    ph.amount = PhaseAmount::kSteps;
    ph.steps = rd.positive_int(*f2);
  } else {
    ph.amount = PhaseAmount::kStatedGpuHours;
    ph.stated_gpu_time = rd.quantity<Seconds>(v.at("gpu_hours"));
  }
  if (ph.amount != PhaseAmount::kStatedGpuHours) {
    ph.seq_len = rd.positive_int(v.at("seq_len"));
    ph.global_batch = rd.positive_int(v.at("global_batch"));
  } else {
    for (const char* k : {"seq_len", "global_batch", "ramp", "compute_multiplier"}) {
      if (v.has(k)) v.at(k).fail("a phase given as stated GPU-hours takes no step parameters");
    }
  }
  if (auto r = v.find("ramp")) {
    if (ph.amount != PhaseAmount::kTokens) r->fail("a batch ramp needs a phase given in tokens");
    r->check_keys({"start_batch", "tokens", "shape", "points"});
    BatchRamp ramp;
    ramp.start_batch = rd.positive_int(r->at("start_batch"));
    ramp.tokens = rd.positive(r->at("tokens"));
    ramp.shape = rd.one_of(r->at("shape"), {"linear-in-tokens", "linear-in-steps"}) ==
                         "linear-in-tokens"
                     ? RampShape::kLinearInTokens
                     : RampShape::kLinearInSteps;
    const int64_t points = rd.positive_int(r->at("points"));
    if (points < 2 || points > 64) r->at("points").at("value").fail(fmt::format("expected 2..64 points; found {}", points));
    ramp.points = static_cast<int>(points);
    if (ramp.start_batch > ph.global_batch) {
      r->at("start_batch").fail(fmt::format("expected a start batch <= the phase's global batch {}; found {}",
                                            ph.global_batch, ramp.start_batch));
    }
    if (ramp.tokens > ph.tokens) {
      r->at("tokens").fail(fmt::format("expected ramp tokens <= the phase's {:g} tokens; found {:g}",
                                       ph.tokens, ramp.tokens));
    }
    ph.ramp = ramp;
  }
  if (auto p = v.find("plan")) ph.plan = read_patch(rd, *p);
  if (auto c = v.find("compute_multiplier")) ph.compute_multiplier = rd.positive(*c);
  return ph;
}

}  // namespace

std::vector<std::string> list_scenarios() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(paths::scenarios_dir(), ec)) {
    if (e.is_regular_file() && e.path().extension() == ".json") names.push_back(e.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string scenario_path(const std::string& name_or_path) {
  if (name_or_path.find('/') != std::string::npos || name_or_path.ends_with(".json")) {
    if (!file_exists(name_or_path)) throw IoError(fmt::format("{}: no such scenario file", name_or_path));
    return name_or_path;
  }
  const std::string p = paths::scenarios_dir() + "/" + name_or_path + ".json";
  if (file_exists(p)) return p;
  const auto names = list_scenarios();
  throw UsageError(fmt::format("unknown scenario \"{}\"{}; shipped scenarios: {}", name_or_path,
                               did_you_mean(name_or_path, names), join(names)));
}

Scenario load_scenario(const std::string& name_or_path,
                       const std::vector<hardware::Override>& overrides) {
  const std::string path = scenario_path(name_or_path);
  return parse_scenario(read_file(path), path, overrides);
}

Scenario parse_scenario(const std::string& json_text, const std::string& file,
                        const std::vector<hardware::Override>& overrides, bool validate_plans) {
  JsonDocument doc = JsonDocument::parse(json_text, file);
  std::vector<hardware::Override> hw_overrides;
  for (const auto& o : overrides) {
    if (is_scenario_override(o)) {
      apply_scenario_override(doc.mutable_json(), o, file);
    } else {
      hw_overrides.push_back(o);
    }
  }
  const JsonView root = doc.root();
  root.check_keys({"format", "name", "description", "model", "cluster", "plan", "phases", "goodput",
                   "prices", "power", "uncertainty"});
  if (root.at("format").string() != kScenarioFormat) {
    root.at("format").fail(fmt::format("expected \"{}\"; found {}", kScenarioFormat,
                                       root.at("format").describe_found()));
  }
  Scenario s;
  s.file = file;
  s.name = root.at("name").string();
  s.description = root.at("description").string();
  Reader rd(s.assumptions);

  // Model.
  {
    const JsonView m = root.at("model");
    const std::string name = rd.value(m).string();
    try {
      s.model = model::load_model(resolve_relative(name, file));
    } catch (const UsageError& e) {
      m.at("value").fail(e.what());
    }
  }
  // Cluster (+ overrides from the file, then the command line).
  {
    const JsonView c = root.at("cluster");
    c.check_keys({"value", "source", "note", "overrides"});
    std::vector<hardware::Override> all;
    if (auto ov = c.find("overrides")) {
      if (!ov->is_object()) ov->fail_expected("an object {\"path\": \"value\"}");
      for (const std::string& k : ov->keys()) {
        all.push_back(hardware::Override{k, ov->at(k).string()});
        s.assumptions.push_back(Assumption{"cluster/overrides/" + k, ov->at(k).string(),
                                           "scenario override of the cluster profile"});
      }
    }
    all.insert(all.end(), hw_overrides.begin(), hw_overrides.end());
    const JsonView name_view = c.at("value");
    JsonView c_plain = c;
    // Record the cluster name with its source.
    const std::string src = c.at("source").string();
    if (src.empty()) c.at("source").fail("expected a non-empty source");
    const std::string name = name_view.string();
    s.assumptions.push_back(Assumption{"cluster", name, src});
    std::string cpath;
    try {
      cpath = hardware::cluster_path(resolve_relative(name, file));
    } catch (const UsageError& e) {
      name_view.fail(e.what());
    }
    s.cluster = hardware::load_cluster(cpath, all);
    hardware::check_overrides_used(hw_overrides, {s.cluster.name, "cluster", s.cluster.accelerator.name, "accelerator"});
    (void)c_plain;
  }

  // Plan: every field required.
  {
    const JsonView p = root.at("plan");
    std::vector<std::string> keys = kPatchKeys;
    keys.push_back("global_batch");
    keys.push_back("seq_len");
    p.check_keys(keys);
    for (const auto& k : keys) (void)p.at(k);  // each one must be present
    const PlanPatch patch = read_patch(rd, p, {"global_batch", "seq_len"});
    s.precision_policy = *patch.precision;
    apply_patch(s.plan, patch);
    s.plan.global_batch = rd.positive_int(p.at("global_batch"));
    s.plan.seq_len = rd.positive_int(p.at("seq_len"));
  }

  // Phases.
  {
    const JsonView ps = root.at("phases");
    if (!ps.is_array() || ps.size() == 0) ps.fail_expected("a non-empty array of phases");
    std::vector<std::string> seen;
    for (const JsonView& v : ps.elements()) {
      const size_t first = s.assumptions.size();
      PhaseSpec ph = read_phase(rd, v);
      // Name phases in the assumption list by their name, not their index.
      const std::string by_index = v.pointer().substr(1) + "/";
      for (size_t i = first; i < s.assumptions.size(); ++i) {
        std::string& n = s.assumptions[i].name;
        if (n.rfind(by_index, 0) == 0) n = "phases/" + ph.name + "/" + n.substr(by_index.size());
      }
      if (std::find(seen.begin(), seen.end(), ph.name) != seen.end()) {
        v.at("name").fail(fmt::format("phase name \"{}\" used twice", ph.name));
      }
      seen.push_back(ph.name);
      s.phases.push_back(std::move(ph));
    }
  }

  // Goodput.
  {
    const JsonView g = root.at("goodput");
    g.check_keys({"failures_per_gpu_hour", "checkpoint_write_time", "restart_time",
                  "checkpoint_interval"});
    s.goodput.failures_per_gpu =
        Hertz(rd.non_negative(g.at("failures_per_gpu_hour")) / units::kSecondsPerHour);
    s.goodput.checkpoint_write = rd.quantity<Seconds>(g.at("checkpoint_write_time"));
    s.goodput.restart = rd.quantity<Seconds>(g.at("restart_time"));
    const JsonView ci = rd.value(g.at("checkpoint_interval"));
    if (ci.is_string() && ci.string() == "optimal") {
      s.goodput.checkpoint_interval = std::nullopt;
    } else {
      const Seconds tau = ci.quantity<Seconds>();
      if (!(tau.value() > 0)) ci.fail_expected("\"optimal\" or a duration > 0");
      s.goodput.checkpoint_interval = tau;
    }
  }

  // Prices: from the scenario when given, else from the cluster / accelerator profile.
  {
    const JsonView p = root.at("prices");
    p.check_keys({"rental_per_gpu_hour", "purchase_per_gpu", "network_per_gpu", "amortisation_life",
                  "electricity", "datacenter_per_gpu_hour"});
    auto profile_source = [](const std::map<std::string, hardware::SourceInfo>& m,
                             const std::string& key, const std::string& where) {
      auto it = m.find(key);
      return it != m.end() && !it->second.source.empty() ? it->second.source : "profile " + where;
    };
    auto from_profile = [&](const char* key, const auto& value, const std::string& src,
                            auto& dst) {
      using Q = std::decay_t<decltype(dst)>;
      if (auto f = p.find(key)) {
        dst = rd.quantity<Q>(*f);
        return;
      }
      if (!value) {
        p.fail(fmt::format("missing field \"{}\": the cluster and accelerator profiles do not "
                           "give it either",
                           key));
      }
      dst = *value;
      s.assumptions.push_back(Assumption{std::string("prices/") + key, shown(dst), src});
    };
    const auto& acc = s.cluster.accelerator;
    if (s.cluster.rental_price_per_gpu || !acc.cloud_price) {
      from_profile("rental_per_gpu_hour", s.cluster.rental_price_per_gpu,
                   profile_source(s.cluster.sources, "prices.rental_price_per_gpu", s.cluster.file),
                   s.prices.rental_per_gpu);
    } else {
      from_profile("rental_per_gpu_hour", acc.cloud_price,
                   profile_source(acc.sources, "cloud_price", acc.file), s.prices.rental_per_gpu);
    }
    from_profile("purchase_per_gpu", acc.purchase_price,
                 profile_source(acc.sources, "purchase_price", acc.file), s.prices.purchase_per_gpu);
    from_profile("network_per_gpu", s.cluster.network_cost_per_gpu,
                 profile_source(s.cluster.sources, "prices.network_cost_per_gpu", s.cluster.file),
                 s.prices.network_per_gpu);
    from_profile("electricity", s.cluster.electricity_price,
                 profile_source(s.cluster.sources, "prices.electricity_price", s.cluster.file),
                 s.prices.electricity);
    s.prices.amortisation_life = rd.quantity<Seconds>(p.at("amortisation_life"));
    if (!(s.prices.amortisation_life.value() > 0)) {
      p.at("amortisation_life").at("value").fail_expected("a life > 0");
    }
    s.prices.datacenter_per_gpu = rd.quantity<DollarsPerSecond>(p.at("datacenter_per_gpu_hour"));
  }

  // Power: fractions from the scenario; TDP, node overhead and PUE from the cluster profile.
  {
    const JsonView p = root.at("power");
    p.check_keys({"gpu_idle_fraction_of_tdp", "gpu_busy_fraction_of_tdp"});
    s.power.idle_fraction_of_tdp = rd.non_negative(p.at("gpu_idle_fraction_of_tdp"));
    s.power.busy_fraction_of_tdp = rd.non_negative(p.at("gpu_busy_fraction_of_tdp"));
    if (s.power.idle_fraction_of_tdp > s.power.busy_fraction_of_tdp ||
        s.power.busy_fraction_of_tdp > 1.5) {
      p.fail(fmt::format("expected 0 <= idle fraction <= busy fraction <= 1.5; found {} and {}",
                         s.power.idle_fraction_of_tdp, s.power.busy_fraction_of_tdp));
    }
    s.power.gpu_tdp = s.cluster.accelerator.tdp;
    s.power.node_overhead = s.cluster.node_overhead_power;
    s.power.gpus_per_node = s.cluster.accelerators_per_node;
    s.power.pue = s.cluster.pue;
    auto src = [&](const std::map<std::string, hardware::SourceInfo>& m, const std::string& k,
                   const std::string& fallback) {
      auto it = m.find(k);
      return it != m.end() && !it->second.source.empty() ? it->second.source : fallback;
    };
    s.assumptions.push_back(Assumption{"power/gpu_tdp", to_string(s.power.gpu_tdp),
                                       src(s.cluster.accelerator.sources, "tdp",
                                           "hardware profile " + s.cluster.accelerator.file)});
    s.assumptions.push_back(Assumption{"power/node_overhead", to_string(s.power.node_overhead),
                                       src(s.cluster.sources, "power.node_overhead_power",
                                           "cluster profile " + s.cluster.file)});
    s.assumptions.push_back(Assumption{"power/pue", fmt::format("{:g}", s.power.pue),
                                       src(s.cluster.sources, "power.pue", "cluster profile " + s.cluster.file)});
  }

  // Uncertainty ranges.
  {
    const JsonView u = root.at("uncertainty");
    u.check_keys({"samples", "compute_efficiency_scale", "comm_efficiency_scale",
                  "expert_load_imbalance", "failures_per_gpu_hour", "checkpoint_write_time",
                  "restart_time", "micro_batch"});
    const int64_t n = rd.positive_int(u.at("samples"));
    if (n > 100000) u.at("samples").at("value").fail(fmt::format("expected at most 100000; found {}", n));
    s.uncertainty.samples = static_cast<int>(n);
    auto num = [](const JsonView& v) { return v.positive_number(); };
    auto dur = [](const JsonView& v) { return v.quantity<Seconds>().value(); };
    auto check_nominal = [](const JsonView& v, Range& r) {
      if (!(r.low <= r.nominal && r.nominal <= r.high)) {
        v.fail(fmt::format("expected low <= nominal <= high; found {:g}, {:g}, {:g}", r.low,
                           r.nominal, r.high));
      }
    };
    s.uncertainty.compute_efficiency_scale = rd.range(u.at("compute_efficiency_scale"), true, num);
    check_nominal(u.at("compute_efficiency_scale"), s.uncertainty.compute_efficiency_scale);
    s.uncertainty.comm_efficiency_scale = rd.range(u.at("comm_efficiency_scale"), true, num);
    check_nominal(u.at("comm_efficiency_scale"), s.uncertainty.comm_efficiency_scale);
    // Ranges whose nominal is the value elsewhere in the file.
    s.uncertainty.expert_load_imbalance = rd.range(u.at("expert_load_imbalance"), false, num);
    s.uncertainty.expert_load_imbalance.nominal = s.plan.expert_load_imbalance;
    check_nominal(u.at("expert_load_imbalance"), s.uncertainty.expert_load_imbalance);
    if (s.uncertainty.expert_load_imbalance.low < 1.0) {
      u.at("expert_load_imbalance").at("low").fail("expected a ratio >= 1 (busiest / mean)");
    }
    s.uncertainty.failures_per_gpu_hour = rd.range(u.at("failures_per_gpu_hour"), false,
                                                   [](const JsonView& v) { return v.non_negative_number(); });
    s.uncertainty.failures_per_gpu_hour.nominal =
        s.goodput.failures_per_gpu.value() * units::kSecondsPerHour;
    check_nominal(u.at("failures_per_gpu_hour"), s.uncertainty.failures_per_gpu_hour);
    s.uncertainty.checkpoint_write_s = rd.range(u.at("checkpoint_write_time"), false, dur);
    s.uncertainty.checkpoint_write_s.nominal = s.goodput.checkpoint_write.value();
    check_nominal(u.at("checkpoint_write_time"), s.uncertainty.checkpoint_write_s);
    s.uncertainty.restart_s = rd.range(u.at("restart_time"), false, dur);
    s.uncertainty.restart_s.nominal = s.goodput.restart.value();
    check_nominal(u.at("restart_time"), s.uncertainty.restart_s);
    const JsonView mb = u.at("micro_batch");
    mb.check_keys({"values", "source", "note"});
    const JsonView vals = mb.at("values");
    if (!vals.is_array() || vals.size() == 0) vals.fail_expected("a non-empty array of micro-batch sizes");
    std::vector<std::string> shown;
    for (const JsonView& e : vals.elements()) {
      s.uncertainty.micro_batches.push_back(e.positive_integer());
      shown.push_back(fmt::format("{}", s.uncertainty.micro_batches.back()));
    }
    if (std::find(s.uncertainty.micro_batches.begin(), s.uncertainty.micro_batches.end(),
                  s.plan.micro_batch) == s.uncertainty.micro_batches.end()) {
      vals.fail(fmt::format("expected the plan's micro_batch {} among the values", s.plan.micro_batch));
    }
    s.uncertainty.micro_batch_source = mb.at("source").string();
    if (s.uncertainty.micro_batch_source.empty()) mb.at("source").fail("expected a non-empty source");
    s.assumptions.push_back(Assumption{"uncertainty/micro_batch", join(shown, " | "),
                                       s.uncertainty.micro_batch_source});
  }

  // Every phase plan must run, for every micro-batch the uncertainty may pick.
  if (validate_plans) {
    for (const PhaseSpec& ph : s.phases) {
      if (ph.amount == PhaseAmount::kStatedGpuHours) continue;
      std::vector<int64_t> mbs = ph.plan.micro_batch ? std::vector<int64_t>{*ph.plan.micro_batch}
                                                     : s.uncertainty.micro_batches;
      for (int64_t mb : mbs) {
        const plan::Plan p = phase_plan(s, ph, mb);
        try {
          plan::validate_plan(p, s.model, s.cluster);
        } catch (const PlanError& e) {
          throw PlanError(fmt::format("{}: phase \"{}\" (micro_batch {}): {}", file, ph.name, mb,
                                      e.what()));
        }
      }
    }
  }
  return s;
}

plan::Plan phase_plan(const Scenario& s, const PhaseSpec& phase, std::optional<int64_t> micro_batch) {
  plan::Plan p = s.plan;
  if (micro_batch) p.micro_batch = *micro_batch;
  apply_patch(p, phase.plan);
  if (phase.amount != PhaseAmount::kStatedGpuHours) {
    p.seq_len = phase.seq_len;
    p.global_batch = phase.global_batch;
  }
  return p;
}

}  // namespace trainsim::run
