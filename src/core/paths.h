// Where the shipped data lives. Fixed at build time by the TRAINSIM_DATA_DIR
// compile definition (the source tree), never relative to the working
// directory. The environment variable TRAINSIM_DATA_DIR overrides it, for an
// installed binary.
#pragma once

#include <string>

namespace trainsim::paths {

std::string data_dir();
std::string model_configs_dir();     // model_configs/
std::string scenarios_dir();         // model_configs/scenarios/
std::string hardware_profiles_dir(); // hardware_profiles/
std::string calibrate_dir();         // calibrate/
std::string measurements_dir();      // calibrate/measurements/
std::string reports_dir();           // reports/

// A path for output: relative to the data directory when it lies inside it
// (hardware_profiles/export_rules.json), so the same run prints the same
// bytes from any checkout; otherwise unchanged.
std::string shown(const std::string& path);

}  // namespace trainsim::paths
