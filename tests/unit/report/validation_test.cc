#include <algorithm>
#include <map>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/model.h"
#include "report/csv.h"
#include "report/validation.h"

using namespace trainsim;
using namespace trainsim::report;
using Catch::Matchers::Contains;

namespace {

const std::string kData = TRAINSIM_TEST_DATA_DIR "/report/";

// A fixed engine: every step takes 2 s on a 312 TFLOP/s part, so every
// expected error below follows by hand from the published figures.
Prediction fixed_two_seconds(const RunSpec&) {
  Prediction p;
  p.step_time = seconds(2.0);
  p.peak_bf16 = teraflops_per_second(312);
  return p;
}

const RowResult& row(const ValidationReport& r, const std::string& id) {
  const auto it = std::find_if(r.rows.begin(), r.rows.end(), [&](const RowResult& x) { return x.id == id; });
  REQUIRE(it != r.rows.end());
  return *it;
}

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// The plan validate built for row `id`, which must have simulated; with
// `listed`, that default must be among the ones the row used.
const plan::Plan& plan_of(const ValidationReport& r, const std::string& id, const std::string& listed = "") {
  const RowResult& x = row(r, id);
  REQUIRE(x.plan);
  if (!listed.empty()) {
    INFO(id << " lists " << listed);
    CHECK(has(x.defaults_used, listed));
  }
  return *x.plan;
}

ValidationReport small_report() {
  return validate_runs(read_csv(kData + "runs_small.csv"), fixed_two_seconds, Engine::kAnalytic, "test");
}

}  // namespace

TEST_CASE("validate: every row is reported, ok or skipped with a reason", "[report]") {
  const ValidationReport r = small_report();
  REQUIRE(r.rows.size() == 10);
  // r-time, r-tput, r-tflops, r-gpuhours, r-defaults, r-ep simulate; four rows are skipped.
  CHECK(r.rows_ok() == 6);
  CHECK(r.rows_skipped() == 4);
  CHECK_THAT(row(r, "r-nooutcome").reason, Contains("no published outcome"));
  // tp*pp*dp*cp = 4*4*4*1 = 64 GPUs against gpu_count 8.
  CHECK_THAT(row(r, "r-badlayout").reason, Contains("does not divide") && Contains("64") && Contains("8"));
  CHECK_THAT(row(r, "r-nonnumeric").reason, Contains("column tp") && Contains("eight"));
  // No layout stated, and a ~52B GPT does not fit 8 GPUs at any tp <= 8 with pp 1.
  CHECK_THAT(row(r, "r-nolayout").reason, Contains("no parallel layout stated") && Contains("none of the 4 layouts"));
  for (const auto& x : r.rows) {
    if (x.status == RowStatus::kSkipped) CHECK_FALSE(x.reason.empty());
  }
}

TEST_CASE("validate: comparison metric and signed error per row", "[report]") {
  const ValidationReport r = small_report();
  // Iteration time first: (2.0 - 2.5) / 2.5 = -20%, on the metric and the step alike.
  const RowResult& t = row(r, "r-time");
  CHECK(t.metric == Metric::kStepTime);
  CHECK(*t.metric_error_pct == Approx(-20.0));
  CHECK(*t.error_pct == Approx(-20.0));
  CHECK(*t.implied_step_time_s == Approx(2.5));
  // Tokens/s/GPU: 8 seqs x 2048 tokens / (2 s x 8 GPUs) = 1024; (1024 - 800) / 800 = +28%.
  // The published 800 tok/s implies a step of 2 s x 1024 / 800 = 2.56 s;
  // step error 2 / 2.56 - 1 = 1/1.28 - 1 = -21.875%.
  const RowResult& p = row(r, "r-tput");
  CHECK(p.metric == Metric::kTokensPerSecPerGpu);
  CHECK(p.predicted_value == Approx(1024.0));
  CHECK(*p.metric_error_pct == Approx(28.0));
  CHECK(*p.implied_step_time_s == Approx(2.56));
  CHECK(*p.error_pct == Approx(-21.875));
  // TFLOP/s with Narayanan 2021 Eq. 3: F = 96 B s l h^2 (1 + s/6h + V/16lh)
  // = 96*16*2048*24*2048^2 * (1 + 2048/12288 + 51200/786432)
  // = 3.16659e14 * 1.2317708 = 3.90052e14 FLOP; per GPU per second
  // 3.90052e14 / (2 s * 8) = 24.378 TFLOP/s; (24.378 - 30) / 30 = -18.74%.
  const RowResult& f = row(r, "r-tflops");
  CHECK(f.metric == Metric::kTflopsPerGpu);
  CHECK(f.published.convention == FlopConvention::kMegatronRecompute4Pass);
  CHECK(f.predicted_value == Approx(24.378).epsilon(1e-4));
  CHECK(*f.metric_error_pct == Approx(-18.74).epsilon(1e-3));
  // Step error 30 / 24.378 - 1 = +23.06% (implied step 2 s x 24.378 / 30 = 1.6252 s).
  CHECK(*f.error_pct == Approx(23.06).epsilon(1e-3));
  CHECK(*f.implied_step_time_s == Approx(1.6252).epsilon(1e-3));
  // MoE row: tp*pp*cp*dp = 2 != 16, but tp*pp*cp*dp*ep = 16, so dp becomes 1*8 = 8;
  // (2.0 - 4.0) / 4.0 = -50%.
  const RowResult& e = row(r, "r-ep");
  REQUIRE(e.plan);
  CHECK(e.plan->dp == 8);
  CHECK(e.plan->ep == 8);
  CHECK(*e.error_pct == Approx(-50.0));
  // famA per family: step-time APEs 20 and 21.875 -> MAPE 20.9375; on the
  // published metrics' scale 20 and 28 -> MAPE 24.
  CHECK(r.by_family.at("famA").mape_pct == Approx(20.9375));
  CHECK(r.by_family.at("famA").metric_mape_pct == Approx(24.0));
  // famB: r-tflops alone, +23.06 on the step, -18.74 on its TFLOP/s.
  CHECK(r.by_family.at("famB").metric_mape_pct == Approx(18.74).epsilon(1e-3));
  CHECK(r.by_metric.at("tflops_per_gpu").metric_mape_pct == Approx(18.74).epsilon(1e-3));
}

TEST_CASE("validate: defaults are the documented ones and listed per row", "[report]") {
  const ValidationReport r = small_report();
  const RowResult& d = row(r, "r-defaults");
  REQUIRE(d.status == RowStatus::kOk);
  REQUIRE(d.plan);
  // 32768 tokens / 2048 = 16 sequences.
  CHECK(d.plan->global_batch == 16);
  CHECK(d.plan->micro_batch == 1);
  // Interleaved, pp 2, 24 layers: smallest v >= 2 with 2v | 24 is 2.
  CHECK(d.plan->vpp == 2);
  CHECK(d.plan->zero_stage == 0);
  CHECK(d.plan->recompute == plan::Recompute::kNone);
  CHECK(d.plan->cp == 1);
  for (const char* k : {"micro_batch=1", "vpp=2", "zero=0", "recompute=none", "prec=bf16", "cp=1"}) {
    INFO(k);
    CHECK(has(d.defaults_used, k));
  }
  // A row stating everything uses no layout default (cp is stated, tp > 1 so SP is listed).
  const RowResult& t = row(r, "r-time");
  CHECK_FALSE(has(t.defaults_used, "micro_batch=1"));
  CHECK(has(t.defaults_used, "sequence_parallel=off"));
  // tp and pp empty with dp = gpu_count: tp = pp = 1, derived rather than a default.
  const RowResult& p = row(r, "r-tput");
  CHECK(p.plan->tp == 1);
  CHECK(p.plan->pp == 1);
  // Attention kernels by the row's year: 2021 -> Megatron's unfused core;
  // "2023-2024" (a range: its first year counts) and no year -> flash.
  CHECK(t.plan->attention == graph::AttentionImpl::kUnfused);
  CHECK(has(t.defaults_used, "attention=unfused"));
  CHECK(p.plan->attention == graph::AttentionImpl::kFlash);
  CHECK(d.plan->attention == graph::AttentionImpl::kFlash);
  CHECK(has(d.defaults_used, "attention=flash"));
  // Every key listed in the table has a justification.
  for (const auto& rule : default_rules()) CHECK(std::string(rule.why).size() > 20);
}

TEST_CASE("validate: ZeRO-3 implementation by framework and year", "[report]") {
  const ValidationReport r = validate_runs(read_csv(TRAINSIM_SOURCE_DIR "/tests/validation/public_runs.csv"),
                                           fixed_two_seconds, Engine::kAnalytic, "test");
  // Narayanan 2021 ZeRO-3 rows: framework "Megatron-LM + DeepSpeed ZeRO-3", year 2021.
  const RowResult& ds = row(r, "megatron21-t2-zero-3-174.6B-384gpu");
  REQUIRE(ds.plan);
  CHECK(ds.plan->zero3_framework == "deepspeed-zero3-2021");
  CHECK(has(ds.defaults_used, "zero3_framework=deepspeed-zero3-2021"));
  // MosaicML (Composer FSDP, 2023-2024): the FSDP default.
  const RowResult& mo = row(r, "mosaic-mpt7b-128xh100_80gb");
  REQUIRE(mo.plan);
  CHECK(mo.plan->zero_stage == 3);
  CHECK(mo.plan->zero3_framework == "fsdp");
  CHECK(has(mo.defaults_used, "zero3_framework=fsdp"));
  // Not ZeRO-3: nothing listed.
  const RowResult& pt = row(r, "megatron21-t1-1.7B");
  CHECK(pt.plan->zero3_framework == "fsdp");
  CHECK_FALSE(has(pt.defaults_used, "zero3_framework=fsdp"));
}

TEST_CASE("validate: torchtitan's pipeline rows split the local batch into pp micro-batches", "[report]") {
  const CsvTable all = read_csv(TRAINSIM_SOURCE_DIR "/tests/validation/public_runs.csv");
  const ValidationReport r = validate_runs(all, fixed_two_seconds, Engine::kAnalytic, "test");
  // 405B 3D rows: global batch 256, dp 8, pp 8, micro_batch empty: local batch
  // 256 / 8 = 32 split into pp = 8 micro-batches of 32 / 8 = 4 sequences.
  for (const char* id : {"torchtitan-h100-llama3.1-405b-512gpu-3d_1f1b_compile-float8-asynctp",
                         "torchtitan-h100-llama3.1-405b-512gpu-3d_interleaved1f1b_compile-float8-asynctp"}) {
    INFO(id);
    CHECK(plan_of(r, id, "micro_batch=4 (torchtitan: pp = 8 micro-batches of the local batch 32)").micro_batch == 4);
  }
  // A torchtitan row without pipeline parallelism states its local batch (2).
  CHECK(row(r, "torchtitan-h100-llama3.1-8b-8gpu-fsdp").plan->micro_batch == 2);
  // The same 405B row outside torchtitan keeps the general default of 1.
  auto with = [&](const std::string& id, const std::map<std::string, std::string>& cells) {
    const auto rec = std::find_if(all.records().begin(), all.records().end(),
                                  [&](const CsvRecord& x) { return x.fields[0] == id; });
    REQUIRE(rec != all.records().end());
    std::vector<std::string> fields = rec->fields;
    for (const auto& [column, value] : cells) fields[*all.column(column)] = value;
    return validate_runs(CsvTable("one_row.csv", all.header(), {CsvRecord{2, fields}}), fixed_two_seconds,
                         Engine::kAnalytic, "test")
        .rows[0];
  };
  const std::string tt = "torchtitan-h100-llama3.1-405b-512gpu-3d_1f1b_compile-float8-asynctp";
  const RowResult megatron = with(tt, {{"framework", "Megatron-LM"}});
  REQUIRE(megatron.plan);
  CHECK(megatron.plan->micro_batch == 1);
  CHECK(has(megatron.defaults_used, "micro_batch=1"));
  // After torchtitan's micro-batch size setting (2026 here): its default size 1, the general default.
  CHECK(with(tt, {{"year", "2026"}}).plan->micro_batch == 1);
  // No year: torchtitan's pp split, as for the dated rows.
  CHECK(with(tt, {{"year", ""}}).plan->micro_batch == 4);
  // Global batch 200: local batch 200 / 8 = 25 does not split into 8 micro-batches.
  const RowResult odd = with(tt, {{"global_batch_seqs", "200"}, {"global_batch_tokens", ""}});
  CHECK(odd.status == RowStatus::kSkipped);
  CHECK_THAT(odd.reason, Contains("torchtitan splits each replica's batch into pp = 8 micro-batches"));
}

TEST_CASE("validate: FlashAttention-2 for the PyTorch-native frameworks", "[report]") {
  const ValidationReport r = validate_runs(read_csv(TRAINSIM_SOURCE_DIR "/tests/validation/public_runs.csv"),
                                           fixed_two_seconds, Engine::kAnalytic, "test");
  // torchtitan (2025, framework "torchtitan"): SDPA's flash backend, FlashAttention-2.
  CHECK(plan_of(r, "torchtitan-h100-llama3.1-8b-8gpu-fsdp-torch.compile", "attention=flash2").attention ==
        graph::AttentionImpl::kFlash2);
  // llm-foundry (framework "Composer / llm-foundry", 2023-2024): flash-attn 2.x.
  CHECK(plan_of(r, "mosaic-mpt7b-128xh100_80gb", "attention=flash2").attention == graph::AttentionImpl::kFlash2);
  // NeMo (DGX Cloud, 2024): Transformer Engine's cuDNN attention, the fastest kernel.
  CHECK(plan_of(r, "dgxc-grok1-314b-2048gpu-fp8", "attention=flash").attention == graph::AttentionImpl::kFlash);
  // Before 2023 the framework does not matter: Megatron's unfused core.
  CHECK(plan_of(r, "megatron21-t1-1.7B", "attention=unfused").attention == graph::AttentionImpl::kUnfused);
}

TEST_CASE("validate: eager kernels for torchtitan rows that do not say torch.compile", "[report]") {
  const ValidationReport r = validate_runs(read_csv(TRAINSIM_SOURCE_DIR "/tests/validation/public_runs.csv"),
                                           fixed_two_seconds, Engine::kAnalytic, "test");
  // framework "torchtitan", name "torchtitan Llama3.1-8B, 8x H100, FSDP": eager.
  CHECK(plan_of(r, "torchtitan-h100-llama3.1-8b-8gpu-fsdp", "elementwise=eager").elementwise ==
        graph::ElementwiseImpl::kEager);
  // The same run with "FSDP + torch.compile" in its name: fused.
  CHECK(plan_of(r, "torchtitan-h100-llama3.1-8b-8gpu-fsdp-torch.compile", "elementwise=fused").elementwise ==
        graph::ElementwiseImpl::kFused);
  // The A100 runs (train_configs compile = false; names do not say compile): eager.
  CHECK(row(r, "torchtitan-a100-llama3-8b-lbs1-selectiveop").plan->elementwise == graph::ElementwiseImpl::kEager);
  // Other frameworks: fused (NeMo, llm-foundry, Megatron-LM).
  CHECK(row(r, "mosaic-mpt7b-128xh100_80gb").plan->elementwise == graph::ElementwiseImpl::kFused);
  CHECK(row(r, "megatron21-t1-1.7B").plan->elementwise == graph::ElementwiseImpl::kFused);
}

TEST_CASE("validate: sequence parallelism and the distributed optimizer by the rows' text and year", "[report]") {
  const ValidationReport r = validate_runs(read_csv(TRAINSIM_SOURCE_DIR "/tests/validation/public_runs.csv"),
                                           fixed_two_seconds, Engine::kAnalytic, "test");
  // Korthikanti 2022: activation_recompute says "... + sequence parallelism" or "(no sequence parallelism)".
  CHECK(row(r, "korthikanti22-175B-selective").plan->sequence_parallel);
  CHECK_FALSE(row(r, "korthikanti22-175B-fullrecompute").plan->sequence_parallel);
  CHECK(has(row(r, "korthikanti22-175B-selective").defaults_used, "sequence_parallel=on"));
  // 2024 NeMo rows: SP with TP, optimizer sharded (zero 1); 2021 Megatron rows: neither.
  const RowResult& nemo = row(r, "dgxc-gpt3-175b-128gpu-bf16");
  CHECK(nemo.plan->sequence_parallel);
  CHECK(nemo.plan->zero_stage == 1);
  CHECK(has(nemo.defaults_used, "zero=1"));
  // Which selective policy: Megatron's for Korthikanti, torchtitan's by the text or the framework.
  CHECK(row(r, "korthikanti22-175B-selective").plan->recompute == plan::Recompute::kSelective);
  CHECK(row(r, "torchtitan-a100-llama3-8b-lbs1-selectiveop").plan->recompute == plan::Recompute::kSelectiveOp);
  CHECK(row(r, "torchtitan-a100-llama3-8b-lbs1-selectivelayer").plan->recompute ==
        plan::Recompute::kEveryOtherLayer);
  CHECK(row(r, "torchtitan-h100-llama3.1-8b-8gpu-fsdp").plan->recompute == plan::Recompute::kSelectiveOp);
  CHECK(has(row(r, "torchtitan-h100-llama3.1-8b-8gpu-fsdp").defaults_used, "selective=selective-op"));
  const RowResult& old = row(r, "megatron21-t1-3.6B");
  CHECK_FALSE(old.plan->sequence_parallel);
  CHECK(old.plan->zero_stage == 0);
  CHECK(has(old.defaults_used, "zero=0"));
}

TEST_CASE("validate: whole-run GPU-hours are compared after the goodput, separately", "[report]") {
  const ValidationReport r = small_report();
  const RowResult& g = row(r, "r-gpuhours");
  REQUIRE(g.status == RowStatus::kOk);
  CHECK(g.metric == Metric::kGpuHours);
  // 1e9 tokens / (1024 tok/s/GPU * 0.90) / 3600 = 301.41 GPU-h; (301.41 - 100) / 100 = +201.4%.
  CHECK(g.predicted_value == Approx(301.408).epsilon(1e-4));
  CHECK(has(g.defaults_used, "goodput=0.90"));
  CHECK(r.gpu_hours.n == 1);
  CHECK(*g.error_pct == Approx(*g.metric_error_pct));  // GPU-hours grow with the time
  CHECK_FALSE(g.implied_step_time_s);
  // The main summary excludes it: step errors -20, -21.875, +23.061, 0 (r-defaults), -50.
  CHECK(r.overall.n == 5);
  // MAPE = (20 + 21.875 + 23.061 + 0 + 50) / 5 = 22.987.
  CHECK(r.overall.mape_pct == Approx(22.987).epsilon(1e-3));
  // Sorted APEs 0, 20, 21.875, 23.061, 50: median 21.875, max 50 (r-ep), 1 of 5 within 10%.
  CHECK(r.overall.median_ape_pct == Approx(21.875));
  CHECK(r.overall.max_ape_pct == Approx(50.0));
  CHECK(r.overall.worst_id == "r-ep");
  CHECK(r.overall.within_10pct == Approx(0.2));
  // Signed mean: (-20 - 21.875 + 23.061 + 0 - 50) / 5 = -13.763.
  CHECK(r.overall.mean_error_pct == Approx(-13.763).epsilon(1e-3));
  // famA: r-time and r-tput: (20 + 21.875) / 2 = 20.9375.
  CHECK(r.by_family.at("famA").mape_pct == Approx(20.9375));
  // On the published metrics' own scale: -20, +28, -18.74, 0, -50 ->
  // MAPE (20 + 28 + 18.74 + 0 + 50) / 5 = 23.348, signed mean -12.148.
  CHECK(r.overall_metric.n == 5);
  CHECK(r.overall_metric.mape_pct == Approx(23.348).epsilon(1e-3));
  // The step-time summary carries the same metric-scale MAPE beside it.
  CHECK(r.overall.metric_mape_pct == Approx(r.overall_metric.mape_pct));
  CHECK(r.overall_metric.mean_error_pct == Approx(-12.148).epsilon(1e-3));
  CHECK(r.by_hardware.at("h100-sxm").n == 2);
}

TEST_CASE("validate: JSON follows the contract", "[report]") {
  const auto j = nlohmann::json::parse(to_json(small_report()));
  REQUIRE(j["rows"].size() == 10);
  const auto& first = j["rows"][0];
  for (const char* k :
       {"id", "status", "reason", "predicted", "published", "error_pct", "metric_error_pct", "defaults_used"}) {
    INFO(k);
    CHECK(first.contains(k));
  }
  CHECK(first["status"] == "ok");
  CHECK(first["predicted"]["step_time_s"] == 2.0);
  CHECK(first["predicted"].contains("tokens_per_s_per_gpu"));
  CHECK(first["predicted"].contains("mfu"));
  CHECK(first["published"]["step_time_s"] == 2.5);
  CHECK(j["rows"][3]["status"] == "skipped");
  CHECK(j["rows"][3]["predicted"].is_null());
  CHECK(j["rows"][3]["error_pct"].is_null());
  CHECK(j["rows"][3]["metric_error_pct"].is_null());
  CHECK(j["rows"][3]["published"]["implied_step_time_s"].is_null());
  for (const char* k : {"n", "mape_pct", "median_ape_pct", "max_ape_pct", "within_10pct", "by_family", "by_hardware"}) {
    INFO(k);
    CHECK(j["summary"].contains(k));
  }
  CHECK(j["summary"]["n"] == 5);
  // error_pct is the step-time error the summary averages; the metric's own is beside it.
  CHECK(j["rows"][1]["error_pct"].get<double>() == Approx(-21.875));
  CHECK(j["rows"][1]["metric_error_pct"].get<double>() == Approx(28.0));
  CHECK(j["rows"][1]["published"]["implied_step_time_s"].get<double>() == Approx(2.56));
  CHECK(j["summary"]["published_metric"]["mape_pct"].get<double>() == Approx(23.348).epsilon(1e-3));
  // Same input, same bytes.
  CHECK(to_json(small_report()) == to_json(small_report()));
}

TEST_CASE("validate: malformed files", "[report]") {
  // A missing input column: each row is skipped naming it; the file is still read.
  const ValidationReport m =
      validate_runs(read_csv(kData + "missing_column.csv"), fixed_two_seconds, Engine::kAnalytic, "test");
  REQUIRE(m.rows.size() == 2);
  CHECK(m.rows_ok() == 0);
  CHECK_THAT(m.rows[0].reason, Contains("no column(s) tp"));
  // A row with fewer fields than the header.
  const ValidationReport s = validate_runs(parse_csv("id,hw\nr1\n", "short.csv"), fixed_two_seconds,
                                           Engine::kAnalytic, "test");
  CHECK_THAT(s.rows[0].reason, Contains("1 fields; the header has 2"));
  // A header with no rows: an empty report, no crash.
  CHECK(validate_runs(read_csv(kData + "header_only.csv"), fixed_two_seconds, Engine::kAnalytic, "t").rows.empty());
  // Files that are not CSV: ConfigError with the line; a missing file: IoError.
  CHECK_THROWS_AS(read_csv(kData + "unterminated_quote.csv"), ConfigError);
  CHECK_THROWS_AS(read_csv(kData + "empty.csv"), ConfigError);
  CHECK_THROWS_AS(read_csv(kData + "no_such_file.csv"), IoError);
  // An engine that throws a PlanError for a row: that row is skipped with the reason.
  const ValidationReport p = validate_runs(
      read_csv(kData + "runs_small.csv"),
      [](const RunSpec& spec) -> Prediction {
        if (spec.id == "r-time") throw PlanError("heads 16 not divisible by tp 3");
        return fixed_two_seconds(spec);
      },
      Engine::kAnalytic, "test");
  CHECK_THAT(row(p, "r-time").reason, Contains("plan cannot run") && Contains("tp 3"));
}

TEST_CASE("validate: FLOP-convention classifier over the reference vocabulary", "[report]") {
  // Texts as they appear in training_runs.csv's flops_convention column.
  CHECK(classify_flop_convention("F = 96*B*s*l*h^2*(1+s/6h+V/16lh): includes the extra recompute forward pass") ==
        FlopConvention::kMegatronRecompute4Pass);
  CHECK(classify_flop_convention("same as Table 1 (recompute-inclusive, ~HFU)") ==
        FlopConvention::kMegatronRecompute4Pass);
  CHECK(classify_flop_convention("MFU/HFU per Chowdhery et al. (PaLM) definitions, A100 peak 312 TFLOP/s") ==
        FlopConvention::kPalmModelFlops);
  CHECK(classify_flop_convention("PaLM MFU, 312 TFLOP/s peak") == FlopConvention::kPalmModelFlops);
  CHECK(classify_flop_convention("MFU = GBS*model_flops_per_seq/step/GPUs/peak; peak BF16 989") ==
        FlopConvention::kVendorStatedPerSequence);
  CHECK(classify_flop_convention("torchtitan train.py MFU (6N + attention per token) vs A100 312 TFLOP/s") ==
        FlopConvention::kSixNPlusAttention);
  CHECK(classify_flop_convention("MFU = (6N + 6*n_layers*2*d_model*seq) FLOPs/token incl. attention") ==
        FlopConvention::kSixNPlusAttention);
  CHECK(classify_flop_convention("") == FlopConvention::kUnknown);
  // Texts beyond the reference vocabulary (training_runs.md's caveats name them).
  CHECK(classify_flop_convention("hardware FLOP/s") == FlopConvention::kHardwareFlops);
  CHECK(classify_flop_convention("102 TFLOP/s, including recompute") == FlopConvention::kHardwareFlops);
  CHECK(classify_flop_convention("HFU-like count, including recompute") == FlopConvention::kHardwareFlops);
  CHECK(classify_flop_convention("hardware FLOPs incl. recompute") == FlopConvention::kHardwareFlops);
  // An MFU text that mentions recompute or HFU without counting it stays a model-FLOP count.
  CHECK(classify_flop_convention("MFU (recompute not counted)") == FlopConvention::kPalmModelFlops);
  CHECK(classify_flop_convention("MFU, activation checkpointing on") == FlopConvention::kPalmModelFlops);
  CHECK(classify_flop_convention("model FLOPs, not including recompute") == FlopConvention::kPalmModelFlops);
  CHECK(classify_flop_convention("MFU/HFU as reported") == FlopConvention::kPalmModelFlops);
  CHECK(classify_flop_convention("MFU (no activation recomputation counted)") == FlopConvention::kPalmModelFlops);
  CHECK(classify_flop_convention("MFU (trained with recompute)") == FlopConvention::kPalmModelFlops);
  CHECK(classify_flop_convention("MFU; HFU including recompute is 57%") == FlopConvention::kPalmModelFlops);
  // A negation elsewhere does not undo "hardware FLOPs"; one before the phrase does undo it.
  CHECK(classify_flop_convention("hardware FLOPs, not model FLOPs") == FlopConvention::kHardwareFlops);
  CHECK(classify_flop_convention("hardware FLOPs (not counting embeddings)") == FlopConvention::kHardwareFlops);
  CHECK(classify_flop_convention("TFLOP/s not including recompute") == FlopConvention::kUnknown);
  CHECK(classify_flop_convention("BF16 MFU incl. attention, vs 989 TFLOP/s") == FlopConvention::kPalmModelFlops);
  CHECK(classify_flop_convention("MFU, no recompute counted") == FlopConvention::kPalmModelFlops);
  CHECK(classify_flop_convention("model TFLOP/s per GPU") == FlopConvention::kPalmModelFlops);
  // Named nothing trainsim knows: unknown, which compare() reads as the default.
  CHECK(classify_flop_convention("no MFU reported (mixed BF16/FP8); runs stated as 33-39% MFU") ==
        FlopConvention::kUnknown);
  CHECK(classify_flop_convention("vendor TFLOP/s") == FlopConvention::kUnknown);
}

TEST_CASE("validate: PaLM model FLOPs equal Korthikanti's closed form for a GPT", "[report]") {
  model::ArchColumns a;
  a.layers = 24;
  a.hidden = 2048;
  a.heads = 16;
  a.ffn_size = 8192;
  a.vocab = 51200;
  a.seq_len = 2048;
  a.arch_type = "dense GPT";
  const model::Model m = model::model_from_columns(a, "gpt");
  // Korthikanti et al. 2022: 72 B s l h^2 (1 + s/(6h) + V/(12 l h)) with B = 1:
  // 72*2048*24*2048^2 = 1.48433e13; factor 1 + 0.1666667 + 51200/589824 = 1.2534722;
  // = 1.86057e13. Biases and norms make 6N differ by well under 1%.
  const auto f = convention_flops_per_step(FlopConvention::kPalmModelFlops, m, 1, 2048);
  REQUIRE(f);
  CHECK(f->value() == Approx(1.86057e13).epsilon(0.01));
  CHECK_FALSE(convention_flops_per_step(FlopConvention::kUnknown, m, 1, 2048));
  // Hardware FLOPs: the same count times the row's hardware-to-model ratio
  // (4/3 under full recompute): 1.86057e13 x 4/3 = 2.48076e13.
  const auto hw = convention_flops_per_step(FlopConvention::kHardwareFlops, m, 1, 2048, 4.0 / 3.0);
  REQUIRE(hw);
  CHECK(hw->value() == Approx(f->value() * 4.0 / 3.0));
  CHECK(hw->value() == Approx(2.48076e13).epsilon(0.01));
}

namespace {

// runs_small.csv's header and its r-time row with some cells replaced.
CsvTable one_row(const std::map<std::string, std::string>& cells) {
  const CsvTable base = read_csv(kData + "runs_small.csv");
  std::vector<std::string> fields = base.records()[0].fields;
  for (const auto& [column, value] : cells) {
    INFO("column " << column);
    REQUIRE(base.column(column));
    fields[*base.column(column)] = value;
  }
  return CsvTable("one_row.csv", base.header(), {CsvRecord{2, fields}});
}

}  // namespace

TEST_CASE("validate: tp and pp both empty split the model-parallel size", "[report]") {
  // gpu_count 32, dp 2: M = 16 = tp 8 (one server) x pp 2 (Narayanan 2021 takeaway #1).
  const ValidationReport r = validate_runs(one_row({{"gpu_count", "32"}, {"tp", ""}, {"pp", ""}, {"dp", "2"}}),
                                           fixed_two_seconds, Engine::kAnalytic, "test");
  REQUIRE(r.rows[0].status == RowStatus::kOk);
  CHECK(r.rows[0].plan->tp == 8);
  CHECK(r.rows[0].plan->pp == 2);
  CHECK(has(r.rows[0].defaults_used, "tp_pp_split: tp=8, pp=2"));
  // Only dp empty: derived from gpu_count / (tp*pp*cp) = 8 / (2*2*1) = 2, not a default.
  const ValidationReport d =
      validate_runs(one_row({{"dp", ""}}), fixed_two_seconds, Engine::kAnalytic, "test");
  CHECK(d.rows[0].plan->dp == 2);
  CHECK(d.rows[0].derived.size() == 1);
}

TEST_CASE("validate: a row with no layout takes the least model parallelism that runs", "[report]") {
  auto run = [](const std::map<std::string, std::string>& cells) {
    std::map<std::string, std::string> all = {{"tp", ""}, {"pp", ""}, {"dp", ""}};
    all.insert(cells.begin(), cells.end());
    return validate_runs(one_row(all), fixed_two_seconds, Engine::kAnalytic, "test").rows[0];
  };
  // r-time's GPT (24 layers, h 2048, ~1.3B parameters, 18 B each with FP32
  // gradients, master weights and moments: ~24 GB) fits one 80 GB GPU:
  // tp 1, pp 1, dp = 8 GPUs.
  const RowResult small = run({});
  REQUIRE(small.status == RowStatus::kOk);
  CHECK(small.plan->tp == 1);
  CHECK(small.plan->pp == 1);
  CHECK(small.plan->dp == 8);
  CHECK(has(small.defaults_used, "layout: tp=1 pp=1 dp=8"));
  // 32 layers of h 8192 (12 h^2 = 805M each): ~26B parameters, ~470 GB of
  // state. tp 4 holds ~118 GB per GPU (too much), tp 8 ~59 GB: tp 8, dp 1.
  const std::map<std::string, std::string> big = {{"hidden", "8192"}, {"heads", "64"}, {"ffn_size", "32768"}};
  auto with = [&](std::map<std::string, std::string> extra) {
    extra.insert(big.begin(), big.end());
    return extra;
  };
  const RowResult wide = run(with({{"layers", "32"}}));
  REQUIRE(wide.status == RowStatus::kOk);
  CHECK(wide.plan->tp == 8);
  CHECK(wide.plan->pp == 1);
  // 64 such layers (~52B, ~117 GB per GPU at tp 8) on 16 GPUs: pp 2 (~59 GB).
  const RowResult deep = run(with({{"layers", "64"}, {"gpu_count", "16"}}));
  REQUIRE(deep.status == RowStatus::kOk);
  CHECK(deep.plan->tp == 8);
  CHECK(deep.plan->pp == 2);
  CHECK(deep.plan->dp == 1);
  CHECK(has(deep.defaults_used, "layout: tp=8 pp=2 dp=1"));
  // With multi-query attention (one key/value head, replicated over tp) the
  // 32-layer model still finds tp 8: the head does not block the split.
  const RowResult mqa = run(with({{"layers", "32"}, {"kv_heads", "1"}}));
  REQUIRE(mqa.status == RowStatus::kOk);
  CHECK(mqa.plan->tp == 8);
  // The same on 8 GPUs: tp 1, 2, 4, 8 at pp 1 are the only candidates and none fits.
  const RowResult none = run(with({{"layers", "64"}}));
  CHECK(none.status == RowStatus::kSkipped);
  CHECK_THAT(none.reason, Contains("no parallel layout stated") && Contains("none of the 4 layouts"));
  // A cell no layout can mend is the reason itself.
  const RowResult no_batch = run({{"global_batch_seqs", ""}});
  CHECK(no_batch.reason == "global batch not stated (global_batch_seqs and global_batch_tokens are empty)");
}

TEST_CASE("validate: DP gradient reduction overlaps the backward from 2023, as NeMo's recipes set it", "[report]") {
  // r-time: year 2021, dp 2, ZeRO 0: Megatron-LM's default, after the forward-backward.
  const RowResult old_row = validate_runs(one_row({}), fixed_two_seconds, Engine::kAnalytic, "test").rows[0];
  REQUIRE(old_row.status == RowStatus::kOk);
  CHECK_FALSE(old_row.plan->overlap_grad_reduce);
  CHECK(has(old_row.defaults_used, "overlap_grad_reduce=off"));
  const RowResult new_row =
      validate_runs(one_row({{"year", "2024"}}), fixed_two_seconds, Engine::kAnalytic, "test").rows[0];
  CHECK(new_row.plan->overlap_grad_reduce);
  CHECK(has(new_row.defaults_used, "overlap_grad_reduce=on"));
  // dp 1 (tp 2, pp 4 on 8 GPUs): there is no reduction, so no default is listed.
  const RowResult single =
      validate_runs(one_row({{"pp", "4"}, {"dp", "1"}}), fixed_two_seconds, Engine::kAnalytic, "test").rows[0];
  REQUIRE(single.status == RowStatus::kOk);
  CHECK_FALSE(has(single.defaults_used, "overlap_grad_reduce=off"));
}

TEST_CASE("validate: Megatron-LM rows of 2021 accumulate weight gradients with a separate add", "[report]") {
  // r-time: year 2021, ZeRO 0, framework cell empty: fused (the default).
  const RowResult plain = validate_runs(one_row({}), fixed_two_seconds, Engine::kAnalytic, "test").rows[0];
  REQUIRE(plain.status == RowStatus::kOk);
  CHECK(plain.plan->gradient_accumulation_fusion);
  CHECK(has(plain.defaults_used, "grad_accumulation=fused"));
  // The same row run by Megatron-LM in 2021: unfused (Narayanan 2021 §4.2
  // lists no such fusion; apex ported it in February 2022).
  const RowResult old_megatron =
      validate_runs(one_row({{"framework", "Megatron-LM"}}), fixed_two_seconds, Engine::kAnalytic, "test").rows[0];
  REQUIRE(old_megatron.status == RowStatus::kOk);
  CHECK_FALSE(old_megatron.plan->gradient_accumulation_fusion);
  CHECK(has(old_megatron.defaults_used, "grad_accumulation=unfused"));
  // Megatron-LM in 2022 (Korthikanti's rows): fused.
  const RowResult new_megatron =
      validate_runs(one_row({{"framework", "Megatron-LM"}, {"year", "2022"}}), fixed_two_seconds, Engine::kAnalytic,
                    "test")
          .rows[0];
  CHECK(new_megatron.plan->gradient_accumulation_fusion);
  // ZeRO-3 reduce-scatters every micro-batch's gradient: nothing to list.
  const RowResult zero3 = validate_runs(one_row({{"framework", "Megatron-LM"}, {"zero", "3"}}), fixed_two_seconds,
                                        Engine::kAnalytic, "test")
                              .rows[0];
  REQUIRE(zero3.status == RowStatus::kOk);
  CHECK_FALSE(has(zero3.defaults_used, "grad_accumulation=unfused"));
  CHECK_FALSE(has(zero3.defaults_used, "grad_accumulation=fused"));
}

TEST_CASE("validate: NeMo rows from 2024 overlap pipeline sends under an interleaved schedule", "[report]") {
  // r-time: pp 2. NeMo 2.0's comm-overlap callback turns overlap_p2p_comm on
  // exactly when vpp > 1; Megatron-LM leaves it off; without pp > 1 there are
  // no sends and nothing is listed.
  auto row = [](std::map<std::string, std::string> cells) {
    return validate_runs(one_row(cells), fixed_two_seconds, Engine::kAnalytic, "test").rows[0];
  };
  const RowResult nemo =
      row({{"framework", "NeMo 24.11"}, {"year", "2024"}, {"vpp", "2"}, {"schedule", "interleaved-1f1b"}});
  INFO(nemo.reason);
  REQUIRE(nemo.status == RowStatus::kOk);
  CHECK(nemo.plan->overlap_p2p_comm);
  CHECK(has(nemo.defaults_used, "overlap_p2p_comm=on"));
  const RowResult nemo_1f1b = row({{"framework", "NeMo 24.11"}, {"year", "2024"}});
  REQUIRE(nemo_1f1b.status == RowStatus::kOk);
  CHECK_FALSE(nemo_1f1b.plan->overlap_p2p_comm);
  CHECK(has(nemo_1f1b.defaults_used, "overlap_p2p_comm=off"));
  const RowResult megatron =
      row({{"framework", "Megatron-LM"}, {"year", "2024"}, {"vpp", "2"}, {"schedule", "interleaved-1f1b"}});
  REQUIRE(megatron.status == RowStatus::kOk);
  CHECK_FALSE(megatron.plan->overlap_p2p_comm);
  const RowResult flat = row({{"pp", "1"}, {"dp", "4"}});
  REQUIRE(flat.status == RowStatus::kOk);
  CHECK_FALSE(has(flat.defaults_used, "overlap_p2p_comm=off"));
}

TEST_CASE("validate: DeepSeek rows run DeepSeek's recompute and DualPipe's communication SMs", "[report]") {
  // DeepSeek-V3 on 2048 H800s, PP 16 DualPipe, EP 64, recompute "selective".
  const RowResult r = validate_runs(one_row({{"hw", "h800"},
                                             {"model_config", "deepseek_v3"},
                                             {"gpu_count", "2048"},
                                             {"tp", "1"},
                                             {"pp", "16"},
                                             {"dp", "128"},
                                             {"ep", "64"},
                                             {"schedule", "dualpipe"},
                                             {"recompute", "selective"},
                                             {"seq_len", "4096"},
                                             {"global_batch_seqs", "15360"},
                                             {"year", "2024"}}),
                                     fixed_two_seconds, Engine::kAnalytic, "test")
                          .rows[0];
  REQUIRE(r.status == RowStatus::kOk);
  // MLA: "selective" is DeepSeek-V3's own policy (norms, MLA up-projections, SwiGLU).
  CHECK(r.plan->recompute == plan::Recompute::kDeepSeek);
  CHECK(has(r.defaults_used, "selective=deepseek"));
  // DualPipe lends 20 of the H800's 132 SMs (V3TR §3.2.2): round(20/132 x 132) = 20.
  CHECK(r.plan->comm_sms == 20);
  CHECK(has(r.defaults_used, "comm_sms=20"));
}

TEST_CASE("validate: bad vocabulary and model errors become row reasons", "[report]") {
  auto reason = [](const std::map<std::string, std::string>& cells) {
    return validate_runs(one_row(cells), fixed_two_seconds, Engine::kAnalytic, "test").rows[0].reason;
  };
  // An architecture cell the model needs, empty: the reason names the column.
  CHECK(reason({{"layers", ""}}) == "column layers: expected a positive integer; found an empty cell");
  CHECK_THAT(reason({{"schedule", "1f1f"}}), Contains("column schedule") && Contains("1f1b"));
  CHECK_THAT(reason({{"recompute", "partial"}}), Contains("column recompute"));
  CHECK_THAT(reason({{"prec", "int4"}}), Contains("column prec"));
  CHECK_THAT(reason({{"zero", "4"}}), Contains("column zero"));
  CHECK_THAT(reason({{"out_iter_time_s", "fast"}}), Contains("out_iter_time_s") && Contains("fast"));
  CHECK_THAT(reason({{"gpu_count", ""}}), Contains("gpu_count"));
  // 16 sequences over dp 2 x micro_batch 3 does not divide.
  CHECK_THAT(reason({{"micro_batch", "3"}}), Contains("not a multiple of dp*micro_batch"));
  // Integer cells: a whole number in any notation, never a fraction.
  CHECK(reason({{"tp", "2.5"}}) == "column tp: expected an integer; found \"2.5\"");
  CHECK_THAT(reason({{"pp", "1e400"}}), Contains("column pp: expected an integer"));
  CHECK_THAT(reason({{"tp", "0x2"}}), Contains("column tp: expected an integer"));   // no hexadecimal
  CHECK_THAT(reason({{"zero", "1e-400"}}), Contains("column zero: expected an integer"));  // underflows to 0
  // Sizes past any cluster are typos, never an overflow: dp x micro_batch once wrapped to 0.
  CHECK(reason({{"micro_batch", "4503599627370496"}}) == "column micro_batch: expected at most 10000000; found "
                                                          "4503599627370496");
  // tp x pp x cp = 4e15 x 2 x 1 > 8 GPUs, checked before any integer product.
  CHECK_THAT(reason({{"tp", "4000000000000000"}, {"dp", ""}}),
             Contains("layout does not divide the GPU count: tp*pp*cp = 8e+15 exceeds gpu_count 8"));
  CHECK_THAT(reason({{"global_batch_seqs", ""}}), Contains("global batch not stated"));
  // vpp stated under a schedule without virtual stages.
  CHECK_THAT(reason({{"vpp", "2"}}), Contains("no virtual stages"));
}

TEST_CASE("validate: errors as step-time errors, summarised over chosen rows", "[report]") {
  CHECK(*step_error_pct(Metric::kStepTime, 11.0, 10.0) == Approx(10));          // step 10% long: +10
  CHECK(*step_error_pct(Metric::kTokensPerSecPerGpu, 125, 100) == Approx(-20));  // 25% fast: 100/125 - 1 = -20
  CHECK(*step_error_pct(Metric::kTflopsPerGpu, 80, 100) == Approx(25));          // 20% slow: 100/80 - 1 = +25
  CHECK(*step_error_pct(Metric::kMfu, 0.6, 0.3) == Approx(-50));                 // twice the MFU: half the step
  CHECK(*step_error_pct(Metric::kGpuHours, 150, 100) == Approx(50));             // GPU-hours grow with the time
  CHECK_FALSE(step_error_pct(Metric::kNone, 5.0, 1.0));
  ValidationReport r;
  auto add = [&](const std::string& id, const std::string& hw, Metric m, double predicted, double published) {
    RowResult x;
    x.id = id;
    x.hw = hw;
    x.status = RowStatus::kOk;
    x.metric = m;
    x.metric_error_pct = (predicted - published) / published * 100.0;
    x.error_pct = step_error_pct(m, predicted, published);
    r.rows.push_back(x);
  };
  add("time", "a", Metric::kStepTime, 11, 10);             // +10
  add("tput", "a", Metric::kTokensPerSecPerGpu, 125, 100);  // -20
  add("tflops", "b", Metric::kTflopsPerGpu, 80, 100);       // +25
  add("hours", "a", Metric::kGpuHours, 150, 100);           // whole-run GPU-hours: left out
  RowResult skipped;
  skipped.id = "skipped";
  r.rows.push_back(skipped);
  const TimeErrorSummary all = time_error_summary(r, [](const RowResult&) { return true; });
  // Rows time, tput, tflops: step-time APE 10, 20, 25 -> MAPE 55/3; signed
  // 10, -20, 25 -> median 10.
  CHECK(all.stats.n == 3);
  CHECK(all.stats.mape_pct == Approx(55.0 / 3.0));
  CHECK(all.median_time_error_pct == Approx(10));
  // Sorted -20, 10, 25: P10 at position 0.2 = -20 + 0.2 x 30 = -14; P90 at
  // 1.8 = 10 + 0.8 x 15 = 22.
  CHECK(all.p10_time_error_pct == Approx(-14));
  CHECK(all.p90_time_error_pct == Approx(22));
  // The one quantile rule: the median of 1..4 is 2.5, of 1..3 is 2; P10 of
  // 0, 10 is 1; an empty list gives 0.
  CHECK(quantile({1, 2, 3, 4}, 0.5) == Approx(2.5));
  CHECK(quantile({1, 2, 3}, 0.5) == Approx(2));
  CHECK(quantile({0, 10}, 0.1) == Approx(1));
  CHECK(quantile({}, 0.5) == 0);
  CHECK(step_error_range(all) == "step error P10 -14%, median +10%, P90 +22%");
  // Whole percent with a sign, and a value that rounds to zero without one:
  // -0.46 rounds to 0 ("0%", never "-0%"), -0.5 away from zero to "-1%".
  CHECK(signed_whole_percent(-0.46) == "0%");
  CHECK(signed_whole_percent(0.4) == "0%");
  CHECK(signed_whole_percent(-0.5) == "-1%");
  CHECK(signed_whole_percent(12.6) == "+13%");
  CHECK(all.hardware == std::vector<std::string>{"a", "b"});
  // Hardware "a" only: time and tput; median of 10 and -20 = -5.
  const TimeErrorSummary a = time_error_summary(r, [](const RowResult& x) { return x.hw == "a"; });
  CHECK(a.stats.n == 2);
  CHECK(a.median_time_error_pct == Approx(-5));
  // -20, 10: P10 = -20 + 0.1 x 30 = -17, P90 = -20 + 0.9 x 30 = 7.
  CHECK(a.p10_time_error_pct == Approx(-17));
  CHECK(a.p90_time_error_pct == Approx(7));
  // A prediction of 100 were the step off as on rows "a": 100 / (1 + 0.07) =
  // 93.46 (P90), 100 / (1 - 0.05) = 105.26 (median), 100 / (1 - 0.17) = 120.48 (P10).
  const TrackRecordBand band = track_record_band(a, 100.0);
  CHECK(band.low == Approx(93.458).epsilon(1e-4));
  CHECK(band.median == Approx(105.263).epsilon(1e-4));
  CHECK(band.high == Approx(120.482).epsilon(1e-4));
}

TEST_CASE("validate: text and Markdown show both errors per row", "[report]") {
  const ValidationReport r = small_report();
  // r-tput: metric error +28.0%, step error 1/1.28 - 1 = -21.875% -> "-21.9%".
  const std::string text = to_text(r);
  CHECK_THAT(text, Contains("metric error") && Contains("step error"));
  const auto line_of = [](const std::string& all, const std::string& id) {
    const size_t at = all.find("\n" + id + " ");
    REQUIRE(at != std::string::npos);
    return all.substr(at + 1, all.find('\n', at + 1) - at - 1);
  };
  CHECK_THAT(line_of(text, "r-tput"), Contains("+28.0%") && Contains("-21.9%"));
  // r-tflops: -18.7% on the metric, +23.1% on the step.
  CHECK_THAT(line_of(text, "r-tflops"), Contains("-18.7%") && Contains("+23.1%"));
  // The summary line names its scale, the published-metric MAPE beside it (22.987 and 23.348, by hand above).
  CHECK_THAT(text, Contains("Overall, error of the step time: n=5, MAPE 23.0%"));
  CHECK_THAT(text, Contains("published metrics' own scale: n=5, MAPE 23.3%"));
  const std::string md = to_markdown(r);
  CHECK_THAT(md, Contains("| +28.0% | -21.9% |"));
  CHECK_THAT(md, Contains("- Overall, error of the step time: n=5, MAPE 23.0%"));
}

TEST_CASE("validate: the step error comes from the values, exact near -100% on the metric", "[report]") {
  // r-time's row publishing only tokens/s: 1e18 tok/s/GPU against the fixed
  // engine's 8 seqs x 2048 / (2 s x 8 GPUs) = 1024 tok/s. Metric error
  // (1024 - 1e18) / 1e18 = -100% to double precision; the step error is
  // 1e18 / 1024 - 1 = 9.765625e14 - 1 (x 100 in percent), and the implied
  // step 2 s x 1024 / 1e18 = 2.048e-15 s; the two must agree.
  const RowResult x = validate_runs(one_row({{"out_iter_time_s", ""}, {"out_tokens_per_s_per_gpu", "1e18"},
                                             {"global_batch_seqs", "8"}}),
                                    fixed_two_seconds, Engine::kAnalytic, "test")
                          .rows[0];
  REQUIRE(x.status == RowStatus::kOk);
  CHECK(x.metric == Metric::kTokensPerSecPerGpu);
  CHECK(*x.error_pct == Approx((1e18 / 1024.0 - 1.0) * 100.0).epsilon(1e-12));
  CHECK(*x.implied_step_time_s == Approx(2.048e-15).epsilon(1e-12));
  CHECK((2.0 / *x.implied_step_time_s - 1.0) * 100.0 == Approx(*x.error_pct).epsilon(1e-12));
}

TEST_CASE("validate: free-text and rounded cells are read by documented rules", "[report]") {
  auto run = [](const std::map<std::string, std::string>& cells) {
    return validate_runs(one_row(cells), fixed_two_seconds, Engine::kAnalytic, "test").rows[0];
  };
  // arch_type is free text: a text outside the four reference ones is read by
  // keywords and the reading listed. "dense GTP" names no keyword: Llama-style.
  const RowResult typo = run({{"arch_type", "dense GTP"}});
  REQUIRE(typo.status == RowStatus::kOk);
  CHECK(has(typo.defaults_used, "arch_type=dense (read from \"dense GTP\"; did you mean \"dense GPT\"?)"));
  // "no MoE" names no MoE; a text that says MoE needs the expert columns.
  CHECK(has(run({{"arch_type", "dense decoder (no MoE)"}}).defaults_used,
            "arch_type=dense (read from \"dense decoder (no MoE)\")"));
  CHECK_THAT(run({{"arch_type", "MoE with dense first layers"}}).reason, Contains("column moe_experts"));
  // A text naming a family gets no did-you-mean ("MPT" is not a typo of "MoE").
  CHECK(has(run({{"arch_type", "MPT"}}).defaults_used, "arch_type=dense (MPT: ALiBi) (read from \"MPT\")"));
  // A GPT-style text naming a gated MLP: gated (SwiGLU) at the stated width.
  CHECK(has(run({{"arch_type", "GPT-style decoder, SwiGLU"}}).defaults_used,
            "arch_type=dense GPT, gated MLP (read from \"GPT-style decoder, SwiGLU\")"));
  // "alibi" comes before "gpt".
  CHECK(has(run({{"arch_type", "GPT-style decoder with ALiBi"}}).defaults_used,
            "arch_type=dense (MPT: ALiBi) (read from \"GPT-style decoder with ALiBi\")"));
  CHECK(has(run({{"arch_type", "GPT-3 style"}}).defaults_used, "arch_type=dense GPT (read from \"GPT-3 style\")"));
  // The reference texts are read as they are, with nothing listed.
  const RowResult plain = run({});
  CHECK(std::none_of(plain.defaults_used.begin(), plain.defaults_used.end(),
                     [](const std::string& d) { return d.rfind("arch_type=", 0) == 0 || d.rfind("ffn_size=", 0) == 0; }));
  // An empty dense FFN width: 4 x hidden = 4 x 2048 = 8192.
  CHECK(has(run({{"ffn_size", ""}}).defaults_used, "ffn_size=8192 (4*hidden)"));

  // Integer cells in decimal or exponent form: tp "2.0" is 2, 16 sequences as "1.6e1".
  const RowResult dec = run({{"tp", "2.0"}, {"global_batch_seqs", "1.6e1"}});
  REQUIRE(dec.status == RowStatus::kOk);
  CHECK(dec.plan->tp == 2);
  CHECK(dec.plan->global_batch == 16);

  // A token batch that is no whole number of sequences is rounded to whole
  // steps (dp 2 x micro_batch 1 = 2 sequences):
  // 20000 / 2048 = 9.77 sequences = 4.88 steps -> 5 -> 10 sequences (2.4% off);
  const RowResult tok = run({{"global_batch_seqs", ""}, {"global_batch_tokens", "20000"}});
  REQUIRE(tok.status == RowStatus::kOk);
  CHECK(tok.plan->global_batch == 10);
  CHECK(std::any_of(tok.defaults_used.begin(), tok.defaults_used.end(), [](const std::string& d) {
    return d.rfind("global_batch=10 seqs (global_batch_tokens/seq_len = 9.7656", 0) == 0;
  }));
  // 1000 / 2048 = 0.49 sequences: the nearest whole step, 2 sequences, is 310%
  // away, over the 25% a rounding may move: skipped.
  const RowResult tiny = run({{"global_batch_seqs", ""}, {"global_batch_tokens", "1000"}});
  CHECK(tiny.status == RowStatus::kSkipped);
  CHECK_THAT(tiny.reason, Contains("more than 25% away"));
  // torchtitan's unstated micro-batch (pp 2 micro-batches per replica, dp 2):
  // the unit is dp x pp = 4 sequences, and the rounding comes first.
  // 16998 / 2048 = 8.30 sequences = 2.07 steps -> 2 -> 8 sequences, then
  // micro-batch 8 / 2 / 2 = 2. (The truncated 8 would split too; 8.3 rounds
  // to 8, not 9, which would not.)
  const std::map<std::string, std::string> titan = {{"framework", "torchtitan"}, {"micro_batch", ""},
                                                    {"global_batch_seqs", ""}};
  auto titan_with = [&](const std::string& tokens) {
    std::map<std::string, std::string> cells = titan;
    cells["global_batch_tokens"] = tokens;
    return run(cells);
  };
  const RowResult tt = titan_with("16998");
  REQUIRE(tt.status == RowStatus::kOk);
  CHECK(tt.plan->global_batch == 8);
  CHECK(tt.plan->micro_batch == 2);
  // 19500 / 2048 = 9.52 sequences (truncated 9, which does not split over dp
  // 2 x pp 2) = 2.38 steps -> 2 -> 8 sequences: rounded before the split.
  const RowResult tt9 = titan_with("19500");
  REQUIRE(tt9.status == RowStatus::kOk);
  CHECK(tt9.plan->global_batch == 8);
  // Fewer tokens than one sequence never makes a zero batch (once a division
  // by zero): 1000 tokens, 0.49 sequences, is skipped with the rounding reason.
  const RowResult tt0 = titan_with("1000");
  CHECK(tt0.status == RowStatus::kSkipped);
  CHECK_THAT(tt0.reason, Contains("more than 25% away"));
  // A whole number of sequences is used as stated: 32768 / 2048 = 16, derived, not a default.
  const RowResult whole = run({{"global_batch_seqs", ""}, {"global_batch_tokens", "32768"}});
  REQUIRE(whole.status == RowStatus::kOk);
  CHECK(whole.plan->global_batch == 16);
  CHECK(has(whole.derived, "global_batch=16 seqs (global_batch_tokens/seq_len)"));
}

TEST_CASE("validate: a utilisation figure under an unnamed convention uses the default one", "[report]") {
  // r-time's GPT (24 layers, h 2048, V 51200, 16 x 2048-token sequences) on 8
  // GPUs at 2 s a step. PaLM model FLOPs: 1.86057e13 per sequence (the test
  // above) x 16 = 2.97691e14 per step / (2 s x 8) = 18.606 TFLOP/s per GPU.
  const RowResult t = validate_runs(one_row({{"out_iter_time_s", ""}, {"out_tflops_per_gpu", "100"}}),
                                    fixed_two_seconds, Engine::kAnalytic, "test").rows[0];
  REQUIRE(t.status == RowStatus::kOk);
  CHECK(t.metric == Metric::kTflopsPerGpu);
  CHECK(t.predicted_value == Approx(18.606).epsilon(0.01));
  CHECK(has(t.defaults_used, "flops_convention=palm-model-flops"));

  // A named model-FLOP convention with only an HFU: the HFU adds the
  // recompute forward at the row's own ratio, here hfu / mfu = 0.4 / 0.3:
  // 18.606 x 4/3 = 24.808 TFLOP/s / 312 = 0.07951.
  const Predictor with_recompute = [](const RunSpec& s) {
    Prediction p = fixed_two_seconds(s);
    p.mfu = 0.3;
    p.hfu = 0.4;
    return p;
  };
  const RowResult h = validate_runs(one_row({{"out_iter_time_s", ""}, {"out_hfu_pct", "10"},
                                             {"flops_convention", "PaLM definitions"}}),
                                    with_recompute, Engine::kAnalytic, "test").rows[0];
  REQUIRE(h.status == RowStatus::kOk);
  CHECK(h.metric == Metric::kHfu);
  CHECK(h.predicted_value == Approx(0.07951).epsilon(0.01));
  CHECK_FALSE(has(h.defaults_used, "flops_convention=palm-model-flops"));
  // A vendor per-sequence count cannot be reproduced: still a skip with its reason.
  const RowResult v = validate_runs(one_row({{"out_iter_time_s", ""}, {"out_mfu_pct", "50"},
                                             {"flops_convention", "GBS*model_flops_per_seq/step"}}),
                                    fixed_two_seconds, Engine::kAnalytic, "test").rows[0];
  CHECK_THAT(v.reason, Contains("vendor-per-sequence"));
}

TEST_CASE("validate: wall-clock days come after the published GPU-hour figures", "[report]") {
  // With GPU-hours per trillion tokens and no tokens_trained, the per-T figure
  // is compared (the days would need the tokens), and no days note is added.
  const RowResult perT = validate_runs(one_row({{"out_iter_time_s", ""}, {"out_gpu_hours_per_T_tokens", "1000"},
                                                {"out_wall_clock_days", "2"}}),
                                       fixed_two_seconds, Engine::kAnalytic, "test").rows[0];
  REQUIRE(perT.status == RowStatus::kOk);
  CHECK(perT.metric == Metric::kGpuHours);
  CHECK(perT.published_value == Approx(1000));
  CHECK(perT.derived.empty());
  // Days alone without the tokens: the reason says which cell is missing.
  const RowResult days = validate_runs(one_row({{"out_iter_time_s", ""}, {"out_wall_clock_days", "2"}}),
                                       fixed_two_seconds, Engine::kAnalytic, "test").rows[0];
  CHECK(days.reason == "only the whole run's wall-clock days are published, and tokens_trained is empty");
  // A step time beside the days is compared as the step; the days add nothing.
  const RowResult step = validate_runs(one_row({{"out_wall_clock_days", "2"}}), fixed_two_seconds,
                                       Engine::kAnalytic, "test").rows[0];
  CHECK(step.metric == Metric::kStepTime);
  CHECK_FALSE(has(step.derived, "published GPU-hours = out_wall_clock_days x 24 h x gpu_count"));
}

TEST_CASE("validate: whole-run wall-clock days are the GPU-hours of the row's GPUs", "[report]") {
  const RowResult r = validate_runs(one_row({{"out_iter_time_s", ""}, {"out_wall_clock_days", "2"},
                                             {"tokens_trained", "1e9"}}),
                                    fixed_two_seconds, Engine::kAnalytic, "test").rows[0];
  REQUIRE(r.status == RowStatus::kOk);
  CHECK(r.metric == Metric::kGpuHours);
  // 2 days x 24 h x 8 GPUs = 384 GPU-h.
  CHECK(r.published_value == Approx(384.0));
  CHECK(has(r.derived, "published GPU-hours = out_wall_clock_days x 24 h x gpu_count"));
  // 16 x 2048 tokens per 2 s step on 8 GPUs = 2048 tok/s/GPU; at goodput 0.9,
  // 1e9 tokens / (2048 x 0.9) / 3600 = 150.70 GPU-h.
  CHECK(r.predicted_value == Approx(150.70).epsilon(0.001));
}

TEST_CASE("validate: rows on hardware without calibration data are summarised apart", "[report]") {
  // The same 2 s engine, but reporting default efficiencies for the A100-40GB profile.
  const Predictor engine = [](const RunSpec& s) {
    Prediction p = fixed_two_seconds(s);
    p.default_tables = s.hw == "a100-sxm-40gb";
    return p;
  };
  CsvTable two = one_row({});
  std::vector<std::string> second = two.records()[0].fields;
  second[*two.column("id")] = "r-uncal";
  second[*two.column("hw")] = "a100-sxm-40gb";
  second[*two.column("out_iter_time_s")] = "4";
  const CsvTable t("two.csv", two.header(), {two.records()[0], CsvRecord{3, second}});
  const ValidationReport r = validate_runs(t, engine, Engine::kAnalytic, "test");
  REQUIRE(r.rows_ok() == 2);
  // r-time: (2 - 2.5) / 2.5 = -20% in the headline; r-uncal: (2 - 4) / 4 = -50% apart.
  CHECK(r.rows[0].calibrated);
  CHECK_FALSE(r.rows[1].calibrated);
  CHECK(group_of(r.rows[1]) == RowGroup::kUncalibrated);
  CHECK(r.overall.n == 1);
  CHECK(r.overall.mape_pct == Approx(20));
  CHECK(r.uncalibrated.n == 1);
  CHECK(r.uncalibrated.mape_pct == Approx(50));
  CHECK(r.by_hardware.count("a100-sxm-40gb") == 0);
  CHECK(time_error_summary(r, [](const RowResult&) { return true; }).stats.n == 1);
  const auto j = nlohmann::json::parse(to_json(r));
  CHECK(j["rows"][1]["summary_group"] == "uncalibrated_hardware");
  CHECK(j["rows"][0]["summary_group"] == "main");
  CHECK(j["summary"]["uncalibrated_hardware"]["n"] == 1);
  CHECK_THAT(to_text(r), Contains("1 on hardware without calibration data (reported apart)"));
  CHECK_THAT(to_markdown(r), Contains("## Hardware without calibration data"));
}

TEST_CASE("validate: the analytic engine marks a part without calibration data", "[report]") {
  // v100-sxm-32gb has a hardware profile but no calibration table
  // (calibrate/tables/): the real engine runs it on default efficiencies.
  const ValidationReport r = validate_runs(one_row({{"hw", "v100-sxm-32gb"}}), analytic_predictor(),
                                           Engine::kAnalytic, "test");
  REQUIRE(r.rows[0].status == RowStatus::kOk);
  CHECK_FALSE(r.rows[0].calibrated);
  CHECK(r.overall.n == 0);
  CHECK(r.uncalibrated.n == 1);
  // An A100-80GB row, with measured tables, stays in the headline.
  const ValidationReport a = validate_runs(one_row({}), analytic_predictor(), Engine::kAnalytic, "test");
  REQUIRE(a.rows[0].status == RowStatus::kOk);
  CHECK(a.rows[0].calibrated);
  CHECK(a.overall.n == 1);
}

TEST_CASE("validate: a track record reads the die's runs only when there are enough of them", "[report]") {
  TrackRecord t;
  t.all.stats.n = 109;
  t.die.stats.n = kMinBandRuns - 1;  // 9 runs on the die: too few, all runs
  CHECK_FALSE(t.band_on_die());
  CHECK(&t.band_basis() == &t.all);
  t.die.stats.n = kMinBandRuns;  // 10: the die alone
  CHECK(t.band_on_die());
  CHECK(&t.band_basis() == &t.die);
}

TEST_CASE("validate: the track record of the H800 die reads the H100 rows", "[report]") {
  // public_runs.csv has 52 h100-sxm and 10 h100-sxm-96gb-500w rows compared on
  // the step (62 on the GH100 die) and 109 in all.
  const TrackRecords records;
  const TrackRecord t = records.of(hardware::load_accelerator("h800"));
  REQUIRE(t.missing.empty());
  CHECK(t.all.stats.n == 109);
  CHECK(t.die.stats.n == 62);
  CHECK(t.band_on_die());
  CHECK(t.die.hardware == std::vector<std::string>{"h100-sxm", "h100-sxm-96gb-500w"});
  // Every family predicts the step short, so the median and P10 are negative.
  CHECK(t.die.median_time_error_pct < 0);
  CHECK(t.die.p10_time_error_pct <= t.die.median_time_error_pct);
  CHECK(t.die.median_time_error_pct <= t.die.p90_time_error_pct);
  // By name, the same; an unknown name is a reason, not an exception.
  CHECK(records.of("h800").die.stats.n == 62);
  const TrackRecord unknown = records.of("no-such-chip");
  CHECK_THAT(unknown.missing, Contains("no-such-chip"));
}
