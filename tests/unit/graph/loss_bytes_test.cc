// Cross-entropy HBM traffic: the FP32 upcast, log_softmax and nll_loss passes
// over the vocabulary logits (see graph.cc loss()); values derived by hand.
#include <catch2/catch.hpp>

#include <string>

#include "graph/graph.h"
#include "model/model.h"

using namespace trainsim;
using namespace trainsim::graph;

TEST_CASE("Llama 3 8B loss reads and writes the logits in FP32", "[graph][loss]") {
  const model::Model m = model::load_model("llama3_8b");
  const Graph g = build_graph(m, 8192, 1);
  const Operator* loss = nullptr;
  for (const Block& b : g.blocks) {
    for (const Operator& op : b.ops) {
      if (op.kind == OpKind::kLoss) loss = &op;
    }
  }
  REQUIRE(loss != nullptr);
  // logits = 8192 tokens x 128,256 vocab = 1,050,673,152.
  // Forward 14 B/logit (cast 2 + 4, log_softmax 4 + 4) + 4 B/token loss:
  //   14 x 1,050,673,152 + 4 x 8192 = 14,709,424,128 + 32,768 = 14,709,456,896 B.
  CHECK(loss->fwd.bytes.value() == 14'709'456'896.0);
  // Backward 22 B/logit (nll grad 4, log_softmax bwd 4 + 4 + 4, cast bwd 4 + 2):
  //   22 x 1,050,673,152 = 23,114,809,344 B.
  CHECK(loss->bwd_input.bytes.value() == 23'114'809'344.0);
}
