// Parallel plan: parsing, layout, precision policy and stage contents.
#include "plan/plan.h"

#include <algorithm>
#include <cmath>
#include <string_view>

#include "core/error.h"
#include "core/strings.h"

namespace trainsim::plan {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

const char* to_string(Schedule s) {
  switch (s) {
    case Schedule::kGpipe: return "gpipe";
    case Schedule::k1F1B: return "1f1b";
    case Schedule::kInterleaved1F1B: return "interleaved-1f1b";
    case Schedule::kZeroBubbleH1: return "zb-h1";
    case Schedule::kDualPipe: return "dualpipe";
    case Schedule::kDualPipeV: return "dualpipev";
  }
  return "?";
}

std::vector<std::string> schedule_names() {
  return {"gpipe", "1f1b", "interleaved-1f1b", "zb-h1", "dualpipe", "dualpipev"};
}

bool overlapped(Schedule s) { return s == Schedule::kDualPipe || s == Schedule::kDualPipeV; }

bool backward_chain(Schedule s) {
  return s == Schedule::kGpipe || s == Schedule::k1F1B || s == Schedule::kInterleaved1F1B;
}

Schedule parse_schedule(const std::string& s) {
  if (s == "gpipe") return Schedule::kGpipe;
  if (s == "1f1b") return Schedule::k1F1B;
  if (s == "interleaved-1f1b" || s == "interleaved") return Schedule::kInterleaved1F1B;
  if (s == "zb-h1" || s == "zero-bubble") return Schedule::kZeroBubbleH1;
  if (s == "dualpipe") return Schedule::kDualPipe;
  if (s == "dualpipev") return Schedule::kDualPipeV;
  throw UsageError(fmt::format("unknown pipeline schedule \"{}\": expected one of {}{}", s,
                               join(schedule_names()), did_you_mean(s, schedule_names())));
}

const char* to_string(Recompute r) {
  switch (r) {
    case Recompute::kNone: return "none";
    case Recompute::kSelective: return "selective";
    case Recompute::kDeepSeek: return "deepseek";
    case Recompute::kFull: return "full";
    case Recompute::kSelectiveOp: return "selective-op";
    case Recompute::kEveryOtherLayer: return "every-other-layer";
  }
  return "?";
}

// The names of enum values E (each to_string'd) and the parse back, with a
// suggestion for a typo; `what` names the setting in the error.
template <class E>
std::vector<std::string> enum_names(std::initializer_list<E> all) {
  std::vector<std::string> out;
  for (const E e : all) out.emplace_back(to_string(e));  // graph:: or plan:: by argument lookup
  return out;
}

template <class E>
E parse_enum(const std::string& s, std::initializer_list<E> all, const char* what) {
  for (const E e : all) {
    if (s == to_string(e)) return e;
  }
  const std::vector<std::string> names = enum_names(all);
  throw UsageError(fmt::format("unknown {} \"{}\": expected one of {}{}", what, s, join(names), did_you_mean(s, names)));
}

constexpr std::initializer_list<Recompute> kRecomputes = {Recompute::kNone,     Recompute::kSelective,
                                                         Recompute::kDeepSeek, Recompute::kFull,
                                                         Recompute::kSelectiveOp, Recompute::kEveryOtherLayer};
constexpr std::initializer_list<graph::AttentionImpl> kAttentionImpls = {
    graph::AttentionImpl::kFlash, graph::AttentionImpl::kFlash2, graph::AttentionImpl::kUnfused};
constexpr std::initializer_list<graph::ElementwiseImpl> kElementwiseImpls = {graph::ElementwiseImpl::kFused,
                                                                             graph::ElementwiseImpl::kEager};
constexpr std::initializer_list<graph::CpRing> kCpRings = {graph::CpRing::kKeyValue, graph::CpRing::kLatent};

std::vector<std::string> recompute_names() { return enum_names(kRecomputes); }

Recompute parse_recompute(const std::string& s) { return parse_enum(s, kRecomputes, "recompute policy"); }

std::vector<std::string> attention_names() { return enum_names(kAttentionImpls); }

graph::AttentionImpl parse_attention(const std::string& s) {
  return parse_enum(s, kAttentionImpls, "attention implementation");
}

std::vector<std::string> elementwise_names() { return enum_names(kElementwiseImpls); }

graph::ElementwiseImpl parse_elementwise(const std::string& s) {
  return parse_enum(s, kElementwiseImpls, "elementwise kernels");
}

std::vector<std::string> cp_ring_names() { return enum_names(kCpRings); }

graph::CpRing parse_cp_ring(const std::string& s) { return parse_enum(s, kCpRings, "context-parallel ring"); }

PrecisionPolicy bf16_policy() { return PrecisionPolicy{}; }

PrecisionPolicy deepseek_fp8_policy() {
  // DeepSeek-V3 technical report §3.3: FP8 (E4M3) Fprop/Dgrad/Wgrad of Linear
  // layers; embedding, head, gating, norms and attention kept in BF16; FP32
  // master weights and weight gradients; BF16 AdamW moments (§3.3.3); MoE
  // dispatch quantised to FP8, combine kept in BF16 (§3.3.3).
  PrecisionPolicy p;
  p.linear_gemms = Precision::kFP8;
  p.attention = Precision::kBF16;
  p.embedding_head = Precision::kBF16;
  p.weights = Precision::kBF16;
  p.master_weights = Precision::kFP32;
  p.gradients = Precision::kFP32;
  p.optimizer_moments = Precision::kBF16;
  p.dispatch = Precision::kFP8;
  p.combine = Precision::kBF16;
  return p;
}

int64_t Plan::micro_batches_per_replica() const {
  const int64_t per = static_cast<int64_t>(dp) * micro_batch;
  return per > 0 ? global_batch / per : 0;
}

Bytes cp_ring_chunk_bytes(const graph::Operator& op, const Plan& p) {
  if (p.cp <= 1 || op.kind != graph::OpKind::kAttention) return Bytes(0);
  const graph::AttentionShape& a = op.attention;
  TRAINSIM_CHECK(p.cp_ring != graph::CpRing::kLatent || a.latent_dim > 0,
                 "a latent context-parallel ring around {}, which has no latent (validate_plan rejects this)", op.name);
  const int64_t per_token =
      p.cp_ring == graph::CpRing::kLatent ? a.latent_dim : a.kv_heads * (a.qk_head_dim + a.v_head_dim);
  return Bytes(static_cast<double>(a.batch * a.seq_q * per_token) * bytes_per_element(Precision::kBF16));
}

graph::Sharding Plan::sharding() const {
  return graph::Sharding{tp, ep, cp, sequence_parallel && tp > 1, cp_ring};
}

Bytes MemoryBreakdown::total() const {
  return weights + gradients + optimizer_states + activations + recompute_buffers + communication_buffers;
}

// ---------------------------------------------------------------- layout

bool interleaved_split_even(const model::Model& m, int64_t stages) {
  if (stages < 1) return false;
  const int64_t slots = m.layers + 2 + m.mtp_layers;
  return m.layers % stages == 0 || (slots % stages == 0 && slots / stages >= 2 + m.mtp_layers);
}

StageLayout stage_layout(const Plan& p, const model::Model& m) {
  StageLayout l;
  int stages = p.pp;
  if (p.schedule == Schedule::kInterleaved1F1B) stages = p.pp * p.vpp;
  if (p.schedule == Schedule::kDualPipeV) stages = 2 * p.pp;
  TRAINSIM_CHECK(stages >= 1 && m.layers >= stages, "{} layers over {} stages", m.layers, stages);
  // Floor/ceil split of `slots` over the stages, short stages from the ends.
  auto split = [stages](int64_t slots) {
    std::vector<int64_t> out(static_cast<size_t>(stages), slots / stages);
    const int64_t extra = slots % stages;
    if (extra == 0) return out;
    for (int64_t& n : out) n += 1;
    for (int i = 0; i < stages - extra; ++i) {
      const int idx = (i % 2 == 0) ? stages - 1 - i / 2 : i / 2;
      out[static_cast<size_t>(idx)] -= 1;
    }
    return out;
  };
  if (m.layers % stages == 0) {
    l.layers_per_stage = split(m.layers);
  } else {
    // Uneven: the embedding, the head + loss and each MTP layer count as one
    // layer slot each (Megatron's --account-for-embedding-in-pipeline-split
    // and --account-for-loss-in-pipeline-split); DeepSeek-V3: 61 + 1 + 1 + 1
    // = 64 slots = 4 per stage over 16 stages.
    const int64_t ends = 2 + m.mtp_layers;
    std::vector<int64_t> slots = split(m.layers + ends);
    slots.front() -= 1;
    slots.back() -= 1 + m.mtp_layers;
    const bool ok = std::all_of(slots.begin(), slots.end(), [](int64_t n) { return n >= 1; });
    l.layers_per_stage = ok ? slots : split(m.layers);
  }
  int64_t first = 0;
  for (int64_t n : l.layers_per_stage) {
    l.first_layer.push_back(first);
    first += n;
  }
  l.stages_of_rank.resize(static_cast<size_t>(p.pp));
  for (int r = 0; r < p.pp; ++r) {
    auto& s = l.stages_of_rank[static_cast<size_t>(r)];
    switch (p.schedule) {
      case Schedule::kInterleaved1F1B:
        for (int v = 0; v < p.vpp; ++v) s.push_back(r + v * p.pp);
        break;
      case Schedule::kDualPipe:
        s.push_back(r);
        if (p.pp - 1 - r != r) s.push_back(p.pp - 1 - r);
        break;
      case Schedule::kDualPipeV:
        s.push_back(r);
        s.push_back(2 * p.pp - 1 - r);
        break;
      default:
        s.push_back(r);
    }
  }
  l.copies = p.schedule == Schedule::kDualPipe && p.pp > 1 ? 2 : 1;
  return l;
}

StageContent stage_content(const StageLayout& layout, int stage, const model::Model& m) {
  StageContent c;
  const auto s = static_cast<size_t>(stage);
  for (int64_t i = layout.first_layer[s]; i < layout.first_layer[s] + layout.layers_per_stage[s]; ++i) {
    if (m.is_moe_layer(i)) {
      ++c.moe_layers;
    } else {
      ++c.dense_layers;
    }
  }
  c.embedding = stage == 0;
  c.head = stage == layout.stages() - 1;
  c.mtp = c.head && m.mtp_layers > 0;  // V3TR §3.2.3: MTP sits with the output head
  return c;
}

std::vector<BlockUse> stage_blocks(const graph::Graph& g, const StageContent& c) {
  std::vector<BlockUse> out;
  for (const graph::Block& b : g.blocks) {
    int64_t n = 0;
    switch (b.kind) {
      case graph::BlockKind::kEmbedding: n = c.embedding ? b.count : 0; break;
      case graph::BlockKind::kDenseLayer: n = c.dense_layers; break;
      case graph::BlockKind::kMoeLayer: n = c.moe_layers; break;
      case graph::BlockKind::kHead: n = c.head ? b.count : 0; break;
      case graph::BlockKind::kMtp: n = c.mtp ? b.count : 0; break;
    }
    if (n > 0) out.push_back({&b, n});
  }
  return out;
}

// ---------------------------------------------------------------- precision

bool is_linear_gemm(const graph::Operator& op) {
  if (op.kind != graph::OpKind::kGemm && op.kind != graph::OpKind::kGroupedGemm) return false;
  // The unfused attention core's batched GEMMs have no weights and stay in
  // BF16 (Transformer Engine's FP8 covers Linear layers only).
  if (op.recompute_class == graph::RecomputeClass::kAttentionCore) return false;
  if (op.component == graph::Component::kHead || op.component == graph::Component::kRouter) return false;
  if (op.name == "head" || op.name.ends_with(".head")) return false;       // MTP's shared head
  if (op.name.ends_with("moe.gate")) return false;                          // MTP's gate
  return true;
}

namespace {

bool is_head_gemm(const graph::Operator& op) {
  return op.kind == graph::OpKind::kGemm &&
         (op.component == graph::Component::kHead || op.name == "head" || op.name.ends_with(".head"));
}

// Bytes per element a cached activation takes when stored at precision p,
// relative to BF16; FP8 carries one FP32 scale per 1x128 tile (V3TR §3.3.2).
double cache_ratio(Precision p, int64_t elements_per_row) {
  const double bf16 = graph::token_bytes(elements_per_row, Precision::kBF16).value();
  return bf16 > 0 ? graph::token_bytes(elements_per_row, p).value() / bf16 : 1.0;
}

}  // namespace

graph::Graph plan_graph(const Plan& p, const model::Model& m, bool causal) {
  graph::Graph g = graph::build_graph(m, p.seq_len, p.micro_batch, p.sharding(), causal, true, p.attention, p.elementwise);
  const PrecisionPolicy& pol = p.precision;
  for (graph::Block& b : g.blocks) {
    for (graph::Operator& op : b.ops) {
      if (is_linear_gemm(op)) {
        if (pol.linear_gemms != op.precision) graph::set_precision(op, pol.linear_gemms);
        if (pol.linear_gemms == Precision::kFP8) {
          // V3TR §3.3.3: the inputs of FP8 Linear layers are cached in FP8 for
          // Wgrad; the Linear after attention keeps E5M6 (12 bits).
          if (op.name.ends_with("attn.o_proj")) {
            op.activation_bytes_saved = op.activation_bytes_saved * (12.0 / 16.0);
          } else {
            op.activation_bytes_saved = op.activation_bytes_saved * cache_ratio(Precision::kFP8, op.gemm.k);
          }
        }
      } else if (is_head_gemm(op)) {
        if (pol.embedding_head != op.precision) graph::set_precision(op, pol.embedding_head);
      } else if (op.kind == graph::OpKind::kDispatch) {
        graph::set_precision(op, pol.dispatch);
      } else if (op.kind == graph::OpKind::kCombine) {
        graph::set_precision(op, pol.combine);
      } else if (op.kind == graph::OpKind::kActivation && pol.linear_gemms == Precision::kFP8 &&
                 contains(op.name, "moe.")) {
        // V3TR §3.3.3: the MoE SwiGLU inputs are cached in FP8.
        const int64_t width = op.gemm.k > 0 ? op.gemm.k : 128;
        op.activation_bytes_saved = op.activation_bytes_saved * cache_ratio(Precision::kFP8, width);
      }
    }
  }
  return g;
}

// ---------------------------------------------------------------- recompute

namespace {

bool is_layer(const graph::Block& b) {
  return b.kind == graph::BlockKind::kDenseLayer || b.kind == graph::BlockKind::kMoeLayer;
}

// torchtitan's op-level SAC (torchtitan/parallelisms/parallelize_llama.py,
// _apply_ac_to_transformer_block, "selective_ac_option = 'op'"): within one
// transformer block, outputs of aten.mm and of the SDPA kernels are saved,
// "except every second mm" (a per-block counter, even counts recomputed);
// every other op is recomputed. A fused GEMM counts as its linear layers in
// call order (Operator::fused_n); grouped expert GEMMs are saved (torchtitan
// lists _grouped_mm beside mm); batched GEMMs of an unfused attention core are
// not mm and are recomputed; communication is not.
double selective_op_fraction(const graph::Operator& target, const graph::Block& b) {
  int64_t count = 0;
  for (const graph::Operator& op : b.ops) {
    double fraction = 0;
    switch (op.kind) {
      case graph::OpKind::kGemm:
        if (op.recompute_class == graph::RecomputeClass::kAttentionCore) {
          fraction = 1;
        } else {
          const std::vector<int64_t> widths = op.fused_n.empty() ? std::vector<int64_t>{op.gemm.n} : op.fused_n;
          double total = 0, redone = 0;
          for (const int64_t w : widths) {
            ++count;
            total += static_cast<double>(w);
            if (count % 2 == 0) redone += static_cast<double>(w);
          }
          fraction = total > 0 ? redone / total : 0;
        }
        break;
      case graph::OpKind::kGroupedGemm:
      case graph::OpKind::kAttention:
      case graph::OpKind::kDispatch:
      case graph::OpKind::kCombine: fraction = 0; break;
      default: fraction = 1; break;
    }
    if (&op == &target) return fraction;
  }
  TRAINSIM_CHECK(false, "operator {} is not in the block", target.name);
  return 0;
}

}  // namespace

int dualpipe_comm_sms(int sm_count) {
  return static_cast<int>(std::lround(kDualPipeCommSmShare * static_cast<double>(sm_count)));
}

double layer_comm_recompute_fraction(const graph::Block& b, Recompute r) {
  if (!is_layer(b)) return 0;
  return r == Recompute::kFull ? 1.0 : r == Recompute::kEveryOtherLayer ? 0.5 : 0.0;
}

double recompute_fraction(const graph::Operator& op, const graph::Block& b, Recompute r) {
  if (op.kind == graph::OpKind::kDispatch || op.kind == graph::OpKind::kCombine) {
    return layer_comm_recompute_fraction(b, r);
  }
  switch (r) {
    case Recompute::kNone: return 0;
    case Recompute::kSelective: return op.recompute_class == graph::RecomputeClass::kAttentionCore ? 1 : 0;
    case Recompute::kDeepSeek:
      return op.recompute_class == graph::RecomputeClass::kNorm ||
                     op.recompute_class == graph::RecomputeClass::kMlaUpProj ||
                     op.recompute_class == graph::RecomputeClass::kActivation
                 ? 1
                 : 0;
    case Recompute::kFull: return is_layer(b) ? 1 : 0;
    case Recompute::kEveryOtherLayer: return is_layer(b) ? 0.5 : 0;
    case Recompute::kSelectiveOp: return is_layer(b) ? selective_op_fraction(op, b) : 0;
  }
  return 0;
}

bool is_recomputed(const graph::Operator& op, const graph::Block& b, Recompute r) {
  return recompute_fraction(op, b, r) > 0;
}

namespace {

struct AttentionSplit {
  Bytes qkv;  // Q, K, V inputs of the core
  Bytes o;    // output
  Bytes lse;  // log-sum-exp statistics (FP32)
};

AttentionSplit split_attention(const graph::Operator& op) {
  const graph::AttentionShape& a = op.attention;
  const double bf16 = bytes_per_element(Precision::kBF16);
  const double fp32 = bytes_per_element(Precision::kFP32);
  AttentionSplit s;
  s.qkv = Bytes(static_cast<double>(a.batch) * bf16 *
                static_cast<double>(a.seq_q * a.heads * a.qk_head_dim + a.seq_kv * a.kv_heads * a.qk_head_dim +
                                    a.seq_kv * a.kv_heads * a.v_head_dim));
  s.o = Bytes(static_cast<double>(a.batch * a.seq_q * a.heads * a.v_head_dim) * bf16);
  s.lse = Bytes(static_cast<double>(a.batch * a.heads * a.seq_q) * fp32);
  return s;
}

}  // namespace

// Rules, applied to the operators' activation_bytes_saved (each op saves what
// its own backward needs, normally its input):
// - Always: the attention core's output O is the o_proj's input, which the
//   o_proj already saves; it is counted once (on the o_proj).
// - none: everything else as saved.
// - selective (Korthikanti et al., MLSys 2023, "Reducing Activation
//   Recomputation in Large Transformer Models", §4.1): recompute the
//   attention core. Its score/softmax/dropout tensors (the 5as^2b term) are
//   never stored by a flash-style core, so only the LSE statistics are freed;
//   Q, K, V stay (the core is recomputed from them).
// - deepseek (V3TR §3.2.3, §3.3.3): recompute all RMSNorms, the MLA
//   up-projections and the MoE SwiGLU. Norms: the graph charges each norm its
//   input and 1/rms; the norm input of a recomputed norm is kept in the form
//   of its consumer's saved input (same width), so the norm's own bytes are
//   dropped. MLA up-projections: their outputs are the attention core's Q, K
//   and V, which are dropped (the latents they are recomputed from stay, as
//   the up-projections' saved inputs). SwiGLU: its output is the saved input
//   of the following down-projection, which is dropped (its own input stays).
// - full (Korthikanti §4.2, Megatron "full"): a transformer layer keeps only
//   its input (tokens x hidden, BF16; split over TP under sequence
//   parallelism); everything else is rebuilt. Embedding, head and MTP blocks
//   keep their activations.
BlockActivations block_activations(const graph::Block& b, Recompute r, const Plan& p, const model::Model& m) {
  BlockActivations a;
  const bool layer = b.kind == graph::BlockKind::kDenseLayer || b.kind == graph::BlockKind::kMoeLayer;
  bool has_up_proj = false;
  for (const graph::Operator& op : b.ops) {
    if (op.recompute_class == graph::RecomputeClass::kMlaUpProj) has_up_proj = true;
  }
  Bytes all;
  for (size_t i = 0; i < b.ops.size(); ++i) {
    const graph::Operator& op = b.ops[i];
    Bytes saved = op.activation_bytes_saved;
    Bytes dropped;
    if (op.kind == graph::OpKind::kAttention) {
      const AttentionSplit s = split_attention(op);
      saved = max(Bytes::zero(), saved - s.o);
      if (r == Recompute::kSelective) dropped = min(saved, s.lse);
      if (r == Recompute::kDeepSeek && has_up_proj) dropped = min(saved, s.qkv);
    } else if (op.recompute_class == graph::RecomputeClass::kAttentionCore) {
      // Unfused core (graph.cc): selective recompute drops the score-sized
      // tensors (Korthikanti §5: the 5as^2b term) and keeps Q, K, V, which
      // the first batched GEMM carries.
      if (r == Recompute::kSelective && !op.name.ends_with("attn.scores")) dropped = saved;
    } else if (r == Recompute::kSelectiveOp) {
      // What a recomputed op (or the recomputed part of a fused GEMM) saved
      // for its backward is rebuilt instead of kept.
      dropped = saved * recompute_fraction(op, b, r);
    } else if (r == Recompute::kDeepSeek) {
      if (op.recompute_class == graph::RecomputeClass::kNorm) dropped = saved;
      // The GEMM right after a recomputed activation saves that activation's output.
      if (i > 0 && b.ops[i - 1].kind == graph::OpKind::kActivation &&
          (op.kind == graph::OpKind::kGemm || op.kind == graph::OpKind::kGroupedGemm)) {
        dropped = saved;
      }
    }
    all += saved;
    a.dropped += dropped;
    a.kept += saved - dropped;
  }
  if ((r == Recompute::kFull || r == Recompute::kEveryOtherLayer) && layer) {
    const int64_t tokens = p.micro_batch * p.seq_len / p.cp;
    const int64_t rows = p.sequence_parallel && p.tp > 1 ? ceil_div(tokens, p.tp) : tokens;
    const Bytes input(static_cast<double>(rows * m.hidden) * bytes_per_element(Precision::kBF16));
    // every-other-layer: half the layer instances keep everything, half only their input.
    const double share = r == Recompute::kFull ? 1.0 : 0.5;
    a.dropped = max(Bytes::zero(), all - input) * share;
    a.kept = all - a.dropped;
  }
  return a;
}

// ---------------------------------------------------------------- memory

ModelStateBytes zero_model_states(double params, double shards, int zero_stage, const PrecisionPolicy& pol) {
  TRAINSIM_CHECK(shards >= 1.0 && zero_stage >= 0 && zero_stage <= 3, "shards {} stage {}", shards, zero_stage);
  const double w = bytes_per_element(pol.weights);
  const double g = bytes_per_element(pol.gradients);
  const double k = bytes_per_element(pol.master_weights) + 2.0 * bytes_per_element(pol.optimizer_moments);
  // Rajbhandari et al. (SC'20) §5.1-5.3: P_os (stage 1), P_os+g (2), P_os+g+p (3).
  ModelStateBytes s;
  s.weights = Bytes(params * w / (zero_stage >= 3 ? shards : 1.0));
  s.gradients = Bytes(params * g / (zero_stage >= 2 ? shards : 1.0));
  s.optimizer_states = Bytes(params * k / (zero_stage >= 1 ? shards : 1.0));
  return s;
}

std::vector<int64_t> inflight_per_stage(const Plan& p, const StageLayout& layout, int rank) {
  const int64_t m = p.micro_batches_per_replica();
  const int64_t pp = p.pp;
  const auto& held = layout.stages_of_rank[static_cast<size_t>(rank)];
  std::vector<int64_t> out;
  switch (p.schedule) {
    case Schedule::kGpipe:
      out.push_back(m);  // all forwards before any backward (Huang et al., GPipe, NeurIPS 2019)
      break;
    case Schedule::k1F1B:
    case Schedule::kZeroBubbleH1:
      // Narayanan et al. (SC'21) §2.2: stage s holds pp - s micro-batches;
      // ZB-H1 keeps 1F1B's peak (Qi et al., ICLR 2024, Table 1).
      out.push_back(std::min<int64_t>(m, pp - rank));
      break;
    case Schedule::kInterleaved1F1B: {
      // Megatron-LM's interleaved warm-up: (pp - rank - 1) * 2 + (vpp - 1) * pp
      // forward chunks before the first backward, plus the one in progress;
      // rank 0: pv + p - 1 chunks, i.e. the (1 + (p-1)/(pv)) factor of
      // Korthikanti et al. §4.2.3 on pp micro-batches of the whole rank.
      // Spread evenly over the rank's chunks.
      const int64_t total = std::min<int64_t>(m * p.vpp, (pp - rank - 1) * 2 + (p.vpp - 1) * pp + 1);
      const int64_t v = static_cast<int64_t>(held.size());
      for (int64_t i = 0; i < v; ++i) out.push_back(total / v + (i < total % v ? 1 : 0));
      break;
    }
    case Schedule::kDualPipe: {
      // DualPipe (dualpipe.py step()): with h = min(rank, pp-1-rank), the rank
      // runs stage h for one direction with pp - h micro-batches in flight
      // (steps 1-2 and 4) and stage pp-1-h for the other with h + 1; in all
      // PP + 1 (V3TR Table 2). Each direction carries m / 2 micro-batches.
      const int64_t h = std::min<int64_t>(rank, pp - 1 - rank);
      for (int s : held) out.push_back(std::min<int64_t>(m / 2, s == h ? pp - h : h + 1));
      break;
    }
    case Schedule::kDualPipeV:
      // A V through 2pp chunks: chunk s holds 2pp - s (1F1B over 2pp stages);
      // rank r: 2pp - r + r + 1 = 2pp + 1 = PP + 1 chunks (DualPipe README).
      for (int s : held) out.push_back(std::min<int64_t>(m, 2 * pp - s));
      break;
  }
  return out;
}

RankParams rank_params(const Plan& p, const model::Model& m, const StageLayout& layout, int rank) {
  // Parameters do not depend on tokens: one-token graphs suffice.
  const int64_t seq = p.cp;
  const graph::Graph sharded = graph::build_graph(m, seq, 1, p.sharding(), true, true);
  const graph::Graph whole = graph::build_graph(m, 1, 1, graph::Sharding{}, true, true);
  double dense_gpu = 0, expert_gpu = 0, dense_all = 0, expert_all = 0;
  for (int s : layout.stages_of_rank[static_cast<size_t>(rank)]) {
    const StageContent c = stage_content(layout, s, m);
    for (const BlockUse& u : stage_blocks(sharded, c)) {
      for (const graph::Operator& op : u.block->ops) {
        (op.kind == graph::OpKind::kGroupedGemm ? expert_gpu : dense_gpu) +=
            static_cast<double>(op.params) * static_cast<double>(u.count);
      }
    }
    for (const BlockUse& u : stage_blocks(whole, c)) {
      for (const graph::Operator& op : u.block->ops) {
        (op.kind == graph::OpKind::kGroupedGemm ? expert_all : dense_all) +=
            static_cast<double>(op.params) * static_cast<double>(u.count);
      }
    }
  }
  RankParams r;
  r.dense_on_gpu = static_cast<int64_t>(dense_gpu);
  r.expert_on_gpu = static_cast<int64_t>(expert_gpu);
  const double holders = static_cast<double>(layout.copies) * p.tp * p.dp * p.cp;
  r.dense_replicas = dense_all > 0 ? std::max(1.0, holders * dense_gpu / dense_all) : 1.0;
  r.expert_replicas = expert_all > 0 ? std::max(1.0, holders * expert_gpu / expert_all) : 1.0;
  return r;
}

std::vector<MemoryBreakdown> memory_per_rank(const Plan& p, const model::Model& m) {
  const StageLayout layout = stage_layout(p, m);
  const graph::Graph g = plan_graph(p, m, true);
  std::vector<MemoryBreakdown> out;
  const bool dual = overlapped(p.schedule);
  const int64_t tokens = p.micro_batch * p.seq_len / p.cp;
  const int64_t rows = p.sequence_parallel && p.tp > 1 ? ceil_div(tokens, p.tp) : tokens;
  for (int rank = 0; rank < p.pp; ++rank) {
    MemoryBreakdown mb;
    mb.pipeline_rank = rank;
    const RankParams rp = rank_params(p, m, layout, rank);
    const ModelStateBytes dense = zero_model_states(static_cast<double>(rp.dense_on_gpu), rp.dense_replicas,
                                                    p.zero_stage, p.precision);
    const ModelStateBytes expert = zero_model_states(static_cast<double>(rp.expert_on_gpu), rp.expert_replicas,
                                                     p.zero_stage, p.precision);
    mb.weights = dense.weights + expert.weights;
    mb.gradients = dense.gradients + expert.gradients;
    mb.optimizer_states = dense.optimizer_states + expert.optimizer_states;
    mb.params_on_gpu = rp.dense_on_gpu + rp.expert_on_gpu;

    // Activations: each chunk this rank holds, times its chunks in flight.
    const auto& held = layout.stages_of_rank[static_cast<size_t>(rank)];
    const std::vector<int64_t> inflight = inflight_per_stage(p, layout, rank);
    Bytes per_mb;
    Bytes largest_dropped;
    bool has_moe = false;
    int64_t chunks_in_flight = 0;
    for (size_t i = 0; i < held.size(); ++i) {
      const StageContent c = stage_content(layout, held[i], m);
      has_moe = has_moe || c.moe_layers > 0 || (c.mtp && m.moe.has_value());
      Bytes chunk;
      for (const BlockUse& u : stage_blocks(g, c)) {
        const BlockActivations a = block_activations(*u.block, p.recompute, p, m);
        chunk += a.kept * static_cast<double>(u.count);
        largest_dropped = max(largest_dropped, a.dropped);
      }
      per_mb += chunk;
      // GPipe/1F1B/ZB hold one entry; interleaved spreads its count over the chunks.
      const int64_t k = i < inflight.size() ? inflight[i] : 0;
      mb.activations += chunk * static_cast<double>(k);
      chunks_in_flight += k;
    }
    mb.activations_per_micro_batch = per_mb;
    mb.inflight_micro_batches = chunks_in_flight;
    // Recomputation rebuilds one block at a time in backward (stated assumption).
    mb.recompute_buffers = largest_dropped;

    // Communication buffers (stated assumption): the receive buffers of one
    // layer's dispatch and combine for one micro-batch (two under DualPipe,
    // whose overlapped chunk pair has two all-to-alls in flight), scaled by
    // the routing imbalance; pipeline send/receive buffers for activations
    // and gradients (both directions under DualPipe); under context
    // parallelism the ring's buffers of one attention core: the chunk being
    // attended and the one arriving, and in backward their gradients
    // travelling with them (four chunks of K+V, or of latents under a latent
    // ring; cp_ring_chunk_bytes). DP reductions run in
    // place on the gradient buffer (Megatron's contiguous grad buffer).
    Bytes comm;
    if (p.cp > 1) {
      Bytes kv;
      for (const graph::Block& b : g.blocks) {
        for (const graph::Operator& op : b.ops) kv = max(kv, cp_ring_chunk_bytes(op, p));
      }
      comm += kv * 4.0;
    }
    if (has_moe && p.ep > 1 && m.moe) {
      const double copies = static_cast<double>(ceil_div(tokens, p.tp) * m.moe->experts_per_token);
      const Bytes per_copy = graph::token_bytes(m.hidden, p.precision.dispatch) +
                             graph::token_bytes(m.hidden, p.precision.combine);
      comm += per_copy * copies * p.expert_load_imbalance * (dual ? 2.0 : 1.0);
    }
    if (p.pp > 1) {
      const Bytes act(static_cast<double>(rows * m.hidden) * bytes_per_element(Precision::kBF16));
      comm += act * 4.0 * (dual ? 2.0 : 1.0);  // send + receive, activation + gradient
    }
    mb.communication_buffers = comm;
    out.push_back(mb);
  }
  return out;
}

MemoryBreakdown memory_per_gpu(const Plan& p, const model::Model& m) {
  const std::vector<MemoryBreakdown> all = memory_per_rank(p, m);
  size_t best = 0;
  for (size_t i = 1; i < all.size(); ++i) {
    if (all[i].total() > all[best].total()) best = i;
  }
  return all[best];
}

}  // namespace trainsim::plan
