#include "hardware/hardware.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "core/error.h"
#include "core/file_io.h"
#include "core/paths.h"
#include "core/strings.h"

namespace trainsim::hardware {

namespace fs = std::filesystem;
using nlohmann::json;

const char* to_string(Format f) {
  switch (f) {
    case Format::kFP64: return "fp64";
    case Format::kFP32: return "fp32";
    case Format::kTF32: return "tf32";
    case Format::kBF16: return "bf16";
    case Format::kFP16: return "fp16";
    case Format::kFP8: return "fp8";
    case Format::kFP4: return "fp4";
    case Format::kINT8: return "int8";
  }
  return "?";
}

int bit_length(Format f) {
  switch (f) {
    case Format::kFP64: return 64;
    case Format::kFP32: return 32;
    case Format::kTF32: return 32;  // TF32 occupies 32-bit registers; BIS counts operand bit length
    case Format::kBF16: return 16;
    case Format::kFP16: return 16;
    case Format::kFP8: return 8;
    case Format::kFP4: return 4;
    case Format::kINT8: return 8;
  }
  return 0;
}

std::optional<FlopsPerSecond> tensor_peak(const Accelerator& a, Precision p) {
  auto positive = [&](Precision q) -> std::optional<FlopsPerSecond> {
    const auto v = a.peak(q);
    if (!v || !(v->value() > 0)) return std::nullopt;
    return v;
  };
  if (auto v = positive(p)) return v;
  // BF16 and FP16 stand in for each other (FP32 already falls back inside peak()).
  if (p == Precision::kBF16) return positive(Precision::kFP16);
  if (p == Precision::kFP16) return positive(Precision::kBF16);
  return std::nullopt;
}

bool same_compute_die(const Accelerator& a, const Accelerator& b, Precision p) {
  const auto pa = tensor_peak(a, p), pb = tensor_peak(b, p);
  return a.sm_count > 0 && a.sm_count == b.sm_count && pa && pb && *pa == *pb;
}

std::optional<FlopsPerSecond> utilisation_peak(const Accelerator& a) { return tensor_peak(a, Precision::kBF16); }

std::optional<FlopsPerSecond> Accelerator::peak(Precision p) const {
  auto get = [&](Format f) -> std::optional<FlopsPerSecond> {
    auto it = dense_peak.find(f);
    if (it == dense_peak.end()) return std::nullopt;
    return it->second;
  };
  switch (p) {
    case Precision::kBF16: return get(Format::kBF16);
    case Precision::kFP16: return get(Format::kFP16);
    case Precision::kFP8: return get(Format::kFP8);
    case Precision::kFP32: {
      // FP32 matrix work runs on the TF32 tensor path where one exists (the
      // frameworks' default on Ampere and later); parts without TF32 (V100,
      // Ascend's cube FP32) fall back to their FP32 peak.
      if (auto t = get(Format::kTF32)) return t;
      return get(Format::kFP32);
    }
  }
  return std::nullopt;
}

int Cluster::scale_up_domain() const {
  return std::max(1, std::min(accelerator.scale_up.domain_size, total_accelerators()));
}

// ---------------------------------------------------------------------------
// Schema: the fields each object may hold. The loader rejects others, and an
// override may create a listed field that a file leaves out.
namespace {

using Schema = std::map<std::string, std::vector<std::string>>;  // JSON pointer -> allowed keys

const Schema& accelerator_schema() {
  static const Schema kSchema = {
      {"",
       {"name", "display_name", "vendor", "launch_year", "dense_peak", "memory", "sm_count",
        "scale_up", "nic_per_accelerator", "tdp", "die_area", "purchase_price", "cloud_price",
        "export_note", "comment"}},
      {"/dense_peak", {"fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "fp4", "int8"}},
      {"/memory", {"type", "capacity", "bandwidth", "measured_bandwidth"}},
      {"/scale_up",
       {"technology", "bandwidth_per_direction", "measured_per_direction", "domain_size",
        "host_link_bidirectional", "via_host_link"}},
  };
  return kSchema;
}

const Schema& cluster_schema() {
  static const Schema kSchema = {
      {"",
       {"name", "description", "accelerator", "nodes", "accelerators_per_node",
        "scale_up_latency", "scale_out", "power", "prices", "comment"}},
      {"/scale_out",
       {"topology", "levels", "planes", "oversubscription", "switch_radix", "same_leaf_latency",
        "cross_leaf_latency", "nics_per_node"}},
      {"/power", {"pue", "node_overhead_power"}},
      {"/prices", {"rental_price_per_gpu", "electricity_price", "network_cost_per_gpu"}},
  };
  return kSchema;
}

// Fields holding plain strings or flags rather than sourced values.
const std::set<std::string>& plain_fields() {
  static const std::set<std::string> kPlain = {
      "name", "display_name", "vendor", "export_note", "comment", "type", "technology",
      "via_host_link", "description", "accelerator", "topology"};
  return kPlain;
}

const std::vector<std::string> kSourcedKeys = {"value", "source", "note", "date", "estimated"};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string::npos ? std::string::npos : pos - start));
    if (pos == std::string::npos) break;
    start = pos + 1;
  }
  return out;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

// "450 GB/s" stays a string; "8" becomes a number when the field holds numbers.
json override_value(const std::string& text, const json* existing) {
  if (text == "null") return json(nullptr);
  const bool want_bool = existing != nullptr && existing->is_boolean();
  if (want_bool) {
    if (text == "true") return json(true);
    if (text == "false") return json(false);
    throw UsageError(fmt::format("--set value \"{}\": expected true or false", text));
  }
  const bool want_number = existing != nullptr && existing->is_number();
  double number = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(first, last, number);
  // from_chars accepts "nan" and "inf"; those stay text so the loader's error
  // shows them as typed rather than as the number null.
  const bool is_number = !text.empty() && ec == std::errc() && ptr == last && std::isfinite(number);
  if (is_number && (want_number || existing == nullptr || existing->is_null())) {
    if (number == static_cast<double>(static_cast<int64_t>(number))) {
      return json(static_cast<int64_t>(number));
    }
    return json(number);
  }
  return json(text);
}

// Applies the overrides whose first component is one of `targets` to doc.
// Returns them as typed, for the report of what was applied.
std::vector<std::string> apply_overrides(json& doc, const Schema& schema,
                                         const std::vector<std::string>& targets,
                                         const std::vector<Override>& overrides,
                                         const std::string& what) {
  std::vector<std::string> applied;
  for (const Override& o : overrides) {
    auto parts = split(o.path, '.');
    if (std::find(targets.begin(), targets.end(), parts.front()) == targets.end()) continue;
    const std::string typed = fmt::format("{}={}", o.path, o.value);
    if (parts.size() < 2) {
      throw UsageError(fmt::format("--set {}: name a field after \"{}.\"", typed, parts.front()));
    }
    json* node = &doc;
    std::string pointer;
    for (size_t i = 1; i < parts.size(); ++i) {
      const std::string& key = parts[i];
      const bool inside_sourced = node->is_object() && node->contains("value") &&
                                  node->contains("source");
      if (!node->is_object()) {
        throw UsageError(fmt::format("--set {}: {} field \"{}\" holds a value, not fields", typed,
                                     what, pointer.empty() ? "/" : pointer));
      }
      if (!node->contains(key)) {
        std::vector<std::string> allowed;
        if (inside_sourced) {
          allowed = kSourcedKeys;
        } else if (auto it = schema.find(pointer); it != schema.end()) {
          allowed = it->second;
        }
        if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
          std::vector<std::string> candidates = allowed;
          for (auto it = node->begin(); it != node->end(); ++it) candidates.push_back(it.key());
          throw UsageError(fmt::format("--set {}: unknown field \"{}\" in {} at \"{}\"{}; fields: {}",
                                       typed, key, what, pointer.empty() ? "/" : pointer,
                                       did_you_mean(key, candidates), join(allowed)));
        }
        (*node)[key] = nullptr;
      }
      node = &(*node)[key];
      pointer += "/" + key;
    }
    const std::string& last = parts.back();
    const bool is_plain = plain_fields().count(last) > 0 ||
                          std::find(kSourcedKeys.begin(), kSourcedKeys.end(), last) !=
                              kSourcedKeys.end();
    if (node->is_object() && !node->contains("value")) {
      std::vector<std::string> keys;
      for (auto it = node->begin(); it != node->end(); ++it) keys.push_back(it.key());
      throw UsageError(fmt::format("--set {}: \"{}\" is a group of fields; set one of: {}", typed,
                                   pointer, join(keys)));
    }
    if (is_plain) {
      *node = override_value(o.value, node);
    } else if (node->is_object()) {
      const json old = (*node)["value"];
      const std::string old_source =
          (*node)["source"].is_string() ? (*node)["source"].get<std::string>() : "";
      (*node)["value"] = override_value(o.value, &old);
      (*node)["source"] = fmt::format("override: --set {}", typed);
      (*node)["note"] = fmt::format("replaces {} ({})", old.dump(), old_source);
    } else {
      const json old = *node;
      *node = json{{"value", override_value(o.value, &old)},
                   {"source", fmt::format("override: --set {}", typed)}};
    }
    applied.push_back(typed);
  }
  return applied;
}

std::string stem(const std::string& path) { return fs::path(path).stem().string(); }

bool looks_like_path(const std::string& s) {
  return s.find('/') != std::string::npos || (s.size() > 5 && s.ends_with(".json"));
}

std::vector<std::string> list_json(const std::string& dir, const std::set<std::string>& skip) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file() || e.path().extension() != ".json") continue;
    const std::string name = e.path().stem().string();
    if (skip.count(name)) continue;
    out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

const std::set<std::string> kNotProfiles = {"export_rules", "generic_cluster"};

std::string resolve(const std::string& name_or_path, const std::string& dir,
                    const std::vector<std::string>& names, const std::string& what) {
  if (looks_like_path(name_or_path)) {
    if (!file_exists(name_or_path)) {
      throw IoError(fmt::format("{} file \"{}\" does not exist", what, name_or_path));
    }
    return name_or_path;
  }
  if (std::find(names.begin(), names.end(), name_or_path) == names.end()) {
    throw UsageError(fmt::format("unknown {} \"{}\"{}; known: {}", what, name_or_path,
                                 did_you_mean(name_or_path, names), join(names)));
  }
  return dir + "/" + name_or_path + ".json";
}

// Readers that record the source of each value under its dotted path.
class Reader {
 public:
  explicit Reader(std::map<std::string, SourceInfo>& sources) : sources_(sources) {}

  // Records source/note/date/estimated of a sourced object and checks its keys.
  void record(const JsonView& v, const std::string& path) {
    if (!v.is_object()) {
      v.fail(fmt::format("expected {{\"value\": ..., \"source\": ...}}; found {}",
                         v.describe_found()));
    }
    v.check_keys(kSourcedKeys);
    SourceInfo info;
    info.source = v.at("source").string();
    if (info.source.empty()) v.at("source").fail("expected a non-empty source");
    if (auto n = v.find("note")) info.note = n->string();
    if (auto d = v.find("date")) info.date = d->string();
    if (auto e = v.find("estimated")) info.estimated = e->boolean();
    if (!v.has("value") && !v.raw().contains("value")) v.at("value");  // missing-field error
    sources_[path] = info;
  }

  template <class Q>
  Q quantity(const JsonView& parent, const std::string& key, const std::string& path) {
    JsonView v = parent.at(key);
    record(v, path);
    return v.sourced<Q>().value;
  }

  // Absent field, or {"value": null, "source": "why not known"} -> nullopt.
  template <class Q>
  std::optional<Q> optional_quantity(const JsonView& parent, const std::string& key,
                                     const std::string& path) {
    auto v = parent.find(key);
    if (!v) return std::nullopt;
    record(*v, path);
    if (v->at("value").is_null()) return std::nullopt;
    return v->sourced<Q>().value;
  }

  int count(const JsonView& parent, const std::string& key, const std::string& path) {
    JsonView v = parent.at(key);
    record(v, path);
    const int64_t n = v.at("value").positive_integer();
    if (n > kMaxCount) v.at("value").fail_expected(fmt::format("a count of at most {}", kMaxCount));
    return static_cast<int>(n);
  }

  double number(const JsonView& parent, const std::string& key, const std::string& path) {
    JsonView v = parent.at(key);
    record(v, path);
    return v.at("value").positive_number();
  }

  double area(const JsonView& parent, const std::string& key, const std::string& path) {
    JsonView v = parent.at(key);
    record(v, path);
    return v.at("value").area_mm2();
  }

 private:
  std::map<std::string, SourceInfo>& sources_;
};

Accelerator parse_accelerator(const JsonView& root, const std::string& expected_name) {
  root.check_keys(accelerator_schema().at(""));
  Accelerator a;
  a.file = root.file();
  Reader r(a.sources);
  a.name = root.string_at("name");
  if (!expected_name.empty() && a.name != expected_name) {
    root.at("name").fail(fmt::format("expected \"{}\" (the file name); found \"{}\"",
                                     expected_name, a.name));
  }
  a.display_name = root.string_at("display_name");
  a.vendor = root.string_at("vendor");
  if (auto n = root.find("export_note")) a.export_note = n->string();
  a.launch_year = r.count(root, "launch_year", "launch_year");
  if (a.launch_year < 1990 || a.launch_year > 2100) {
    root.at("launch_year").at("value").fail_expected("a year between 1990 and 2100");
  }

  JsonView peaks = root.at("dense_peak");
  peaks.check_keys(accelerator_schema().at("/dense_peak"));
  for (Format f : kAllFormats) {
    const std::string key = to_string(f);
    if (auto q = r.optional_quantity<FlopsPerSecond>(peaks, key, "dense_peak." + key)) {
      if (!(q->value() > 0)) peaks.at(key).at("value").fail_expected("a positive rate");
      a.dense_peak[f] = *q;
    }
  }
  if (a.dense_peak.empty()) peaks.fail("expected at least one dense peak rate");

  JsonView mem = root.at("memory");
  mem.check_keys(accelerator_schema().at("/memory"));
  a.memory_type = mem.string_at("type");
  a.hbm_capacity = r.quantity<Bytes>(mem, "capacity", "memory.capacity");
  a.hbm_bandwidth = r.quantity<BytesPerSecond>(mem, "bandwidth", "memory.bandwidth");
  if (!(a.hbm_capacity.value() > 0)) mem.at("capacity").at("value").fail_expected("a positive size");
  if (!(a.hbm_bandwidth.value() > 0)) {
    mem.at("bandwidth").at("value").fail_expected("a positive bandwidth");
  }
  a.measured_hbm_bandwidth =
      r.optional_quantity<BytesPerSecond>(mem, "measured_bandwidth", "memory.measured_bandwidth");

  a.sm_count = r.count(root, "sm_count", "sm_count");

  JsonView su = root.at("scale_up");
  su.check_keys(accelerator_schema().at("/scale_up"));
  a.scale_up.technology = su.string_at("technology");
  a.scale_up.bandwidth_per_direction =
      r.quantity<BytesPerSecond>(su, "bandwidth_per_direction", "scale_up.bandwidth_per_direction");
  a.scale_up.measured_per_direction = r.optional_quantity<BytesPerSecond>(
      su, "measured_per_direction", "scale_up.measured_per_direction");
  a.scale_up.domain_size = r.count(su, "domain_size", "scale_up.domain_size");
  a.scale_up.host_link_bidirectional = r.quantity<BytesPerSecond>(
      su, "host_link_bidirectional", "scale_up.host_link_bidirectional");
  if (auto v = su.find("via_host_link")) a.scale_up.via_host_link = v->boolean();

  a.nic_per_accelerator =
      r.quantity<BytesPerSecond>(root, "nic_per_accelerator", "nic_per_accelerator");
  a.tdp = r.quantity<Watts>(root, "tdp", "tdp");
  if (!(a.tdp.value() > 0)) root.at("tdp").at("value").fail_expected("a positive power");
  a.die_area_mm2 = r.area(root, "die_area", "die_area");
  a.die_area_estimated = a.sources["die_area"].estimated;
  a.purchase_price = r.optional_quantity<Dollars>(root, "purchase_price", "purchase_price");
  a.cloud_price = r.optional_quantity<DollarsPerSecond>(root, "cloud_price", "cloud_price");
  return a;
}

Cluster parse_cluster(const JsonView& root, const std::string& expected_name,
                      const std::vector<Override>& overrides) {
  root.check_keys(cluster_schema().at(""));
  Cluster c;
  c.file = root.file();
  Reader r(c.sources);
  c.name = root.string_at("name");
  if (!expected_name.empty() && c.name != expected_name) {
    root.at("name").fail(fmt::format("expected \"{}\" (the file name); found \"{}\"",
                                     expected_name, c.name));
  }
  if (auto d = root.find("description")) c.description = d->string();
  const std::string acc_name = root.string_at("accelerator");
  {
    std::vector<std::string> names = list_accelerators();
    if (std::find(names.begin(), names.end(), acc_name) == names.end()) {
      root.at("accelerator").fail(fmt::format("unknown accelerator \"{}\"{}; known: {}", acc_name,
                                              did_you_mean(acc_name, names), join(names)));
    }
  }
  // Overrides naming the accelerator (or "accelerator") go to its profile.
  std::vector<Override> acc_overrides;
  for (const auto& o : overrides) {
    const std::string head = split(o.path, '.').front();
    if (head == acc_name || head == "accelerator") acc_overrides.push_back(o);
  }
  c.accelerator = load_accelerator(acc_name, acc_overrides);
  c.nodes = r.count(root, "nodes", "nodes");
  c.accelerators_per_node = r.count(root, "accelerators_per_node", "accelerators_per_node");
  // total_accelerators() is an int product; keep it within kMaxCount like each count.
  if (int64_t{c.nodes} * c.accelerators_per_node > kMaxCount) {
    root.at("accelerators_per_node").at("value").fail_expected(
        fmt::format("at most {} accelerators in all ({} nodes)", kMaxCount, c.nodes));
  }
  c.scale_up_latency = r.quantity<Seconds>(root, "scale_up_latency", "scale_up_latency");

  JsonView so = root.at("scale_out");
  so.check_keys(cluster_schema().at("/scale_out"));
  c.scale_out.topology =
      so.at("topology").one_of({"fat-tree", "multi-plane-fat-tree", "rail-optimized"});
  c.scale_out.levels = r.count(so, "levels", "scale_out.levels");
  c.scale_out.planes = r.count(so, "planes", "scale_out.planes");
  c.scale_out.oversubscription = r.number(so, "oversubscription", "scale_out.oversubscription");
  if (c.scale_out.oversubscription < 1.0) {
    so.at("oversubscription").at("value").fail_expected("a ratio >= 1 (1 = full bisection)");
  }
  c.scale_out.switch_radix = r.count(so, "switch_radix", "scale_out.switch_radix");
  c.scale_out.same_leaf_latency =
      r.quantity<Seconds>(so, "same_leaf_latency", "scale_out.same_leaf_latency");
  c.scale_out.cross_leaf_latency =
      r.quantity<Seconds>(so, "cross_leaf_latency", "scale_out.cross_leaf_latency");
  if (c.scale_out.cross_leaf_latency < c.scale_out.same_leaf_latency) {
    so.at("cross_leaf_latency").fail("expected cross-leaf latency >= same-leaf latency");
  }
  // A same-leaf message crosses one switch, a cross-leaf one three (leaf,
  // spine, leaf) in a two-level fat-tree, so the two extra hops cost the
  // difference (DeepSeek ISCA'25 Table 5: (3.7 - 2.8) / 2 = 0.45 us per hop),
  // and the rest of the same-leaf figure is endpoint cost (2.8 - 0.45 = 2.35 us).
  c.scale_out.hop_latency = (c.scale_out.cross_leaf_latency - c.scale_out.same_leaf_latency) / 2.0;
  c.scale_out.endpoint_latency = c.scale_out.same_leaf_latency - c.scale_out.hop_latency;
  c.scale_out.nics_per_node = r.count(so, "nics_per_node", "scale_out.nics_per_node");
  // NIC bandwidth per accelerator comes from the accelerator profile, so one
  // --set on the profile changes it everywhere.
  c.scale_out.nic_bandwidth = c.accelerator.nic_per_accelerator;

  JsonView power = root.at("power");
  power.check_keys(cluster_schema().at("/power"));
  c.pue = r.number(power, "pue", "power.pue");
  if (c.pue < 1.0) power.at("pue").at("value").fail_expected("a PUE >= 1");
  c.node_overhead_power = r.quantity<Watts>(power, "node_overhead_power", "power.node_overhead_power");

  JsonView prices = root.at("prices");
  prices.check_keys(cluster_schema().at("/prices"));
  c.rental_price_per_gpu = r.optional_quantity<DollarsPerSecond>(prices, "rental_price_per_gpu",
                                                                 "prices.rental_price_per_gpu");
  c.electricity_price = r.optional_quantity<DollarsPerJoule>(prices, "electricity_price",
                                                             "prices.electricity_price");
  c.network_cost_per_gpu = r.optional_quantity<Dollars>(prices, "network_cost_per_gpu",
                                                        "prices.network_cost_per_gpu");
  c.applied_overrides = c.accelerator.applied_overrides;
  return c;
}

std::string overridden_label(const std::string& file, const std::vector<std::string>& applied) {
  return applied.empty() ? file : file + " (with --set overrides)";
}

void require_targets(const std::vector<Override>& overrides,
                     const std::vector<std::string>& targets) {
  for (const auto& o : overrides) {
    const std::string head = split(o.path, '.').front();
    if (std::find(targets.begin(), targets.end(), head) == targets.end()) {
      throw UsageError(fmt::format("--set {}={}: \"{}\" names nothing loaded; use one of: {}{}",
                                   o.path, o.value, head, join(targets),
                                   did_you_mean(head, targets)));
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------

Override parse_override(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos) {
    throw UsageError(fmt::format(
        "--set \"{}\": expected PATH=VALUE, e.g. h800.scale_up.bandwidth_per_direction=\"450 GB/s\"",
        text));
  }
  Override o;
  o.path = trim(text.substr(0, eq));
  std::string value = trim(text.substr(eq + 1));
  if (value.size() >= 2 && ((value.front() == '"' && value.back() == '"') ||
                            (value.front() == '\'' && value.back() == '\''))) {
    value = value.substr(1, value.size() - 2);
  }
  o.value = value;
  if (o.path.empty() || o.path.front() == '.' || o.path.back() == '.' ||
      o.path.find("..") != std::string::npos) {
    throw UsageError(fmt::format("--set \"{}\": expected a dotted path such as "
                                 "h800.scale_up.bandwidth_per_direction",
                                 text));
  }
  if (o.value.empty()) throw UsageError(fmt::format("--set \"{}\": empty value", text));
  // The value goes into a JSON document; nlohmann::json refuses to write
  // invalid UTF-8 later (type_error 316, exit 70), so refuse it here.
  try {
    (void)nlohmann::json(text).dump();
  } catch (const nlohmann::json::type_error&) {
    throw UsageError("--set: the override is not valid UTF-8 text");
  }
  return o;
}

std::vector<Override> parse_overrides(const std::vector<std::string>& texts) {
  std::vector<Override> out;
  for (const auto& t : texts) out.push_back(parse_override(t));
  return out;
}

std::vector<std::string> list_accelerators() {
  return list_json(paths::hardware_profiles_dir(), kNotProfiles);
}

std::vector<std::string> list_clusters() {
  return list_json(paths::hardware_profiles_dir() + "/clusters", {});
}

std::string accelerator_path(const std::string& name_or_path) {
  return resolve(name_or_path, paths::hardware_profiles_dir(), list_accelerators(), "accelerator");
}

std::string cluster_path(const std::string& name_or_path) {
  return resolve(name_or_path, paths::hardware_profiles_dir() + "/clusters", list_clusters(),
                 "cluster");
}

void check_overrides_used(const std::vector<Override>& overrides,
                          const std::vector<std::string>& loaded_names) {
  require_targets(overrides, loaded_names);
}

Accelerator load_accelerator(const std::string& name_or_path,
                             const std::vector<Override>& overrides) {
  const std::string path = accelerator_path(name_or_path);
  JsonDocument doc = JsonDocument::load(path);
  const std::string name = looks_like_path(name_or_path) ? stem(path) : name_or_path;
  std::vector<std::string> targets = {name, "accelerator"};
  if (doc.root().is_object() && doc.root().has("name") && doc.root().at("name").is_string()) {
    targets.push_back(doc.root().at("name").string());
  }
  require_targets(overrides, targets);
  auto applied = apply_overrides(doc.mutable_json(), accelerator_schema(), targets, overrides,
                                 "accelerator " + name);
  JsonDocument view = JsonDocument::parse(doc.mutable_json().dump(), overridden_label(path, applied));
  Accelerator a = parse_accelerator(view.root(), looks_like_path(name_or_path) ? "" : name_or_path);
  a.file = path;
  a.applied_overrides = applied;
  return a;
}

namespace {

Cluster load_cluster_json(json j, const std::string& file, const std::string& expected_name,
                          const std::vector<Override>& overrides) {
  std::string name = j.is_object() && j.contains("name") && j["name"].is_string()
                         ? j["name"].get<std::string>()
                         : expected_name;
  std::string acc = j.is_object() && j.contains("accelerator") && j["accelerator"].is_string()
                        ? j["accelerator"].get<std::string>()
                        : "";
  std::vector<std::string> targets = {name, "cluster", acc, "accelerator"};
  require_targets(overrides, targets);
  auto applied = apply_overrides(j, cluster_schema(), {name, "cluster"}, overrides,
                                 "cluster " + name);
  JsonDocument view = JsonDocument::parse(j.dump(), overridden_label(file, applied));
  Cluster c = parse_cluster(view.root(), expected_name, overrides);
  c.file = file;
  // Cluster overrides first, then the accelerator's (already in c).
  applied.insert(applied.end(), c.applied_overrides.begin(), c.applied_overrides.end());
  c.applied_overrides = applied;
  if (c.accelerators_per_node % std::max(1, c.scale_out.nics_per_node) != 0 &&
      c.scale_out.nics_per_node % c.accelerators_per_node != 0) {
    throw ConfigError(file, "/scale_out/nics_per_node",
                      fmt::format("expected a divisor or multiple of accelerators_per_node ({}); "
                                  "found {}",
                                  c.accelerators_per_node, c.scale_out.nics_per_node));
  }
  return c;
}

}  // namespace

Cluster load_cluster(const std::string& name_or_path, const std::vector<Override>& overrides) {
  const std::string path = cluster_path(name_or_path);
  JsonDocument doc = JsonDocument::load(path);
  return load_cluster_json(doc.mutable_json(), path,
                           looks_like_path(name_or_path) ? "" : name_or_path, overrides);
}

Cluster generic_cluster(const std::string& accelerator_name, int gpus,
                        const std::vector<Override>& overrides) {
  if (gpus < 1) throw UsageError(fmt::format("a cluster needs at least 1 GPU; got {}", gpus));
  // Validate the accelerator name up front (did-you-mean on a typo).
  accelerator_path(accelerator_name);
  const std::string defaults_path = paths::hardware_profiles_dir() + "/generic_cluster.json";
  JsonDocument defaults = JsonDocument::load(defaults_path);
  JsonView d = defaults.root();
  d.check_keys({"comment", "accelerators_per_node", "scale_up_latency", "scale_out", "power",
                "prices"});
  JsonView dso = d.at("scale_out");
  dso.check_keys({"oversubscription", "switch_radix", "same_leaf_latency", "cross_leaf_latency",
                  "network_cost_per_gpu_by_levels"});
  const int per_node_default = static_cast<int>(d.at("accelerators_per_node").at("value").positive_integer());
  const int per_node = std::min(gpus, per_node_default);
  if (gpus % per_node != 0) {
    throw UsageError(fmt::format("a generic cluster of {} GPUs: the count must be a multiple of "
                                 "{} (GPUs per node)",
                                 gpus, per_node));
  }
  const int nodes = gpus / per_node;
  const int radix = static_cast<int>(dso.at("switch_radix").at("value").positive_integer());
  // A fat-tree of radix-k switches with L levels connects 2 (k/2)^L endpoints
  // (k for one switch, k^2/2 for two levels, k^3/4 for three); take the
  // fewest levels that reach `gpus` (one NIC per GPU).
  int levels = 1;
  double capacity = radix;
  while (capacity < gpus && levels < 6) {
    ++levels;
    capacity *= radix / 2.0;
  }
  const std::string name = fmt::format("generic-{}x{}", gpus, accelerator_name);
  json j;
  j["name"] = name;
  j["description"] = fmt::format(
      "generic DGX-style cluster: {} nodes x {} {}, {}-level fat-tree built by generic_cluster()",
      nodes, per_node, accelerator_name, levels);
  j["accelerator"] = accelerator_name;
  j["nodes"] = {{"value", nodes}, {"source", "requested GPU count / GPUs per node"}};
  j["accelerators_per_node"] = d.at("accelerators_per_node").raw();
  j["accelerators_per_node"]["value"] = per_node;
  j["scale_up_latency"] = d.at("scale_up_latency").raw();
  json so;
  so["topology"] = "fat-tree";
  so["levels"] = {{"value", levels},
                  {"source", fmt::format("computed: fewest levels of {}-port switches whose "
                                         "fat-tree 2(k/2)^L reaches {} endpoints",
                                         radix, gpus)}};
  so["planes"] = {{"value", 1}, {"source", "generic: single-plane fat-tree"}};
  so["oversubscription"] = dso.at("oversubscription").raw();
  so["switch_radix"] = dso.at("switch_radix").raw();
  so["same_leaf_latency"] = dso.at("same_leaf_latency").raw();
  so["cross_leaf_latency"] = dso.at("cross_leaf_latency").raw();
  so["nics_per_node"] = {{"value", per_node}, {"source", "generic: one NIC per GPU (DGX-style)"}};
  j["scale_out"] = so;
  j["power"] = d.at("power").raw();
  j["prices"] = d.at("prices").raw();
  JsonView by_levels = dso.at("network_cost_per_gpu_by_levels");
  const std::string lkey = std::to_string(std::min(levels, 3));
  if (by_levels.has(lkey)) j["prices"]["network_cost_per_gpu"] = by_levels.at(lkey).raw();
  return load_cluster_json(j, defaults_path + " (generic_cluster " + name + ")", "", overrides);
}

}  // namespace trainsim::hardware
