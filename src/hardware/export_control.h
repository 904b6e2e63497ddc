// US export-control metrics and rules applied to an accelerator profile.
//
// Metrics (BIS, 88 FR 73458, 3A090 Technical Notes):
//   TPP  = 2 x MacTOPS x bit length, aggregated over the chip. For a datasheet
//          2 x MacTOPS is the printed dense TOPS/TFLOP/s, so TPP = dense tera-ops
//          per second x bits, and we take the maximum over formats (dense only;
//          sparse rates never count).
//   PD   = TPP / applicable die area (mm^2; all non-planar logic dies).
//   I/O  = aggregate bidirectional transfer rate to chips other than memory:
//          scale-up bidirectional (2 x per direction) + host link; for
//          PCIe-only cards the host link once (hardware.md sec. 6).
// The rule thresholds and citations are data (hardware_profiles/export_rules.json);
// the logic of each rule is here. Each verdict states which prong decided it
// and by how much. Not legal advice: thresholds as published/relayed.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "hardware/hardware.h"

namespace trainsim::hardware {

struct ExportMetrics {
  double tpp = 0;                  // dimensionless (tera-ops/s x bits)
  Format tpp_format = Format::kFP16;  // the format that sets the maximum
  double performance_density = 0;  // TPP per mm^2
  BytesPerSecond io_bidirectional;
  BytesPerSecond dram_bandwidth;
};

ExportMetrics export_metrics(const Accelerator& a);

// One rule as read from export_rules.json: thresholds by key (TPP and PD as
// plain numbers; bandwidths in bytes per second) and where they come from.
struct ExportRule {
  std::string id;         // "us-2022-10"
  std::string title;
  std::string citation;
  std::string effective;  // date
  std::map<std::string, double> thresholds;
};

// The four rules, in order: us-2022-10, us-2023-10, us-2025-04-letters, us-2026-01.
struct ExportRules {
  std::string file;
  std::vector<ExportRule> rules;
  const ExportRule& at(const std::string& id) const;
};

// Reads hardware_profiles/export_rules.json (or `path`); ConfigError on a
// missing rule or threshold.
ExportRules load_export_rules(const std::string& path = "");

struct Verdict {
  std::string rule_id;
  bool controlled = false;
  std::string reason;
  std::optional<std::string> eccn;    // us-2023-10 only: "3A090.a", "3A090.b" or none
  std::optional<std::string> review;  // us-2026-01 only: "case-by-case", "presumption of denial"
};

struct Classification {
  std::string name;
  std::string display_name;
  ExportMetrics metrics;
  double die_area_mm2 = 0;
  bool die_area_estimated = false;
  std::vector<Verdict> verdicts;  // in rule order
  std::string note;               // profile's export note, estimated-area caveat
  std::vector<std::string> applied_overrides;

  const Verdict& verdict(const std::string& rule_id) const;
};

Classification classify(const Accelerator& a, const ExportRules& rules);

}  // namespace trainsim::hardware
