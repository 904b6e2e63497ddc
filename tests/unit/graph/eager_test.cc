// Eager PyTorch memory-bound kernels (graph::ElementwiseImpl::kEager): the
// HBM bytes of torchtitan's composite RMSNorm, SwiGLU, FP32 rotary and
// repeat_kv, with each expected value derived by hand beside the assertion.
#include <catch2/catch.hpp>

#include <string>

#include "graph/graph.h"
#include "model/model.h"

using namespace trainsim;
using namespace trainsim::graph;

namespace {

const Operator* find(const Graph& g, const std::string& name) {
  for (const Block& b : g.blocks) {
    if (b.kind != BlockKind::kDenseLayer) continue;
    for (const Operator& op : b.ops) {
      if (op.name == name) return &op;
    }
  }
  return nullptr;
}

double total(const Graph& g, bool flops) {
  double sum = 0;
  for (const Block& b : g.blocks) {
    for (const Operator& op : b.ops) {
      const double f = (op.fwd.flops + op.bwd_input.flops + op.bwd_weight.flops).value();
      const double by = (op.fwd.bytes + op.bwd_input.bytes + op.bwd_weight.bytes).value();
      sum += (flops ? f : by) * b.count;
    }
  }
  return sum;
}

}  // namespace

TEST_CASE("eager RMSNorm, SwiGLU and rotary move the bytes of their PyTorch kernels", "[graph][eager]") {
  // Llama 3 8B (hidden 4096, 32 heads and 8 KV heads of 128, SwiGLU 14336) at
  // seq 1024, one sequence: t = 1024 tokens.
  const model::Model m = model::load_model("llama3_8b");
  const Graph fused = build_graph(m, 1024, 1);
  const Graph eager = build_graph(m, 1024, 1, {}, true, true, AttentionImpl::kFlash, ElementwiseImpl::kEager);
  const double e = 1024.0 * 4096;  // norm elements: 4,194,304
  const Operator* fn = find(fused, "attn.norm");
  const Operator* en = find(eager, "attn.norm");
  REQUIRE(fn != nullptr);
  REQUIRE(en != nullptr);
  // Fused: read x, write y (2 + 2 B) plus the 4096 BF16 weights: 4e + 8192.
  CHECK(fn->fwd.bytes.value() == Approx(4.0 * e + 8192));
  // Eager: float() 6, pow 8, mean 4, x*rsqrt 8, type_as 6, *weight 4 = 36 B/element.
  CHECK(en->fwd.bytes.value() == Approx(36.0 * e + 8192));
  // Input backward 84 B/element, weight backward 8, saved x in FP32 + y in BF16 (6 B) + 1/rms per row.
  CHECK(en->bwd_input.bytes.value() == Approx(84.0 * e + 8192));
  CHECK(en->bwd_weight.bytes.value() == Approx(8.0 * e + 8192));
  CHECK(en->activation_bytes_saved.value() == Approx(6.0 * e + 1024 * 4.0));
  // Same FLOPs: only the traffic differs.
  CHECK(en->fwd.flops.value() == fn->fwd.flops.value());

  // SwiGLU over o = 1024 x 14336 = 14,680,064 outputs: fused reads gate and up
  // and writes the product (3 x 2 B = 6 B per output); eager silu (2 + 2) then
  // multiply (2 + 2 + 2) = 10; backward 18 (fused 10); saved gate, up and silu(gate) = 6.
  const double o = 1024.0 * 14336;
  const Operator* fa = find(fused, "ffn.act");
  const Operator* ea = find(eager, "ffn.act");
  REQUIRE(fa != nullptr);
  REQUIRE(ea != nullptr);
  CHECK(fa->fwd.bytes.value() == Approx(6.0 * o));
  CHECK(ea->fwd.bytes.value() == Approx(10.0 * o));
  CHECK(fa->bwd_input.bytes.value() == Approx(10.0 * o));
  CHECK(ea->bwd_input.bytes.value() == Approx(18.0 * o));
  CHECK(ea->activation_bytes_saved.value() == Approx(6.0 * o));

  // Rotary on q and k: 1024 x (32 + 8) x 128 = 5,242,880 elements; fused 4 B
  // each way, eager 20 (float 2+4, complex multiply 4+4, type_as 4+2).
  const double r = 1024.0 * 40 * 128;
  CHECK(find(fused, "attn.rope")->fwd.bytes.value() == Approx(4.0 * r));
  CHECK(find(eager, "attn.rope")->fwd.bytes.value() == Approx(20.0 * r));
  CHECK(find(eager, "attn.rope")->bwd_input.bytes.value() == Approx(20.0 * r));

  // repeat_kv (eager only, 8 KV heads < 32): k and v from 1024 x 2 x 8 x 128 =
  // 2,097,152 to 1024 x 2 x 32 x 128 = 8,388,608 elements, read + write in BF16:
  // (2,097,152 + 8,388,608) x 2 = 20,971,520 B each way; the copies the attention
  // kernel saves instead of the originals: (8,388,608 - 2,097,152) x 2 = 12,582,912 B.
  CHECK(find(fused, "attn.repeat_kv") == nullptr);
  const Operator* rk = find(eager, "attn.repeat_kv");
  REQUIRE(rk != nullptr);
  CHECK(rk->fwd.bytes.value() == Approx(20971520.0));
  CHECK(rk->bwd_input.bytes.value() == Approx(20971520.0));
  CHECK(rk->activation_bytes_saved.value() == Approx(12582912.0));

  // FLOPs differ only by repeat_kv's backward sum (8,388,608 - 2,097,152 adds per layer, 32 layers).
  CHECK(total(eager, true) - total(fused, true) == Approx(32.0 * 6291456.0));
  CHECK(total(eager, false) > total(fused, false));
}

TEST_CASE("eager LayerNorm and GELU are single kernels: the graph does not change", "[graph][eager]") {
  // GPT-3 175B: LayerNorm (F.layer_norm), GELU (F.gelu), learned positions, MHA.
  const model::Model m = model::load_model("gpt3_175b");
  const Graph fused = build_graph(m, 2048, 1);
  const Graph eager = build_graph(m, 2048, 1, {}, true, true, AttentionImpl::kFlash, ElementwiseImpl::kEager);
  CHECK(total(eager, false) == total(fused, false));
  CHECK(find(eager, "attn.repeat_kv") == nullptr);  // 96 heads, 96 KV heads
}

TEST_CASE("elementwise implementation names", "[graph][eager]") {
  CHECK(std::string(to_string(ElementwiseImpl::kFused)) == "fused");
  CHECK(std::string(to_string(ElementwiseImpl::kEager)) == "eager");
}

TEST_CASE("a FlashAttention-2 graph differs only in the attention core's kernel tag", "[graph][attention]") {
  // Same single fused operator, same FLOPs and bytes; only op.attention.impl
  // tells the cost model which efficiency group times it.
  const model::Model m = model::load_model("llama3_8b");
  const Graph fa = build_graph(m, 2048, 1);
  const Graph fa2 = build_graph(m, 2048, 1, {}, true, true, AttentionImpl::kFlash2);
  const Operator* a = find(fa, "attn.core");
  const Operator* b = find(fa2, "attn.core");
  REQUIRE(a != nullptr);
  REQUIRE(b != nullptr);
  CHECK(a->attention.impl == AttentionImpl::kFlash);
  CHECK(b->attention.impl == AttentionImpl::kFlash2);
  CHECK(b->fwd.flops.value() == a->fwd.flops.value());
  CHECK(b->bwd_input.bytes.value() == a->bwd_input.bytes.value());
  CHECK(total(fa2, true) == total(fa, true));
  CHECK(total(fa2, false) == total(fa, false));
  CHECK(std::string(to_string(AttentionImpl::kFlash2)) == "flash2");
}
