// The operator graph: shapes, FLOPs and sharding, with each expected value
// derived by hand beside the assertion.
#include <catch2/catch.hpp>

#include <string>

#include "graph/graph.h"
#include "model/model.h"

using namespace trainsim;
using namespace trainsim::graph;

namespace {

const Operator& find_op(const Graph& g, BlockKind kind, const std::string& name) {
  for (const Block& b : g.blocks) {
    if (b.kind != kind) continue;
    for (const Operator& op : b.ops) {
      if (op.name == name) return op;
    }
  }
  FAIL("no operator " << name);
  return g.blocks.front().ops.front();
}

const Block& find_block(const Graph& g, BlockKind kind) {
  for (const Block& b : g.blocks) {
    if (b.kind == kind) return b;
  }
  FAIL("no block " << to_string(kind));
  return g.blocks.front();
}

// Forward + backward FLOPs of the matmul operators only (GEMMs and the attention core).
double matmul_train_flops(const Graph& g) {
  double f = 0;
  for (const Block& b : g.blocks) {
    for (const Operator& op : b.ops) {
      if (op.kind == OpKind::kGemm || op.kind == OpKind::kGroupedGemm || op.kind == OpKind::kAttention) {
        f += (op.fwd.flops + op.bwd_input.flops + op.bwd_weight.flops).value() * b.count;
      }
    }
  }
  return f;
}

int64_t graph_params(const Graph& g) {
  int64_t p = 0;
  for (const Block& b : g.blocks) {
    for (const Operator& op : b.ops) p += op.params * b.count;
  }
  return p;
}

}  // namespace

TEST_CASE("DeepSeek-V3 MLA operators at seq 4096", "[graph]") {
  const model::Model m = model::load_model("deepseek_v3");
  const Graph g = build_graph(m, 4096, 1);
  CHECK(find_block(g, BlockKind::kDenseLayer).count == 3);
  CHECK(find_block(g, BlockKind::kMoeLayer).count == 58);
  CHECK(find_block(g, BlockKind::kMtp).count == 1);

  const Operator& qb = find_op(g, BlockKind::kMoeLayer, "attn.q_b_proj");
  // q_b_proj: 4096 tokens x (1536 -> 128·192 = 24576).
  CHECK(qb.gemm.m == 4096);
  CHECK(qb.gemm.n == 24576);
  CHECK(qb.gemm.k == 1536);
  CHECK(qb.recompute_class == RecomputeClass::kMlaUpProj);
  // 2·4096·24576·1536 = 309,237,645,312 each for fwd, dgrad, wgrad.
  CHECK(qb.fwd.flops.value() == 309'237'645'312.0);
  CHECK(qb.bwd_input.flops.value() == 309'237'645'312.0);
  CHECK(qb.bwd_weight.flops.value() == 309'237'645'312.0);
  // Bytes fwd (BF16): X 4096·1536 + W 1536·24576 + Y 4096·24576 = 6,291,456
  //   + 37,748,736 + 100,663,296 = 144,703,488 elements · 2 B.
  CHECK(qb.fwd.bytes.value() == 289'406'976.0);
  CHECK(qb.activation_bytes_saved.value() == 4096.0 * 1536 * 2);
  CHECK(find_op(g, BlockKind::kMoeLayer, "attn.kv_b_proj").recompute_class == RecomputeClass::kMlaUpProj);
  CHECK(find_op(g, BlockKind::kMoeLayer, "attn.kv_b_proj").gemm.n == 128 * 256);
  CHECK(find_op(g, BlockKind::kMoeLayer, "attn.kv_a_proj_with_mqa").gemm.n == 576);
  CHECK(find_op(g, BlockKind::kMoeLayer, "attn.q_a_norm").recompute_class == RecomputeClass::kNorm);

  const Operator& core = find_op(g, BlockKind::kMoeLayer, "attn.core");
  CHECK(core.attention.qk_head_dim == 192);
  CHECK(core.attention.v_head_dim == 128);
  CHECK(core.attention.heads == 128);
  // Causal: 2·128·4096·4096·(192 + 128) / 2 = 687,194,767,360.
  CHECK(core.fwd.flops.value() == 687'194'767'360.0);
  CHECK(core.bwd_input.flops.value() == 2 * 687'194'767'360.0);
  CHECK(core.bwd_weight.flops.value() == 0.0);
  // FlashAttention-2 recompute of QK^T: 2·128·4096·4096·192 / 2 = 412,316,860,416.
  CHECK(core.bwd_kernel_recompute.flops.value() == 412'316'860'416.0);
}

TEST_CASE("DeepSeek-V3 MoE operators under EP 64", "[graph]") {
  const model::Model m = model::load_model("deepseek_v3");
  Sharding sh;
  sh.ep = 64;
  const Graph g = build_graph(m, 4096, 1, sh);
  const Operator& up = find_op(g, BlockKind::kMoeLayer, "moe.experts.up_gate");
  CHECK(up.kind == OpKind::kGroupedGemm);
  // 256 / 64 = 4 experts here; 4096 tokens·8 copies = 32,768 rows, 8192 per expert.
  CHECK(up.gemm.groups == 4);
  CHECK(up.gemm.total_m == 32768);
  CHECK(up.gemm.m == 8192);
  CHECK(up.gemm.n == 2 * 2048);
  CHECK(up.gemm.k == 7168);
  // 2·32768·4096·7168 = 1,924,145,348,608.
  CHECK(up.fwd.flops.value() == 1'924'145'348'608.0);
  CHECK(up.params == 4LL * 4096 * 7168);
  CHECK(find_op(g, BlockKind::kMoeLayer, "moe.experts.act").recompute_class == RecomputeClass::kActivation);

  const Operator& gate = find_op(g, BlockKind::kMoeLayer, "moe.gate");
  CHECK(gate.component == Component::kRouter);
  CHECK(gate.precision == Precision::kBF16);
  CHECK(gate.gemm.n == 256);

  Operator d = find_op(g, BlockKind::kMoeLayer, "moe.dispatch");
  // One copy per chosen expert: 4096·8 = 32,768; BF16 hidden = 7168·2 = 14,336 B.
  CHECK(d.comm_tokens == 32768);
  CHECK(d.comm_bytes_per_token.value() == 14336.0);
  CHECK(d.fwd.bytes.value() == 32768.0 * 14336);
  // FP8 with one FP32 scale per 128: 7168 + 7168/128·4 = 7168 + 224 = 7392 B.
  set_precision(d, Precision::kFP8);
  CHECK(d.comm_bytes_per_token.value() == 7392.0);
  CHECK(d.bwd_input.bytes.value() == 32768.0 * 14336);  // gradients return in BF16
  const Operator& c = find_op(g, BlockKind::kMoeLayer, "moe.combine");
  CHECK(c.comm_bytes_per_token.value() == 14336.0);

  const Operator& shared = find_op(g, BlockKind::kMoeLayer, "moe.shared.up_gate");
  CHECK(shared.component == Component::kSharedExperts);
  CHECK(shared.gemm.n == 2 * 2048);
}

TEST_CASE("DeepSeek-V3 MTP block applies the head again", "[graph]") {
  const model::Model m = model::load_model("deepseek_v3");
  const Graph g = build_graph(m, 4096, 1);
  const Operator& eh = find_op(g, BlockKind::kMtp, "mtp.eh_proj");
  CHECK(eh.gemm.k == 2 * 7168);  // concatenated [norm(h); norm(emb)]
  CHECK(eh.gemm.n == 7168);
  const Operator& head = find_op(g, BlockKind::kMtp, "mtp.head");
  // 2·4096·129280·7168 = 7,591,354,695,680; its weights are the shared head's.
  CHECK(head.fwd.flops.value() == 7'591'354'695'680.0);
  CHECK(head.params == 0);
  CHECK(head.component == Component::kMtp);
  // The graph's weights (at TP = EP = 1) are exactly count_params' total + MTP.
  const model::ParamCounts p = model::count_params(m);
  CHECK(graph_params(g) == p.total + p.mtp);
}

TEST_CASE("Train FLOPs per token match ISCA '25 Table 2", "[graph]") {
  // Causal, seq 4096, without MTP: V3 250 GFLOPs, V2 155 GFLOPs (within 1.5%).
  // Our count: 6·(non-embedding activated params incl. head) + attention core
  // at 3x forward; V3 ≈ 6·36.63B + 61·3·167.8M = 219.7 + 30.7 = 250.5 G.
  const double v3 = train_flops_per_token(model::load_model("deepseek_v3"), 4096, true, false).value();
  CHECK(std::abs(v3 / 250e9 - 1.0) < 0.015);
  const double v2 = train_flops_per_token(model::load_model("deepseek_v2"), 4096, true, false).value();
  CHECK(std::abs(v2 / 155e9 - 1.0) < 0.015);
}

TEST_CASE("Llama 3 8B train FLOPs by hand", "[graph]") {
  const model::Model m = model::load_model("llama3_8b");
  const Graph g = build_graph(m, 4096, 1, {}, true, true);
  // Matmul FLOPs per token: 6·(32·(41,943,040 + 176,160,768) + head 525,336,576)
  //   = 6·7,504,658,432 = 45,027,950,592; attention core 32 layers · 3 ·
  //   (2·32·4096·256 / 2 = 33,554,432) = 3,221,225,472. Sum 48,249,176,064.
  CHECK(matmul_train_flops(g) / 4096 == 48'249'176'064.0);
  // Norms, activations, rotary, residuals and the loss add well under 0.1%.
  const double total = train_flops_per_token(m, 4096, true, false).value();
  CHECK(total > 48'249'176'064.0);
  CHECK(total < 48'249'176'064.0 * 1.001);
  // Non-causal doubles the attention core: + 3,221,225,472.
  const double nc = train_flops_per_token(m, 4096, false, false).value();
  CHECK(nc - total == Approx(3'221'225'472.0).epsilon(1e-9));
  CHECK(graph_params(g) == model::count_params(m).total);
}

TEST_CASE("GPT-3 graph: learned positions, tied head, biases", "[graph]") {
  const model::Model m = model::load_model("gpt3_175b");
  const Graph g = build_graph(m, 2048, 1);
  CHECK(find_op(g, BlockKind::kEmbedding, "embed.positions").params == 2048LL * 12288);
  CHECK(find_op(g, BlockKind::kHead, "head").params == 0);  // tied to the embedding
  CHECK(find_op(g, BlockKind::kDenseLayer, "ffn.up").gemm.n == 49152);
  // The graph owns exactly count_params' total (biases and LayerNorm biases included).
  CHECK(graph_params(g) == model::count_params(m).total);
  // Matmul FLOPs per token: 6·(96·12·12288² + head 50257·12288; biases are
  //   not matmul work) = 6·(173,946,175,488 + 617,558,016) = 1,047,382,401,024,
  //   plus attention 96·3·(2·96·2048·256 / 2 = 50,331,648) = 14,495,514,624:
  //   1,061,877,915,648.
  CHECK(matmul_train_flops(g) / 2048 == 1'061'877'915'648.0);
}

TEST_CASE("Tensor, context and sequence parallel shapes", "[graph]") {
  const model::Model m = model::load_model("llama3_8b");
  Sharding sh;
  sh.tp = 8;
  sh.cp = 2;
  sh.sequence_parallel = true;
  const Graph g = build_graph(m, 4096, 2, sh);
  const Operator& qkv = find_op(g, BlockKind::kDenseLayer, "attn.qkv_proj");
  // Tokens per GPU 2·4096 / CP 2 = 4096; heads 32/8 = 4, KV heads 8/8 = 1:
  // n = (4 + 2·1)·128 = 768.
  CHECK(qkv.gemm.m == 4096);
  CHECK(qkv.gemm.n == 768);
  CHECK(find_op(g, BlockKind::kDenseLayer, "attn.o_proj").gemm.k == 512);
  CHECK(find_op(g, BlockKind::kDenseLayer, "ffn.up_gate").gemm.n == 2 * 14336 / 8);
  CHECK(find_op(g, BlockKind::kHead, "head").gemm.n == 128256 / 8);
  const Operator& core = find_op(g, BlockKind::kDenseLayer, "attn.core");
  CHECK(core.attention.seq_q == 2048);
  CHECK(core.attention.seq_kv == 4096);
  CHECK(core.attention.kv_heads == 1);
  // 2 FLOP · 2 seqs · 4 heads · 2048 · 4096 · (128 + 128) / 2 (causal) = 17,179,869,184.
  CHECK(core.fwd.flops.value() == 17'179'869'184.0);
  // Sequence parallel: norms see 4096 / 8 = 512 rows: fwd bytes = 2·512·4096·2 + 4096·2.
  CHECK(find_op(g, BlockKind::kDenseLayer, "attn.norm").fwd.bytes.value() == 2.0 * 512 * 4096 * 2 + 4096 * 2);
}

TEST_CASE("Backward is twice forward for GEMMs", "[graph]") {
  const Graph g = build_graph(model::load_model("mixtral_8x7b"), 1024, 1);
  for (const Block& b : g.blocks) {
    for (const Operator& op : b.ops) {
      if (op.kind == OpKind::kGemm || op.kind == OpKind::kGroupedGemm) {
        CHECK(op.bwd_input.flops == op.fwd.flops);
        CHECK(op.bwd_weight.flops == op.fwd.flops);
      }
    }
  }
  // Mixtral: 32 MoE layers, 8 experts top-2 → 1024·2 rows over 8 groups (EP 1).
  const Operator& up = find_op(g, BlockKind::kMoeLayer, "moe.experts.up_gate");
  CHECK(up.gemm.groups == 8);
  CHECK(up.gemm.total_m == 2048);
  CHECK(up.gemm.m == 256);
}

TEST_CASE("unfused attention: Megatron's four kernels over the whole score matrix", "[graph][attention]") {
  // GPT-3 175B (96 heads of 128) at seq 2048, one sequence, TP 8: 12 heads
  // per GPU, so 12 (sequence, head) problems of 2048 x 2048 scores.
  const model::Model m = model::load_model("gpt3_175b");
  Sharding sh;
  sh.tp = 8;
  const Graph flash = build_graph(m, 2048, 1, sh);
  const Graph unfused = build_graph(m, 2048, 1, sh, true, true, AttentionImpl::kUnfused);
  const Operator& scores = find_op(unfused, BlockKind::kDenseLayer, "attn.scores");
  const Operator& softmax = find_op(unfused, BlockKind::kDenseLayer, "attn.softmax");
  const Operator& dropout = find_op(unfused, BlockKind::kDenseLayer, "attn.dropout");
  const Operator& context = find_op(unfused, BlockKind::kDenseLayer, "attn.context");
  // S = QK^T: 12 batched GEMMs of m = 2048, n = 2048, k = 128;
  // 2 x 12 x 2048 x 2048 x 128 = 12,884,901,888 FLOPs, the whole matrix.
  CHECK(scores.gemm.groups == 12);
  CHECK(scores.gemm.m == 2048);
  CHECK(scores.gemm.n == 2048);
  CHECK(scores.gemm.k == 128);
  CHECK(scores.fwd.flops.value() == Approx(12884901888.0));
  // O = P'V: m = 2048, n = 128, k = 2048: the same FLOPs.
  CHECK(context.gemm.n == 128);
  CHECK(context.gemm.k == 2048);
  CHECK(context.fwd.flops.value() == Approx(12884901888.0));
  // The flash core counts half the causal matrix: 2 x (12 x 2048 x 2048 / 2)
  // x (128 + 128) = 12,884,901,888, half of the unfused pair's 25.8 GFLOP.
  const Operator& core = find_op(flash, BlockKind::kDenseLayer, "attn.core");
  CHECK((scores.fwd.flops + context.fwd.flops).value() == Approx(2.0 * core.fwd.flops.value()));
  // E = 12 x 2048 x 2048 = 50,331,648 score elements. Softmax reads S and
  // writes P (2 + 2 B each): 201,326,592 B; its backward reads P and dP and
  // writes dS: 301,989,888 B. Dropout writes P' and a 1-byte mask: 5 B each.
  const double e = 12.0 * 2048 * 2048;
  CHECK(e == 50331648.0);
  CHECK(softmax.fwd.bytes.value() == Approx(4.0 * e));
  CHECK(softmax.bwd_input.bytes.value() == Approx(6.0 * e));
  CHECK(dropout.fwd.bytes.value() == Approx(5.0 * e));
  // Saved for backward (Korthikanti §4.1): P 2E, mask E, P' 2E = 5as^2b.
  CHECK((softmax.activation_bytes_saved + dropout.activation_bytes_saved + context.activation_bytes_saved).value() ==
        Approx(5.0 * e));
  // Q, K, V on the first GEMM: 3 x 12 x 2048 x 128 x 2 B = 18,874,368 B.
  CHECK(scores.activation_bytes_saved.value() == Approx(18874368.0));
  // No weights, no fused core, and every other operator is the flash graph's.
  for (const Operator* op : {&scores, &softmax, &dropout, &context}) {
    CHECK(op->params == 0);
    CHECK(op->recompute_class == RecomputeClass::kAttentionCore);
  }
  const Block& fb = find_block(flash, BlockKind::kDenseLayer);
  const Block& ub = find_block(unfused, BlockKind::kDenseLayer);
  CHECK(ub.ops.size() == fb.ops.size() + 3);  // one core -> four kernels
  for (const Operator& op : ub.ops) CHECK(op.name != "attn.core");
  CHECK(graph_params(unfused) == graph_params(flash));
}

TEST_CASE("multi-query attention's one key/value head is computed on every TP rank", "[graph]") {
  model::Model m = model::load_model("llama3_8b");  // 32 heads of 128, hidden 4096
  m.kv_heads = 1;
  Sharding s;
  s.tp = 4;
  const Graph g = build_graph(m, 1024, 1, s);
  const Operator& qkv = find_op(g, BlockKind::kDenseLayer, "attn.qkv_proj");
  // Per rank: 32 / 4 = 8 query heads plus the whole key and value head (ceil(1 / 4) = 1):
  // n = (8 + 2 x 1) x 128 = 1280 over k = 4096 and m = 1024 tokens.
  CHECK(qkv.gemm.n == 1280);
  CHECK(qkv.gemm.k == 4096);
  CHECK(qkv.gemm.m == 1024);
  CHECK(find_op(g, BlockKind::kDenseLayer, "attn.core").attention.kv_heads == 1);
}
