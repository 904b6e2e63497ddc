#include "plan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

namespace trainsim::calibrate {

std::string precision_name(GemmPrecision p) { return p == GemmPrecision::kBF16 ? "bf16" : "fp8"; }

std::string scaling_name(GemmScaling s) {
  switch (s) {
    case GemmScaling::kNone: return "";
    case GemmScaling::kTensor: return "tensor";
    case GemmScaling::kBlock: return "block";
  }
  return "";
}

std::string variant_name(GemmVariant v) {
  std::string s = precision_name(v.precision);
  if (v.scaling != GemmScaling::kNone) s += "-" + scaling_name(v.scaling);
  return s;
}

std::string memory_op_name(MemoryOp op) {
  switch (op) {
    case MemoryOp::kCopy: return "copy";
    case MemoryOp::kRmsNorm: return "rmsnorm";
    case MemoryOp::kSwiGlu: return "swiglu";
    case MemoryOp::kAdamW: return "adamw";
    case MemoryOp::kFp8Quantize: return "quantize";  // BF16 -> FP8 E4M3, 1x128 block scales
  }
  return "";
}

double memory_op_bytes_per_element(MemoryOp op) {
  switch (op) {
    case MemoryOp::kCopy: return 4.0;         // BF16 read 2 + write 2
    case MemoryOp::kRmsNorm: return 4.0;      // BF16 x read 2 + y write 2 (the weight stays cached)
    case MemoryOp::kSwiGlu: return 6.0;       // per output element: gate 2 + up 2 read, out 2 write
    case MemoryOp::kAdamW: return 28.0;       // FP32 param, grad, m, v read (16) + param, m, v written (12)
    case MemoryOp::kFp8Quantize: return 3.0 + 4.0 / 128.0;  // BF16 read 2, E4M3 write 1, FP32 scale per 128
  }
  return 0.0;
}

std::string collective_op_name(CollectiveOp op) {
  switch (op) {
    case CollectiveOp::kAllReduce: return "all_reduce";
    case CollectiveOp::kAllGather: return "all_gather";
    case CollectiveOp::kReduceScatter: return "reduce_scatter";
    case CollectiveOp::kAllToAll: return "all_to_all";
    case CollectiveOp::kSendRecv: return "send_recv";
  }
  return "";
}

namespace {

struct Shape {
  int64_t n, k;
  std::string label;
};

constexpr int64_t kKiB = 1024;
constexpr int64_t kMiB = 1024 * kKiB;
constexpr int64_t kGiB = 1024 * kMiB;

// DeepSeek-V3 (arXiv:2412.19437 §4.2; config.json): hidden 7168, q_lora_rank 1536,
// kv_lora_rank 512 + qk_rope_head_dim 64, 128 heads of qk 128+64 = 192 and v 128,
// routed expert FFN 2048, dense FFN 18432, vocab 129280.
std::vector<Shape> deepseek_v3_shapes() {
  return {
      {1536, 7168, "deepseek_v3 q_a (down) proj"},
      {576, 7168, "deepseek_v3 kv_a (down) proj, 512+64"},
      {24576, 1536, "deepseek_v3 q_b (up) proj, 128x192"},
      {32768, 512, "deepseek_v3 kv_b (up) proj, 128x(128+128)"},
      {7168, 16384, "deepseek_v3 o proj, 128x128"},
      {4096, 7168, "deepseek_v3 expert gate+up, 2x2048"},
      {7168, 2048, "deepseek_v3 expert down"},
      {36864, 7168, "deepseek_v3 dense gate+up, 2x18432"},
      {7168, 18432, "deepseek_v3 dense down"},
      {129280, 7168, "deepseek_v3 output head"},
  };
}

// Llama 3.1 (arXiv:2407.21783 Table 3): 8B hidden 4096 / FFN 14336 / 32 heads / 8 KV heads;
// 70B 8192 / 28672 / 64 / 8; 405B 16384 / 53248 / 128 / 8; head dim 128; vocab 128256.
// GPT-3 175B (arXiv:2005.14165 Table 2.1): hidden 12288, FFN 4x, vocab 50257 padded to 50304
// as Megatron-LM pads it to a multiple of 128.
std::vector<Shape> other_model_shapes() {
  return {
      {6144, 4096, "llama3_8b qkv proj"},
      {4096, 4096, "llama3_8b o proj"},
      {28672, 4096, "llama3_8b gate+up"},
      {4096, 14336, "llama3_8b down"},
      {128256, 4096, "llama3_8b output head"},
      {10240, 8192, "llama3_70b qkv proj"},
      {8192, 8192, "llama3_70b o proj"},
      {57344, 8192, "llama3_70b gate+up"},
      {8192, 28672, "llama3_70b down"},
      {128256, 8192, "llama3_70b output head"},
      {18432, 16384, "llama3_405b qkv proj"},
      {16384, 16384, "llama3_405b o proj"},
      {106496, 16384, "llama3_405b gate+up"},
      {16384, 53248, "llama3_405b down"},
      {128256, 16384, "llama3_405b output head"},
      {36864, 12288, "gpt3_175b qkv proj"},
      {12288, 12288, "gpt3_175b o proj"},
      {49152, 12288, "gpt3_175b fc1"},
      {12288, 49152, "gpt3_175b fc2"},
      {50304, 12288, "gpt3_175b output head (vocab padded)"},
  };
}

const std::vector<GemmVariant> kGemmVariants = {
    {GemmPrecision::kBF16, GemmScaling::kNone},
    {GemmPrecision::kFP8, GemmScaling::kTensor},
    {GemmPrecision::kFP8, GemmScaling::kBlock},
};

}  // namespace

Plan make_plan(double sustained_seconds) {
  Plan plan;
  // "sustained" runs last, so that its minutes of heat do not slow the burst points, and takes
  // the 5% the other categories leave (plus whatever they leave unused).
  plan.categories = {{"gemm", 0.37},        {"grouped_gemm", 0.12}, {"attention", 0.08},
                     {"memory", 0.10},      {"collective", 0.15},   {"interference", 0.13},
                     {"sustained", 0.05}};

  // Dense GEMM, coarse to fine in M. Each tier: every variant, then every shape.
  const std::vector<std::vector<int64_t>> m_tiers = {{4096}, {64, 16384}, {1024, 256}, {2048, 8192, 512, 128}};
  const std::set<int64_t> m_other_models = {4096, 64, 16384, 1024, 256};
  const std::set<int64_t> m_dgrad = {4096, 16384, 1024};
  const std::set<int64_t> m_wgrad = {4096, 16384};
  for (const auto& tier : m_tiers) {
    for (GemmVariant v : kGemmVariants) {
      for (int64_t m : tier) {
        for (const Shape& s : deepseek_v3_shapes()) plan.gemms.push_back({v, m, s.n, s.k, s.label + " fwd"});
        if (m_dgrad.count(m)) {
          // Input gradient dX[m,k] = dY[m,n] W[n,k]: n and k swap.
          for (const Shape& s : deepseek_v3_shapes()) plan.gemms.push_back({v, m, s.k, s.n, s.label + " dgrad"});
        }
        if (m_wgrad.count(m)) {
          // Weight gradient dW[n,k] = dY^T[n,m] X[m,k]: the tokens are the reduction.
          for (const Shape& s : deepseek_v3_shapes()) plan.gemms.push_back({v, s.n, s.k, m, s.label + " wgrad"});
        }
        if (m_other_models.count(m)) {
          for (const Shape& s : other_model_shapes()) plan.gemms.push_back({v, m, s.n, s.k, s.label + " fwd"});
        }
      }
    }
  }

  // Grouped GEMM for DeepSeek-V3's routed experts: 256 experts over EP ranks leaves 4..32 experts
  // per GPU; m is tokens per expert.
  const std::vector<std::vector<int64_t>> expert_m_tiers = {{2048}, {128, 8192}, {512}};
  const std::vector<Shape> expert_shapes = {{4096, 7168, "deepseek_v3 expert gate+up"},
                                            {7168, 2048, "deepseek_v3 expert down"}};
  for (const auto& tier : expert_m_tiers) {
    for (GemmVariant v : kGemmVariants) {
      for (int64_t m : tier) {
        for (int groups : {4, 8, 16, 32}) {
          for (const Shape& s : expert_shapes) plan.grouped_gemms.push_back({v, groups, m, s.n, s.k, s.label});
        }
      }
    }
  }

  // Attention through cuDNN's fused SDPA, coarse to fine in sequence length; each sequence length
  // gets both models and both directions before the next.
  for (int seq : {8192, 4096, 32768, 16384}) {
    for (const char* dir : {"fwd", "bwd"}) {
      plan.attention.push_back({dir, 1, seq, 128, 192, 128, true});  // DeepSeek-V3 MLA
      plan.attention.push_back({dir, 1, seq, 64, 128, 128, true});   // Llama 3 70B
    }
  }

  // Memory-bound kernels by bytes moved.
  for (int64_t bytes : {256 * kMiB, 4 * kMiB, 4 * kGiB, 1 * kMiB, 16 * kMiB, 64 * kMiB, 1 * kGiB}) {
    for (MemoryOp op : {MemoryOp::kCopy, MemoryOp::kRmsNorm, MemoryOp::kSwiGlu, MemoryOp::kAdamW,
                        MemoryOp::kFp8Quantize}) {
      const double per = memory_op_bytes_per_element(op);
      // Whole rows for the row-wise ops: RMSNorm rows of 7168, SwiGLU rows of 2048 outputs,
      // FP8 quantisation blocks of 128; everything a multiple of 8 elements for 16-byte vectors.
      int64_t granule = op == MemoryOp::kRmsNorm ? 7168 : op == MemoryOp::kSwiGlu ? 2048 : 128;
      int64_t elements = static_cast<int64_t>(std::floor(static_cast<double>(bytes) / per / granule)) * granule;
      if (elements < granule) elements = granule;
      plan.memory.push_back({op, elements, static_cast<int64_t>(std::llround(elements * per))});
    }
  }

  for (int64_t bytes : {64 * kMiB, 1 * kKiB, 1 * kGiB, 1 * kMiB, 16 * kKiB, 256 * kMiB, 4 * kMiB, 64 * kKiB,
                        16 * kMiB, 4 * kKiB, 256 * kKiB}) {
    for (CollectiveOp op : {CollectiveOp::kAllReduce, CollectiveOp::kAllGather, CollectiveOp::kReduceScatter,
                            CollectiveOp::kAllToAll, CollectiveOp::kSendRecv}) {
      plan.collectives.push_back({op, bytes});
    }
  }

  // Interference: a DeepSeek-V3 expert gate+up GEMM at 8192 tokens while a persistent copy kernel
  // holds comm_sms SMs (DeepEP reserves 20-24 SMs for communication; arXiv:2412.19437 §3.2.2).
  for (GemmVariant v : {kGemmVariants[0], kGemmVariants[1]}) {
    for (int sms : {0, 8, 16, 20, 24, 32, 48, 64}) plan.interference.push_back({v, 8192, 4096, 7168, sms});
  }

  // Sustained: one large square GEMM (8192^3, 1.1 TFLOP, about 1-2 ms on Hopper: every SM busy
  // in full waves) in BF16 and per-tensor FP8, each for sustained_seconds in ~1 s windows.
  for (GemmVariant v : {kGemmVariants[0], kGemmVariants[1]}) {
    plan.sustained.push_back({v, 8192, 8192, 8192, sustained_seconds, 1.0});
  }
  return plan;
}

Plan filter_plan(const Plan& plan, const std::string& only) {
  if (only.empty()) return plan;
  std::set<std::string> keep;
  std::stringstream ss(only);
  for (std::string item; std::getline(ss, item, ',');) keep.insert(item);
  Plan out = plan;
  auto drop = [&](const char* name) { return keep.count(name) == 0; };
  if (drop("gemm")) out.gemms.clear();
  if (drop("grouped_gemm")) out.grouped_gemms.clear();
  if (drop("attention")) out.attention.clear();
  if (drop("memory")) out.memory.clear();
  if (drop("collective")) out.collectives.clear();
  if (drop("interference")) out.interference.clear();
  if (drop("sustained")) out.sustained.clear();
  return out;
}

namespace {
std::string bytes_text(int64_t b) {
  char buf[64];
  if (b >= kGiB && b % kGiB == 0) std::snprintf(buf, sizeof buf, "%lld GiB", static_cast<long long>(b / kGiB));
  else if (b >= kMiB && b % kMiB == 0) std::snprintf(buf, sizeof buf, "%lld MiB", static_cast<long long>(b / kMiB));
  else if (b >= kKiB && b % kKiB == 0) std::snprintf(buf, sizeof buf, "%lld KiB", static_cast<long long>(b / kKiB));
  else std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(b));
  return buf;
}
}  // namespace

void print_plan(const Plan& plan, double budget_seconds, std::ostream& out) {
  out << "trainsim-calibrate plan (dry run: nothing is measured, no GPU is touched)\n";
  out << "time budget " << budget_seconds << " s, split by category (unused time passes on):\n";
  double cumulative = 0;
  for (const Category& c : plan.categories) {
    cumulative += c.budget_fraction;
    out << "  " << c.name << ": " << c.budget_fraction * 100 << "% (ends by " << cumulative * budget_seconds
        << " s)\n";
  }
  out << "\n[gemm] " << plan.gemms.size()
      << " points, cuBLASLt, TN layout, BF16 or FP8 E4M3 in, BF16 out, FP32 accumulate;"
         " fp8 only on compute capability >= 8.9, fp8-block where cuBLASLt offers it\n";
  for (const GemmPoint& g : plan.gemms) {
    out << "  " << variant_name(g.variant) << " m=" << g.m << " n=" << g.n << " k=" << g.k << "  (" << g.label
        << ")\n";
  }
  out << "\n[grouped_gemm] " << plan.grouped_gemms.size()
      << " points, cuBLASLt strided batched GEMM (CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT), equal m per group\n";
  for (const GroupedGemmPoint& g : plan.grouped_gemms) {
    out << "  " << variant_name(g.variant) << " groups=" << g.groups << " m=" << g.m << " n=" << g.n
        << " k=" << g.k << "  (" << g.label << ")\n";
  }
  out << "\n[attention] " << plan.attention.size()
      << " points, cuDNN fused SDPA through the backend graph API, BF16, BSHD layout, FP32 softmax stats;"
         " skipped where cuDNN offers no engine or was not found at build time\n";
  for (const AttentionPoint& a : plan.attention) {
    out << "  " << a.direction << " bf16 batch=" << a.batch << " seq=" << a.seq << " heads=" << a.heads
        << " qk_head_dim=" << a.qk_head_dim << " v_head_dim=" << a.v_head_dim << (a.causal ? " causal" : "")
        << "\n";
  }
  out << "\n[memory] " << plan.memory.size() << " points, own CUDA kernels, bytes = read + written\n";
  for (const MemoryPoint& m : plan.memory) {
    out << "  " << memory_op_name(m.op) << " elements=" << m.elements << " bytes=" << m.bytes << " (~"
        << bytes_text(m.bytes) << ")\n";
  }
  out << "\n[collective] " << plan.collectives.size()
      << " points, NCCL, one process, ncclCommInitAll over every visible GPU, tier scale_up;"
         " skipped with fewer than 2 GPUs\n";
  for (const CollectivePoint& c : plan.collectives) {
    out << "  " << collective_op_name(c.op) << " message=" << bytes_text(c.message_bytes) << "\n";
  }
  out << "\n[interference] " << plan.interference.size()
      << " points, GEMM on one stream while a persistent copy kernel holds comm_sms SMs on another;"
         " comm_sms >= total SMs - 8 skipped at run time\n";
  for (const InterferencePoint& p : plan.interference) {
    out << "  " << variant_name(p.variant) << " m=" << p.m << " n=" << p.n << " k=" << p.k
        << " comm_sms=" << p.comm_sms << "\n";
  }
  out << "\n[sustained] " << plan.sustained.size()
      << " points, cuBLASLt GEMM back to back for the stated seconds, one row (\"bound\": \"sustained\","
         " \"elapsed\") per window timed by CUDA events; fp8 only on compute capability >= 8.9;"
         " cut short, with a note, when the budget ends first\n";
  for (const SustainedPoint& p : plan.sustained) {
    out << "  " << variant_name(p.variant) << " m=" << p.m << " n=" << p.n << " k=" << p.k << " for " << p.seconds
        << " s in " << p.window_s << " s windows\n";
  }
}

}  // namespace trainsim::calibrate
