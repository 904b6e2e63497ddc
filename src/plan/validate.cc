// validate_plan(): rejects plans that cannot run, with the reason and the numbers.
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "plan/plan.h"

namespace trainsim::plan {
namespace {

[[noreturn]] void reject(const std::string& msg) { throw PlanError("plan rejected: " + msg); }

std::string gb(Bytes b) { return fmt::format("{:.1f} GB", in_gigabytes(b)); }

}  // namespace

void validate_plan(const Plan& p, const model::Model& m, const hardware::Cluster& c) {
  // Degrees and sizes.
  if (p.tp < 1 || p.pp < 1 || p.vpp < 1 || p.dp < 1 || p.ep < 1 || p.cp < 1) {
    reject(fmt::format("every degree must be >= 1 (tp {}, pp {}, vpp {}, dp {}, ep {}, cp {})", p.tp, p.pp, p.vpp,
                       p.dp, p.ep, p.cp));
  }
  if (p.micro_batch < 1 || p.global_batch < 1 || p.seq_len < 1) {
    reject(fmt::format("micro_batch ({}), global_batch ({}) and seq_len ({}) must be >= 1", p.micro_batch,
                       p.global_batch, p.seq_len));
  }
  if (p.zero_stage < 0 || p.zero_stage > 3) reject(fmt::format("zero_stage {} is not one of 0, 1, 2, 3", p.zero_stage));
  if (!(p.expert_load_imbalance >= 1.0) || !std::isfinite(p.expert_load_imbalance)) {
    reject(fmt::format("expert_load_imbalance {} must be a finite number >= 1 (busiest / mean)",
                       p.expert_load_imbalance));
  }
  const int gpus = c.total_accelerators();
  if (p.gpus() != gpus) {
    reject(fmt::format("tp x pp x dp x cp = {} x {} x {} x {} = {} GPUs, but cluster {} has {} ({} nodes x {})", p.tp,
                       p.pp, p.dp, p.cp, p.gpus(), c.name, gpus, c.nodes, c.accelerators_per_node));
  }
  if (p.comm_sms < 0 || (c.accelerator.sm_count > 0 && p.comm_sms >= c.accelerator.sm_count)) {
    reject(fmt::format("comm_sms {} must be in [0, {}) ({} has {} SMs)", p.comm_sms, c.accelerator.sm_count,
                       c.accelerator.name, c.accelerator.sm_count));
  }
  if (p.max_nodes_per_token < 0) reject(fmt::format("max_nodes_per_token {} must be >= 0", p.max_nodes_per_token));

  // Tensor and context parallelism.
  if (m.heads % p.tp != 0) reject(fmt::format("{} attention heads are not divisible by tp {}", m.heads, p.tp));
  // Key/value heads split over TP; multi-query attention's single head is
  // replicated instead: every rank computes it, as Megatron-LM's multi-query
  // attention does (bigcode-project/Megatron-LM megatron/model/transformer.py,
  // ParallelAttention: key_value = get_linear_layer(hidden, 2 * kv_channels),
  // a plain linear layer on every tensor-parallel rank; the graph builds
  // ceil(kv_heads / tp) per rank). Grouped-query attention with fewer groups
  // than tp is rejected, as Megatron-Core divides num_query_groups by tp.
  if (m.kv_heads > 1 && m.kv_heads % p.tp != 0) {
    reject(fmt::format("{} key/value heads are not divisible by tp {}", m.kv_heads, p.tp));
  }
  if (p.tp > 1 && m.ffn > 0 && m.ffn % p.tp != 0) {
    reject(fmt::format("dense FFN width {} is not divisible by tp {}", m.ffn, p.tp));
  }
  if (p.seq_len % p.cp != 0) reject(fmt::format("seq_len {} is not divisible by cp {}", p.seq_len, p.cp));
  if (p.cp_ring == graph::CpRing::kLatent && m.attention != model::AttentionKind::kMla) {
    reject(fmt::format("cp_ring \"latent\" needs multi-head latent attention (MLA); {} has none", m.name));
  }
  if (p.cp > 1 && p.attention == graph::AttentionImpl::kUnfused) {
    reject(fmt::format("cp {} needs a fused attention kernel (attention \"flash\" or \"flash2\"): context "
                       "parallelism runs the attention core as a ring of fused kernels over key/value chunks, "
                       "which the unfused core does not have",
                       p.cp));
  }

  // Experts: EP lives inside the data-parallel dimension (x CP x TP).
  if (p.ep > 1 && !m.moe) reject(fmt::format("ep {} > 1 but {} has no routed experts", p.ep, m.name));
  if (m.moe && m.moe->n_routed_experts % p.ep != 0) {
    reject(fmt::format("{} routed experts are not divisible by ep {}", m.moe->n_routed_experts, p.ep));
  }
  const int outer = p.dp * p.cp * p.tp;
  if (outer % p.ep != 0) {
    reject(fmt::format("ep {} must divide dp x cp x tp = {} x {} x {} = {} (expert parallelism lives inside data "
                       "parallelism)",
                       p.ep, p.dp, p.cp, p.tp, outer));
  }

  // Batch.
  const int64_t per_step = static_cast<int64_t>(p.dp) * p.micro_batch;
  if (p.global_batch % per_step != 0) {
    reject(fmt::format("global batch {} sequences is not divisible by dp x micro_batch = {} x {} = {}", p.global_batch,
                       p.dp, p.micro_batch, per_step));
  }
  const int64_t mb = p.micro_batches_per_replica();

  // Layers and schedule.
  if (p.vpp != 1 && p.schedule != Schedule::kInterleaved1F1B) {
    reject(fmt::format("vpp {} needs the interleaved-1f1b schedule (schedule is {})", p.vpp, to_string(p.schedule)));
  }
  // Megatron-Core: "Non-interleaved pipeline parallelism does not support
  // overlapping p2p communication" (schedules.py); DualPipe overlaps its own.
  if (p.overlap_p2p_comm && p.pp > 1 && p.schedule != Schedule::kInterleaved1F1B) {
    reject(fmt::format("overlap_p2p_comm needs the interleaved-1f1b schedule (schedule is {}): Megatron-Core overlaps "
                       "pipeline sends only there",
                       to_string(p.schedule)));
  }
  int stages = p.pp;
  switch (p.schedule) {
    case Schedule::kInterleaved1F1B: {
      stages = p.pp * p.vpp;
      if (p.vpp < 2) reject(fmt::format("interleaved-1f1b needs vpp >= 2 (vpp is {})", p.vpp));
      // Megatron-Core splits the layers evenly over the virtual stages, or,
      // with --account-for-embedding-in-pipeline-split and
      // --account-for-loss-in-pipeline-split, the layers plus one slot each for
      // the embedding and the loss (and MTP layers): the first and last stage
      // then hold one layer fewer, as Llama 3's 126 layers over 16 stages
      // (Dubey et al. 2024 §3.3.2) and torchtitan's split points allow.
      // (Every stage keeps a layer: the first and last need a slot beside the
      // embedding and the loss and MTP layers.) interleaved_split_even().
      if (!interleaved_split_even(m, stages)) {
        reject(fmt::format("interleaved-1f1b needs layers divisible by pp x vpp: {} layers, {} x {} = {} stages "
                           "(Megatron-LM; or {} layer slots with the embedding and loss, at least {} per stage)",
                           m.layers, p.pp, p.vpp, stages, m.layers + 2 + m.mtp_layers, 2 + m.mtp_layers));
      }
      if (mb % p.pp != 0) {
        reject(fmt::format("interleaved-1f1b needs micro-batches divisible by pp: {} micro-batches "
                           "(global batch {} / (dp {} x micro_batch {})), pp {} (Megatron-LM)",
                           mb, p.global_batch, p.dp, p.micro_batch, p.pp));
      }
      break;
    }
    case Schedule::kDualPipe:
    case Schedule::kDualPipeV: {
      const char* name = to_string(p.schedule);
      if (p.schedule == Schedule::kDualPipe && p.pp % 2 != 0) {
        reject(fmt::format("{} needs an even number of pipeline stages (pp is {}; V3TR §3.2.1)", name, p.pp));
      }
      if (p.schedule == Schedule::kDualPipeV) stages = 2 * p.pp;
      if (mb % 2 != 0 || mb < 2 * p.pp) {
        reject(fmt::format("{} needs micro-batches even and >= 2 x pp: {} micro-batches (global batch {} / (dp {} x "
                           "micro_batch {})), pp {} (V3TR §3.2.1; DualPipe dualpipe.py step())",
                           name, mb, p.global_batch, p.dp, p.micro_batch, p.pp));
      }
      break;
    }
    default: break;
  }
  if (m.layers < stages) {
    reject(fmt::format("{} layers cannot fill {} pipeline stages (each stage needs at least one layer)", m.layers,
                       stages));
  }

  // Precision the hardware must support.
  if (p.precision.linear_gemms == Precision::kFP8 && !c.accelerator.peak(Precision::kFP8)) {
    reject(fmt::format("the plan runs FP8 GEMMs but {} has no dense FP8 rate", c.accelerator.name));
  }

  // Memory.
  const MemoryBreakdown mem = memory_per_gpu(p, m);
  const Bytes cap = c.accelerator.hbm_capacity;
  if (mem.total() > cap) {
    reject(fmt::format("needs {} per GPU on pipeline rank {} but {} has {}: weights {}, gradients {}, optimizer "
                       "states {}, activations {} ({} chunks in flight x {} per micro-batch), recompute buffers {}, "
                       "communication buffers {}",
                       gb(mem.total()), mem.pipeline_rank, c.accelerator.name, gb(cap), gb(mem.weights),
                       gb(mem.gradients), gb(mem.optimizer_states), gb(mem.activations), mem.inflight_micro_batches,
                       gb(mem.activations_per_micro_batch), gb(mem.recompute_buffers),
                       gb(mem.communication_buffers)));
  }
}

}  // namespace trainsim::plan
