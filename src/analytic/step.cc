// The analytic step estimate (see step.h). Rules, each stated in the notes:
//
// Per pipeline rank and micro-batch, the forward (F), input-gradient (B) and
// weight-gradient (W) times are sums of cost.op_time() over the graph's
// operators of the stages the rank holds (plan::plan_graph: GEMMs at the
// policy's precision). Recomputation (plan::is_recomputed) adds the
// operators' forward time to backward. MoE experts run at the pace of the
// busiest GPU (x plan.expert_load_imbalance), as do the all-to-alls.
// Communication per micro-batch: TP collectives (Megatron: 2 per layer in
// forward and 2 in backward, all-reduce, or reduce-scatter + all-gather under
// sequence parallelism; 1+1 for the head, 1 forward for the embedding), MoE
// dispatch and combine (cost.expert_all_to_all; backward exchanges the
// gradients in BF16), pipeline sends of activations and gradients. A layer
// recomputed whole (full, every other layer) redoes its forward TP and MoE
// collectives in backward (plan::layer_comm_recompute_fraction).
//
// Overlap: GPipe, 1F1B, interleaved and ZB-H1 expose all of it, except the
// TP collectives under plan.tp_comm_overlap and the pipeline sends under
// plan.overlap_p2p_comm, of which only the excess over the chunk's compute
// is exposed. DualPipe and
// DualPipeV overlap a forward and a backward chunk's communication with the
// pair's computation (V3TR §3.2.1): exposed = max(0, comm - compute) per
// micro-batch, and compute runs with plan.comm_sms SMs lent to communication.
// Bubbles from the published formulas with chunk times that include exposed
// communication. DP gradient reduction starts with the last micro-batch's
// backward; rank r of a 1F1B-family pipeline then idles r backward chunks
// (ranks finish their last backward in order pp-1 ... 0), so its window is
// one micro-batch's backward plus r backward chunks; DualPipe ranks finish
// together (window: one backward). The post-optimizer parameter all-gather
// (ZeRO >= 1) hides behind the next step's first forward (Megatron's
// overlap-param-gather). The optimizer step is fully exposed.
#include "analytic/step.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "calib/frameworks.h"
#include "core/error.h"
#include "core/paths.h"
#include "core/strings.h"

namespace trainsim::analytic {
namespace {

using plan::Schedule;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// One micro-batch through one stage.
struct StageTimes {
  Seconds f, bi, w, rc;
  Seconds tp_f, tp_b, ep_f, ep_b, pp_f, pp_b;
  Seconds cp_f, cp_b;  // context-parallel KV ring: the part not hidden under the attention (cp_exchange)
  double layers = 0;  // transformer layer instances (ZeRO-3 gathers one at a time)
  // ZeRO-3 by parameter tensor: backward (input and weight gradients, and the
  // recomputed forward) of the operators that gather no tensor, all theirs
  // under the framework's persistence threshold (zero3_per_tensor()).
  Seconds backward_ungathered;
  Seconds compute() const { return f + bi + w + rc; }
  Seconds comm() const { return tp_f + tp_b + ep_f + ep_b + pp_f + pp_b + cp_f + cp_b; }
  StageTimes& operator+=(const StageTimes& o) {
    f += o.f; bi += o.bi; w += o.w; rc += o.rc;
    tp_f += o.tp_f; tp_b += o.tp_b; ep_f += o.ep_f; ep_b += o.ep_b; pp_f += o.pp_f; pp_b += o.pp_b;
    cp_f += o.cp_f; cp_b += o.cp_b;
    layers += o.layers;
    backward_ungathered += o.backward_ungathered;
    return *this;
  }
  StageTimes scaled(double s) const {
    StageTimes t;
    t.f = f * s; t.bi = bi * s; t.w = w * s; t.rc = rc * s;
    t.tp_f = tp_f * s; t.tp_b = tp_b * s; t.ep_f = ep_f * s; t.ep_b = ep_b * s; t.pp_f = pp_f * s; t.pp_b = pp_b * s;
    t.cp_f = cp_f * s; t.cp_b = cp_b * s;
    t.layers = layers * s;
    t.backward_ungathered = backward_ungathered * s;
    return t;
  }
};

// The parameter tensors an operator owns, in elements: a GEMM's weight
// (one per group) and its bias; a LayerNorm's weight and bias; otherwise one.
std::vector<int64_t> parameter_tensors(const graph::Operator& op, const model::Model& m) {
  std::vector<int64_t> out;
  if (op.kind == graph::OpKind::kGemm || op.kind == graph::OpKind::kGroupedGemm) {
    const int64_t w = op.gemm.n * op.gemm.k;
    for (int64_t g = 0; g < op.gemm.groups && w > 0; ++g) out.push_back(w);
    const int64_t bias = op.params - op.gemm.groups * w;
    if (bias > 0) out.push_back(bias);
  } else if (op.kind == graph::OpKind::kNorm && m.norm == model::NormKind::kLayerNorm && op.params % 2 == 0) {
    out.push_back(op.params / 2);
    out.push_back(op.params / 2);
  } else {
    out.push_back(op.params);
  }
  return out;
}

class Estimator {
 public:
  Estimator(const model::Model& m, const plan::Plan& p, const cost::CostModel& cost)
      : m_(m), p_(p), cost_(cost), layout_(plan::stage_layout(p, m)), g_(plan::plan_graph(p, m, true)) {
    const auto& c = cost_.cluster();
    apn_ = std::max(1, c.scale_up_domain());
    ctx_.sms_reserved_for_comm = overlapped(p.schedule) ? p.comm_sms : 0;
    tokens_ = p.micro_batch * p.seq_len / p.cp;
    // TP collective of one layer boundary: all-reduce, or RS + AG under SP.
    tp_one_ = tp_boundary_time(m, p, cost_, apn_);
    if (p.zero3_per_tensor()) zero3_fw_ = calib::load_zero3_framework(p.zero3_framework);
    pp_one_ = pipeline_send_time(m, p, cost_, apn_);
    rate_ = cost_.overlap().compute_rate();
  }

  // One micro-batch through stage s; with `ops`, each compute operator's
  // share is also added to its row there (operator_times()).
  StageTimes stage(int s, std::vector<OperatorTime>* ops = nullptr) const {
    StageTimes t;
    const plan::StageContent c = plan::stage_content(layout_, s, m_);
    for (const plan::BlockUse& u : plan::stage_blocks(g_, c)) {
      const double n = static_cast<double>(u.count);
      const graph::Block& b = *u.block;
      for (const graph::Operator& op : b.ops) {
        const double rc = plan::recompute_fraction(op, b, p_.recompute);
        if (op.kind == graph::OpKind::kDispatch || op.kind == graph::OpKind::kCombine) {
          const Seconds f = all_to_all(op, op.comm_bytes_per_token);
          const Seconds bw = op.comm_tokens > 0
                                 ? all_to_all(op, op.bwd_input.bytes / static_cast<double>(op.comm_tokens))
                                 : Seconds::zero();
          t.ep_f += f * n;
          t.ep_b += (bw + f * rc) * n;  // layer recompute redoes the forward exchange
          continue;
        }
        cost::OpContext ctx = ctx_;
        ctx.gemm_precision = op.precision;
        const double scale = contains(op.name, "moe.experts.") ? p_.expert_load_imbalance : 1.0;
        const Seconds f = cost_.op_time(op, cost::Pass::kForward, ctx) * scale;
        const Seconds bi = cost_.op_time(op, cost::Pass::kBackwardInput, ctx) * scale;
        const Seconds w = cost_.op_time(op, cost::Pass::kBackwardWeight, ctx) * scale + grad_accumulation_time(op, p_, cost_);
        t.f += f * n;
        t.bi += bi * n;
        t.w += w * n;
        t.rc += f * (rc * n);
        if (ops) add_operator(*ops, b.kind, op, n, f * n, bi * n, w * n, f * (rc * n), rc, grad_accumulation_bytes(op, p_));
        if (zero3_fw_ && !gathers_tensor(op)) t.backward_ungathered += (bi + w + f * rc) * n;
        const CpExchange cpx = cp_exchange(op, p_, cost_, apn_, f, bi);
        t.cp_f += cpx.forward * n;
        t.cp_b += (cpx.backward + cpx.forward * rc) * n;  // a recomputed core exchanges its KV again
      }
      if (b.kind == graph::BlockKind::kDenseLayer || b.kind == graph::BlockKind::kMoeLayer) t.layers += n;
      const TpCollectives tp = tp_collectives(b, p_.recompute);
      t.tp_f += tp_one_ * (tp.forward * n);
      t.tp_b += tp_one_ * (tp.backward * n);
    }
    t.pp_f = pp_one_;
    t.pp_b = pp_one_;
    return t;
  }

  // Whether ZeRO-3 by parameter tensor gathers any of the operator's tensors
  // (one at or above the framework's persistence threshold).
  bool gathers_tensor(const graph::Operator& op) const {
    if (op.params <= 0) return false;
    for (const int64_t numel : parameter_tensors(op, m_)) {
      if (numel >= zero3_fw_->param_persistence_threshold) return true;
    }
    return false;
  }

  static void add_operator(std::vector<OperatorTime>& ops, graph::BlockKind block, const graph::Operator& op,
                           double n, Seconds f, Seconds bi, Seconds w, Seconds rc, double rc_fraction,
                           Bytes accumulation) {
    auto it = std::find_if(ops.begin(), ops.end(),
                           [&](const OperatorTime& o) { return o.block == block && o.name == op.name; });
    if (it == ops.end()) {
      OperatorTime o;
      o.block = block;
      o.name = op.name;
      o.kind = op.kind;
      o.precision = op.precision;
      ops.push_back(o);
      it = ops.end() - 1;
    }
    it->instances += n;
    it->forward += f;
    it->backward_input += bi;
    it->backward_weight += w;
    it->recompute += rc;
    it->flops += (op.fwd.flops * (1.0 + rc_fraction) + op.bwd_input.flops + op.bwd_weight.flops) * n;
    it->bytes += (op.fwd.bytes * (1.0 + rc_fraction) + op.bwd_input.bytes + op.bwd_weight.bytes + accumulation) * n;
  }

  // The share of the stages a rank holds that one micro-batch visits:
  // DualPipe's micro-batch visits one of the rank's two stages (its
  // direction's), so per micro-batch the rank does their mean; every other
  // schedule visits all of them.
  double held_stage_share(const std::vector<int>& held) const {
    return p_.schedule == Schedule::kDualPipe ? 1.0 / static_cast<double>(held.size()) : 1.0;
  }

  // Per-operator rows of rank r over the whole step, scaled as rank() scales
  // the stage sums.
  std::vector<OperatorTime> operators(int r) const {
    const auto& held = layout_.stages_of_rank[static_cast<size_t>(r)];
    std::vector<OperatorTime> ops;
    for (int s : held) (void)stage(s, &ops);
    const double share = held_stage_share(held);
    const double scale = static_cast<double>(p_.micro_batches_per_replica()) * share;
    for (OperatorTime& o : ops) {
      o.instances *= share;
      o.forward = o.forward * scale;
      o.backward_input = o.backward_input * scale;
      o.backward_weight = o.backward_weight * scale;
      o.recompute = o.recompute * scale;
      o.flops = o.flops * scale;
      o.bytes = o.bytes * scale;
    }
    return ops;
  }

  Seconds all_to_all(const graph::Operator& op, Bytes per_copy) const {
    if (!m_.moe || p_.ep <= 1) return Seconds::zero();
    const int64_t k = std::max<int64_t>(1, m_.moe->experts_per_token);
    const cost::ExpertAllToAll a = expert_all_to_all_request(m_, p_, op.comm_tokens / k, per_copy, apn_);
    return cost_.expert_all_to_all(a).time * p_.expert_load_imbalance;
  }

  analytic::RankTimes rank(int r) const {
    const auto& held = layout_.stages_of_rank[static_cast<size_t>(r)];
    StageTimes per_mb;
    for (int s : held) per_mb += stage(s);
    const double share = held_stage_share(held);
    per_mb = per_mb.scaled(share);
    const double chunks = static_cast<double>(held.size()) * share;  // DualPipe: 1
    const double mb = static_cast<double>(p_.micro_batches_per_replica());
    const int pp = p_.pp;
    analytic::RankTimes t;
    t.rank = r;
    t.forward = per_mb.f * mb;
    t.backward_input = per_mb.bi * mb;
    t.backward_weight = per_mb.w * mb;
    t.recompute = per_mb.rc * mb;
    t.tp_comm = (per_mb.tp_f + per_mb.tp_b) * mb;
    t.cp_comm = (per_mb.cp_f + per_mb.cp_b) * mb;
    t.ep_comm = (per_mb.ep_f + per_mb.ep_b) * mb;
    t.pp_comm = (per_mb.pp_f + per_mb.pp_b) * mb;
    const StageTimes c = per_mb.scaled(1.0 / chunks);  // one chunk
    if (overlapped(p_.schedule)) {
      t.exposed_comm = max(Seconds::zero(), per_mb.comm() - per_mb.compute()) * mb;
      t.chunk_f = c.f + c.tp_f + c.ep_f + c.pp_f + c.cp_f;  // unpaired: its communication is exposed
      t.chunk_b = c.bi + c.rc + c.w + c.tp_b + c.ep_b + c.pp_b + c.cp_b;
      t.chunk_w = c.w;
      t.chunk_fb = max(c.compute(), c.comm());
      const int stages = p_.schedule == Schedule::kDualPipeV ? 2 * pp : pp;
      t.bubble = max(Seconds::zero(), dualpipe_bubble(stages, t.chunk_fb, t.chunk_b, t.chunk_w));
    } else {
      // TP overlap (plan.tp_comm_overlap): a pass's TP collectives run under that
      // pass's GEMMs and only their excess is exposed.
      // Pipeline sends under overlap_p2p_comm run beside the next chunk's
      // compute and only their excess is exposed.
      const Seconds tp_f = tp_exposed(c.tp_f, c.f), tp_b = tp_exposed(c.tp_b, c.bi + c.w + c.rc);
      const Seconds pp_f = pp_exposed(c.pp_f, c.f), pp_b = pp_exposed(c.pp_b, c.bi + c.w + c.rc);
      t.exposed_comm = (tp_f + tp_b + c.ep_f + c.ep_b + pp_f + pp_b + c.cp_f + c.cp_b) * (chunks * mb);
      // The bubble's chunks keep the whole send: overlapping frees only the
      // sender, and while the pipeline fills and drains each receiver still
      // waits for its input to arrive.
      t.chunk_f = c.f + tp_f + c.ep_f + c.pp_f + c.cp_f;
      t.chunk_b = c.bi + c.rc + c.w + tp_b + c.ep_b + c.pp_b + c.cp_b;
      t.chunk_w = c.w;
      t.chunk_fb = t.chunk_f + t.chunk_b;
      if (p_.schedule == Schedule::kZeroBubbleH1) {
        t.bubble = max(Seconds::zero(), zb_h1_bubble(pp, t.chunk_f, t.chunk_b, t.chunk_w));
      } else {
        // GPipe and 1F1B: (p-1)(F+B) (Narayanan et al. SC'21 §2.2); interleaved
        // the same in chunks of 1/v of a rank's layers, i.e. (p-1)(F+B)/v.
        t.bubble = (t.chunk_f + t.chunk_b) * static_cast<double>(pp - 1);
      }
    }
    dp_and_optimizer(r, per_mb, c, t);
    if (p_.zero_stage == 3) zero3(r, per_mb, mb, t);
    return t;
  }

  Seconds tp_exposed(Seconds comm, Seconds compute) const {
    return p_.tp_comm_overlap ? max(Seconds::zero(), comm - compute) : comm;
  }
  Seconds pp_exposed(Seconds comm, Seconds compute) const {
    return p_.overlap_p2p_comm ? max(Seconds::zero(), comm - compute) : comm;
  }

  // ZeRO-3 / FSDP (Rajbhandari et al. SC'20 §5.3; PyTorch FSDP, Zhao et al.
  // VLDB'23 §3.3-3.4): each layer's parameters are all-gathered before its
  // forward and again before its backward (parameters are freed after use;
  // the backward gather also serves full recompute), and each layer's
  // gradients are reduce-scattered after its backward. Prefetch
  // overlaps layer i+1's collective with layer i's compute, so one phase of n
  // equal layers with per-layer compute p and communication c takes
  // c + (n-1) max(c, p) + p ... = n max(c, p) + min(c, p): exposed
  // communication is max(0, C - P) + min(C, P)/n with C = n c, P = n p (the
  // first gather, or the last reduce-scatter, cannot hide). The backward
  // phase's gather and reduce-scatter share the same links, so their times add.
  void zero3(int r, const StageTimes& per_mb, double mb, analytic::RankTimes& t) const {
    if (zero3_fw_) return zero3_per_tensor(r, per_mb, mb, t);
    const plan::RankParams rp = plan::rank_params(p_, m_, layout_, r);
    const double gb = bytes_per_element(p_.precision.gradients);
    const double n = std::max(1.0, per_mb.layers);
    // One collective per layer (FSDP wraps each transformer block as a unit):
    // n collectives of 1/n of the rank's parameters, each paying its latency.
    plan::RankParams layer = rp;
    layer.dense_on_gpu = static_cast<int64_t>(std::ceil(static_cast<double>(rp.dense_on_gpu) / n));
    layer.expert_on_gpu = static_cast<int64_t>(std::ceil(static_cast<double>(rp.expert_on_gpu) / n));
    const Seconds gather = dp_gather(layer) * n;
    const Seconds reduce = dp_collective(cost::CollectiveOp::kReduceScatter, rp,
                                         Bytes(static_cast<double>(layer.dense_on_gpu) * gb),
                                         Bytes(static_cast<double>(layer.expert_on_gpu) * gb)) *
                           n;
    // Once per step: parameters stay gathered between the micro-batches of a
    // step and gradients are reduced at the last backward (torch.distributed
    // pipelining drives FSDP2 so: reshard and gradient sync only on the last
    // backward); the first forward and the last backward carry the traffic.
    (void)mb;
    const Seconds backward = zero3_exposed(gather + reduce, per_mb.bi + per_mb.w + per_mb.rc, n, rate_);
    t.dp_exposed = zero3_exposed(gather, per_mb.f, n, rate_) + backward;
    t.dp_backward_delay = backward;  // the last backward waits for its gathers and runs slowed
    t.dp_comm = gather * 2.0 + reduce;
  }

  // ZeRO-3 by parameter tensor (calibrate/frameworks/, e.g. DeepSpeed's 2021
  // implementation): every micro-batch gathers each tensor of at least the
  // persistence threshold before its forward and again before its backward
  // (a recomputed layer's before its recompute and, past the framework's
  // reuse distance, again before its backward: add_zero3_tensor_calls), and
  // reduce-scatters every tensor's gradient in backward. A call costs the
  // collective (ring over the DP group), with list-form collectives one copy
  // kernel per rank of 1/ranks of the tensor (read and write), and, for
  // blocking gathers, the measured host overhead between calls; blocking
  // gathers are fully exposed, reduce-scatters overlap the micro-batch's
  // backward when the framework issues them asynchronously. A blocking
  // gather synchronises the whole device first (DeepSpeed 2021:
  // torch.cuda.synchronize() in every all-gather), which waits for the
  // reduce-scatters in flight too: a tensor's reduce-scatter can hide only
  // under the backward that runs before the next gather, that of operators
  // gathering nothing (norms, activations, the attention core, residual
  // adds), so only that backward hides them. Small tensors stay gathered
  // (gathered once; not charged).
  void zero3_per_tensor(int r, const StageTimes& per_mb, double mb, analytic::RankTimes& t) const {
    const calib::Zero3Framework& fw = *zero3_fw_;
    const plan::RankParams rp = plan::rank_params(p_, m_, layout_, r);
    Zero3TensorCalls calls;  // per micro-batch
    for (int s : layout_.stages_of_rank[static_cast<size_t>(r)]) {
      const plan::StageContent c = plan::stage_content(layout_, s, m_);
      for (const plan::BlockUse& u : plan::stage_blocks(g_, c)) {
        add_zero3_tensor_calls(calls, *u.block, static_cast<double>(u.count), m_, p_, cost_, fw, rp, apn_);
      }
    }
    const Seconds gathers = calls.gather, backward_gathers = calls.backward_gather, reduces = calls.reduce;
    const Seconds backward = per_mb.bi + per_mb.w + per_mb.rc;
    // What the reduce-scatters can hide under (see above).
    const Seconds window = fw.blocking_gathers ? per_mb.backward_ungathered : backward;
    const Seconds reduce_exposed =
        fw.reduce_scatter_overlaps_backward ? overlap_exposed(reduces, window, Seconds::zero(), rate_) : reduces;
    const Seconds gather_exposed = fw.blocking_gathers ? gathers + backward_gathers
                                                       : zero3_exposed(gathers, per_mb.f, per_mb.layers, rate_) +
                                                             zero3_exposed(backward_gathers, backward, per_mb.layers, rate_);
    t.dp_exposed = (gather_exposed + reduce_exposed) * mb;
    t.dp_comm = (gathers + backward_gathers + reduces) * mb;
    // Every micro-batch carries its own gathers and reduce-scatters: not one
    // delay on the last backward's chain (rows of this kind run pp = 1).
    t.dp_backward_delay = Seconds::zero();
  }

  Seconds dp_gather(const plan::RankParams& rp) const {
    const double wb = bytes_per_element(p_.precision.weights);
    return dp_collective(cost::CollectiveOp::kAllGather, rp, Bytes(static_cast<double>(rp.dense_on_gpu) * wb),
                         Bytes(static_cast<double>(rp.expert_on_gpu) * wb));
  }

  Seconds dp_collective(cost::CollectiveOp op, const plan::RankParams& rp, Bytes dense, Bytes expert) const {
    return dp_collective_time(cost_, op, dense, expert, rp, p_, apn_);
  }

  void dp_and_optimizer(int r, const StageTimes& per_mb, const StageTimes& chunk, analytic::RankTimes& t) const {
    const plan::RankParams rp = plan::rank_params(p_, m_, layout_, r);
    const double gb = bytes_per_element(p_.precision.gradients);
    const Bytes dense_g(static_cast<double>(rp.dense_on_gpu) * gb);
    const Bytes expert_g(static_cast<double>(rp.expert_on_gpu) * gb);
    Seconds reduce, gather;
    if (p_.zero_stage >= 1) {
      // Rajbhandari et al. §7: reduce-scatter the gradients, all-gather the updated weights.
      reduce = dp_collective(cost::CollectiveOp::kReduceScatter, rp, dense_g, expert_g);
      gather = dp_gather(rp);
    } else {
      reduce = dp_collective(cost::CollectiveOp::kAllReduce, rp, dense_g, expert_g);
    }
    t.dp_comm = reduce + gather;
    const Seconds last_backward = per_mb.bi + per_mb.rc + per_mb.w;
    // Overlapped: the reduction starts with the last micro-batch's backward;
    // otherwise only after the rank's whole forward-backward.
    // The backward it runs beside is slowed while it does (overlap_exposed);
    // the idle time after it hides the reduction's tail, not the slowed
    // backward, which is on the pipeline's chain (dp_backward_delay).
    const Seconds beside = p_.overlap_grad_reduce ? last_backward : Seconds::zero();
    const Seconds idle =
        overlapped(p_.schedule) ? Seconds::zero() : (chunk.bi + chunk.rc + chunk.w) * static_cast<double>(r);
    t.dp_exposed = overlap_exposed(reduce, beside, idle, rate_) + overlap_exposed(gather, per_mb.f, Seconds::zero(), rate_);
    t.dp_backward_delay = overlap_stretch(reduce, beside, rate_);
    const double shard = p_.zero_stage >= 1
                             ? static_cast<double>(rp.dense_on_gpu) / rp.dense_replicas +
                                   static_cast<double>(rp.expert_on_gpu) / rp.expert_replicas
                             : static_cast<double>(rp.dense_on_gpu + rp.expert_on_gpu);
    t.optimizer = cost_.optimizer_time(static_cast<int64_t>(std::ceil(shard)), p_.precision.optimizer_moments);
  }

 private:
  const model::Model& m_;
  const plan::Plan& p_;
  const cost::CostModel& cost_;
  plan::StageLayout layout_;
  graph::Graph g_;
  cost::OpContext ctx_;
  int apn_ = 8;
  int64_t tokens_ = 0;
  Seconds tp_one_;
  Seconds pp_one_;
  double rate_ = 1;  // compute rate beside a data-parallel collective (cost.overlap())
  std::optional<calib::Zero3Framework> zero3_fw_;  // set when ZeRO-3 runs a non-FSDP implementation

 public:
  const calib::Zero3Framework* zero3_framework() const { return zero3_fw_ ? &*zero3_fw_ : nullptr; }
};

// Hardware FLOPs of one micro-batch over the whole model (TP = EP = CP = 1)
// beyond the model FLOPs, from one walk of the graph:
//  - the recompute policy's forward FLOPs;
//  - under a latent context-parallel ring, each of the cp GPUs up-projects
//    the whole sequence's latents instead of its 1/cp, so every MLA
//    kv_b_proj runs cp - 1 more times its CP = 1 work (forward, both backward
//    GEMMs, and the recomputed forward where the policy drops it).
Flops extra_hardware_flops(const model::Model& m, const plan::Plan& p) {
  const bool latent = p.cp > 1 && p.cp_ring == graph::CpRing::kLatent;
  if (p.recompute == plan::Recompute::kNone && !latent) return Flops::zero();
  const graph::Graph g = graph::build_graph(m, p.seq_len, p.micro_batch, graph::Sharding{}, true, true);
  Flops f;
  for (const graph::Block& b : g.blocks) {
    for (const graph::Operator& op : b.ops) {
      const double rc = plan::recompute_fraction(op, b, p.recompute);
      const double n = static_cast<double>(b.count);
      f += op.fwd.flops * (rc * n);
      if (latent && op.name.ends_with("attn.kv_b_proj")) {
        f += (op.fwd.flops * (1.0 + rc) + op.bwd_input.flops + op.bwd_weight.flops) *
             (static_cast<double>(p.cp - 1) * n);
      }
    }
  }
  return f;
}

}  // namespace

cost::ExpertAllToAll expert_all_to_all_request(const model::Model& m, const plan::Plan& p,
                                               int64_t tokens, Bytes bytes_per_token,
                                               int accelerators_per_node) {
  TRAINSIM_CHECK(m.moe.has_value(), "expert all-to-all of a dense model {}", m.name);
  cost::ExpertAllToAll a;
  a.tokens = tokens;
  a.bytes_per_token = bytes_per_token;
  a.experts_per_token = static_cast<int>(std::max<int64_t>(1, m.moe->experts_per_token));
  a.ep = p.ep;
  a.ranks_per_node = std::min(p.ep, accelerators_per_node);
  a.max_nodes = p.max_nodes_per_token;
  a.n_groups = 0;  // routing chooses among the EP group's nodes
  a.n_experts = static_cast<int>(m.moe->n_routed_experts);
  return a;
}

Seconds tp_boundary_time(const model::Model& m, const plan::Plan& p, const cost::CostModel& cost,
                         int accelerators_per_node) {
  if (p.tp <= 1) return Seconds::zero();
  const int64_t tokens = p.micro_batch * p.seq_len / p.cp;
  const Bytes msg(static_cast<double>(tokens * m.hidden) * bytes_per_element(Precision::kBF16));
  const cost::Group grp{p.tp, std::min(p.tp, std::max(1, accelerators_per_node))};
  return p.sequence_parallel ? cost.collective_time(cost::CollectiveOp::kReduceScatter, msg, grp) +
                                   cost.collective_time(cost::CollectiveOp::kAllGather, msg, grp)
                             : cost.collective_time(cost::CollectiveOp::kAllReduce, msg, grp);
}

TpCollectives tp_collectives(const graph::Block& b, plan::Recompute r) {
  TpCollectives c;
  switch (b.kind) {
    case graph::BlockKind::kDenseLayer:
    case graph::BlockKind::kMoeLayer: c = {2, 2}; break;
    case graph::BlockKind::kEmbedding: c = {1, 0}; break;
    case graph::BlockKind::kHead: c = {1, 1}; break;
    case graph::BlockKind::kMtp: c = {3, 3}; break;
  }
  // A layer recomputed whole re-runs its forward collectives in backward.
  c.backward += c.forward * plan::layer_comm_recompute_fraction(b, r);
  return c;
}

CpExchange cp_exchange(const graph::Operator& op, const plan::Plan& p, const cost::CostModel& cost,
                       int accelerators_per_node, Seconds core_forward, Seconds core_backward) {
  CpExchange x;
  if (p.cp <= 1 || op.kind != graph::OpKind::kAttention) return x;
  // K and V of the local chunk in BF16 (MLA: the up-projected per-head K and
  // V, or under a latent ring the compressed latent and rotary key).
  const Bytes kv = plan::cp_ring_chunk_bytes(op, p);
  const Seconds step = cost.p2p_time(kv, p.tp * p.cp > std::max(1, accelerators_per_node));
  const double steps = p.cp - 1;
  const Seconds chunk_f = core_forward / static_cast<double>(p.cp);
  const Seconds chunk_b = core_backward / static_cast<double>(p.cp);
  x.forward_total = step * steps;
  x.backward_total = step * (2.0 * steps);
  if (overlapped(p.schedule)) {
    // DualPipe pairs this chunk with another whose all-to-alls share the
    // links: the ring is communication of its own, hidden (or not) under the
    // paired chunk's computation with the rest, never under its own attention.
    x.forward = x.forward_total;
    x.backward = x.backward_total;
  } else {
    x.forward = max(Seconds::zero(), step - chunk_f) * steps;
    x.backward = max(Seconds::zero(), step * 2.0 - chunk_b) * steps;
  }
  return x;
}

double grad_accumulation_bytes_per_param(const plan::Plan& p) {
  if (p.gradient_accumulation_fusion || p.zero_stage >= 3) return 0;
  return bytes_per_element(p.precision.weights) + 2.0 * bytes_per_element(p.precision.gradients);
}

Bytes grad_accumulation_bytes(const graph::Operator& op, const plan::Plan& p) {
  return Bytes(op.params > 0 ? grad_accumulation_bytes_per_param(p) * static_cast<double>(op.params) : 0.0);
}

Seconds grad_accumulation_time(const graph::Operator& op, const plan::Plan& p, const cost::CostModel& cost) {
  const Bytes b = grad_accumulation_bytes(op, p);
  return b.value() > 0 ? cost.memory_time(b, Flops::zero()) : Seconds::zero();
}

Seconds pipeline_send_time(const model::Model& m, const plan::Plan& p, const cost::CostModel& cost,
                           int accelerators_per_node) {
  if (p.pp <= 1) return Seconds::zero();
  const int apn = std::max(1, accelerators_per_node);
  const int64_t tokens = p.micro_batch * p.seq_len / p.cp;
  const double bf16 = bytes_per_element(Precision::kBF16);
  const Bytes piece(static_cast<double>(ceil_div(tokens, p.tp) * m.hidden) * bf16);
  // Neighbouring stages are tp * cp * dp ranks apart (Megatron rank order).
  const int64_t stride = static_cast<int64_t>(p.tp) * p.cp * p.dp;
  Seconds t = cost.p2p_time(piece, stride * p.pp > apn);
  if (p.tp > 1 && !p.sequence_parallel) {
    const Bytes whole(static_cast<double>(tokens * m.hidden) * bf16);
    t += cost.collective_time(cost::CollectiveOp::kAllGather, whole, cost::Group{p.tp, std::min(p.tp, apn)});
  }
  return t;
}

cost::CollectiveCost dp_group_collective_cost(const cost::CostModel& cost, cost::CollectiveOp op, Bytes message,
                                              bool expert, const plan::RankParams& rp, const plan::Plan& p,
                                              int accelerators_per_node) {
  const int apn = std::max(1, accelerators_per_node);
  const double replicas = expert ? rp.expert_replicas : rp.dense_replicas;
  const int n = static_cast<int>(std::lround(replicas));
  if (n <= 1 || !(message.value() > 0)) return cost::CollectiveCost{};
  const int rpn = std::max(1, std::min(n, expert ? apn / p.ep : apn / (p.tp * p.cp)));
  return cost.collective_cost(op, message, cost::Group{n, rpn});
}

cost::CollectiveCost dp_collective_cost(const cost::CostModel& cost, cost::CollectiveOp op, Bytes dense,
                                        Bytes expert, const plan::RankParams& rp, const plan::Plan& p,
                                        int accelerators_per_node) {
  return dp_group_collective_cost(cost, op, dense, false, rp, p, accelerators_per_node) +
         dp_group_collective_cost(cost, op, expert, true, rp, p, accelerators_per_node);
}

Seconds dp_collective_time(const cost::CostModel& cost, cost::CollectiveOp op, Bytes dense, Bytes expert,
                           const plan::RankParams& rp, const plan::Plan& p, int accelerators_per_node) {
  return dp_collective_cost(cost, op, dense, expert, rp, p, accelerators_per_node).total();
}

void add_zero3_tensor_calls(Zero3TensorCalls& into, const graph::Block& b, double uses, const model::Model& m,
                            const plan::Plan& p, const cost::CostModel& cost, const calib::Zero3Framework& fw,
                            const plan::RankParams& rp, int accelerators_per_node) {
  const double wb = bytes_per_element(p.precision.weights);
  const double gb = bytes_per_element(p.precision.gradients);
  auto copies = [&](double numel, double ranks, double bytes_per) {
    if (!fw.list_form_copies || ranks <= 1) return Seconds::zero();
    return cost.memory_time(Bytes(2.0 * numel / ranks * bytes_per), Flops::zero()) * ranks;
  };
  // Backward gathers of each op, from the trace's reuse distances. A layer
  // recomputed whole (fraction f of the layers: full 1, every other layer
  // 1/2; plan::layer_comm_recompute_fraction) re-runs its forward through the
  // same module hooks in backward, so each tensor is gathered for the
  // recompute (its last use was the step's forward, a whole pipeline of
  // layers ago) and then used by its own backward; between the two run the
  // ops after it twice (the rest of the recompute forward, then their
  // backward in reverse), so it stays gathered only when those hold fewer
  // than fw.max_reuse_distance elements. A layer not recomputed whole gathers
  // each tensor once in backward (selective policies recompute an op just
  // before its own backward, its tensor already gathered).
  const double f = plan::layer_comm_recompute_fraction(b, p.recompute);
  const size_t n = b.ops.size();
  std::vector<double> after(n + 1, 0.0);  // parameter elements of the ops after op j
  for (size_t j = n; j-- > 0;) after[j] = after[j + 1] + static_cast<double>(b.ops[j].params);
  for (size_t j = 0; j < n; ++j) {
    const graph::Operator& op = b.ops[j];
    if (op.params <= 0) continue;
    const bool expert = op.kind == graph::OpKind::kGroupedGemm;
    const double ranks = expert ? rp.expert_replicas : rp.dense_replicas;
    auto collective = [&](cost::CollectiveOp o, Bytes msg) {
      return dp_group_collective_cost(cost, o, msg, expert, rp, p, accelerators_per_node);
    };
    const double regather = 2.0 * after[j + 1] >= static_cast<double>(fw.max_reuse_distance) ? 1.0 : 0.0;
    const double backward_gathers = f * (1.0 + regather) + (1.0 - f);
    for (const int64_t numel : parameter_tensors(op, m)) {
      const double x = static_cast<double>(numel);
      const cost::CollectiveCost rs = collective(cost::CollectiveOp::kReduceScatter, Bytes(x * gb));
      into.reduce += (rs.total() + copies(x, ranks, gb)) * uses;
      into.reduce_collective += rs.bytes * uses;
      if (numel < fw.param_persistence_threshold) continue;
      const Seconds host = fw.blocking_gathers ? fw.host_overhead_per_gather : Seconds::zero();
      const cost::CollectiveCost ag = collective(cost::CollectiveOp::kAllGather, Bytes(x * wb));
      const Seconds one = ag.total() + copies(x, ranks, wb) + host;
      into.gather += one * uses;
      into.gather_collective += ag.bytes * uses;
      into.backward_gather += one * (uses * backward_gathers);
      into.backward_gather_collective += ag.bytes * (uses * backward_gathers);
    }
  }
}

Seconds overlap_stretch(Seconds comm, Seconds compute, double compute_rate) {
  TRAINSIM_CHECK(compute_rate > 0 && compute_rate <= 1, "compute rate {} beside a collective outside (0, 1]",
                 compute_rate);
  return min(comm * (1.0 - compute_rate), compute * ((1.0 - compute_rate) / compute_rate));
}

Seconds overlap_exposed(Seconds comm, Seconds compute, Seconds idle, double compute_rate) {
  return max(Seconds::zero(), max(comm - compute - idle, overlap_stretch(comm, compute, compute_rate)));
}

Seconds zero3_exposed(Seconds comm, Seconds compute, double layers, double compute_rate) {
  const double n = std::max(1.0, layers);
  const double rest = 1.0 - 1.0 / n;  // all but the first layer's collective run beside compute
  return comm / n + max((comm - compute) * rest, overlap_stretch(comm * rest, compute * rest, compute_rate));
}

Seconds RankTimes::total() const {
  return forward + backward_input + backward_weight + recompute + exposed_comm + bubble + dp_exposed + optimizer;
}

double bubble_fraction_1f1b(int pp, int64_t micro_batches) {
  // Narayanan et al. (SC'21) §2.2.1: (p-1)/(m+p-1) of the step (GPipe the same).
  return static_cast<double>(pp - 1) / static_cast<double>(micro_batches + pp - 1);
}

double bubble_fraction_interleaved(int pp, int vpp, int64_t micro_batches) {
  // Narayanan et al. (SC'21) §2.2.2: the bubble shrinks by v: (p-1)/v over m + (p-1)/v.
  return static_cast<double>(pp - 1) / static_cast<double>(static_cast<int64_t>(vpp) * micro_batches + pp - 1);
}

Seconds dualpipe_bubble(int pp, Seconds f_and_b, Seconds b, Seconds w) {
  // DeepSeek-V3 technical report Table 2: (PP/2 - 1)(F&B + B - 3W).
  return (f_and_b + b - w * 3.0) * (static_cast<double>(pp) / 2.0 - 1.0);
}

Seconds zb_h1_bubble(int pp, Seconds f, Seconds b, Seconds w) {
  // DeepSeek-V3 Table 2 (B = full backward): (PP - 1)(F + B - 2W); Qi et al.
  // (ICLR 2024) ZB-H1: (p-1)(T_F + T_B - T_W) with T_B input-gradient only.
  return (f + b - w * 2.0) * static_cast<double>(pp - 1);
}

std::vector<OperatorTime> operator_times(const model::Model& m, const plan::Plan& p, const cost::CostModel& cost,
                                         int rank) {
  TRAINSIM_CHECK(rank >= 0 && rank < p.pp, "pipeline rank {} of {}", rank, p.pp);
  return Estimator(m, p, cost).operators(rank);
}

namespace {
// Under a schedule whose last backward is one chain (plan::backward_chain),
// DP work that lengthens rank r' > r's last backward (dp_backward_delay)
// delays rank r's end as well; other schedules keep each rank's own.
void add_backward_chain_delays(const plan::Plan& p, std::vector<RankTimes>& ranks) {
  if (!backward_chain(p.schedule)) return;
  Seconds downstream;
  for (size_t r = ranks.size(); r-- > 0;) {
    ranks[r].dp_exposed += downstream;
    downstream += ranks[r].dp_backward_delay;
  }
}
}  // namespace

StepEstimate estimate_step(const model::Model& m, const plan::Plan& p, const cost::CostModel& cost) {
  StepEstimate e;
  const Estimator est(m, p, cost);
  for (int r = 0; r < p.pp; ++r) e.ranks.push_back(est.rank(r));
  add_backward_chain_delays(p, e.ranks);
  size_t crit = 0;
  for (size_t i = 1; i < e.ranks.size(); ++i) {
    if (e.ranks[i].total() > e.ranks[crit].total()) crit = i;
  }
  e.critical_rank = static_cast<int>(crit);
  const RankTimes& t = e.ranks[crit];
  e.micro_batches = p.micro_batches_per_replica();
  e.breakdown.compute = t.forward + t.backward_input + t.backward_weight + t.recompute;
  e.breakdown.recompute = t.recompute;
  e.breakdown.exposed_comm = t.exposed_comm;
  e.breakdown.bubble = t.bubble;
  e.breakdown.dp_exposed = t.dp_exposed;
  e.breakdown.optimizer = t.optimizer;
  e.step_time = e.breakdown.total();
  TRAINSIM_CHECK(std::isfinite(e.step_time.value()) && e.step_time.value() > 0, "step time {}",
                 e.step_time.value());

  const double tokens = static_cast<double>(p.global_batch * p.seq_len);
  const double gpus = static_cast<double>(p.gpus());
  e.tokens_per_second_per_gpu = tokens / e.step_time.value() / gpus;
  e.model_flops_per_step = graph::train_flops_per_token(m, p.seq_len, true, true) * tokens;
  const Flops noncausal = graph::train_flops_per_token(m, p.seq_len, false, true) * tokens;
  const double micro_batches_global = static_cast<double>(p.global_batch / p.micro_batch);
  e.hardware_flops_per_step =
      e.model_flops_per_step + extra_hardware_flops(m, p) * micro_batches_global;
  const auto peak = hardware::utilisation_peak(cost.cluster().accelerator);
  if (peak && peak->value() > 0) {
    const Flops capacity = (*peak * e.step_time) * gpus;
    e.mfu_causal = e.model_flops_per_step / capacity;
    e.mfu_noncausal = noncausal / capacity;
    e.hfu = e.hardware_flops_per_step / capacity;
  } else {
    e.notes.push_back("MFU/HFU not computed: the accelerator has no dense BF16 or FP16 peak");
  }
  const auto bf16 = cost.cluster().accelerator.peak(Precision::kBF16);
  if (peak && !(bf16 && bf16->value() > 0)) {
    e.notes.push_back(fmt::format("{} has no BF16: MFU and HFU are against its dense FP16 peak",
                                  cost.cluster().accelerator.name));
  }
  e.bubble_fraction = e.breakdown.bubble / e.step_time;

  auto& n = e.notes;
  n.push_back(fmt::format("MFU = model FLOPs / (step time x {} GPUs x dense BF16 peak), even where GEMMs run in FP8; "
                          "model FLOPs from the operator graph at TP=EP=CP=1 (6N-style, MTP included), causal "
                          "attention counts half the score matrix; the non-causal MFU counts all of it",
                          p.gpus()));
  n.push_back("HFU adds the recompute policy's forward FLOPs (not FlashAttention's internal QK^T recompute)");
  n.push_back(fmt::format("step time is pipeline rank {}'s (the slowest) of {}; micro-batches per replica {}",
                          e.critical_rank, p.pp, e.micro_batches));
  if (overlapped(p.schedule)) {
    n.push_back(fmt::format("{}: TP/EP/PP/CP communication overlapped with the paired chunk's computation, exposed = "
                            "max(0, comm - compute) per micro-batch; compute runs with {} SMs lent to communication",
                            plan::to_string(p.schedule), p.comm_sms));
  } else {
    std::string overlapped_parts;
    std::vector<std::string> exposed;
    if (p.tp_comm_overlap) {
      overlapped_parts += "TP collectives overlapped with the pass's GEMMs (exposed = max(0, TP comm - compute)); ";
    } else {
      exposed.push_back("TP");
    }
    exposed.push_back("EP");
    if (p.overlap_p2p_comm) {
      overlapped_parts += "pipeline sends overlapped with the next chunk's compute (exposed = max(0, send - compute); "
                          "the bubble keeps them whole); ";
    } else {
      exposed.push_back("PP");
    }
    std::string list = exposed.front();
    for (size_t i = 1; i < exposed.size(); ++i) list += (i + 1 == exposed.size() ? " and " : ", ") + exposed[i];
    n.push_back(fmt::format("{}: {}{} communication fully exposed (no overlap)", plan::to_string(p.schedule),
                            overlapped_parts, list));
  }
  if (p.cp > 1) {
    n.push_back(fmt::format("CP {}: each attention core's K and V travel the context-parallel ring in {} p2p steps "
                            "per forward (K, V and their gradients, twice the bytes, per backward){}, {}",
                            p.cp, p.cp - 1,
                            p.tp * p.cp > std::max(1, cost.cluster().scale_up_domain()) ? " across nodes"
                                                                                         : " inside the scale-up domain",
                            overlapped(p.schedule)
                                ? "charged whole as communication that the paired chunk's computation hides"
                                : fmt::format("each step under one chunk's attention (1/{} of the core); only the "
                                              "excess is exposed",
                                              p.cp)));
  }
  if (const calib::Zero3Framework* fw = est.zero3_framework()) {
    n.push_back(fmt::format(
        "ZeRO-3 as {} (calibrate/frameworks/{}.json): one all-gather per parameter tensor before each forward and "
        "backward use, every micro-batch, {}; a recomputed layer's tensors gathered for the recompute and again for "
        "the backward unless fewer parameter elements than the framework's reuse distance run in between; one "
        "reduce-scatter per tensor, {}; {}; tensors under the persistence threshold stay gathered",
        p.zero3_framework, p.zero3_framework,
        fw->blocking_gathers ? "blocking the compute stream" : "prefetched under the previous layer's compute",
        !fw->reduce_scatter_overlaps_backward ? "exposed"
        : fw->blocking_gathers ? "hidden only under the backward of operators that gather nothing (each blocking gather "
                                 "synchronises the device, draining them)"
                               : "overlapping the backward",
        fw->list_form_copies && fw->blocking_gathers
            ? "each call with one copy kernel per rank (list-form collectives) and the measured host overhead per gather"
        : fw->list_form_copies ? "each call with one copy kernel per rank (list-form collectives)"
        : fw->blocking_gathers ? "each gather with the measured host overhead"
                               : "no copy kernels or host overhead charged"));
  } else if (p.zero_stage == 3) {
    n.push_back("ZeRO-3: each layer's parameters all-gathered in forward and again in backward, its gradients "
                "reduce-scattered, once per step (first forward, last backward), prefetched one layer ahead: exposed "
                "per phase = comm/layers + max((comm - compute)(1 - 1/layers), the compute's slowdown beside the "
                "rest) (max(0, comm - compute) + min(comm, compute)/layers without slowdown); the optimizer step is "
                "exposed");
  } else if (p.overlap_grad_reduce) {
    n.push_back("DP gradient reduction hidden behind the last micro-batch's backward (plus the rank's cool-down idle "
                "time in 1F1B-family schedules); ZeRO>=1 parameter all-gather hidden behind the next step's first "
                "forward; the optimizer step is exposed");
  } else {
    n.push_back("DP gradient reduction after the whole forward-backward (no overlap with backward; hidden only by the "
                "rank's cool-down idle time in 1F1B-family schedules); ZeRO>=1 parameter all-gather hidden behind the "
                "next step's first forward; the optimizer step is exposed");
  }
  if (const double slow = cost.overlap().compute_slowdown; slow > 0 && t.dp_comm.value() > 0) {
    n.push_back(fmt::format("compute beside a data-parallel collective runs {:.1f}% slower while the collective runs "
                            "(its kernels hold SMs and share HBM; {}), counted in the exposed DP time{}",
                            slow * 100.0, paths::shown(cost.overlap().file),
                            p.pp > 1 && backward_chain(p.schedule)
                                ? "; each rank also waits for the slowed last backwards of the ranks after it "
                                  "(the last micro-batch's backward runs rank pp-1 to 0)"
                                : ""));
  }
  if (const double per_param = grad_accumulation_bytes_per_param(p); per_param > 0) {
    n.push_back(fmt::format("gradient accumulation unfused: every micro-batch a separate kernel adds each weight gradient "
                            "({}) into the {} accumulation buffer, {} bytes per parameter on the GPU, in the "
                            "weight-gradient pass",
                            to_string(p.precision.weights), to_string(p.precision.gradients), per_param));
  }
  if (p.expert_load_imbalance > 1.0) {
    n.push_back(fmt::format("expert GEMMs and all-to-alls scaled by routing imbalance {:.2f}", p.expert_load_imbalance));
  }
  for (const std::string& c : cost.notes()) n.push_back(c);
  return e;
}

}  // namespace trainsim::analytic
