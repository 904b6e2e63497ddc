// Small string helpers shared by every boundary: did-you-mean suggestions,
// substring tests, ASCII lower case.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace trainsim {

// Levenshtein distance (insert, delete, substitute all cost 1).
int edit_distance(std::string_view a, std::string_view b);

// The closest candidate within a distance that scales with length, or "".
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);

// " (did you mean \"x\"?)" or "" when nothing is close.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

// "a, b, c".
std::string join(const std::vector<std::string>& parts, std::string_view sep = ", ");

// Whether `part` occurs in `s`.
inline bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

// ASCII lower case (letters outside A-Z unchanged).
std::string to_lower(std::string s);

}  // namespace trainsim
