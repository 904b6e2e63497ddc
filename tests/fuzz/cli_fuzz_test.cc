// Adversarial command lines, run in-process through cli::run (rule 3): each
// must end with a documented exit code (0, 2 usage, 3 config, 4 plan, 5 I/O;
// never 70 internal), and a failing command writes nothing to stdout and a
// message to stderr. Where the outcome is certain the exact code is asserted.
#include <filesystem>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/error.h"
#include "core/file_io.h"

using namespace trainsim;
namespace fs = std::filesystem;

namespace {

const std::string kSource = TRAINSIM_SOURCE_DIR;
constexpr int kAnyDocumented = -1;  // 0, 2, 3, 4 or 5

struct CliCase {
  std::vector<std::string> args;
  int expected_rc;  // kAnyDocumented: any documented code
};

std::string show(const std::vector<std::string>& args) {
  std::string s = "trainsim";
  for (const auto& a : args) s += " '" + a + "'";
  return s;
}

}  // namespace

TEST_CASE("adversarial command lines end with a documented exit code", "[fuzz][cli]") {
  const fs::path tmp = fs::temp_directory_path() / fmt::format("trainsim-fuzz-cli-{}", ::getpid());
  fs::create_directories(tmp);
  const std::string tmp_dir = tmp.string();
  // A file that is not what the command expects, and a truncated config.
  const std::string truncated = (tmp / "truncated.json").string();
  write_file_atomic(truncated, read_file(kSource + "/model_configs/deepseek_v3.json").substr(0, 200));
  const std::string csv_as_json = (tmp / "runs.json").string();
  write_file_atomic(csv_as_json, "id,hw\nr1,h800\n");
  const std::string bad_utf8_csv = (tmp / "bad_utf8.csv").string();
  write_file_atomic(bad_utf8_csv, "id,hw,gpu_count\nr\xff\xfe,h800,8\n");

  const std::vector<CliCase> cases = {
      // Commands and subcommands.
      {{"frobnicate"}, kExitUsage},
      {{""}, kExitUsage},
      {{"--bogus"}, kExitUsage},
      {{"model"}, kExitUsage},
      {{"model", "frob"}, kExitUsage},
      {{"hardware", "sh0w", "h800"}, kExitUsage},
      {{"calibrate"}, kExitUsage},
      {{"model", "show"}, kExitUsage},
      // Bad flags and flag values.
      {{"model", "show", "deepseek_v3", "--no-such-flag"}, kExitUsage},
      {{"model", "show", "deepseek_v3", "--seq-len"}, kExitUsage},
      {{"model", "show", "deepseek_v3", "--seq-len", "-5"}, kExitUsage},
      {{"model", "show", "deepseek_v3", "--seq-len", "abc"}, kExitUsage},
      {{"model", "show", "deepseek_v3", "--seq-len", "99999999999999999999999"}, kExitUsage},
      {{"model", "show", "deepseek_v3", "--seq-len", "99999999999"}, kAnyDocumented},
      {{"model", "show", "deepseek_v3", "--format", "xml"}, kExitUsage},
      {{"model", "show", "deepseek_v3", "--format", ""}, kExitUsage},
      {{"hardware", "show", "h800", "--format", "yaml"}, kExitUsage},
      {{"validate", "--engine", "quantum", "--file", kSource + "/tests/validation/public_runs.csv"}, kExitUsage},
      {{"plan", "deepseek_v3", "--tokens", "-5"}, kExitUsage},
      {{"plan", "deepseek_v3", "--tokens", "abc"}, kExitUsage},
      {{"plan", "deepseek_v3", "--tokens", ""}, kExitUsage},
      {{"plan", "deepseek_v3", "--tokens", "15T", "--budget", "$-5"}, kExitUsage},
      {{"plan", "deepseek_v3", "--tokens", "15T", "--deadline", "NaN days"}, kExitUsage},
      {{"plan", "deepseek_v3", "--tokens", "15T", "--gpus", "0"}, kExitUsage},
      {{"plan", "deepseek_v3", "--tokens", "15T", "--top", "-1"}, kExitUsage},
      {{"plan", "deepseek_v3", "--tokens", "1e999"}, kExitUsage},
      // Bad --set strings.
      {{"hardware", "show", "h800", "--set", "garbage"}, kExitUsage},
      {{"hardware", "show", "h800", "--set", "=5"}, kExitUsage},
      {{"hardware", "show", "h800", "--set", ""}, kExitUsage},
      {{"hardware", "show", "h800", "--set", "h900.tdp=700 W"}, kExitUsage},
      {{"hardware", "show", "h800", "--set", "h800.no_such_field=1"}, kAnyDocumented},
      {{"hardware", "show", "h800", "--set", "h800.memory.bandwidth=fast"}, kExitConfig},
      {{"hardware", "show", "h800", "--set", "h800.memory.bandwidth=1e308 TB/s"}, kExitConfig},
      {{"hardware", "show", "h800", "--set", "h800.memory.bandwidth=-3 TB/s"}, kExitConfig},
      {{"hardware", "show", "h800", "--set", "h800.tdp=\xff\xfe W"}, kExitUsage},
      {{"estimate", "deepseek-v3", "--set", "plan.micro_batch=-1"}, kAnyDocumented},
      {{"estimate", "deepseek-v3", "--set", "plan.micro_batch=nan"}, kAnyDocumented},
      {{"estimate", "deepseek-v3", "--set", "no.such.path=1"}, kAnyDocumented},
      {{"estimate", "deepseek-v3", "--format", "yaml"}, kExitUsage},
      // Missing files, directories as files, files of the wrong kind.
      {{"estimate", "no-such-scenario"}, kExitUsage},
      {{"estimate", ""}, kExitUsage},
      {{"model", "show", "/nonexistent/config.json"}, kExitIo},
      {{"model", "show", tmp_dir + "/"}, kAnyDocumented},
      {{"model", "show", truncated}, kExitConfig},
      {{"model", "show", csv_as_json}, kExitConfig},
      {{"model", "show", kSource + "/hardware_profiles/h800.json"}, kExitConfig},
      {{"model", "show", "deepseek_v3", "--output", "/nonexistent-dir/x.txt"}, kExitIo},
      {{"model", "show", "deepseek_v3", "--output", tmp_dir}, kExitIo},
      {{"hardware", "show", "/nonexistent/h800.json"}, kExitIo},
      {{"hardware", "show", kSource + "/model_configs/deepseek_v3.json"}, kAnyDocumented},
      {{"validate", "--file", "/nonexistent.csv"}, kExitIo},
      {{"validate", "--file", tmp_dir}, kExitIo},
      {{"validate", "--file", bad_utf8_csv, "--format", "json"}, kAnyDocumented},
      {{"calibrate", "fit", "/nonexistent.json", "--profile", "h800", "-o", tmp_dir + "/t.json"}, kExitIo},
      {{"calibrate", "fit", truncated, "--profile", "h800", "-o", tmp_dir + "/t.json"}, kExitConfig},
      {{"calibrate", "show", "h900"}, kExitUsage},
      {{"claim", "no-such-claim"}, kExitUsage},
      {{"simulate", "deepseek-v3", "--ranks", "some"}, kExitUsage},
      {{"simulate", "deepseek-v3", "--load", "heavy"}, kExitUsage},
      {{"simulate", "deepseek-v3", "--per-layer", "--merge-layers"}, kExitUsage},
      // Scenarios whose every phase states its GPU-hours: no step to show or break down.
      {{"estimate", kSource + "/tests/data/run/stated_only.json", "--ops"}, kExitOk},
      {{"estimate", kSource + "/tests/data/run/stated_only.json", "--ops", "--format", "json"}, kExitOk},
      {{"simulate", kSource + "/tests/data/run/stated_only.json", "--no-timing"}, kExitOk},
      {{"compare", kSource + "/tests/data/run/stated_only.json"}, kExitConfig},
      {{"estimate", kSource + "/tests/data/run/small.json", "--ops", "--format", "json"}, kExitOk},
  };

  for (const CliCase& c : cases) {
    std::ostringstream out, err;
    const int rc = cli::run(c.args, out, err);
    INFO(show(c.args) << "\n  rc " << rc << "\n  stderr: " << err.str().substr(0, 600)
                      << "\n  stdout: " << out.str().substr(0, 300));
    CHECK(rc != kExitInternal);
    const bool documented = rc == kExitOk || rc == kExitUsage || rc == kExitConfig || rc == kExitPlan ||
                            rc == kExitIo;
    CHECK(documented);
    if (c.expected_rc != kAnyDocumented) CHECK(rc == c.expected_rc);
    if (rc != kExitOk) {
      CHECK(out.str().empty());
      CHECK_FALSE(err.str().empty());
    } else {
      // Whatever succeeded printed no NaN or infinity.
      static const std::regex kNonFinite(R"((^|[^A-Za-z])(nan|-?inf|infinity)([^A-Za-z]|$))",
                                         std::regex::icase);
      CHECK_FALSE(std::regex_search(out.str(), kNonFinite));
    }
  }
  std::error_code ec;
  fs::remove_all(tmp, ec);
}

TEST_CASE("regression: --set values that are not valid UTF-8 or not finite", "[fuzz][cli]") {
  std::ostringstream out, err;
  // nlohmann::json refused to dump the override later: exit 70.
  CHECK(cli::run({"hardware", "show", "h800", "--set", "h800.tdp=\xff\xfe W"}, out, err) == kExitUsage);
  CHECK_THAT(err.str(), Catch::Matchers::Contains("UTF-8"));
  CHECK(out.str().empty());
  // "nan" was read as a NaN number and reported as "found the number null".
  std::ostringstream out2, err2;
  CHECK(cli::run({"estimate", "deepseek-v3", "--set", "plan.micro_batch=nan"}, out2, err2) == kExitUsage);
  CHECK_THAT(err2.str(), Catch::Matchers::Contains("plan.micro_batch") &&
                             Catch::Matchers::Contains("\"nan\"") && !Catch::Matchers::Contains("null"));
  CHECK(out2.str().empty());
}
