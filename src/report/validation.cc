// Row reading, defaults, FLOP conventions and error statistics of
// `trainsim validate` (see validation.h). The engines live in
// validation_engines.cc, the renderers in validation_render.cc.
#include "report/validation.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <set>

#include <fmt/format.h>

#include "core/error.h"
#include "core/strings.h"
#include "hardware/hardware.h"
#include "plan/plan.h"

namespace trainsim::report {

// ---------------------------------------------------------------------------
// The defaults table. One value per unstated input, the same for every row.
const std::vector<DefaultRule>& default_rules() {
  static const std::vector<DefaultRule> kRules = {
      {"micro_batch", "micro_batch",
       "1; torchtitan rows with pp > 1 and year <= 2025: the local batch (global_batch/dp) split into pp "
       "micro-batches",
       "Sequences per micro-batch when not stated. 1 is what every Megatron-style pipeline-parallel row that "
       "states it uses (Narayanan 2021 Table 2 PTD-P, Korthikanti 2022 175B-1T, DGX Cloud GPT-3 and Grok-1), and "
       "it maximises the micro-batch count, i.e. gives the smallest pipeline bubble. torchtitan sets the count, "
       "not the size: until April 2025 (pytorch/torchtitan#1073 replaced it with a micro-batch size) "
       "experimental.pipeline_parallel_microbatches defaulted to the pipeline-parallel degree "
       "(torchtitan/parallelisms/pipelining_utils.py build_pipeline_schedule: 'if n_microbatches is None: "
       "n_microbatches = job_config.experimental.pipeline_parallel_degree', for looped schedules too until "
       "#781 of January 2025). The torchtitan 3D rows are the runs of the TorchTitan paper (arXiv:2410.06511, "
       "October 2024), in the January 2025 docs/performance.md. From April 2025 torchtitan's default is a "
       "micro-batch size of 1 (#1073), the general default, which rows after 2025 get; a row of 2025 after "
       "April should state its micro-batch. A torchtitan row with no year gets the pp split."},
      {"vpp", "vpp (schedule interleaved-1f1b)",
       "smallest v >= 2 with pp*v dividing the layers, or the layers plus one slot each for the embedding and "
       "the loss; 2 if none",
       "Megatron-LM splits the layers evenly over pp*v stages, or the layers plus the embedding and loss "
       "slots (--account-for-embedding/loss-in-pipeline-split); 2 is the least interleaving (torchtitan's default of "
       "2 stages per rank for looped schedules). Narayanan 2021 does not state chunks per device per row."},
      {"schedule", "schedule", "1f1b; interleaved-1f1b when vpp > 1 is stated",
       "1F1B is Megatron-LM's default (training_runs.md); a stated vpp > 1 only exists under the "
       "interleaved schedule (Megatron enables interleaving exactly when the virtual pipeline size is set)."},
      {"zero", "zero", "1 when year >= 2023, else 0",
       "Megatron-LM before 2023 ran plain data parallelism (--use-distributed-optimizer is opt-in and "
       "appeared in 2022); NeMo 2.0 and its recipes shard the optimizer by default (nemo/collections/llm/gpt/"
       "model/base.py GPTModel: OptimizerConfig(use_distributed_optimizer=True); recipes/optim/adam.py the "
       "same). ZeRO-1 moves the same gradient bytes (reduce-scatter + all-gather = all-reduce), so mostly "
       "memory changes."},
      {"overlap_grad_reduce", "(no column; ZeRO < 3, dp > 1)", "on when year >= 2023, else off",
       "Not a column. Megatron-LM reduces data-parallel gradients after the whole forward-backward unless "
       "--overlap-grad-reduce is given (megatron/training.py: the local DDP's allreduce_gradients() and, from "
       "2022, the distributed optimizer's reduce-scatter follow forward_backward_func; the overlap flag is "
       "opt-in, default off); NeMo 2.0's recipes set overlap_grad_reduce (like the zero default above, from "
       "2023). On: the reduction overlaps the last micro-batch's backward; off: it starts when the rank's "
       "forward-backward ends."},
      {"gradient_accumulation_fusion", "(no column; ZeRO < 3, from framework and year)",
       "unfused when the framework names Megatron and year <= 2021, else fused",
       "Not a column. Megatron-LM's DDP hook adds each micro-batch's weight gradient into the FP32 main_grad "
       "with a separate kernel (param.main_grad.add_(param.grad.data)) unless the weight-gradient GEMM "
       "accumulates into main_grad itself (--gradient-accumulation-fusion). That fusion is not among the "
       "computation optimisations Narayanan et al. 2021 §4.2 list; apex ported Megatron-LM's fused "
       "weight-gradient accumulation in February 2022 (NVIDIA/apex#1297) and NeMo added it in July 2022 "
       "(NVIDIA/NeMo#4494); Megatron-Core and NeMo recipes default to it (TransformerConfig."
       "gradient_accumulation_fusion = True). Unfused, the add moves 2 + 4 + 4 bytes per parameter on the GPU "
       "every micro-batch. ZeRO-3 rows reduce-scatter each micro-batch's gradient and are not charged."},
      {"overlap_p2p_comm", "(no column; pp > 1 with vpp > 1, from framework and year)",
       "on for NeMo rows from 2024 with an interleaved schedule (pp > 1, vpp > 1), else off",
       "Not a column. NeMo 2.0's MegatronCommOverlapCallback (nemo/lightning/pytorch/callbacks/"
       "megatron_comm_overlap.py, _get_model_comm_overlap_cfgs) sets overlap_p2p_comm = True and batch_p2p_comm = "
       "False whenever pipeline_model_parallel_size > 1 and virtual_pipeline_model_parallel_size > 1, else "
       "batch_p2p_comm; Megatron-LM and Megatron-Core leave overlap_p2p_comm off by default (opt-in flag). On: each "
       "pipeline send hides under the next chunk's compute and only its excess is exposed; off: exposed between "
       "chunks."},
      {"recompute", "recompute", "none",
       "Megatron-Core and NeMo leave recompute_granularity unset by default; every row with this cell empty "
       "is a NeMo vendor benchmark. 'none' also adds no FLOPs the source did not state."},
      {"selective", "recompute = selective",
       "selective (Megatron's attention core); selective-op or every-other-layer for torchtitan",
       "Megatron-LM and NeMo recompute the attention core (Korthikanti 2022 §5). torchtitan has two "
       "selective modes (torchtitan/parallelisms/parallelize_llama.py): op-level SAC, saving matmul and "
       "attention outputs except every second matmul, where activation_recompute says 'selective op' or "
       "the framework is torchtitan (its Llama configs set selective_ac_option = 'op'); layer-level SAC "
       "at its default frequency '2' (every second layer fully recomputed) where it says 'selective layer'. "
       "For MLA models (DeepSeek), DeepSeek-V3's own selective recompute: RMSNorm, the MLA up-projections "
       "and SwiGLU (V3TR §3.2.3; training_runs.md lists it among the selective policies)."},
      {"prec", "prec", "bf16",
       "Empty means 16-bit mixed precision not further stated (training_runs.md); A100 and H100 have the "
       "same dense BF16 and FP16 peaks, so the choice does not move a prediction."},
      {"cp", "cp", "1", "No context parallelism: every row that uses it states it."},
      {"ep", "ep (MoE models)", "1", "No expert parallelism: every MoE row that uses it states it."},
      {"tp_pp_split", "tp and pp both empty",
       "tp = min(M, 8), pp = M / tp with M = gpu_count / (dp*cp)",
       "Narayanan et al. 2021, takeaway #1: use tensor parallelism up to the GPUs of one server (8), then "
       "pipeline parallelism. When M = 1 this is tp = pp = 1 (pure data parallelism)."},
      {"comm_sms", "(no column; dualpipe and dualpipev)", "20/132 of the accelerator's SMs, rounded",
       "Not a column. DeepSeek-V3 runs DualPipe with 20 of the H800's 132 SMs lent to communication "
       "(V3TR §3.2.2); other parts get the same share (as the planner's search does)."},
      {"layout", "tp, pp and dp all empty",
       "the least model parallelism that runs: tp = 1, 2, 4, 8 (dividing gpu_count/cp, the heads, the key/value "
       "heads unless there is one, and the FFN width) at pp = 1, then pp = 2, 3, ... (dividing the GPUs) at the largest such tp; "
       "dp = gpu_count / (tp*pp*cp)",
       "Narayanan et al. 2021, takeaways #1 and #2: tensor parallelism up to the GPUs of one server, then "
       "pipeline parallelism, each only as far as the model needs; the rest is data parallelism. 'Runs' means "
       "the plan passes trainsim's plan checks: heads, layers, GPUs and global batch divide, and the per-GPU "
       "memory in trainsim's memory model fits the HBM."},
      {"tp, pp", "one of tp/pp empty while dp is empty too", "1",
       "The unstated one of tensor/pipeline parallelism is not used; dp then follows from gpu_count."},
      {"vocab", "vocab", "51200",
       "Megatron-LM's padded GPT-2 BPE vocabulary (50257 padded to a multiple of 1024), which every "
       "dense-GPT row that states a vocabulary uses; affects only the embedding and output head."},
      {"ffn_size", "ffn_size (dense models)", "4 * hidden",
       "Vaswani et al. 2017 (d_ff = 4 d_model), kept by GPT-2/3, Megatron-LM's GPT, MPT, BLOOM and OPT; sources "
       "of such models often give only the hidden size. Gated (SwiGLU) models state their width, which is never "
       "exactly 4h for Llama-family models."},
      {"arch_type", "arch_type (a text other than dense GPT, dense, dense (MPT...), MoE)",
       "MoE when moe_experts is given, or a word moe (not after no / non) or mixture of experts; else by "
       "keywords: alibi / mpt -> MPT-style, gpt -> GPT, otherwise Llama-style; a word ending in glu or the word "
       "gated (not after no / non / not) makes the MLP gated",
       "arch_type is free text in training_runs.md (only its first seven columns are a fixed vocabulary); the "
       "numeric columns carry the sizes and the text only the conventions they cannot (norm, positions, "
       "gating). Llama-style is gated (SwiGLU) unless ffn_size = 4 * hidden (ungated); GPT- and MPT-style are "
       "ungated (GELU) unless the text names a gated MLP. A text close to a reference one is listed with a "
       "did-you-mean."},
      {"global_batch", "global_batch_tokens alone, not a whole number of sequences",
       "the nearest whole number of steps of dp x micro-batch sequences (micro-batch as stated, pp for "
       "torchtitan's split, else 1), at least one; skipped if that moves the batch by more than 25%",
       "A token batch that is no whole number of sequences is a rounded figure (\"4M tokens\"); the run's "
       "batch was whole micro-batches on every replica. A whole number of sequences is used as stated."},
      {"flops_convention", "flops_convention (empty, or naming no known convention), when a TFLOP/s, MFU or HFU "
       "is compared", "model FLOPs: 6 N + 12 l h s per token (PaLM), against the dense BF16 peak",
       "Chowdhery et al. 2022, App. B: the model-FLOP count MFU is defined with and that Korthikanti 2022, "
       "Llama 3 and torchtitan use; it counts no recompute, so a recompute-inclusive figure must say so. "
       "Recognised texts: Eq. 3 / 4 passes / recompute-inclusive (Narayanan 2021), model_flops_per_seq "
       "(vendor, not reproducible), PaLM / Chowdhery, 6N, hardware FLOP (model FLOPs times the row's "
       "hardware-to-model ratio), model FLOP / MFU, then a phrase counting the recompute (as hardware FLOP)."},
      {"sequence_parallel", "(no column; tp > 1)",
       "as the activation_recompute cell says (\"+ sequence parallelism\", \"no sequence parallelism\"); "
       "otherwise on when year >= 2022, else off",
       "Not a column. Korthikanti et al. 2022 introduced sequence parallelism; Megatron-Core/NeMo recipes "
       "and torchtitan's tensor-parallel plan (SequenceParallel norms) run it with TP. It moves the same TP "
       "bytes (all-gather + reduce-scatter instead of all-reduce), splits norms and dropout over TP, and "
       "divides their activation memory by TP."},
      {"expert_load_imbalance", "(no column; MoE models)", "1.0 (balanced)",
       "Not a column. NVIDIA's MoE benchmarks force-balance tokens across experts (training_runs.md)."},
      {"attention", "(no column; from year and framework)",
       "unfused when year < 2023; else flash2 (FlashAttention-2) for torchtitan and llm-foundry, flash "
       "(the fastest fused kernel) otherwise",
       "Not a column. FlashAttention appeared in May 2022 (Dao et al., arXiv:2205.14135). The pre-2023 rows "
       "all ran Megatron-LM's unfused core attention: Narayanan 2021 §4.2 describes its fused scale-mask-"
       "softmax kernels, and Korthikanti 2022 §4-5 is built around the s^2 softmax and dropout tensors it "
       "writes. Later rows run fused attention. Megatron-Core and NeMo run Transformer Engine's cuDNN fused "
       "attention, near FlashAttention-3 on Hopper (flash). torchtitan calls F.scaled_dot_product_attention, "
       "whose flash backend is FlashAttention-2: PyTorch made its cuDNN backend opt-in in October 2024 "
       "(pytorch/pytorch#138522), and torchtitan#1042 (April 2025) reports SDPA dispatching "
       "SDPBackend.FLASH_ATTENTION on H100. llm-foundry's MPT runs flash-attn 2.x or its Triton kernel "
       "(attn_impl flash | triton); its benchmark tables predate FlashAttention-3 (July 2024), so flash2 is "
       "the fastest it could have run. On Ampere the two are the same kernel. A row with no year gets its "
       "framework's kernel (flash2 for torchtitan and llm-foundry, else flash)."},
      {"elementwise", "(no column; from framework and name)",
       "eager for torchtitan rows whose name and framework cells do not say torch.compile, else fused",
       "Not a column. torchtitan runs PyTorch eager unless compiled (train_configs: compile = false; its "
       "Llama RMSNorm is composed of separate FP32 kernels, models/norms.py), and its benchmark tables name "
       "torch.compile where used. Megatron-LM, NeMo and Transformer Engine run fused norm, activation and "
       "rotary kernels; llm-foundry's MPT uses F.layer_norm and F.gelu, one kernel each either way."},
      {"zero3_framework", "(no column; ZeRO-3 rows, from framework and year)",
       "deepspeed-zero3-2021 when the framework names DeepSpeed and year <= 2021, else fsdp",
       "Not a column. DeepSpeed's 2021 ZeRO-3 gathered one parameter tensor per blocking call and reduced "
       "gradients per tensor (calibrate/frameworks/deepspeed-zero3-2021.json cites the code, PR #1188 and the "
       "per-call overhead measured in issue #1069); coalesced gathers came with PR #1453 (October 2021). Every "
       "other ZeRO-3 row runs FSDP-style per-layer collectives (PyTorch FSDP, llm-foundry, torchtitan)."},
      {"goodput", "rows with only whole-run GPU-hours", "0.90",
       "Llama 3 (Dubey et al. 2024, §3.3.4): higher than 90% effective training time. Used only for the "
       "separately reported GPU-hour comparison."},
  };
  return kRules;
}

// ---------------------------------------------------------------------------
const char* to_string(FlopConvention c) {
  switch (c) {
    case FlopConvention::kUnknown: return "unknown";
    case FlopConvention::kMegatronRecompute4Pass: return "megatron-eq3-4pass";
    case FlopConvention::kPalmModelFlops: return "palm-model-flops";
    case FlopConvention::kSixNPlusAttention: return "6n-plus-attention";
    case FlopConvention::kVendorStatedPerSequence: return "vendor-per-sequence";
    case FlopConvention::kHardwareFlops: return "hardware-flops";
  }
  return "?";
}

// Keywords, checked in this order (first match wins), against the lower-cased
// flops_convention text:
//   "96*b*s*l*h^2", "4 passes", "recompute-inclusive"  -> Megatron Eq. 3
//   "model_flops_per_seq"                               -> vendor per-sequence
//   "palm", "chowdhery"                                 -> PaLM model FLOPs
//   "6n"                                                -> 6N + attention
//   "hardware flop", "hardware tflop" (not after "not ") -> hardware FLOPs
//   "model flop", "model tflop", "mfu", unless "no mfu" -> PaLM model FLOPs
//   a phrase counting the recompute ("including recompute", "incl.
//   recompute", "includes recompute", "counts recompute", "counts the
//   recompute", "recompute included"), not negated as "not including
//   recompute" or "not counting recompute"              -> hardware FLOPs
// A text that names MFU or model FLOPs keeps that reading whatever it says
// of recompute or HFU: sources print MFU and HFU side by side.
// Anything else (an empty cell included) is kUnknown, which compare() reads
// as kDefaultFlopConvention and lists among the row's defaults.
FlopConvention classify_flop_convention(const std::string& text) {
  const std::string t = to_lower(text);
  if (contains(t, "96*b*s*l*h^2") || contains(t, "4 passes") || contains(t, "recompute-inclusive")) {
    return FlopConvention::kMegatronRecompute4Pass;
  }
  if (contains(t, "model_flops_per_seq")) return FlopConvention::kVendorStatedPerSequence;
  if (contains(t, "palm") || contains(t, "chowdhery")) return FlopConvention::kPalmModelFlops;
  if (contains(t, "6n")) return FlopConvention::kSixNPlusAttention;
  if ((contains(t, "hardware flop") || contains(t, "hardware tflop")) && !contains(t, "not hardware")) {
    return FlopConvention::kHardwareFlops;
  }
  if ((contains(t, "model flop") || contains(t, "model tflop") || contains(t, "mfu")) && !contains(t, "no mfu")) {
    return FlopConvention::kPalmModelFlops;
  }
  static const std::vector<std::string> kCountsRecompute = {
      "including recompute", "incl. recompute", "includes recompute", "counts recompute", "counts the recompute",
      "recompute included"};
  for (const std::string& k : kCountsRecompute) {
    for (size_t at = t.find(k); at != std::string::npos; at = t.find(k, at + 1)) {
      const bool negated = (at >= 4 && t.compare(at - 4, 4, "not ") == 0);
      if (!negated) return FlopConvention::kHardwareFlops;
    }
  }
  return FlopConvention::kUnknown;
}

std::optional<Flops> convention_flops_per_step(FlopConvention c, const model::Model& m,
                                               int64_t global_batch_seqs, int64_t seq_len,
                                               double hardware_over_model) {
  const double b = static_cast<double>(global_batch_seqs);
  const double s = static_cast<double>(seq_len);
  const double l = static_cast<double>(m.layers);
  const double h = static_cast<double>(m.hidden);
  const double v = static_cast<double>(m.vocab);
  switch (c) {
    case FlopConvention::kMegatronRecompute4Pass:
      // Narayanan et al. 2021, Eq. 3 (forward, backward, recompute forward;
      // logits not recomputed): F = 96 B s l h^2 (1 + s/(6h) + V/(16 l h)).
      return Flops(96.0 * b * s * l * h * h * (1.0 + s / (6.0 * h) + v / (16.0 * l * h)));
    case FlopConvention::kPalmModelFlops:
    case FlopConvention::kSixNPlusAttention:
    case FlopConvention::kHardwareFlops: {
      // Chowdhery et al. 2022, App. B: 6N + 12 l h s FLOPs per token, where N
      // counts the weights that are multiplied per token: activated parameters
      // (MoE) without the input embedding (a lookup), with the output head
      // (tied: the embedding matrix used again). For a GPT with ffn = 4h this
      // equals Korthikanti et al. 2022's 72 B s l h^2 (1 + s/(6h) + V/(12 l h)).
      const model::ParamCounts pc = model::count_params(m);
      double n_matmul = static_cast<double>(pc.activated - pc.embedding - pc.norms);
      if (m.tied_embeddings) n_matmul += v * h;
      const double per_token = 6.0 * n_matmul + 12.0 * l * h * s;
      const double factor = c == FlopConvention::kHardwareFlops ? hardware_over_model : 1.0;
      return Flops(per_token * b * s * factor);
    }
    case FlopConvention::kVendorStatedPerSequence:
    case FlopConvention::kUnknown:
      return std::nullopt;
  }
  return std::nullopt;
}

const char* to_string(Engine e) { return e == Engine::kAnalytic ? "analytic" : "des"; }

const char* to_string(Metric m) {
  switch (m) {
    case Metric::kNone: return "none";
    case Metric::kStepTime: return "step_time_s";
    case Metric::kTokensPerSecPerGpu: return "tokens_per_s_per_gpu";
    case Metric::kTflopsPerGpu: return "tflops_per_gpu";
    case Metric::kMfu: return "mfu";
    case Metric::kHfu: return "hfu";
    case Metric::kGpuHours: return "gpu_hours";
  }
  return "?";
}

int ValidationReport::rows_ok() const {
  return static_cast<int>(std::count_if(rows.begin(), rows.end(),
                                        [](const RowResult& r) { return r.status == RowStatus::kOk; }));
}
int ValidationReport::rows_skipped() const { return static_cast<int>(rows.size()) - rows_ok(); }

double quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

ErrorStats error_stats(const std::vector<std::pair<std::string, double>>& id_and_error_pct) {
  ErrorStats s;
  s.n = static_cast<int>(id_and_error_pct.size());
  if (s.n == 0) return s;
  std::vector<double> ape;
  double sum = 0;
  int within = 0;
  for (const auto& [id, e] : id_and_error_pct) {
    const double a = std::fabs(e);
    ape.push_back(a);
    sum += a;
    s.mean_error_pct += e / s.n;
    if (a <= 10.0) ++within;
    if (s.worst_id.empty() || a > s.max_ape_pct) {
      s.max_ape_pct = a;
      s.worst_id = id;
    }
  }
  std::sort(ape.begin(), ape.end());
  s.mape_pct = sum / s.n;
  s.median_ape_pct = quantile(ape, 0.5);
  s.within_10pct = static_cast<double>(within) / s.n;
  return s;
}

// ---------------------------------------------------------------------------
namespace {

// A row that cannot be simulated; the message becomes its reason.
class RowError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Columns needed to build a run. A file without one of them gets every row
// skipped with the list of missing columns (the file itself is still read).
const std::vector<std::string>& input_columns() {
  static const std::vector<std::string> kColumns = {
      "hw", "prec", "recompute", "schedule", "zero", "model_config", "arch_type",
      "layers", "hidden", "heads", "kv_heads", "ffn_size", "vocab", "seq_len",
      "moe_experts", "moe_active_experts", "moe_shared_experts", "moe_expert_ffn",
      "gpu_count", "tp", "pp", "dp", "ep", "cp", "vpp", "micro_batch",
      "global_batch_seqs", "global_batch_tokens"};
  return kColumns;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

class RowCells {
 public:
  RowCells(const CsvTable& t, const CsvRecord& r) : table_(t), record_(r) {}

  // Trimmed cell, "" when empty or when the column is absent.
  std::string text(const std::string& column) const {
    const auto c = table_.column(column);
    if (!c || *c >= record_.fields.size()) return "";
    return trim(record_.fields[*c]);
  }

  // An integer, also when written as a whole number in decimal or exponent
  // form ("2048.0", "4e6", as spreadsheets export counts); "2.5" is an error.
  std::optional<int64_t> integer(const std::string& column) const {
    const std::string t = text(column);
    if (t.empty()) return std::nullopt;
    size_t i = t[0] == '-' || t[0] == '+' ? 1 : 0;
    bool digits = i < t.size();
    for (size_t k = i; k < t.size(); ++k) digits = digits && std::isdigit(static_cast<unsigned char>(t[k]));
    if (digits && t.size() <= 18) return std::stoll(t);
    const bool number_chars = std::all_of(t.begin(), t.end(), [](unsigned char ch) {
      return std::isdigit(ch) || ch == '.' || ch == 'e' || ch == 'E' || ch == '+' || ch == '-';
    });
    char* end = nullptr;
    const double v = std::strtod(t.c_str(), &end);
    // 2^53: every integer below it is exact in a double.
    constexpr double kExact = 9007199254740992.0;
    // A non-zero cell that underflows to 0 ("1e-400") is no integer either.
    const bool underflow = v == 0 && t.substr(0, t.find_first_of("eE")).find_first_of("123456789") != std::string::npos;
    if (digits || !number_chars || end != t.c_str() + t.size() || !std::isfinite(v) || underflow ||
        std::fabs(v) >= kExact || v != std::floor(v)) {
      throw RowError(fmt::format("column {}: expected an integer; found \"{}\"", column, t));
    }
    return static_cast<int64_t>(v);
  }

  std::optional<int64_t> positive(const std::string& column) const {
    const auto v = integer(column);
    if (v && *v < 1) throw RowError(fmt::format("column {}: expected a positive integer; found {}", column, *v));
    return v;
  }

  std::optional<double> number(const std::string& column) const {
    const std::string t = text(column);
    if (t.empty()) return std::nullopt;
    char* end = nullptr;
    const double v = std::strtod(t.c_str(), &end);
    if (end != t.c_str() + t.size() || !std::isfinite(v)) {
      throw RowError(fmt::format("column {}: expected a number; found \"{}\"", column, t));
    }
    if (v <= 0) throw RowError(fmt::format("column {}: expected a positive number; found {}", column, t));
    // Published figures and token counts lie far inside this range; outside it
    // is a typo, and a vanishing published value made the error infinite.
    if (v < 1e-9 || v > 1e18) {
      throw RowError(fmt::format("column {}: expected a number between 1e-9 and 1e18; found {}", column, t));
    }
    return v;
  }

 private:
  const CsvTable& table_;
  const CsvRecord& record_;
};

std::string one_of_error(const std::string& column, const std::string& found,
                         const std::vector<std::string>& allowed) {
  return fmt::format("column {}: expected one of {}; found \"{}\"{}", column, join(allowed, " | "), found,
                     did_you_mean(found, allowed));
}

// Smallest v >= 2 with pp*v dividing layers (Megatron-LM's divisibility rule); 2 if none.
// Smallest v >= 2 whose pp x v stages split the layers evenly, alone or with
// one slot each for the embedding, the loss and the MTP layers (at least one
// layer in every stage); 2 if none does.
int default_vpp(const model::Model& m, int pp) {
  for (int64_t v = 2; v * pp <= m.layers; ++v) {
    if (plan::interleaved_split_even(m, v * pp)) return static_cast<int>(v);
  }
  return 2;
}

model::Model build_model(const RowCells& c, RowResult& row) {
  const std::string config = c.text("model_config");
  if (!config.empty()) return model::load_model(config);
  model::ArchColumns a;
  a.layers = c.integer("layers");
  a.hidden = c.integer("hidden");
  a.heads = c.integer("heads");
  a.kv_heads = c.integer("kv_heads");
  a.ffn_size = c.integer("ffn_size");
  a.vocab = c.integer("vocab");
  a.seq_len = c.integer("seq_len");
  a.moe_experts = c.integer("moe_experts");
  a.moe_active_experts = c.integer("moe_active_experts");
  a.moe_shared_experts = c.integer("moe_shared_experts");
  a.moe_expert_ffn = c.integer("moe_expert_ffn");
  a.arch_type = c.text("arch_type");
  if (!a.vocab) {
    a.vocab = 51200;
    row.defaults_used.push_back("vocab=51200");
  }
  try {
    return model::model_from_columns(a, row.id, &row.defaults_used);
  } catch (const ConfigError& e) {
    // model_from_columns names the cell as "/<row id>/<column>"; the row is known here.
    const std::string& ptr = e.pointer();
    throw RowError(fmt::format("column {}: {}", ptr.substr(ptr.find_last_of('/') + 1), e.message()));
  }
}

// Sequence length and global batch (sequences) from their columns; the
// same for every layout. Returns true when the batch is approximate: stated
// only in tokens that are not a whole number of sequences (a round "4M
// tokens"), so build_plan() may round it to whole micro-batches
// (default_rules() "global_batch").
bool read_batch(const RowCells& c, plan::Plan& p, RowResult& row) {
  const auto seq_len = c.positive("seq_len");
  if (!seq_len) throw RowError("column seq_len: expected a positive integer; found an empty cell");
  p.seq_len = *seq_len;
  const auto seqs = c.positive("global_batch_seqs");
  const auto tokens = c.positive("global_batch_tokens");
  // Bounds far past any run, which keep seqs x seq_len inside int64.
  constexpr int64_t kMaxBatchSeqs = int64_t{1} << 32;
  if (*seq_len > model::kMaxSize) {
    throw RowError(fmt::format("column seq_len: expected at most {}; found {}", model::kMaxSize, *seq_len));
  }
  if (seqs && *seqs > kMaxBatchSeqs) {
    throw RowError(fmt::format("column global_batch_seqs: expected at most {}; found {}", kMaxBatchSeqs, *seqs));
  }
  if (seqs) {
    p.global_batch = *seqs;
    if (tokens && *tokens != *seqs * *seq_len) {
      row.notes.push_back(fmt::format("global_batch_tokens {} != global_batch_seqs*seq_len {}; used the sequences",
                                      *tokens, *seqs * *seq_len));
    }
  } else if (tokens) {
    p.global_batch = std::max<int64_t>(1, *tokens / *seq_len);  // provisional until rounded (build_plan)
    if (*tokens % *seq_len == 0) {
      row.derived.push_back(fmt::format("global_batch={} seqs (global_batch_tokens/seq_len)", p.global_batch));
      return false;
    }
    return true;  // rounded in build_plan() once dp and the micro-batch are known
  } else {
    throw RowError("global batch not stated (global_batch_seqs and global_batch_tokens are empty)");
  }
  return false;
}

// Tensor and pipeline degrees the "layout" default tries for a row that
// states none (choose_layout()).
struct ModelParallel {
  int64_t tp = 1;
  int64_t pp = 1;
};

bool states_layout(const RowCells& c) { return c.positive("tp") || c.positive("pp") || c.positive("dp"); }

// Fills the plan from the layout, batch and normalised columns; `layout`
// stands in for the tp and pp cells of a row that states no layout.
plan::Plan build_plan(const RowCells& c, const model::Model& m, int gpus, RowResult& row,
                      std::optional<ModelParallel> layout = std::nullopt) {
  plan::Plan p;
  auto tp = c.positive("tp");
  auto pp = c.positive("pp");
  auto dp = c.positive("dp");
  auto ep = c.positive("ep");
  auto cp = c.positive("cp");
  const auto vpp = c.positive("vpp");
  const auto mb = c.positive("micro_batch");
  // Degrees and sizes beyond any cluster's are typos (and would overflow the
  // int fields of the plan): at most the GPU-count limit.
  for (const auto& [name, v] : {std::pair{"ep", ep}, std::pair{"vpp", vpp}, std::pair{"micro_batch", mb}}) {
    if (v && *v > kMaxGpuCount) {
      throw RowError(fmt::format("column {}: expected at most {}; found {}", name, kMaxGpuCount, *v));
    }
  }
  if (!tp && !pp && !dp) {
    if (!layout) throw RowError("no parallel layout stated (tp, pp and dp are all empty)");
    tp = layout->tp;
    pp = layout->pp;
  }
  if (!cp) {
    cp = 1;
    row.defaults_used.push_back("cp=1");
  }
  if (!ep) {
    ep = 1;
    if (m.moe) row.defaults_used.push_back("ep=1");
  }
  // A product of layout degrees; one above the GPU count cannot divide it (and
  // is checked in floating point first, so no product overflows).
  auto product = [&](std::initializer_list<int64_t> factors, const char* what) -> int64_t {
    double d = 1;
    int64_t v = 1;
    for (const int64_t f : factors) d *= static_cast<double>(f);
    if (d > static_cast<double>(gpus)) {
      throw RowError(fmt::format("layout does not divide the GPU count: {} = {:.6g} exceeds gpu_count {}", what, d,
                                 gpus));
    }
    for (const int64_t f : factors) v *= f;
    return v;
  };
  auto divide = [&](int64_t den, const char* what) -> int64_t {
    if (gpus % den != 0) {
      throw RowError(fmt::format("layout does not divide the GPU count: gpu_count {} is not a multiple of {} = {}",
                                 gpus, what, den));
    }
    return gpus / den;
  };
  if (!dp) {
    if (!tp) {
      tp = 1;
      row.defaults_used.push_back("tp=1");
    }
    if (!pp) {
      pp = 1;
      row.defaults_used.push_back("pp=1");
    }
    dp = divide(product({*tp, *pp, *cp}, "tp*pp*cp"), "tp*pp*cp");
    row.derived.push_back(fmt::format("dp={} (gpu_count/(tp*pp*cp))", *dp));
  } else if (!tp && !pp) {
    const int64_t model_parallel = divide(product({*dp, *cp}, "dp*cp"), "dp*cp");
    tp = std::min<int64_t>(model_parallel, kGpusPerServer);
    if (model_parallel % *tp != 0) {
      throw RowError(fmt::format("tp and pp empty and the model-parallel size {} = gpu_count/(dp*cp) "
                                 "cannot be split into tp <= {} times pp",
                                 model_parallel, kGpusPerServer));
    }
    pp = model_parallel / *tp;
    if (model_parallel == 1) {
      row.derived.push_back("tp=1, pp=1 (gpu_count = dp*cp)");
    } else {
      row.defaults_used.push_back(fmt::format("tp_pp_split: tp={}, pp={}", *tp, *pp));
    }
  } else if (!tp) {
    tp = divide(product({*pp, *dp, *cp}, "pp*dp*cp"), "pp*dp*cp");
    row.derived.push_back(fmt::format("tp={} (gpu_count/(pp*dp*cp))", *tp));
  } else if (!pp) {
    pp = divide(product({*tp, *dp, *cp}, "tp*dp*cp"), "tp*dp*cp");
    row.derived.push_back(fmt::format("pp={} (gpu_count/(tp*dp*cp))", *pp));
  }
  int64_t data_parallel = *dp;
  const int64_t all = product({*tp, *pp, *dp, *cp}, "tp*pp*dp*cp");
  if (all != gpus) {
    if (*ep > 1 && static_cast<double>(all) * static_cast<double>(*ep) == static_cast<double>(gpus)) {
      // NVIDIA's tables print DP outside EP (GPUs = TP*PP*CP*EP*DP); trainsim's
      // plan, like Megatron-Core, nests EP inside the data-parallel group.
      data_parallel = *dp * *ep;
      row.derived.push_back(fmt::format("dp={} (the dp column excludes ep: tp*pp*cp*dp*ep = gpu_count)",
                                        data_parallel));
    } else {
      throw RowError(fmt::format("layout does not divide the GPU count: tp*pp*dp*cp = {}*{}*{}*{} = {}, "
                                 "gpu_count is {}",
                                 *tp, *pp, *dp, *cp, all, gpus));
    }
  }
  p.tp = static_cast<int>(*tp);
  p.pp = static_cast<int>(*pp);
  p.dp = static_cast<int>(data_parallel);
  p.cp = static_cast<int>(*cp);
  p.ep = static_cast<int>(*ep);

  // The year cell may be a range ("2023-2024"); its first year counts.
  const std::string year_text = c.text("year");
  std::optional<int64_t> year;
  if (year_text.size() >= 4 && std::all_of(year_text.begin(), year_text.begin() + 4,
                                           [](unsigned char ch) { return std::isdigit(ch) != 0; })) {
    year = std::stoll(year_text.substr(0, 4));
  }
  // Free-text cell some defaults read (default_rules()), lower-cased once.
  const std::string framework = to_lower(c.text("framework"));

  // Batch. An unstated micro-batch: default_rules() "micro_batch".
  const bool approximate_batch = read_batch(c, p, row);
  constexpr int64_t kLastTorchtitanMicrobatchCountYear = 2025;
  const bool torchtitan_split =
      !mb && p.pp > 1 && contains(framework, "torchtitan") && (!year || *year <= kLastTorchtitanMicrobatchCountYear);
  if (approximate_batch) {
    // default_rules() "global_batch": the nearest whole number of the batch's
    // unit per step, at least one: dp x the stated micro-batch, dp x pp where
    // torchtitan splits each replica's batch into pp micro-batches, else dp
    // (micro-batch 1). A rounding that moves the batch by more than
    // kMaxBatchRounding is no rounding of a round figure: the row is skipped.
    const int64_t unit = static_cast<int64_t>(p.dp) * (mb ? *mb : torchtitan_split ? p.pp : 1);
    const double seqs = c.number("global_batch_tokens").value_or(0) / static_cast<double>(p.seq_len);
    const int64_t units = std::max<int64_t>(1, std::llround(seqs / static_cast<double>(unit)));
    const int64_t rounded = units * unit;
    if (std::fabs(static_cast<double>(rounded) - seqs) > kMaxBatchRounding * seqs) {
      throw RowError(fmt::format("global_batch_tokens / seq_len = {:.6g} sequences is no whole number, and the "
                                 "nearest whole number of {}-sequence steps ({}) is more than {:.0f}% away",
                                 seqs, unit, rounded, 100.0 * kMaxBatchRounding));
    }
    p.global_batch = rounded;
    row.defaults_used.push_back(fmt::format("global_batch={} seqs (global_batch_tokens/seq_len = {:.6g}, rounded "
                                            "to whole steps of {} sequences)",
                                            p.global_batch, seqs, unit));
  }
  if (mb) {
    p.micro_batch = *mb;
  } else if (torchtitan_split) {
    const int64_t replicas = p.dp;
    if (p.global_batch % replicas != 0 || (p.global_batch / replicas) % p.pp != 0) {
      throw RowError(fmt::format("micro_batch unstated and torchtitan splits each replica's batch into pp = {} "
                                 "micro-batches, but global batch {} over dp = {} does not split so",
                                 p.pp, p.global_batch, replicas));
    }
    p.micro_batch = p.global_batch / replicas / p.pp;
    row.defaults_used.push_back(fmt::format("micro_batch={} (torchtitan: pp = {} micro-batches of the local batch {})",
                                            p.micro_batch, p.pp, p.global_batch / replicas));
  } else {
    p.micro_batch = 1;
    row.defaults_used.push_back("micro_batch=1");
  }
  if (p.global_batch % (static_cast<int64_t>(p.dp) * p.micro_batch) != 0) {
    throw RowError(fmt::format("global batch {} is not a multiple of dp*micro_batch = {}*{}", p.global_batch,
                               p.dp, p.micro_batch));
  }

  // Schedule and virtual stages.
  const std::string sched = c.text("schedule");
  static const std::vector<std::string> kSchedules = {"1f1b", "interleaved-1f1b", "zero-bubble", "dualpipe",
                                                      "dualpipev", "gpipe"};
  if (!sched.empty() && std::find(kSchedules.begin(), kSchedules.end(), sched) == kSchedules.end()) {
    throw RowError(one_of_error("schedule", sched, kSchedules));
  }
  std::string schedule = sched;
  if (schedule.empty()) {
    schedule = vpp && *vpp > 1 ? "interleaved-1f1b" : "1f1b";
    if (p.pp > 1) row.defaults_used.push_back("schedule=" + schedule);
  }
  if (p.pp == 1) {
    // No pipeline: the schedule and virtual stages do not apply.
    if (schedule != "1f1b") row.notes.push_back(fmt::format("pp = 1: schedule {} not used", schedule));
    p.schedule = plan::Schedule::k1F1B;
    p.vpp = 1;
  } else if (schedule == "interleaved-1f1b") {
    p.schedule = plan::Schedule::kInterleaved1F1B;
    if (vpp) {
      p.vpp = static_cast<int>(*vpp);
    } else {
      p.vpp = default_vpp(m, p.pp);
      row.defaults_used.push_back(fmt::format("vpp={}", p.vpp));
    }
  } else {
    if (vpp && *vpp > 1) {
      throw RowError(fmt::format("vpp {} is stated but schedule {} has no virtual stages", *vpp, schedule));
    }
    p.vpp = 1;
    if (schedule == "1f1b") p.schedule = plan::Schedule::k1F1B;
    else if (schedule == "zero-bubble") p.schedule = plan::Schedule::kZeroBubbleH1;
    else if (schedule == "dualpipe") p.schedule = plan::Schedule::kDualPipe;
    else if (schedule == "dualpipev") p.schedule = plan::Schedule::kDualPipeV;
    else p.schedule = plan::Schedule::kGpipe;
  }
  // DualPipe lends SMs to its overlapped communication: not a column
  // (default_rules(), "comm_sms").
  if (plan::overlapped(p.schedule)) {
    p.comm_sms = plan::dualpipe_comm_sms(hardware::load_accelerator(row.hw).sm_count);
    row.defaults_used.push_back(fmt::format("comm_sms={}", p.comm_sms));
  }

  // Free-text cell the recompute defaults read (default_rules()), lower-cased once.
  const std::string recompute_text = to_lower(c.text("activation_recompute"));

  // Recompute.
  const std::string rc = c.text("recompute");
  if (rc.empty()) {
    p.recompute = plan::Recompute::kNone;
    row.defaults_used.push_back("recompute=none");
  } else if (rc == "none") {
    p.recompute = plan::Recompute::kNone;
  } else if (rc == "selective") {
    // Which selective policy: default_rules() "selective".
    if (contains(recompute_text, "selective op")) {
      p.recompute = plan::Recompute::kSelectiveOp;
    } else if (contains(recompute_text, "selective layer")) {
      p.recompute = plan::Recompute::kEveryOtherLayer;
    } else if (contains(framework, "torchtitan")) {
      p.recompute = plan::Recompute::kSelectiveOp;
    } else if (m.attention == model::AttentionKind::kMla) {
      p.recompute = plan::Recompute::kDeepSeek;
    } else {
      p.recompute = plan::Recompute::kSelective;
    }
    row.defaults_used.push_back(fmt::format("selective={}", plan::to_string(p.recompute)));
  } else if (rc == "full") {
    p.recompute = plan::Recompute::kFull;
  } else {
    throw RowError(one_of_error("recompute", rc, {"none", "selective", "full"}));
  }

  // Data-parallel sharding.
  const auto zero = c.integer("zero");
  constexpr int64_t kFirstDistributedOptimizerYear = 2023;
  constexpr int64_t kFirstSequenceParallelYear = 2022;
  if (!zero) {
    p.zero_stage = year && *year >= kFirstDistributedOptimizerYear ? 1 : 0;
    row.defaults_used.push_back(fmt::format("zero={}", p.zero_stage));
  } else if (*zero < 0 || *zero > 3) {
    throw RowError(fmt::format("column zero: expected 0, 1, 2 or 3; found {}", *zero));
  } else {
    p.zero_stage = static_cast<int>(*zero);
  }
  // DP gradient reduction timing (ZeRO < 3): not a column; by year
  // (default_rules(), "overlap_grad_reduce").
  p.overlap_grad_reduce = year && *year >= kFirstDistributedOptimizerYear;
  if (p.zero_stage < 3 && p.dp > 1) {
    row.defaults_used.push_back(p.overlap_grad_reduce ? "overlap_grad_reduce=on" : "overlap_grad_reduce=off");
  }
  // Pipeline sends overlapped with compute: not a column; by framework, year
  // and schedule (default_rules(), "overlap_p2p_comm").
  constexpr int64_t kFirstNemo2Year = 2024;
  if (p.pp > 1 && !plan::overlapped(p.schedule)) {
    p.overlap_p2p_comm = contains(framework, "nemo") && year && *year >= kFirstNemo2Year && p.vpp > 1;
    row.defaults_used.push_back(p.overlap_p2p_comm ? "overlap_p2p_comm=on" : "overlap_p2p_comm=off");
  }
  // Weight-gradient accumulation (ZeRO < 3): not a column; by framework and
  // year (default_rules(), "gradient_accumulation_fusion").
  constexpr int64_t kLastUnfusedAccumulationYear = 2021;
  p.gradient_accumulation_fusion = !(contains(framework, "megatron") && year && *year <= kLastUnfusedAccumulationYear);
  if (p.zero_stage < 3) {
    row.defaults_used.push_back(p.gradient_accumulation_fusion ? "grad_accumulation=fused" : "grad_accumulation=unfused");
  }
  if (p.zero_stage == 3) {
    // ZeRO-3 implementation: not a column; by framework and year (default_rules()).
    constexpr int64_t kLastUncoalescedDeepSpeedYear = 2021;
    if (contains(framework, "deepspeed") && year && *year <= kLastUncoalescedDeepSpeedYear) {
      p.zero3_framework = "deepspeed-zero3-2021";
    }
    row.defaults_used.push_back("zero3_framework=" + p.zero3_framework);
  }

  // Precision: all operators at 16 bit, FP32 master weights, gradients and
  // moments (mixed precision, Micikevicius et al. 2018); "fp8" lowers only
  // the linear-layer GEMMs (Transformer Engine / torchao Float8 linears).
  const std::string prec = c.text("prec");
  plan::PrecisionPolicy pol;  // BF16 operators, FP32 master/gradients/moments
  if (prec.empty()) {
    row.defaults_used.push_back("prec=bf16");
  } else if (prec == "bf16") {
  } else if (prec == "fp16") {
    pol.linear_gemms = pol.attention = pol.embedding_head = pol.weights = Precision::kFP16;
    pol.dispatch = pol.combine = Precision::kFP16;
  } else if (prec == "fp8") {
    pol.linear_gemms = Precision::kFP8;
  } else {
    throw RowError(one_of_error("prec", prec, {"bf16", "fp16", "fp8"}));
  }
  p.precision = pol;

  // Attention kernels: not a column; by year and framework (default_rules()).
  constexpr int64_t kFirstFlashYear = 2023;
  const bool pytorch_native = contains(framework, "torchtitan") || contains(framework, "llm-foundry");
  p.attention = year && *year < kFirstFlashYear ? graph::AttentionImpl::kUnfused
                : pytorch_native                ? graph::AttentionImpl::kFlash2
                                                : graph::AttentionImpl::kFlash;
  row.defaults_used.push_back(fmt::format("attention={}", graph::to_string(p.attention)));

  // Memory-bound kernels: not a column; eager for torchtitan rows whose name
  // and framework cells do not say torch.compile (default_rules()).
  const bool compiled = contains(to_lower(c.text("name")), "compile") || contains(framework, "compile");
  p.elementwise = contains(framework, "torchtitan") && !compiled ? graph::ElementwiseImpl::kEager
                                                                 : graph::ElementwiseImpl::kFused;
  row.defaults_used.push_back(fmt::format("elementwise={}", graph::to_string(p.elementwise)));

  // Sequence parallelism (tp > 1): what the activation_recompute cell says
  // ("+ sequence parallelism", "(no sequence parallelism)"), else by year.
  if (contains(recompute_text, "no sequence parallel")) {
    p.sequence_parallel = false;
  } else if (contains(recompute_text, "sequence parallel")) {
    p.sequence_parallel = p.tp > 1;
  } else {
    p.sequence_parallel = p.tp > 1 && year && *year >= kFirstSequenceParallelYear;
  }
  if (p.tp > 1) row.defaults_used.push_back(p.sequence_parallel ? "sequence_parallel=on" : "sequence_parallel=off");
  p.expert_load_imbalance = 1.0;
  if (m.moe) row.defaults_used.push_back("expert_load_imbalance=1.0");
  return p;
}

// The "layout" default (default_rules()) for a row that states none of tp,
// pp and dp: the least model parallelism with which the plan runs (divides
// the heads, layers, GPUs and batch, and fits the HBM in trainsim's memory
// model): tp = 1, 2, 4, 8 (dividing the GPUs and the heads) at pp = 1, then
// pp = 2, 3, ... (divisors of the GPUs) at the largest of those tp; dp takes
// the rest.
plan::Plan choose_layout(const RowCells& c, const model::Model& m, int gpus, RowResult& row) {
  {
    // What no layout can mend is reported as itself, not as 'no layout runs'.
    plan::Plan scratch;
    RowResult unused = row;
    read_batch(c, scratch, unused);
  }
  const hardware::Cluster cluster = hardware::generic_cluster(row.hw, gpus);
  const int64_t cp = c.positive("cp").value_or(1);
  if (gpus % cp != 0) {
    throw RowError(fmt::format("layout does not divide the GPU count: gpu_count {} is not a multiple of cp = {}",
                               gpus, cp));
  }
  const int64_t model_gpus = gpus / cp;
  std::vector<ModelParallel> candidates;
  int64_t widest_tp = 1;
  for (int64_t tp = 1; tp <= kGpusPerServer; tp *= 2) {
    // Multi-query attention's one key/value head is replicated over tp (plan/validate.cc).
    const bool kv_splits = m.kv_heads == 1 || m.kv_heads % tp == 0;
    if (model_gpus % tp != 0 || m.heads % tp != 0 || !kv_splits || m.ffn % tp != 0) continue;
    candidates.push_back({tp, 1});
    widest_tp = tp;
  }
  for (int64_t pp = 2; pp <= m.layers && pp <= model_gpus / widest_tp; ++pp) {
    if ((model_gpus / widest_tp) % pp == 0) candidates.push_back({widest_tp, pp});
  }
  std::string last_reason = "no candidate divides the GPU count";
  for (const ModelParallel& mp : candidates) {
    RowResult trial = row;
    try {
      plan::Plan p = build_plan(c, m, gpus, trial, mp);
      plan::validate_plan(p, m, cluster);
      trial.defaults_used.insert(trial.defaults_used.begin(),
                                 fmt::format("layout: tp={} pp={} dp={}", p.tp, p.pp, p.dp));
      row = std::move(trial);
      return p;
    } catch (const RowError& e) {
      last_reason = e.what();
    } catch (const PlanError& e) {
      last_reason = e.what();
    }
  }
  throw RowError(fmt::format("no parallel layout stated (tp, pp and dp are all empty), and none of the {} "
                             "layouts of the default rule runs; the last: {}",
                             candidates.size(), last_reason));
}

Published read_published(const RowCells& c, int gpus, RowResult& row) {
  Published pub;
  pub.step_time_s = c.number("out_iter_time_s");
  pub.tokens_per_s_per_gpu = c.number("out_tokens_per_s_per_gpu");
  if (!pub.tokens_per_s_per_gpu) {
    if (const auto total = c.number("out_tokens_per_s_total")) {
      pub.tokens_per_s_per_gpu = *total / gpus;
      row.derived.push_back("published tokens/s/GPU = out_tokens_per_s_total / gpu_count");
    }
  }
  pub.tflops_per_gpu = c.number("out_tflops_per_gpu");
  if (const auto v = c.number("out_mfu_pct")) pub.mfu = *v / 100.0;
  if (const auto v = c.number("out_hfu_pct")) pub.hfu = *v / 100.0;
  pub.gpu_hours = c.number("out_gpu_hours");
  pub.wall_clock_days = c.number("out_wall_clock_days");
  pub.gpu_hours_per_trillion_tokens = c.number("out_gpu_hours_per_T_tokens");
  pub.convention = classify_flop_convention(c.text("flops_convention"));
  return pub;
}

// Chooses the comparison (validation.h, order of preference) and fills the
// row's metric, values and error.
void compare(const RowCells& c, const model::Model& m, const plan::Plan& p, int gpus, RowResult& row) {
  const Published& pub = row.published;
  const Prediction& pred = *row.predicted;
  const double step = pred.step_time.value();
  auto set = [&](Metric metric, double predicted, double published) {
    row.metric = metric;
    row.predicted_value = predicted;
    row.published_value = published;
    row.metric_error_pct = (predicted - published) / published * 100.0;
    row.error_pct = step_error_pct(metric, predicted, published);
    if (metric != Metric::kGpuHours) {
      // Same work per step: a figure proportional to 1/step implies the step
      // predicted x predicted / published; a time is the step itself.
      row.implied_step_time_s = metric == Metric::kStepTime ? published : step * predicted / published;
    }
    if (!std::isfinite(*row.metric_error_pct) || !std::isfinite(*row.error_pct) ||
        (row.implied_step_time_s && !std::isfinite(*row.implied_step_time_s))) {
      throw RowError(fmt::format("the error against the published {} of {} is not a finite number (predicted {})",
                                 to_string(metric), published, predicted));
    }
  };
  if (pub.step_time_s) return set(Metric::kStepTime, step, *pub.step_time_s);
  if (pub.tokens_per_s_per_gpu) return set(Metric::kTokensPerSecPerGpu, pred.tokens_per_s_per_gpu, *pub.tokens_per_s_per_gpu);
  // A convention the text does not name is the default one, listed among the
  // row's defaults when a utilisation figure is what gets compared.
  const bool defaulted = pub.convention == FlopConvention::kUnknown;
  const FlopConvention conv = defaulted ? kDefaultFlopConvention : pub.convention;
  // The row's hardware-to-model FLOP ratio under its recompute policy.
  const double hardware_over_model = pred.mfu > 0 && pred.hfu > 0 ? pred.hfu / pred.mfu : 1.0;
  const auto per_gpu = [&](FlopConvention k) -> std::optional<double> {  // FLOP/s per GPU under k
    const auto f = convention_flops_per_step(k, m, p.global_batch, p.seq_len, hardware_over_model);
    if (!f) return std::nullopt;
    return f->value() / (step * gpus);
  };
  const auto compare_utilisation = [&](Metric metric, FlopConvention k, double published, const char* what) {
    if (defaulted) {
      row.defaults_used.push_back(fmt::format("flops_convention={}{}", to_string(conv),
                                              k != conv ? " (its HFU adds the recompute forward)" : ""));
    }
    row.notes.push_back(fmt::format("{} recomputed with the row's convention ({})", what, to_string(k)));
    const double achieved = *per_gpu(k);
    const double predicted = metric == Metric::kTflopsPerGpu ? achieved / units::kTera
                                                             : achieved / pred.peak_bf16.value();
    set(metric, predicted, published);
  };
  if (per_gpu(conv)) {
    const bool eq3 = conv == FlopConvention::kMegatronRecompute4Pass;
    if (pub.tflops_per_gpu) return compare_utilisation(Metric::kTflopsPerGpu, conv, *pub.tflops_per_gpu, "TFLOP/s");
    if (pub.mfu && !eq3) return compare_utilisation(Metric::kMfu, conv, *pub.mfu, "MFU");
    if (pub.hfu) {
      // Eq. 3 and hardware FLOPs count the recompute already; a model-FLOP
      // convention's HFU adds the recompute forward (the same 6N + 12lhs count
      // times the row's hardware-to-model ratio).
      const FlopConvention k = eq3 ? conv : FlopConvention::kHardwareFlops;
      return compare_utilisation(Metric::kHfu, k, *pub.hfu, eq3 ? "HFU (Narayanan 2021 Eq. 3, recompute-inclusive)" : "HFU");
    }
  }
  // Whole-run GPU-hours only: predicted = tokens / (tokens/s/GPU) / goodput.
  const double gpu_seconds_per_token = 1.0 / (pred.tokens_per_s_per_gpu * kAssumedGoodput);
  if (pub.gpu_hours) {
    const auto tokens = c.number("tokens_trained");
    if (!tokens) {
      throw RowError("only whole-run GPU-hours are published, and tokens_trained is empty");
    }
    row.defaults_used.push_back(fmt::format("goodput={:.2f}", kAssumedGoodput));
    return set(Metric::kGpuHours, *tokens * gpu_seconds_per_token / units::kSecondsPerHour, *pub.gpu_hours);
  }
  if (pub.gpu_hours_per_trillion_tokens) {
    row.defaults_used.push_back(fmt::format("goodput={:.2f}", kAssumedGoodput));
    return set(Metric::kGpuHours, units::kTera * gpu_seconds_per_token / units::kSecondsPerHour,
               *pub.gpu_hours_per_trillion_tokens);
  }
  if (pub.wall_clock_days) {
    // Whole-run wall-clock days on the row's GPUs are the GPU-hours allocated.
    const auto tokens = c.number("tokens_trained");
    if (!tokens) {
      throw RowError("only the whole run's wall-clock days are published, and tokens_trained is empty");
    }
    row.derived.push_back("published GPU-hours = out_wall_clock_days x 24 h x gpu_count");
    row.defaults_used.push_back(fmt::format("goodput={:.2f}", kAssumedGoodput));
    const double hours = *pub.wall_clock_days * (units::kSecondsPerDay / units::kSecondsPerHour) * gpus;
    return set(Metric::kGpuHours, *tokens * gpu_seconds_per_token / units::kSecondsPerHour, hours);
  }
  if (pub.tflops_per_gpu || pub.mfu || pub.hfu) {
    throw RowError(fmt::format("only a utilisation figure is published and its FLOP convention ({}) cannot be "
                               "reproduced from the columns",
                               to_string(pub.convention)));
  }
  throw RowError(
      "no published outcome to compare (iteration time, tokens/s, TFLOP/s, MFU, HFU, GPU-hours, wall-clock days all "
      "empty)");
}

// Stats of the step-time errors (or, with metric_scale, the metric errors)
// of the compared rows that `pick` selects.
ErrorStats stats_where(const std::vector<RowResult>& rows, const std::function<bool(const RowResult&)>& pick,
                       bool metric_scale = false) {
  std::vector<std::pair<std::string, double>> v;
  double other_scale = 0;  // sum of |error| on the scale not chosen
  for (const auto& r : rows) {
    const std::optional<double>& e = metric_scale ? r.metric_error_pct : r.error_pct;
    const std::optional<double>& o = metric_scale ? r.error_pct : r.metric_error_pct;
    if (r.status != RowStatus::kOk || !e || !pick(r)) continue;
    v.emplace_back(r.id, *e);
    other_scale += o ? std::fabs(*o) : std::fabs(*e);
  }
  ErrorStats s = error_stats(v);
  if (s.n > 0) s.metric_mape_pct = metric_scale ? s.mape_pct : other_scale / s.n;
  return s;
}

}  // namespace

ValidationReport validate_runs(const CsvTable& table, const Predictor& predict, Engine engine,
                               const std::string& command) {
  ValidationReport rep;
  rep.file = table.file();
  rep.command = command;
  rep.engine = engine;

  std::vector<std::string> missing;
  for (const auto& col : input_columns()) {
    if (!table.has_column(col)) missing.push_back(col);
  }
  std::set<std::string> seen_ids;
  for (const CsvRecord& rec : table.records()) {
    RowCells cells(table, rec);
    RowResult row;
    row.line = rec.line;
    row.id = cells.text("id");
    if (row.id.empty()) row.id = fmt::format("line {}", rec.line);
    row.family = cells.text("family");
    if (row.family.empty()) row.family = "(no family)";
    row.hw = cells.text("hw");
    try {
      if (rec.fields.size() != table.header().size()) {
        throw RowError(fmt::format("line {} has {} fields; the header has {}", rec.line, rec.fields.size(),
                                   table.header().size()));
      }
      if (!seen_ids.insert(row.id).second) throw RowError(fmt::format("duplicate id \"{}\"", row.id));
      if (!missing.empty()) {
        throw RowError(fmt::format("the file has no column(s) {}", join(missing)));
      }
      if (row.hw.empty()) throw RowError("column hw: expected a hardware profile name; found an empty cell");
      const auto gpus = cells.positive("gpu_count");
      if (!gpus) throw RowError("column gpu_count: expected a positive integer; found an empty cell");
      if (*gpus > kMaxGpuCount) throw RowError(fmt::format("column gpu_count: {} is not a plausible GPU count", *gpus));
      row.published = read_published(cells, static_cast<int>(*gpus), row);
      model::Model m = build_model(cells, row);
      plan::Plan p = states_layout(cells) ? build_plan(cells, m, static_cast<int>(*gpus), row)
                                          : choose_layout(cells, m, static_cast<int>(*gpus), row);
      row.plan = p;
      RunSpec spec{row.id, m, p, row.hw, static_cast<int>(*gpus)};
      Prediction pred = predict(spec);
      if (!(pred.step_time.value() > 0) || !std::isfinite(pred.step_time.value())) {
        throw InternalError(fmt::format("the engine returned a step time of {} s", pred.step_time.value()));
      }
      // Throughput from the prediction's own step time, so the metrics agree.
      pred.tokens_per_s_per_gpu = static_cast<double>(p.global_batch * p.seq_len) /
                                  (pred.step_time.value() * static_cast<double>(*gpus));
      row.calibrated = !pred.default_tables;
      row.predicted = pred;
      for (const auto& n : pred.notes) row.notes.push_back(n);
      for (const auto& n : pred.engine_notes) {
        if (std::find(rep.engine_notes.begin(), rep.engine_notes.end(), n) == rep.engine_notes.end()) {
          rep.engine_notes.push_back(n);
        }
      }
      compare(cells, m, p, static_cast<int>(*gpus), row);
      row.status = RowStatus::kOk;
    } catch (const RowError& e) {
      row.reason = e.what();
    } catch (const ConfigError& e) {
      row.reason = e.what();
    } catch (const PlanError& e) {
      row.reason = fmt::format("plan cannot run: {}", e.what());
    } catch (const UsageError& e) {
      row.reason = e.what();
    } catch (const IoError& e) {
      row.reason = e.what();
    } catch (const std::exception& e) {
      // Never crash on one row; but say plainly that this is a trainsim bug.
      row.reason = fmt::format("internal error (a trainsim bug): {}", e.what());
    }
    if (row.status == RowStatus::kSkipped) {
      row.predicted.reset();
      row.error_pct.reset();
      row.metric_error_pct.reset();
      row.implied_step_time_s.reset();
      row.metric = Metric::kNone;
    }
    rep.rows.push_back(std::move(row));
  }

  auto main_metric = [](const RowResult& r) { return group_of(r) == RowGroup::kMain; };
  rep.overall = stats_where(rep.rows, main_metric);
  rep.overall_metric = stats_where(rep.rows, main_metric, /*metric_scale=*/true);
  rep.gpu_hours = stats_where(rep.rows, [](const RowResult& r) { return group_of(r) == RowGroup::kGpuHours; });
  rep.uncalibrated =
      stats_where(rep.rows, [](const RowResult& r) { return group_of(r) == RowGroup::kUncalibrated; });
  std::set<std::string> families, hardware;
  std::set<Metric> metrics;
  for (const auto& r : rep.rows) {
    if (r.status == RowStatus::kOk && main_metric(r)) {
      families.insert(r.family);
      hardware.insert(r.hw);
      metrics.insert(r.metric);
    }
  }
  for (const auto& f : families) {
    rep.by_family[f] = stats_where(rep.rows, [&](const RowResult& r) { return main_metric(r) && r.family == f; });
  }
  for (const auto& h : hardware) {
    rep.by_hardware[h] = stats_where(rep.rows, [&](const RowResult& r) { return main_metric(r) && r.hw == h; });
  }
  for (const auto& mt : metrics) {
    rep.by_metric[to_string(mt)] =
        stats_where(rep.rows, [&](const RowResult& r) { return main_metric(r) && r.metric == mt; });
  }
  return rep;
}

}  // namespace trainsim::report

namespace trainsim::report {

std::optional<double> step_error_pct(Metric m, double predicted, double published) {
  switch (m) {
    case Metric::kStepTime:
    case Metric::kGpuHours: return (predicted - published) / published * 100.0;
    case Metric::kTokensPerSecPerGpu:
    case Metric::kTflopsPerGpu:
    case Metric::kMfu:
    case Metric::kHfu: return (published / predicted - 1.0) * 100.0;
    case Metric::kNone: break;
  }
  return std::nullopt;
}

TimeErrorSummary time_error_summary(const ValidationReport& r,
                                    const std::function<bool(const RowResult&)>& include) {
  TimeErrorSummary out;
  auto pick = [&](const RowResult& x) { return group_of(x) == RowGroup::kMain && include(x); };
  out.stats = stats_where(r.rows, pick);
  std::vector<double> times;
  std::set<std::string> hw;
  for (const auto& x : r.rows) {
    if (x.status != RowStatus::kOk || !x.error_pct || !pick(x)) continue;
    times.push_back(*x.error_pct);
    hw.insert(x.hw);
  }
  std::sort(times.begin(), times.end());
  out.median_time_error_pct = quantile(times, 0.5);
  out.p10_time_error_pct = quantile(times, 0.10);
  out.p90_time_error_pct = quantile(times, 0.90);
  out.hardware.assign(hw.begin(), hw.end());
  return out;
}

RowGroup group_of(const RowResult& r) {
  if (!r.calibrated) return RowGroup::kUncalibrated;
  return r.metric == Metric::kGpuHours ? RowGroup::kGpuHours : RowGroup::kMain;
}

const char* to_string(RowGroup g) {
  switch (g) {
    case RowGroup::kMain: return "main";
    case RowGroup::kGpuHours: return "gpu_hours";
    case RowGroup::kUncalibrated: return "uncalibrated_hardware";
  }
  return "?";
}

std::string signed_whole_percent(double pct) {
  const double whole = std::round(pct);
  return whole == 0 ? "0%" : fmt::format("{:+.0f}%", whole);  // never "-0%"
}

std::string step_error_range(const TimeErrorSummary& t) {
  return fmt::format("step error P10 {}, median {}, P90 {}", signed_whole_percent(t.p10_time_error_pct),
                     signed_whole_percent(t.median_time_error_pct), signed_whole_percent(t.p90_time_error_pct));
}

TrackRecordBand track_record_band(const TimeErrorSummary& t, double predicted) {
  const auto actual = [&](double err_pct) { return predicted / (1.0 + err_pct / 100.0); };
  return {actual(t.p90_time_error_pct), actual(t.median_time_error_pct), actual(t.p10_time_error_pct)};
}

}  // namespace trainsim::report
