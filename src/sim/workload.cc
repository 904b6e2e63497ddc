#include "sim/workload.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "analytic/step.h"
#include "core/error.h"
#include "core/random.h"

namespace trainsim::sim {

const char* to_string(LoadModel l) {
  switch (l) {
    case LoadModel::kPlan: return "plan";
    case LoadModel::kBalanced: return "balanced";
    case LoadModel::kSampled: return "sampled";
  }
  return "?";
}

LoadModel parse_load_model(const std::string& s) {
  if (s == "plan") return LoadModel::kPlan;
  if (s == "balanced") return LoadModel::kBalanced;
  if (s == "sampled") return LoadModel::kSampled;
  throw UsageError(fmt::format("expert load model \"{}\": expected plan, balanced or sampled", s));
}

const char* to_string(NetworkModel n) {
  switch (n) {
    case NetworkModel::kAuto: return "auto";
    case NetworkModel::kSymmetric: return "symmetric";
    case NetworkModel::kPairs: return "pairs";
  }
  return "?";
}

NetworkModel parse_network_model(const std::string& s) {
  if (s == "auto") return NetworkModel::kAuto;
  if (s == "symmetric") return NetworkModel::kSymmetric;
  if (s == "pairs") return NetworkModel::kPairs;
  throw UsageError(fmt::format("network model \"{}\": expected auto, symmetric or pairs", s));
}

namespace {

using plan::Schedule;

// Labels of segments, for traces.
enum Label : uint16_t { kLabelCompute = 0, kLabelDispatch, kLabelExperts, kLabelCombine, kLabelTp, kLabelDp, kLabelOptimizer, kLabelGather, kLabelCp };
const std::vector<std::string> kLabels = {"compute", "dispatch", "experts", "combine", "tp-collective",
                                          "dp-grad-sync", "optimizer", "param-all-gather", "cp-kv-ring"};

bool is_expert_op(const graph::Operator& op) { return op.name.rfind("moe.experts.", 0) == 0; }

// Accumulates one chunk's segments: compute time at full SMs and at reduced
// SMs (for the rate while communication holds SMs), comm as cost-model time.
class ChunkBuilder {
 public:
  ChunkBuilder(BytesPerSecond nvlink, BytesPerSecond nic, bool lends_sms, float nodes_per_token)
      : nvlink_(nvlink), nic_(nic), lends_sms_(lends_sms), nodes_per_token_(nodes_per_token) {}

  void compute(Seconds full, Seconds reduced, bool expert, uint16_t label) {
    if (!(full.value() > 0)) return;
    if (open_ && !segs_.empty() && segs_.back().kind == Segment::Kind::kCompute &&
        segs_.back().scales_with_load == expert) {
      full_ += full;
      reduced_ += reduced;
      return;
    }
    close();
    open_ = true;
    full_ = full;
    reduced_ = reduced;
    Segment s;
    s.kind = Segment::Kind::kCompute;
    s.scales_with_load = expert;
    s.label = label;
    segs_.push_back(s);
  }

  // A communication of `time` alone: latency plus flows sized to take
  // scale_out / scale_up time on the GPU's links.
  void comm(Seconds time, Seconds scale_out, Seconds scale_up, bool expert, uint16_t label) {
    if (!(time.value() > 0)) return;
    close();
    const Seconds wire = max(scale_out, scale_up);
    Segment s;
    s.kind = Segment::Kind::kComm;
    s.work = to_ticks(max(Seconds::zero(), time - wire));
    s.scale_out = nic_ * scale_out;
    s.scale_up = nvlink_ * scale_up;
    s.lends_sms = lends_sms_;
    s.collective = expert;
    s.scales_with_load = expert;
    s.combine = label == kLabelCombine;
    s.nodes_per_token = nodes_per_token_;
    s.label = label;
    if (!segs_.empty() && segs_.back().kind == Segment::Kind::kComm && segs_.back().label == label) {
      Segment& b = segs_.back();
      b.work += s.work;
      b.scale_out += s.scale_out;
      b.scale_up += s.scale_up;
      return;
    }
    segs_.push_back(s);
  }

  std::vector<Segment> finish() {
    close();
    return std::move(segs_);
  }

 private:
  void close() {
    if (!open_) return;
    Segment& s = segs_.back();
    s.work = to_ticks(full_);
    s.rate_with_comm = reduced_.value() > 0 ? std::min(1.0, full_ / reduced_) : 1.0;
    open_ = false;
  }
  BytesPerSecond nvlink_, nic_;
  bool lends_sms_;
  float nodes_per_token_;
  std::vector<Segment> segs_;
  bool open_ = false;
  Seconds full_, reduced_;
};

class Builder {
 public:
  Builder(const model::Model& m, const plan::Plan& p, const cost::CostModel& cost, const WorkloadOptions& o)
      : m_(m), p_(p), cost_(cost), o_(o), layout_(plan::stage_layout(p, m)), g_(plan::plan_graph(p, m, true)),
        zero3_(p.zero_stage == 3), merge_(o.merge_layers && !zero3_) {
    const auto& c = cost_.cluster();
    apn_ = std::max(1, c.scale_up_domain());
    nic_ = c.scale_out.nic_bandwidth.value() > 0 ? c.scale_out.nic_bandwidth : c.accelerator.nic_per_accelerator;
    nvlink_ = c.accelerator.scale_up.measured_per_direction.value_or(c.accelerator.scale_up.bandwidth_per_direction);
    if (!(nic_.value() > 0)) nic_ = gigabytes_per_second(1);  // only sizes flows; times come from the cost model
    if (!(nvlink_.value() > 0)) nvlink_ = nic_;
    tokens_ = p.micro_batch * p.seq_len / p.cp;
    reduced_.sms_reserved_for_comm = overlapped(p.schedule) ? p.comm_sms : 0;
    load_ = o.load == LoadModel::kPlan ? p.expert_load_imbalance : 1.0;
    if (m.moe && p.ep > 1) {
      // Expected nodes a token reaches: the cost model's remote copies per
      // token, h (N - 1) / N, over (N - 1) / N.
      const cost::ExpertAllToAll a = analytic::expert_all_to_all_request(m, p, 1, Bytes(1), apn_);
      const int nodes = (p.ep + a.ranks_per_node - 1) / a.ranks_per_node;
      if (nodes > 1) {
        nodes_per_token_ = static_cast<float>(cost_.expert_all_to_all(a).scale_out_bytes.value() * nodes / (nodes - 1));
      }
    }
    tp_one_ = analytic::tp_boundary_time(m, p, cost_, apn_);
    if (p.zero3_per_tensor()) framework_ = calib::load_zero3_framework(p.zero3_framework);
    pp_one_ = analytic::pipeline_send_time(m, p, cost_, apn_);
  }

  Workload build() {
    Workload w;
    const int devices = p_.pp;
    w.schedule = build_schedule(p_.schedule, devices, p_.micro_batches_per_replica(), p_.vpp);
    TRAINSIM_CHECK(w.schedule.stages == layout_.stages(), "schedule has {} stages, layout {}", w.schedule.stages,
                   layout_.stages());
    w.work.labels = kLabels;
    w.work.stages.resize(static_cast<size_t>(w.schedule.stages));
    std::vector<std::vector<Bucket>> buckets(static_cast<size_t>(w.schedule.stages));
    std::vector<std::vector<Bucket>> groups(static_cast<size_t>(w.schedule.stages));
    for (int s = 0; s < w.schedule.stages; ++s) {
      stage(s, w.work.stages[static_cast<size_t>(s)], buckets[static_cast<size_t>(s)], groups[static_cast<size_t>(s)]);
    }
    w.work.p2p_bytes = nic_ * pp_one_;
    w.work.grad_sync_after_forward_backward = !p_.overlap_grad_reduce && !zero3_;
    w.work.overlap_compute_rate = cost_.overlap().compute_rate();
    w.work.blocking_p2p = !p_.overlap_p2p_comm && !overlapped(p_.schedule);
    dp_and_tail(w, buckets, groups);
    // Shape.
    w.gpus_per_simulated_rank = p_.tp * p_.cp;
    w.shape.gpus_per_node = apn_;
    w.shape.nic = nic_;
    w.shape.nvlink = nvlink_;
    const bool moe = m_.moe.has_value() && p_.ep > 1;
    if (o_.all_ranks) {
      w.shape.replicas = p_.dp;
      w.shape.ep_replicas = moe && p_.dp % p_.ep == 0 ? p_.ep : 1;
    }
    if (o_.load == LoadModel::kSampled && moe) sample_loads(w);
    w.notes.push_back(fmt::format(
        "{} of {} data-parallel replicas simulated ({} GPUs{}), {} micro-batches per replica, schedule {}",
        w.shape.replicas, p_.dp, w.shape.replicas * devices,
        w.gpus_per_simulated_rank > 1 ? fmt::format(", each standing for its {} TP x CP peers", w.gpus_per_simulated_rank) : "",
        w.schedule.micro_batches, plan::to_string(p_.schedule)));
    w.notes.push_back(fmt::format("expert load model: {}", to_string(o_.load)));
    // Total and largest per-stage count of a StageWork list.
    auto tally = [&](std::vector<Segment> StageWork::*list) {
      std::pair<size_t, size_t> t{0, 0};
      for (const StageWork& sw : w.work.stages) {
        t.first += (sw.*list).size();
        t.second = std::max(t.second, (sw.*list).size());
      }
      return t;
    };
    const auto [buckets_total, most] = tally(&StageWork::grad_sync);
    if (buckets_total > 0 && !p_.overlap_grad_reduce && !zero3_) {
      w.notes.push_back(fmt::format(
          "DP gradient sync: {} buckets over {} stages (at most {} per stage), each {} released only when the "
          "GPU's last weight-gradient chunk of all its stages ends (plan.overlap_grad_reduce false: no overlap "
          "with backward); "
          "buckets of a GPU run in order on one stream, sharing links max-min fairly{}",
          buckets_total, w.schedule.stages, most, p_.zero_stage >= 1 ? "reduce-scatter" : "all-reduce",
          p_.zero_stage >= 1 ? "; parameter all-gather after the optimizer" : ""));
    } else if (buckets_total > 0) {
      w.notes.push_back(fmt::format(
          "DP gradient sync: bucketed, one bucket per {} ({} buckets over {} stages, at most {} per stage); each "
          "bucket's {} starts when the {} weight gradient of its layers finishes and overlaps the "
          "remaining backward (buckets of a GPU run in order on one stream, sharing links max-min fairly){}",
          merge_ ? "merged layer group (block kind) of a stage" : "layer", buckets_total, w.schedule.stages,
          most, p_.zero_stage >= 1 ? "reduce-scatter" : "all-reduce",
          framework_ ? "every micro-batch's" : "last micro-batch's",
          p_.zero_stage == 3 ? "; ZeRO-3: no all-gather after the optimizer (see the parameter gathers)"
          : p_.zero_stage >= 1 ? "; parameter all-gather after the optimizer" : ""));
    }
    const auto [gathers_total, gathers_most] = tally(&StageWork::param_gather);
    if (gathers_total > 0) {
      w.notes.push_back(fmt::format(
          "ZeRO-3 parameter gathers: per layer, stage work split into one group per layer ({} all-gathers over {} "
          "stages, at most {} per stage; embedding, head and MTP are groups of their own); each layer's parameters "
          "are all-gathered before its forward in the stage's first micro-batch and again before its backward in "
          "the last micro-batch (serving full recompute too), once per step as the analytic estimate, prefetched "
          "one layer ahead (a layer waits for its gather, the next gather starts when it begins) on the GPU's DP "
          "stream, in order with the per-layer gradient reduce-scatters (sharing links max-min fairly)",
          gathers_total, w.schedule.stages, gathers_most));
    }
    if (framework_) {
      w.notes.push_back(fmt::format(
          "ZeRO-3 as {} (calibrate/frameworks/{}.json), per layer and in every micro-batch: the layer's parameter "
          "tensors of at least {} elements all-gathered one call each (ring all-gather + one copy kernel per rank "
          "+ {:.0f} us host overhead, analytic::add_zero3_tensor_calls) before its forward and again before its "
          "backward (a recomputed layer's for its recompute and, past the reuse distance of {} elements, again "
          "for its backward), blocking: a communication segment in the chunk itself, issued when the layer is reached, "
          "never prefetched; every tensor's gradient reduce-scattered (collective + copies) after the layer's "
          "weight gradient of every micro-batch, on the GPU's DP stream, overlapping the rest of the work "
          "(gathers and reduce-scatters share the NIC max-min fairly; copies and host overhead are latency)",
          p_.zero3_framework, p_.zero3_framework, framework_->param_persistence_threshold,
          framework_->host_overhead_per_gather / microseconds(1), framework_->max_reuse_distance));
    }
    network(w, moe);
    return w;
  }

 private:
  // Chooses the network model and describes the fabric (workload.h).
  void network(Workload& w, bool moe) const {
    const auto& so = cost_.cluster().scale_out;
    std::string why_not;
    if (!o_.all_ranks) {
      why_not = "one representative replica: its EP peers are not simulated";
    } else if (!moe || w.shape.ep_replicas <= 1) {
      why_not = "no expert-parallel all-to-all across replicas";
    } else if (p_.tp * p_.cp != 1) {
      why_not = "each simulated rank stands for its TP x CP peers";
    } else if (p_.dp % apn_ != 0 || (p_.ep % apn_ != 0 && apn_ % p_.ep != 0)) {
      why_not = fmt::format("{} data-parallel replicas in EP groups of {} do not fill nodes of {} GPUs", p_.dp, p_.ep,
                            apn_);
    }
    if (o_.network == NetworkModel::kPairs && !why_not.empty()) {
      throw UsageError(fmt::format("--network pairs is not possible here: {}", why_not));
    }
    if (o_.network == NetworkModel::kSymmetric && why_not.empty()) why_not = "asked for (--network symmetric)";
    if (!why_not.empty()) {
      w.notes.push_back(fmt::format(
          "network: symmetric per-GPU all-to-all (each GPU's part is an exchange over its own NVLink and NIC; "
          "full-bisection fabric above the NICs), because {}",
          why_not));
      return;
    }
    w.shape.pair_all_to_all = true;
    w.shape.max_nodes_per_token = p_.max_nodes_per_token;
    FabricShape& f = w.shape.fabric;
    f.planes = std::max(1, so.planes);
    f.oversubscription = std::max(1.0, so.oversubscription);
    f.nics_per_leaf = so.levels >= 2 ? nics_per_leaf(so.switch_radix, f.oversubscription) : (1 << 30);
    const int nodes = p_.dp * p_.pp / apn_;
    w.notes.push_back(fmt::format(
        "network: node pairs: {} nodes x {} GPUs; expert all-to-all as flows between real node and GPU pairs "
        "(one per source GPU and destination node, on its plane; node-limited routing M = {}, {:.2f} nodes per "
        "token expected), then NVLink forwarding; pipeline sends cross the same fabric: {} with {} plane(s), {} "
        "leaf switch(es) per plane of {} NICs, leaf uplink oversubscription {}:1 (the spine of a two-level "
        "fat-tree adds no constraint); DP gradient syncs stay per-GPU NIC exchanges{}",
        nodes, apn_, p_.max_nodes_per_token > 0 ? std::to_string(p_.max_nodes_per_token) : std::string("unlimited"),
        nodes_per_token_, so.topology.empty() ? std::string("fat-tree") : so.topology,
        std::clamp(f.planes, 1, apn_),
        so.levels >= 2 ? (static_cast<int64_t>(nodes) * apn_ / std::clamp(f.planes, 1, apn_) + f.nics_per_leaf - 1) /
                             f.nics_per_leaf
                       : 1,
        so.levels >= 2 ? f.nics_per_leaf : nodes * apn_ / std::clamp(f.planes, 1, apn_), f.oversubscription,
        o_.load == LoadModel::kSampled
            ? "; the sampled expert loads set each pair's bytes (hot nodes receive more dispatch and send more "
              "combine traffic) instead of scaling each GPU's own"
            : ""));
  }

  Seconds all_to_all(const graph::Operator& op, Bytes per_copy, Seconds& out, Seconds& up) const {
    out = up = Seconds::zero();
    if (!m_.moe || p_.ep <= 1) return Seconds::zero();
    const int64_t k = std::max<int64_t>(1, m_.moe->experts_per_token);
    const cost::AllToAllCost c =
        cost_.expert_all_to_all(analytic::expert_all_to_all_request(m_, p_, op.comm_tokens / k, per_copy, apn_));
    out = c.scale_out_time * load_;
    up = c.scale_up_time * load_;
    return c.time * load_;
  }

  // One block instance into F, B (input gradient + recompute), W builders.
  void block(const graph::Block& b, ChunkBuilder& f, ChunkBuilder& bi, ChunkBuilder& w) const {
    // Backward runs the block's operators in reverse.
    struct Back {
      bool comm;
      Seconds full, reduced, time, out, up;
      bool expert;
      uint16_t label;
    };
    std::vector<Back> back;
    for (const graph::Operator& op : b.ops) {
      const double rc = plan::recompute_fraction(op, b, p_.recompute);
      if (op.kind == graph::OpKind::kDispatch || op.kind == graph::OpKind::kCombine) {
        const uint16_t label = op.kind == graph::OpKind::kDispatch ? kLabelDispatch : kLabelCombine;
        Seconds out, up;
        const Seconds t = all_to_all(op, op.comm_bytes_per_token, out, up);
        f.comm(t, out, up, true, label);
        Seconds bout, bup;
        const Seconds bt = op.comm_tokens > 0
                               ? all_to_all(op, op.bwd_input.bytes / static_cast<double>(op.comm_tokens), bout, bup)
                               : Seconds::zero();
        back.push_back(Back{true, {}, {}, bt + t * rc, bout + out * rc, bup + up * rc, true,
                            op.kind == graph::OpKind::kDispatch ? uint16_t{kLabelCombine} : uint16_t{kLabelDispatch}});
        continue;
      }
      cost::OpContext full;
      full.gemm_precision = op.precision;
      cost::OpContext reduced = reduced_;
      reduced.gemm_precision = op.precision;
      const bool expert = is_expert_op(op);
      const double scale = expert ? load_ : 1.0;
      const uint16_t label = expert ? kLabelExperts : kLabelCompute;
      const Seconds ff = cost_.op_time(op, cost::Pass::kForward, full) * scale;
      const Seconds fr = cost_.op_time(op, cost::Pass::kForward, reduced) * scale;
      f.compute(ff, fr, expert, label);
      Seconds bf = cost_.op_time(op, cost::Pass::kBackwardInput, full) * scale;
      Seconds br = cost_.op_time(op, cost::Pass::kBackwardInput, reduced) * scale;
      const analytic::CpExchange cpx = analytic::cp_exchange(op, p_, cost_, apn_, ff, bf);
      bf += ff * rc;
      br += fr * rc;
      // Context parallelism: the KV ring as analytic::cp_exchange charges it
      // (its excess over the attention it overlaps; whole under DualPipe),
      // after the core in forward, before it in backward (plus the
      // recomputed forward's exchange).
      f.comm(cpx.forward, Seconds::zero(), Seconds::zero(), false, kLabelCp);
      back.push_back(Back{false, bf, br, {}, {}, {}, expert, label});
      if (cpx.forward_total.value() > 0) {
        back.push_back(Back{true, {}, {}, cpx.backward + cpx.forward * rc, {}, {}, false, uint16_t{kLabelCp}});
      }
      w.compute(cost_.op_time(op, cost::Pass::kBackwardWeight, full) * scale,
                cost_.op_time(op, cost::Pass::kBackwardWeight, reduced) * scale, expert, label);
      // The separate accumulation add (analytic::grad_accumulation_time): a
      // memory-bound kernel over the parameters, not scaled by the expert load.
      const Seconds accumulate = analytic::grad_accumulation_time(op, p_, cost_);
      if (accumulate.value() > 0) w.compute(accumulate, accumulate, false, kLabelCompute);
    }
    const analytic::TpCollectives tp = analytic::tp_collectives(b, p_.recompute);
    f.comm(tp_one_ * tp.forward, Seconds::zero(), Seconds::zero(), false, kLabelTp);
    bi.comm(tp_one_ * tp.backward, Seconds::zero(), Seconds::zero(), false, kLabelTp);
    for (auto it = back.rbegin(); it != back.rend(); ++it) {
      if (it->comm) {
        bi.comm(it->time, it->out, it->up, it->expert, it->label);
      } else {
        bi.compute(it->full, it->reduced, it->expert, it->label);
      }
    }
  }

  // Appends segments, merging a compute segment into a preceding one of the
  // same kind (the rate while SMs are lent combines as total work over total
  // slowed time).
  static void append(std::vector<Segment>& to, const std::vector<Segment>& from, double mult,
                     bool merge_first = true) {
    bool first = true;
    for (Segment sg : from) {
      const bool may_merge = merge_first || !first;
      first = false;
      sg.work = static_cast<Tick>(std::llround(static_cast<double>(sg.work) * mult));
      sg.scale_out = sg.scale_out * mult;
      sg.scale_up = sg.scale_up * mult;
      if (may_merge && !to.empty() && sg.kind == Segment::Kind::kCompute && to.back().kind == Segment::Kind::kCompute &&
          to.back().scales_with_load == sg.scales_with_load) {
        Segment& t = to.back();
        const double slowed = static_cast<double>(t.work) / t.rate_with_comm + static_cast<double>(sg.work) / sg.rate_with_comm;
        t.work += sg.work;
        t.rate_with_comm = slowed > 0 ? std::min(1.0, static_cast<double>(t.work) / slowed) : 1.0;
        continue;
      }
      to.push_back(sg);
    }
  }

  // One DP gradient bucket: a layer group's gradients (pipeline.h).
  struct Bucket {
    int64_t dense_params = 0;   // on this GPU
    int64_t expert_params = 0;  // on this GPU
    uint32_t after = 0;         // weight-gradient segment that completes it
    size_t group = 0;           // layer group (forward order) within the stage
    // ZeRO-3 parameter gather of the group: its first forward and input-gradient segments.
    uint32_t before_f = 0;
    uint32_t before_b = 0;
    uint32_t before_full = 0;  // in the full backward (groups interleave input and weight gradients)
    uint32_t after_full = 0;   // full-backward segment that completes the bucket
    // ZeRO-3 by parameter tensor: the group's per-tensor reduce-scatters
    // (analytic::add_zero3_tensor_calls), all and the ring collectives alone.
    Seconds tensor_reduce, tensor_reduce_collective;
  };

  // A communication segment of `time` of which `collective` moves bytes over
  // the NIC (the rest, collective latency, copies and host overhead, is latency).
  Segment dp_comm(Seconds time, Seconds collective, uint16_t label) const {
    Segment sg;
    sg.kind = Segment::Kind::kComm;
    sg.work = to_ticks(max(Seconds::zero(), time - collective));
    sg.scale_out = nic_ * collective;
    sg.label = label;
    sg.interferes = true;  // compute beside it slows (PipelineWork::overlap_compute_rate)
    return sg;
  }

  int rank_of_stage(int s) const {
    for (size_t r = 0; r < layout_.stages_of_rank.size(); ++r) {
      const auto& held = layout_.stages_of_rank[r];
      if (std::find(held.begin(), held.end(), s) != held.end()) return static_cast<int>(r);
    }
    throw InternalError(fmt::format("stage {} is held by no pipeline rank", s));
  }

  // Fills out's chunks; buckets gets one bucket per layer group (merged
  // layers: one per block kind of the stage; else one per layer), in the
  // order backward produces them (last layers first).
  // Under ZeRO-3, gathers gets one entry per layer group holding parameters,
  // in forward order, with the positions its gather precedes (pipeline.h).
  void stage(int s, StageWork& out, std::vector<Bucket>& buckets, std::vector<Bucket>& gathers) const {
    const bool lends = overlapped(p_.schedule) && p_.comm_sms > 0;
    const plan::StageContent c = plan::stage_content(layout_, s, m_);
    const std::vector<plan::BlockUse> uses = plan::stage_blocks(g_, c);
    std::vector<Segment> fwd, wgt;
    std::vector<std::vector<Segment>> bwd_blocks, wgt_blocks;
    std::vector<Bucket> block_buckets;
    std::vector<uint32_t> fwd_begin;  // first forward segment of each group
    std::optional<plan::RankParams> rp;
    if (framework_) rp = plan::rank_params(p_, m_, layout_, rank_of_stage(s));
    for (const plan::BlockUse& u : uses) {
      if (u.count <= 0) continue;
      ChunkBuilder f(nvlink_, nic_, lends, nodes_per_token_), bi(nvlink_, nic_, lends, nodes_per_token_),
          w(nvlink_, nic_, lends, nodes_per_token_);
      block(*u.block, f, bi, w);
      const std::vector<Segment> fs = f.finish(), bs = bi.finish(), ws = w.finish();
      // Merged: one group for all instances of the block (times x count);
      // else one group per layer.
      const int64_t reps = merge_ ? 1 : u.count;
      const double mult = merge_ ? static_cast<double>(u.count) : 1.0;
      Bucket bk;
      // Expert parameters as plan::rank_params counts them (grouped GEMMs).
      for (const graph::Operator& op : u.block->ops) {
        (op.kind == graph::OpKind::kGroupedGemm ? bk.expert_params : bk.dense_params) += op.params;
      }
      bk.dense_params *= merge_ ? u.count : 1;
      bk.expert_params *= merge_ ? u.count : 1;
      // ZeRO-3 by parameter tensor: one layer's blocking gathers (a comm
      // segment in the chunk itself, so the layer's compute waits for it and
      // nothing prefetches it) and its reduce-scatters, as the analytic
      // estimate charges them per micro-batch.
      analytic::Zero3TensorCalls calls;
      if (framework_) {
        analytic::add_zero3_tensor_calls(calls, *u.block, 1.0, m_, p_, cost_, *framework_, *rp, apn_);
        bk.tensor_reduce = calls.reduce;
        bk.tensor_reduce_collective = calls.reduce_collective;
      }
      const bool blocking_gather = framework_ && calls.gather.value() > 0;
      for (int64_t i = 0; i < reps; ++i) {
        // ZeRO-3 keeps each group's segments apart so a group can wait for its gather.
        fwd_begin.push_back(static_cast<uint32_t>(fwd.size()));
        if (blocking_gather) {
          fwd.push_back(dp_comm(calls.gather, calls.gather_collective, kLabelGather));
          fwd.back().drains_dp_stream = framework_->blocking_gathers;
        }
        append(fwd, fs, mult, !zero3_);
        wgt_blocks.emplace_back();
        append(wgt_blocks.back(), ws, mult);
        bwd_blocks.emplace_back();
        if (blocking_gather) {
          bwd_blocks.back().push_back(dp_comm(calls.backward_gather, calls.backward_gather_collective, kLabelGather));
          bwd_blocks.back().back().drains_dp_stream = framework_->blocking_gathers;
        }
        append(bwd_blocks.back(), bs, mult);
        block_buckets.push_back(bk);
      }
    }
    // Weight gradients, like the input gradients, run the blocks in reverse
    // order; each group's segments stay apart so its bucket can be released
    // when they finish.
    buckets.clear();
    for (size_t k = wgt_blocks.size(); k-- > 0;) {
      append(wgt, wgt_blocks[k], 1.0, false);
      Bucket bk = block_buckets[k];
      if (bk.dense_params + bk.expert_params <= 0) continue;
      bk.after = wgt.empty() ? 0 : static_cast<uint32_t>(wgt.size() - 1);
      bk.group = k;
      buckets.push_back(bk);
    }
    // Backward runs the blocks in reverse order.
    std::vector<Segment> bwd;
    std::vector<uint32_t> bwd_begin(bwd_blocks.size());
    for (size_t k = bwd_blocks.size(); k-- > 0;) {
      bwd_begin[k] = static_cast<uint32_t>(bwd.size());
      append(bwd, bwd_blocks[k], 1.0, !zero3_);
    }
    out.chunk[static_cast<size_t>(ChunkType::kForward)] = fwd;
    out.chunk[static_cast<size_t>(ChunkType::kBackwardInput)] = bwd;
    out.chunk[static_cast<size_t>(ChunkType::kBackwardWeight)] = wgt;
    // A full backward runs each group's input and weight gradients before
    // the next group's, as autograd does (a Linear's backward produces its
    // input and weight gradients together, layer by layer), so each group's
    // bucket is released after its own backward (StageWork::
    // grad_bucket_after_full) and its reduction overlaps the remaining
    // groups' backward; under ZeRO-3 it shares the DP stream with the next
    // groups' gathers, as the analytic estimate's backward phase adds gather
    // and reduce-scatter times (pipeline.h). Split schedules (ZB-H1,
    // DualPipe's B and W chunks) keep B and W apart.
    std::vector<Segment> full;
    std::vector<uint32_t> full_begin(bwd_blocks.size()), full_after(bwd_blocks.size());
    for (size_t k = bwd_blocks.size(); k-- > 0;) {
      full_begin[k] = static_cast<uint32_t>(full.size());
      append(full, bwd_blocks[k], 1.0, false);
      append(full, wgt_blocks[k], 1.0, false);
      full_after[k] = full.empty() ? 0 : static_cast<uint32_t>(full.size() - 1);
    }
    for (Bucket& bk : buckets) bk.after_full = full_after[bk.group];
    gathers.clear();
    if (zero3_ && !framework_) {
      for (size_t k = 0; k < block_buckets.size(); ++k) {
        Bucket g = block_buckets[k];
        if (g.dense_params + g.expert_params <= 0) continue;
        g.before_f = fwd_begin[k];
        g.before_b = bwd_begin[k];
        g.before_full = full_begin[k];
        gathers.push_back(g);
      }
    }
    out.chunk[static_cast<size_t>(ChunkType::kBackwardFull)] = std::move(full);
  }

  // A collective over the DP groups of rank rp's dense and expert parameters (analytic::dp_collective_cost).
  cost::CollectiveCost dp_collective(cost::CollectiveOp op, const plan::RankParams& rp, int64_t dense, int64_t expert,
                                     double bytes_per_param) const {
    return analytic::dp_collective_cost(cost_, op, Bytes(static_cast<double>(dense) * bytes_per_param),
                                        Bytes(static_cast<double>(expert) * bytes_per_param), rp, p_, apn_);
  }

  void dp_and_tail(Workload& w, const std::vector<std::vector<Bucket>>& buckets,
                   const std::vector<std::vector<Bucket>>& gathers) const {
    // Per stage: the DP reduction of its gradients, one collective per bucket
    // (a layer group, stage()) over the replicas holding those parameters
    // (dense and expert parameters reduce over different groups, as in the
    // analytic estimate); the optimizer and the exposed part of the
    // parameter all-gather (hidden behind the next step's first forward, as
    // in the analytic estimate) in the tail of pipeline rank 0's values
    // (ranks differ little; the tail is per GPU).
    const double gb = bytes_per_element(p_.precision.gradients);
    const double wb = bytes_per_element(p_.precision.weights);
    Seconds worst_opt, worst_gather_exposed;
    for (int r = 0; r < p_.pp; ++r) {
      const plan::RankParams rp = plan::rank_params(p_, m_, layout_, r);
      const auto op = p_.zero_stage >= 1 ? cost::CollectiveOp::kReduceScatter : cost::CollectiveOp::kAllReduce;
      Seconds gather;
      if (p_.zero_stage >= 1 && !zero3_) {
        gather = dp_collective(cost::CollectiveOp::kAllGather, rp, rp.dense_on_gpu, rp.expert_on_gpu, wb).total();
      }
      const auto& held = layout_.stages_of_rank[static_cast<size_t>(r)];
      int64_t dense_sum = 0, expert_sum = 0;
      for (int s : held) {
        for (const Bucket& bk : buckets[static_cast<size_t>(s)]) {
          dense_sum += bk.dense_params;
          expert_sum += bk.expert_params;
        }
      }
      TRAINSIM_CHECK(dense_sum == rp.dense_on_gpu && expert_sum == rp.expert_on_gpu,
                     "rank {}: DP buckets hold {} dense + {} expert parameters, the rank {} + {}", r, dense_sum,
                     expert_sum, rp.dense_on_gpu, rp.expert_on_gpu);
      for (int s : held) {
        StageWork& sw = w.work.stages[static_cast<size_t>(s)];
        if (!sw.grad_sync.empty()) continue;
        for (const Bucket& bk : buckets[static_cast<size_t>(s)]) {
          Segment sg;
          if (framework_) {
            sg = dp_comm(bk.tensor_reduce, bk.tensor_reduce_collective, kLabelDp);
          } else {
            const cost::CollectiveCost reduce = dp_collective(op, rp, bk.dense_params, bk.expert_params, gb);
            sg = dp_comm(reduce.total(), reduce.bytes, kLabelDp);
          }
          if (!(sg.work > 0 || sg.scale_out.value() > 0)) continue;
          sw.grad_sync.push_back(sg);
          sw.grad_bucket_after.push_back(bk.after);
          sw.grad_bucket_after_full.push_back(bk.after_full);
        }
        sw.grad_sync_every_chunk = framework_.has_value();
        // Reduction after the whole forward-backward (plan.overlap_grad_reduce
        // false): no bucket triggers; the GPU releases all its stages' buckets
        // when its last weight-gradient chunk ends (PipelineWork).
        if (sw.chunk[static_cast<size_t>(ChunkType::kBackwardWeight)].empty() ||
            (!p_.overlap_grad_reduce && !zero3_)) {
          sw.grad_bucket_after.clear();
          sw.grad_bucket_after_full.clear();
        }
        // ZeRO-3: each layer group's parameter all-gather in the weights'
        // precision over the same replica groups as the analytic estimate's
        // zero3() (dense and expert parameters apart).
        sw.param_gather.clear();
        sw.gather_before_f.clear();
        sw.gather_before_b.clear();
        sw.gather_before_full.clear();
        const std::vector<Bucket>& gs = gathers[static_cast<size_t>(s)];
        for (size_t k = 0; k < gs.size(); ++k) {
          const cost::CollectiveCost t =
              dp_collective(cost::CollectiveOp::kAllGather, rp, gs[k].dense_params, gs[k].expert_params, wb);
          if (!(t.total().value() > 0)) continue;
          sw.param_gather.push_back(dp_comm(t.total(), t.bytes, kLabelGather));
          sw.gather_before_f.push_back(gs[k].before_f);
          sw.gather_before_b.push_back(gs[k].before_b);
          sw.gather_before_full.push_back(gs[k].before_full);
        }
      }
      const double shard = p_.zero_stage >= 1 ? static_cast<double>(rp.dense_on_gpu) / rp.dense_replicas +
                                                    static_cast<double>(rp.expert_on_gpu) / rp.expert_replicas
                                              : static_cast<double>(rp.dense_on_gpu + rp.expert_on_gpu);
      worst_opt = max(worst_opt, cost_.optimizer_time(static_cast<int64_t>(std::ceil(shard)), p_.precision.optimizer_moments));
      // The first forward chunk of the rank hides the all-gather.
      Seconds first_f;
      for (const Segment& sg : w.work.stages[static_cast<size_t>(held.front())].chunk[0]) {
        if (sg.kind == Segment::Kind::kCompute) first_f += to_seconds(sg.work);
      }
      worst_gather_exposed = max(worst_gather_exposed,
                                 analytic::overlap_exposed(gather, first_f, Seconds::zero(), cost_.overlap().compute_rate()));
    }
    Segment opt;
    opt.kind = Segment::Kind::kCompute;
    opt.work = to_ticks(worst_opt);
    opt.label = kLabelOptimizer;
    w.work.tail.push_back(opt);
    if (worst_gather_exposed.value() > 0) {
      Segment g;
      g.kind = Segment::Kind::kComm;
      g.scale_out = nic_ * worst_gather_exposed;
      g.label = kLabelGather;
      w.work.tail.push_back(g);
    }
  }

  void sample_loads(Workload& w) const {
    // Load / mean of a GPU ~ 1 + z sqrt((ep - 1) / (T k)) (normal approximation
    // of Binomial(T k, 1/ep) over its mean T k / ep).
    const double copies = static_cast<double>(tokens_) * static_cast<double>(m_.moe->experts_per_token);
    const double sd = std::sqrt(static_cast<double>(p_.ep - 1) / copies);
    Rng rng(o_.seed);
    const size_t n = static_cast<size_t>(w.shape.replicas) * static_cast<size_t>(w.schedule.micro_batches);
    w.shape.load_factor.assign(n, 1.0f);
    const bool replica_mode = w.shape.replicas == 1;
    for (size_t i = 0; i < n; ++i) {
      double v = 0;
      if (replica_mode) {
        v = 0;
        for (int k = 0; k < p_.ep; ++k) v = std::max(v, 1.0 + sd * rng.normal());
      } else {
        v = 1.0 + sd * rng.normal();
      }
      w.shape.load_factor[i] = static_cast<float>(std::max(0.0, v));
    }
    w.notes.push_back(fmt::format(
        "sampled expert load: per GPU and micro-batch 1 + N(0,1) x {:.4f} (Binomial({:.0f} token copies, 1/{}) "
        "normal approximation), seed {}{}",
        sd, copies, p_.ep, o_.seed, replica_mode ? "; replica mode takes the maximum of ep draws" : ""));
  }

  const model::Model& m_;
  const plan::Plan& p_;
  const cost::CostModel& cost_;
  const WorkloadOptions& o_;
  plan::StageLayout layout_;
  graph::Graph g_;
  bool zero3_;  // ZeRO-3: per-layer parameter gathers (workload.h)
  bool merge_;  // merged layer groups (never under ZeRO-3, whose gathers are per layer)
  std::optional<calib::Zero3Framework> framework_;  // ZeRO-3 by parameter tensor (workload.h)
  cost::OpContext reduced_;
  int apn_ = 8;
  BytesPerSecond nic_, nvlink_;
  int64_t tokens_ = 0;
  double load_ = 1.0;
  float nodes_per_token_ = 1;
  Seconds tp_one_, pp_one_;
};

}  // namespace

Workload build_workload(const model::Model& m, const plan::Plan& p, const cost::CostModel& cost,
                        const WorkloadOptions& options) {
  return Builder(m, p, cost, options).build();
}

}  // namespace trainsim::sim
