#include "core/paths.h"

#include <cstdlib>

namespace trainsim::paths {

std::string data_dir() {
  if (const char* env = std::getenv("TRAINSIM_DATA_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  return TRAINSIM_DATA_DIR;
}
std::string model_configs_dir() { return data_dir() + "/model_configs"; }
std::string scenarios_dir() { return data_dir() + "/model_configs/scenarios"; }
std::string hardware_profiles_dir() { return data_dir() + "/hardware_profiles"; }
std::string calibrate_dir() { return data_dir() + "/calibrate"; }
std::string measurements_dir() { return data_dir() + "/calibrate/measurements"; }
std::string reports_dir() { return data_dir() + "/reports"; }

std::string shown(const std::string& path) {
  const std::string root = data_dir() + "/";
  return path.starts_with(root) ? path.substr(root.size()) : path;
}

}  // namespace trainsim::paths
