// trainsim model show MODEL [--seq-len N] [--format text|json] [--ops]
// trainsim model list
//
// Parameters (exact counts from model/params.cc) and training FLOPs per token
// (from the operator graph, graph/graph.cc: forward + backward, no
// recompute, TP = EP = CP = 1) of one model architecture.
#include <map>
#include <ostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/paths.h"
#include "core/error.h"
#include "core/strings.h"
#include "graph/graph.h"
#include "model/model.h"
#include "report/table.h"

namespace trainsim::cli {
namespace {

using graph::Component;

constexpr int64_t kDefaultSeqLen = 4096;

struct Summary {
  model::Model m;
  model::ParamCounts p;
  int64_t seq_len = 0;
  graph::Graph causal_mtp;  // causal, with MTP: per-component FLOPs come from this graph
  double causal = 0, causal_with_mtp = 0, noncausal = 0;  // FLOP per token
  double attn_kernel_recompute = 0;                        // FLOP per token, causal, no MTP
  int64_t activated_experts = 0;
  int64_t kv_cache = 0;
};

Summary summarize(const model::Model& m, int64_t seq_len) {
  Summary s{m, model::count_params(m), seq_len, graph::build_graph(m, seq_len, 1, {}, true, true)};
  s.causal = graph::train_flops_per_token(m, seq_len, true, false).value();
  s.causal_with_mtp = graph::train_flops_per_token(m, seq_len, true, true).value();
  s.noncausal = graph::train_flops_per_token(m, seq_len, false, false).value();
  const graph::Graph g = graph::build_graph(m, seq_len, 1, {}, true, false);
  s.attn_kernel_recompute = g.backward_kernel_recompute_flops().value() / static_cast<double>(g.tokens());
  if (m.moe) {
    s.activated_experts = m.moe_layer_count() * m.moe->experts_per_token * model::mlp_params(m, m.moe->expert_ffn);
  }
  s.kv_cache = model::kv_cache_bytes_per_token(m);
  return s;
}

double per_token(const Summary& s, Component c) {
  return s.causal_mtp.train_flops(c).value() / static_cast<double>(s.causal_mtp.tokens());
}

const std::vector<std::pair<Component, const char*>> kComponents = {
    {Component::kAttention, "attention"},
    {Component::kDenseFfn, "dense_ffn"},
    {Component::kExperts, "experts"},
    {Component::kSharedExperts, "shared_experts"},
    {Component::kRouter, "router"},
    {Component::kNorm, "norms"},  // and residual adds (FLOPs)
    {Component::kEmbedding, "embedding"},
    {Component::kHead, "head"},
};

int64_t params_of(const Summary& s, Component c) {
  switch (c) {
    case Component::kAttention: return s.p.attention;
    case Component::kDenseFfn: return s.p.dense_ffn;
    case Component::kExperts: return s.p.experts;
    case Component::kSharedExperts: return s.p.shared_experts;
    case Component::kRouter: return s.p.router;
    case Component::kNorm: return s.p.norms;
    case Component::kEmbedding: return s.p.embedding;
    case Component::kHead: return s.p.head;
    case Component::kMtp: return s.p.mtp;
  }
  return 0;
}

int64_t activated_of(const Summary& s, Component c) {
  return c == Component::kExperts ? s.activated_experts : params_of(s, c);
}

std::string billions(double v) { return report::fixed(v / units::kGiga, 2) + "B"; }
std::string gflops(double v) { return report::fixed(v / units::kGiga, 2); }

std::string describe(const model::Model& m) {
  std::string out;
  out += fmt::format("{} layers", m.layers);
  if (m.moe) out += fmt::format(" ({} dense + {} MoE)", m.dense_layer_count(), m.moe_layer_count());
  out += fmt::format(", hidden {}, {} heads", m.hidden, m.heads);
  if (m.attention == model::AttentionKind::kMla) {
    out += fmt::format(", MLA (q_lora {}, kv_lora {}, qk {}+{}, v {})", m.mla.q_lora_rank,
                       m.mla.kv_lora_rank, m.mla.qk_nope_head_dim, m.mla.qk_rope_head_dim,
                       m.mla.v_head_dim);
  } else {
    out += fmt::format(" ({} KV) of {}", m.kv_heads, m.head_dim);
  }
  out += fmt::format(", {} MLP", model::to_string(m.mlp));
  if (m.dense_layer_count() > 0) out += fmt::format(" {}", m.ffn);
  out += fmt::format(", {} positions, vocab {}", model::to_string(m.position), m.vocab);
  if (m.tied_embeddings) out += ", tied embeddings";
  if (m.moe) {
    const auto& e = *m.moe;
    out += fmt::format("\n  MoE: {} routed + {} shared experts of width {}, top-{}", e.n_routed_experts,
                       e.n_shared_experts, e.expert_ffn, e.experts_per_token);
    if (e.n_group > 1) out += fmt::format(", routed to at most {} of {} groups", e.topk_group, e.n_group);
  }
  if (m.mtp_layers > 0) out += fmt::format("; MTP depth {}", m.mtp_layers);
  return out;
}

std::string to_text(const Summary& s) {
  const model::Model& m = s.m;
  std::string out = fmt::format("Model {} ({}), from {}\n  {}\n\n", m.name, model::to_string(m.architecture),
                                paths::shown(m.source_file), describe(m));
  report::Table t({"component", "parameters", "params (B)", "activated/token (B)",
                   fmt::format("train GFLOP/token (causal, seq {})", s.seq_len)});
  double flop_sum = 0;
  for (const auto& [c, label] : kComponents) {
    if (params_of(s, c) == 0 && per_token(s, c) == 0) continue;
    const double f = per_token(s, c);
    flop_sum += f;
    t.add_row({c == Component::kNorm ? "norms (+ residual adds)" : label, report::with_commas(static_cast<double>(params_of(s, c))),
               billions(static_cast<double>(params_of(s, c))), billions(static_cast<double>(activated_of(s, c))),
               gflops(f)});
  }
  t.add_separator();
  t.add_row({"total (MTP excluded)", report::with_commas(static_cast<double>(s.p.total)),
             billions(static_cast<double>(s.p.total)), billions(static_cast<double>(s.p.activated)),
             gflops(flop_sum)});
  if (m.mtp_layers > 0) {
    t.add_row({"MTP module (unique)", report::with_commas(static_cast<double>(s.p.mtp)),
               billions(static_cast<double>(s.p.mtp)), "", gflops(per_token(s, Component::kMtp))});
  }
  out += t.to_text();

  out += "\nTraining FLOPs per token (forward + backward, no recompute):\n";
  report::Table f({"case", "GFLOP/token"});
  f.add_row({"causal", gflops(s.causal)});
  if (m.mtp_layers > 0) f.add_row({"causal, with MTP", gflops(s.causal_with_mtp)});
  f.add_row({"non-causal", gflops(s.noncausal)});
  f.add_row({"6 x activated parameters", gflops(6.0 * static_cast<double>(s.p.activated))});
  out += f.to_text();
  out += fmt::format(
      "  Conventions: GEMM backward = 2x forward (input + weight gradients); attention core\n"
      "  forward 2*s*s*(d_qk + d_v) per head, causal = half the score matrix, backward = 2x\n"
      "  forward. FlashAttention-2's backward also recomputes QK^T: +{} GFLOP/token (causal),\n"
      "  counted by the cost model as kernel work, not here. The output head is counted; the\n"
      "  embedding lookup has no FLOPs.\n",
      gflops(s.attn_kernel_recompute));

  out += fmt::format("\nKV cache per token (BF16): {} bytes\n", report::with_commas(static_cast<double>(s.kv_cache)));
  out += fmt::format(
      "\nParameter convention: exact count of weight matrices, biases and norm weights.\n"
      "  Activated per token = all but the unchosen routed experts, including the input\n"
      "  embedding ({}) and the output head ({}): {}. Without the input embedding\n"
      "  (a table lookup, not a matmul): {}.\n",
      billions(static_cast<double>(s.p.embedding)), billions(static_cast<double>(s.p.head)),
      billions(static_cast<double>(s.p.activated)),
      billions(static_cast<double>(s.p.activated - s.p.embedding)));
  if (!m.published.empty()) {
    out += "  Published figures (for comparison only; never inputs):\n";
    for (const auto& [k, v] : m.published) out += fmt::format("    {}: {}\n", k, v);
  }
  if (!m.source.empty()) out += fmt::format("\nConfig source: {}\n", m.source);
  return out;
}

std::string to_json(const Summary& s) {
  const model::Model& m = s.m;
  nlohmann::ordered_json j;
  j["name"] = m.name;
  j["architecture"] = model::to_string(m.architecture);
  j["seq_len"] = s.seq_len;
  j["params_total"] = s.p.total;
  j["params_activated"] = s.p.activated;
  j["params_activated_excluding_embedding"] = s.p.activated - s.p.embedding;
  j["params_mtp"] = s.p.mtp;
  j["params_embedding"] = s.p.embedding;
  j["params_head"] = s.p.head;
  j["train_flops_per_token"] = {{"causal", s.causal}, {"causal_with_mtp", s.causal_with_mtp},
                                {"noncausal", s.noncausal}};
  j["kv_cache_bytes_per_token"] = s.kv_cache;
  j["six_n_flops_per_token"] = 6.0 * static_cast<double>(s.p.activated);
  j["attention_backward_kernel_recompute_flops_per_token"] = s.attn_kernel_recompute;
  nlohmann::ordered_json params, act, flops;
  for (const auto& [c, label] : kComponents) {
    params[label] = params_of(s, c);
    act[label] = activated_of(s, c);
    flops[label] = per_token(s, c);
  }
  params["mtp"] = s.p.mtp;
  flops["mtp"] = per_token(s, Component::kMtp);
  j["params_by_component"] = params;
  j["activated_by_component"] = act;
  j["train_flops_per_token_causal_by_component"] = flops;
  nlohmann::ordered_json a;
  a["layers"] = m.layers;
  a["dense_layers"] = m.dense_layer_count();
  a["moe_layers"] = m.moe_layer_count();
  a["hidden"] = m.hidden;
  a["heads"] = m.heads;
  a["kv_heads"] = m.kv_heads;
  a["qk_head_dim"] = m.qk_head_dim();
  a["v_head_dim"] = m.v_head_dim();
  a["ffn"] = m.ffn;
  a["vocab"] = m.vocab;
  a["attention"] = m.attention == model::AttentionKind::kMla ? "mla" : "mha";
  a["mlp"] = model::to_string(m.mlp);
  a["position"] = model::to_string(m.position);
  a["tied_embeddings"] = m.tied_embeddings;
  if (m.moe) {
    a["n_routed_experts"] = m.moe->n_routed_experts;
    a["n_shared_experts"] = m.moe->n_shared_experts;
    a["experts_per_token"] = m.moe->experts_per_token;
    a["expert_ffn"] = m.moe->expert_ffn;
  }
  a["mtp_layers"] = m.mtp_layers;
  j["config"] = a;
  return j.dump(2) + "\n";
}

// Per-operator listing of one block of each kind (micro-batch 1).
std::string ops_text(const Summary& s) {
  std::string out;
  const graph::Graph& g = s.causal_mtp;
  for (const graph::Block& b : g.blocks) {
    out += fmt::format("\n{} x{} (one micro-batch of 1 x {} tokens):\n", graph::to_string(b.kind), b.count, s.seq_len);
    report::Table t({"operator", "kind", "component", "shape", "fwd GFLOP", "bwd GFLOP", "fwd MB", "params"});
    for (const graph::Operator& op : b.ops) {
      std::string shape;
      if (op.kind == graph::OpKind::kGemm) {
        shape = fmt::format("{}x{}x{}", op.gemm.m, op.gemm.n, op.gemm.k);
      } else if (op.kind == graph::OpKind::kGroupedGemm) {
        shape = fmt::format("{}*({}x{}x{})", op.gemm.groups, op.gemm.m, op.gemm.n, op.gemm.k);
      } else if (op.kind == graph::OpKind::kAttention) {
        shape = fmt::format("h{} s{}x{} d{}/{}", op.attention.heads, op.attention.seq_q, op.attention.seq_kv,
                            op.attention.qk_head_dim, op.attention.v_head_dim);
      } else if (op.kind == graph::OpKind::kDispatch || op.kind == graph::OpKind::kCombine) {
        shape = fmt::format("{} x {} B", op.comm_tokens, op.comm_bytes_per_token.value());
      }
      t.add_row({op.name, graph::to_string(op.kind), graph::to_string(op.component), shape,
                 report::fixed(op.fwd.flops.value() / units::kGiga, 3),
                 report::fixed((op.bwd_input.flops + op.bwd_weight.flops).value() / units::kGiga, 3),
                 report::fixed(op.fwd.bytes.value() / units::kMega, 1),
                 report::with_commas(static_cast<double>(op.params))});
    }
    out += t.to_text();
  }
  return out;
}

int show(const std::vector<std::string>& args, Io& io) {
  po::options_description desc("trainsim model show options");
  desc.add_options()("model", po::value<std::string>()->required(),
                     "a name in model_configs/ (e.g. deepseek_v3) or a path to a config.json")(
      "seq-len", po::value<int64_t>()->default_value(kDefaultSeqLen), "sequence length (tokens)")(
      "format", po::value<std::string>()->default_value("text"), "text | json")(
      "ops", po::bool_switch(), "also list every operator of each block (text)")(
      "output", po::value<std::string>(), "write to this file instead of stdout");
  po::positional_options_description pos;
  pos.add("model", 1);
  po::variables_map vm;
  if (!parse_options(args, desc, pos, vm, "trainsim model show MODEL [--seq-len N] [--format text|json]",
                     "trainsim model show deepseek_v3 --seq-len 4096 --format json", io)) {
    return kExitOk;
  }
  const std::string format = checked_format(vm, {"text", "json"});
  const int64_t seq_len = vm["seq-len"].as<int64_t>();
  if (seq_len < 1) throw UsageError(fmt::format("--seq-len {}: expected a positive integer", seq_len));
  const model::Model m = model::load_model(vm["model"].as<std::string>());
  const Summary s = summarize(m, seq_len);
  std::string text = format == "json" ? to_json(s) : to_text(s);
  if (format == "text" && vm["ops"].as<bool>()) text += ops_text(s);
  emit(vm, text, io);
  return kExitOk;
}

}  // namespace

int cmd_model(const std::vector<std::string>& args, Io& io) {
  const std::vector<std::string> subs = {"show", "list"};
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    const std::string usage =
        "usage: trainsim model show MODEL [--seq-len N] [--format text|json] [--ops]\n"
        "       trainsim model list\n\nexample:\n  trainsim model show deepseek_v3";
    if (args.empty()) throw UsageError("missing subcommand\n" + usage);
    io.out << usage << "\n";
    return kExitOk;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "show") return show(rest, io);
  if (args[0] == "list") {
    for (const std::string& name : model::list_models()) io.out << name << "\n";
    return kExitOk;
  }
  throw UsageError(fmt::format("unknown \"model\" subcommand \"{}\"{}; expected one of {}", args[0],
                               did_you_mean(args[0], subs), join(subs, ", ")));
}

}  // namespace trainsim::cli
