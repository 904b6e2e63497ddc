// Files in and out. Output is written whole or not at all: to a temporary
// file beside the target, then renamed over it.
#pragma once

#include <string>

namespace trainsim {

// Throws IoError naming the path when it cannot be read.
std::string read_file(const std::string& path);

// Writes content to path atomically (temp file + rename). Throws IoError.
void write_file_atomic(const std::string& path, const std::string& content);

bool file_exists(const std::string& path);

}  // namespace trainsim
