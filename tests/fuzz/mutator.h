// Deterministic mutations of JSON and CSV input files for the fuzz smoke tests.
//
// A Mutator takes the text of a shipped input file and returns a variant with
// one to three changes, each drawn from core/random.h's Rng so that the same
// seed gives the same mutants on every platform. Each mutant carries a short
// description ("set /hidden_size to -1; truncate at byte 812") so a failure
// names exactly what input broke the loader; paste the description into a
// regression assertion.
//
// JSON mutations (on the parsed document, key order kept): delete a member or
// element; a number made negative, zero, fractional, huge or the largest
// bounded size; a number turned into a string ("NaN", "inf", "1e999", "12abc");
// a unit-bearing string with its unit swapped ("GB/s" -> "GB", "TFLOP/s" ->
// "W") or its number made negative, NaN, infinite, empty; a type change
// (object -> array, array -> object, anything -> null / bool / string /
// number); an unknown or misspelt key; a duplicated key (last one wins in
// nlohmann::json, so the loader sees the duplicate's value). Text mutations:
// truncation and garbage bytes (NUL, 0xFF, stray brackets and quotes).
//
// CSV mutations: a cell replaced by an adversarial value (negative, zero,
// huge, NaN, text, empty, a quote), a row truncated or extended, a stray
// quote, a header name changed, the text truncated.
#pragma once

#include <string>

#include "core/random.h"

namespace trainsim::fuzz {

struct Mutant {
  std::string text;
  std::string what;  // human-readable list of the mutations applied
};

// Mutates JSON text (which must parse). Deterministic in rng's state.
Mutant mutate_json(const std::string& json_text, Rng& rng);

// Mutates CSV text (header line first; must parse). Deterministic in rng's state.
Mutant mutate_csv(const std::string& csv_text, Rng& rng);

}  // namespace trainsim::fuzz
