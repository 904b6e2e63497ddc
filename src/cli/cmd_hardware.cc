// trainsim hardware list [--format text|json]
// trainsim hardware show NAME [--set PATH=VALUE]... [--format text|json]
// trainsim hardware classify NAME... [--set PATH=VALUE]... [--format text|json]
//
// Accelerator profiles and clusters from hardware_profiles/, each value with
// its source, and their US export-control classification (hardware/export_control.h).
#include <algorithm>
#include <cmath>
#include <ostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/error.h"
#include "core/strings.h"
#include "hardware/export_control.h"
#include "hardware/hardware.h"
#include "report/table.h"

namespace trainsim::cli {
namespace {

using hardware::Accelerator;
using hardware::Classification;
using hardware::Cluster;
using hardware::Override;
using nlohmann::json;

// Rounds for display and JSON output so the bytes out are stable and readable.
double round_to(double v, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(v * scale) / scale;
}

std::string g(double v) { return fmt::format("{:g}", round_to(v, 4)); }

std::string tflops(FlopsPerSecond f) { return g(in_tflops_per_second(f)) + " TFLOP/s"; }
std::string gbps(BytesPerSecond b) { return g(in_gigabytes_per_second(b)) + " GB/s"; }
std::string gb(Bytes b) { return g(in_gigabytes(b)) + " GB"; }
std::string watts_text(Watts w) { return g(w.value()) + " W"; }
std::string usd(Dollars d) { return g(d.value()) + " USD"; }
std::string usd_per_hour(DollarsPerSecond d) { return g(in_dollars_per_hour(d)) + " USD/h"; }
std::string micros(Seconds s) { return g(s.value() / units::kMicro) + " us"; }

// One displayed field: its dotted path (the same path --set takes) and value.
struct Field {
  std::string path;
  std::string value;
};

std::vector<Field> accelerator_fields(const Accelerator& a) {
  std::vector<Field> f;
  f.push_back({"launch_year", std::to_string(a.launch_year)});
  for (hardware::Format fmt_ : hardware::kAllFormats) {
    auto it = a.dense_peak.find(fmt_);
    const std::string key = std::string("dense_peak.") + hardware::to_string(fmt_);
    if (it != a.dense_peak.end()) {
      const bool ops = fmt_ == hardware::Format::kINT8;
      f.push_back({key, ops ? g(in_tflops_per_second(it->second)) + " TOPS" : tflops(it->second)});
    } else if (a.sources.count(key)) {
      f.push_back({key, "not supported"});
    }
  }
  f.push_back({"memory.capacity", gb(a.hbm_capacity) + " " + a.memory_type});
  f.push_back({"memory.bandwidth", gbps(a.hbm_bandwidth)});
  if (a.measured_hbm_bandwidth) {
    f.push_back({"memory.measured_bandwidth", gbps(*a.measured_hbm_bandwidth)});
  }
  f.push_back({"sm_count", std::to_string(a.sm_count)});
  f.push_back({"scale_up.technology", a.scale_up.technology});
  f.push_back({"scale_up.bandwidth_per_direction", gbps(a.scale_up.bandwidth_per_direction)});
  if (a.scale_up.measured_per_direction) {
    f.push_back({"scale_up.measured_per_direction", gbps(*a.scale_up.measured_per_direction)});
  }
  f.push_back({"scale_up.domain_size", std::to_string(a.scale_up.domain_size)});
  f.push_back({"scale_up.host_link_bidirectional", gbps(a.scale_up.host_link_bidirectional)});
  f.push_back({"nic_per_accelerator", g(in_gigabytes_per_second(a.nic_per_accelerator) *
                                        units::kBitsPerByte) +
                                          " Gb/s"});
  f.push_back({"tdp", watts_text(a.tdp)});
  f.push_back({"die_area", g(a.die_area_mm2) + " mm2"});
  f.push_back({"purchase_price", a.purchase_price ? usd(*a.purchase_price) : "not found"});
  f.push_back({"cloud_price", a.cloud_price ? usd_per_hour(*a.cloud_price) : "not found"});
  return f;
}

std::vector<Field> cluster_fields(const Cluster& c) {
  std::vector<Field> f;
  f.push_back({"nodes", std::to_string(c.nodes)});
  f.push_back({"accelerators_per_node", std::to_string(c.accelerators_per_node)});
  f.push_back({"scale_up_latency", micros(c.scale_up_latency)});
  f.push_back({"scale_out.topology", c.scale_out.topology});
  f.push_back({"scale_out.levels", std::to_string(c.scale_out.levels)});
  f.push_back({"scale_out.planes", std::to_string(c.scale_out.planes)});
  f.push_back({"scale_out.oversubscription", g(c.scale_out.oversubscription)});
  f.push_back({"scale_out.switch_radix", std::to_string(c.scale_out.switch_radix)});
  f.push_back({"scale_out.same_leaf_latency", micros(c.scale_out.same_leaf_latency)});
  f.push_back({"scale_out.cross_leaf_latency", micros(c.scale_out.cross_leaf_latency)});
  f.push_back({"scale_out.nics_per_node", std::to_string(c.scale_out.nics_per_node)});
  f.push_back({"power.pue", g(c.pue)});
  f.push_back({"power.node_overhead_power", watts_text(c.node_overhead_power)});
  f.push_back({"prices.rental_price_per_gpu",
               c.rental_price_per_gpu ? usd_per_hour(*c.rental_price_per_gpu)
                                      : "from the accelerator's cloud_price"});
  f.push_back({"prices.electricity_price",
               c.electricity_price
                   ? g(c.electricity_price->value() * units::kJoulesPerKilowattHour) + " USD/kWh"
                   : "not given"});
  f.push_back({"prices.network_cost_per_gpu",
               c.network_cost_per_gpu ? usd(*c.network_cost_per_gpu) : "not given"});
  return f;
}

std::string source_text(const hardware::SourceInfo& s) {
  std::string out = s.estimated ? "[estimate] " + s.source : s.source;
  if (!s.date.empty()) out += " (" + s.date + ")";
  if (!s.note.empty()) out += " -- " + s.note;
  return out;
}

std::string fields_text(const std::vector<Field>& fields,
                        const std::map<std::string, hardware::SourceInfo>& sources) {
  size_t w_path = 0, w_value = 0;
  for (const auto& f : fields) {
    w_path = std::max(w_path, f.path.size());
    w_value = std::max(w_value, f.value.size());
  }
  std::string out;
  for (const auto& f : fields) {
    auto it = sources.find(f.path);
    const std::string src = it == sources.end() ? "" : source_text(it->second);
    out += fmt::format("  {:<{}}  {:<{}}  {}", f.path, w_path, f.value, w_value, src);
    while (!out.empty() && out.back() == ' ') out.pop_back();
    out += "\n";
  }
  return out;
}

json fields_json(const std::vector<Field>& fields,
                 const std::map<std::string, hardware::SourceInfo>& sources) {
  json arr = json::array();
  for (const auto& f : fields) {
    json o = {{"field", f.path}, {"value", f.value}};
    if (auto it = sources.find(f.path); it != sources.end()) {
      o["source"] = it->second.source;
      if (!it->second.note.empty()) o["note"] = it->second.note;
      if (!it->second.date.empty()) o["date"] = it->second.date;
      if (it->second.estimated) o["estimated"] = true;
    }
    arr.push_back(o);
  }
  return arr;
}

std::string overrides_line(const std::vector<std::string>& applied) {
  if (applied.empty()) return "overrides applied: none\n";
  return "overrides applied: " + join(applied, ", ") + "\n";
}

std::string metrics_line(const Classification& c) {
  return fmt::format(
      "export metrics: TPP {} ({}), PD {} per mm2 (die {} mm2{}), I/O {} bidirectional, DRAM {}\n",
      g(c.metrics.tpp), hardware::to_string(c.metrics.tpp_format),
      fmt::format("{:.2f}", c.metrics.performance_density), g(c.die_area_mm2),
      c.die_area_estimated ? ", estimated" : "", gbps(c.metrics.io_bidirectional),
      gbps(c.metrics.dram_bandwidth));
}

json classification_json(const Classification& c) {
  json o;
  o["name"] = c.name;
  o["display_name"] = c.display_name;
  o["tpp"] = round_to(c.metrics.tpp, 1);
  o["tpp_format"] = hardware::to_string(c.metrics.tpp_format);
  o["performance_density"] = round_to(c.metrics.performance_density, 3);
  o["die_area_mm2"] = round_to(c.die_area_mm2, 2);
  o["die_area_estimated"] = c.die_area_estimated;
  o["io_bidirectional_gbps"] = round_to(in_gigabytes_per_second(c.metrics.io_bidirectional), 2);
  o["dram_bandwidth_gbps"] = round_to(in_gigabytes_per_second(c.metrics.dram_bandwidth), 2);
  json rules = json::object();
  for (const auto& v : c.verdicts) {
    json r = {{"controlled", v.controlled}, {"reason", v.reason}};
    if (v.rule_id == "us-2023-10") r["eccn"] = v.eccn ? json(*v.eccn) : json(nullptr);
    if (v.rule_id == "us-2026-01") r["review"] = v.review ? json(*v.review) : json(nullptr);
    rules[v.rule_id] = r;
  }
  o["rules"] = rules;
  if (!c.note.empty()) o["note"] = c.note;
  o["overrides_applied"] = c.applied_overrides;
  return o;
}

std::string verdict_word(const hardware::Verdict& v) {
  if (v.eccn) return *v.eccn;
  if (v.review) return *v.review;
  if (v.rule_id == "us-2023-10") return "outside 3A090";
  if (v.rule_id == "us-2025-04-letters") return v.controlled ? "license required" : "not covered";
  if (v.rule_id == "us-2026-01") return "not applicable";
  return v.controlled ? "controlled" : "not controlled";
}

std::string classification_text(const Classification& c) {
  std::string out = fmt::format("{}: {}\n", c.name, c.display_name);
  out += "  " + metrics_line(c);
  for (const auto& v : c.verdicts) {
    out += fmt::format("  {:<19} {:<22} {}\n", v.rule_id, verdict_word(v), v.reason);
  }
  if (!c.note.empty()) out += "  note: " + c.note + "\n";
  if (!c.applied_overrides.empty()) out += "  " + overrides_line(c.applied_overrides);
  return out;
}

std::vector<Override> overrides_for(const std::vector<Override>& all, const std::string& name) {
  std::vector<Override> out;
  for (const auto& o : all) {
    const std::string head = o.path.substr(0, o.path.find('.'));
    if (head == name || head == "accelerator") out.push_back(o);
  }
  return out;
}

// ---------------------------------------------------------------------------

int do_list(const std::vector<std::string>& args, Io& io) {
  po::options_description desc("options");
  desc.add_options()("format", po::value<std::string>()->default_value("text"), "text|json")(
      "output,o", po::value<std::string>(), "write to FILE instead of stdout");
  po::positional_options_description pos;
  po::variables_map vm;
  if (!parse_options(args, desc, pos, vm, "trainsim hardware list [--format text|json]",
                     "trainsim hardware list --format json", io)) {
    return kExitOk;
  }
  const std::string format = checked_format(vm, {"text", "json"});
  std::vector<Accelerator> accs;
  for (const auto& n : hardware::list_accelerators()) accs.push_back(hardware::load_accelerator(n));
  std::vector<Cluster> clusters;
  for (const auto& n : hardware::list_clusters()) clusters.push_back(hardware::load_cluster(n));
  if (format == "json") {
    json j;
    j["accelerators"] = json::array();
    for (const auto& a : accs) {
      j["accelerators"].push_back({{"name", a.name},
                                   {"display_name", a.display_name},
                                   {"vendor", a.vendor},
                                   {"launch_year", a.launch_year}});
    }
    j["clusters"] = json::array();
    for (const auto& c : clusters) {
      j["clusters"].push_back({{"name", c.name},
                               {"accelerator", c.accelerator.name},
                               {"accelerators", c.total_accelerators()},
                               {"description", c.description}});
    }
    emit(vm, j.dump(2) + "\n", io);
    return kExitOk;
  }
  using report::Align;
  report::Table t({"accelerator", "vendor", "year", "BF16 dense", "FP8 dense", "memory",
                   "mem bw", "scale-up/dir", "domain", "TDP"},
                  {Align::kLeft, Align::kLeft, Align::kRight, Align::kRight, Align::kRight,
                   Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kRight});
  for (const auto& a : accs) {
    auto peak_or_dash = [&](hardware::Format f) {
      auto it = a.dense_peak.find(f);
      return it == a.dense_peak.end() ? std::string("-") : tflops(it->second);
    };
    t.add_row({a.name, a.vendor, std::to_string(a.launch_year),
               peak_or_dash(hardware::Format::kBF16), peak_or_dash(hardware::Format::kFP8),
               gb(a.hbm_capacity), gbps(a.hbm_bandwidth), gbps(a.scale_up.bandwidth_per_direction),
               std::to_string(a.scale_up.domain_size), watts_text(a.tdp)});
  }
  report::Table ct({"cluster", "accelerator", "GPUs", "topology", "description"},
                   {Align::kLeft, Align::kLeft, Align::kRight, Align::kLeft, Align::kLeft});
  for (const auto& c : clusters) {
    ct.add_row({c.name, c.accelerator.name, std::to_string(c.total_accelerators()),
                c.scale_out.topology, c.description});
  }
  emit(vm,
       "Accelerators (dense peak rates; hardware_profiles/):\n" + t.to_text() +
           "\nClusters (hardware_profiles/clusters/):\n" + ct.to_text(),
       io);
  return kExitOk;
}

int do_show(const std::vector<std::string>& args, Io& io) {
  po::options_description desc("options");
  desc.add_options()("name", po::value<std::string>(), "accelerator or cluster name (or a .json path)")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "override a field: PATH=VALUE, e.g. h800.scale_up.bandwidth_per_direction=\"450 GB/s\"")(
      "format", po::value<std::string>()->default_value("text"), "text|json")(
      "output,o", po::value<std::string>(), "write to FILE instead of stdout");
  po::positional_options_description pos;
  pos.add("name", 1);
  po::variables_map vm;
  const std::string usage =
      "trainsim hardware show NAME [--set PATH=VALUE]... [--format text|json]";
  if (!parse_options(args, desc, pos, vm, usage,
                     "trainsim hardware show h800 --set h800.scale_up.bandwidth_per_direction=\"450 GB/s\"",
                     io)) {
    return kExitOk;
  }
  if (!vm.count("name")) throw UsageError("hardware show: name an accelerator or cluster\nusage: " + usage);
  const std::string format = checked_format(vm, {"text", "json"});
  const std::string name = vm["name"].as<std::string>();
  std::vector<Override> overrides;
  if (vm.count("set")) overrides = hardware::parse_overrides(vm["set"].as<std::vector<std::string>>());

  const auto accs = hardware::list_accelerators();
  const auto clusters = hardware::list_clusters();
  const bool is_cluster = std::find(clusters.begin(), clusters.end(), name) != clusters.end() ||
                          (name.find("/clusters/") != std::string::npos);
  const bool is_acc = std::find(accs.begin(), accs.end(), name) != accs.end() ||
                      (!is_cluster && name.ends_with(".json"));
  if (!is_cluster && !is_acc) {
    std::vector<std::string> all = accs;
    all.insert(all.end(), clusters.begin(), clusters.end());
    throw UsageError(fmt::format("unknown accelerator or cluster \"{}\"{}; see trainsim hardware list",
                                 name, did_you_mean(name, all)));
  }
  const auto rules = hardware::load_export_rules();
  if (is_acc) {
    const Accelerator a = hardware::load_accelerator(name, overrides);
    const Classification c = hardware::classify(a, rules);
    const auto fields = accelerator_fields(a);
    if (format == "json") {
      json j = {{"kind", "accelerator"}, {"name", a.name}, {"display_name", a.display_name},
                {"vendor", a.vendor}, {"overrides_applied", a.applied_overrides},
                {"fields", fields_json(fields, a.sources)},
                {"export", classification_json(c)}};
      emit(vm, j.dump(2) + "\n", io);
      return kExitOk;
    }
    std::string out = fmt::format("{} ({}), {}\n", a.display_name, a.name, a.vendor);
    out += overrides_line(a.applied_overrides);
    out += fields_text(fields, a.sources);
    out += metrics_line(c);
    emit(vm, out, io);
    return kExitOk;
  }
  const Cluster cl = hardware::load_cluster(name, overrides);
  const auto fields = cluster_fields(cl);
  const auto afields = accelerator_fields(cl.accelerator);
  const std::string derived = fmt::format(
      "{} accelerators; scale-up domain {}; per-hop switch latency {}, endpoint latency {} "
      "(from same/cross-leaf latencies); NIC {} per accelerator",
      cl.total_accelerators(), cl.scale_up_domain(), micros(cl.scale_out.hop_latency),
      micros(cl.scale_out.endpoint_latency), gbps(cl.scale_out.nic_bandwidth));
  if (format == "json") {
    json j = {{"kind", "cluster"}, {"name", cl.name}, {"description", cl.description},
              {"accelerator", cl.accelerator.name},
              {"total_accelerators", cl.total_accelerators()},
              {"scale_up_domain", cl.scale_up_domain()},
              {"hop_latency_us", round_to(cl.scale_out.hop_latency.value() / units::kMicro, 4)},
              {"endpoint_latency_us",
               round_to(cl.scale_out.endpoint_latency.value() / units::kMicro, 4)},
              {"overrides_applied", cl.applied_overrides},
              {"fields", fields_json(fields, cl.sources)},
              {"accelerator_fields", fields_json(afields, cl.accelerator.sources)}};
    emit(vm, j.dump(2) + "\n", io);
    return kExitOk;
  }
  std::string out = fmt::format("{}: {}\n", cl.name, cl.description);
  out += overrides_line(cl.applied_overrides);
  out += fields_text(fields, cl.sources);
  out += "derived: " + derived + "\n\n";
  out += fmt::format("accelerator {} ({}):\n", cl.accelerator.name, cl.accelerator.display_name);
  out += fields_text(afields, cl.accelerator.sources);
  emit(vm, out, io);
  return kExitOk;
}

int do_classify(const std::vector<std::string>& args, Io& io) {
  po::options_description desc("options");
  desc.add_options()("names", po::value<std::vector<std::string>>(), "accelerator names")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "override a field: PATH=VALUE (first component: a profile name or \"accelerator\")")(
      "format", po::value<std::string>()->default_value("text"), "text|json")(
      "output,o", po::value<std::string>(), "write to FILE instead of stdout");
  po::positional_options_description pos;
  pos.add("names", -1);
  po::variables_map vm;
  const std::string usage =
      "trainsim hardware classify NAME... [--set PATH=VALUE]... [--format text|json]";
  if (!parse_options(args, desc, pos, vm, usage, "trainsim hardware classify h800 a800 h20 --format json",
                     io)) {
    return kExitOk;
  }
  if (!vm.count("names")) throw UsageError("hardware classify: name at least one accelerator\nusage: " + usage);
  const std::string format = checked_format(vm, {"text", "json"});
  const auto names = vm["names"].as<std::vector<std::string>>();
  std::vector<Override> overrides;
  if (vm.count("set")) overrides = hardware::parse_overrides(vm["set"].as<std::vector<std::string>>());
  std::vector<std::string> targets = names;
  targets.push_back("accelerator");
  hardware::check_overrides_used(overrides, targets);
  const auto rules = hardware::load_export_rules();
  std::vector<Classification> out;
  for (const auto& n : names) {
    out.push_back(hardware::classify(hardware::load_accelerator(n, overrides_for(overrides, n)), rules));
  }
  if (format == "json") {
    json arr = json::array();
    for (const auto& c : out) arr.push_back(classification_json(c));
    emit(vm, arr.dump(2) + "\n", io);
    return kExitOk;
  }
  std::string text;
  for (size_t i = 0; i < out.size(); ++i) {
    if (i) text += "\n";
    text += classification_text(out[i]);
  }
  text += "\nRules (hardware_profiles/export_rules.json): ";
  std::vector<std::string> cites;
  for (const auto& r : rules.rules) cites.push_back(r.id + " = " + r.title);
  text += join(cites, "; ") + ". Not legal advice.\n";
  emit(vm, text, io);
  return kExitOk;
}

}  // namespace

int cmd_hardware(const std::vector<std::string>& args, Io& io) {
  const std::vector<std::string> subs = {"list", "show", "classify"};
  const std::string usage =
      "trainsim hardware list | show NAME [--set PATH=VALUE]... | classify NAME... "
      "[--format text|json]";
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    io.out << "usage: " << usage << "\n\nexamples:\n  trainsim hardware list\n"
           << "  trainsim hardware show h800-2048-deepseek\n"
           << "  trainsim hardware classify h800 a800 h20 --format json\n"
           << "  trainsim hardware classify h800 --set h800.scale_up.bandwidth_per_direction=\"450 GB/s\"\n";
    return args.empty() ? kExitUsage : kExitOk;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "list") return do_list(rest, io);
  if (args[0] == "show") return do_show(rest, io);
  if (args[0] == "classify") return do_classify(rest, io);
  throw UsageError(fmt::format("hardware: unknown subcommand \"{}\"{}; expected one of {}", args[0],
                               did_you_mean(args[0], subs), join(subs)));
}

}  // namespace trainsim::cli
