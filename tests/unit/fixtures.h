// Hand-built inputs shared by the unit tests, so that each test states only
// the numbers its hand derivation uses.
#pragma once

#include "core/units.h"
#include "hardware/hardware.h"
#include "model/model.h"
#include "plan/plan.h"

namespace trainsim::testing {

// The numbers a cost-model test derives by hand from.
struct AcceleratorSpec {
  const char* name = "test-gpu";
  double bf16_tflops = 989;
  double fp8_tflops = 0;  // 0: no FP8 rate
  int sms = 132;
  double hbm_gbps = 3350;
  double scale_up_gbps = 450;  // per direction
  int domain = 8;
  double nic_gbps = 50;
};

inline hardware::Accelerator test_accelerator(const AcceleratorSpec& s) {
  hardware::Accelerator a;
  a.name = s.name;
  a.vendor = "NVIDIA";
  a.dense_peak[hardware::Format::kBF16] = teraflops_per_second(s.bf16_tflops);
  if (s.fp8_tflops > 0) a.dense_peak[hardware::Format::kFP8] = teraflops_per_second(s.fp8_tflops);
  a.sm_count = s.sms;
  a.hbm_bandwidth = gigabytes_per_second(s.hbm_gbps);
  a.scale_up.bandwidth_per_direction = gigabytes_per_second(s.scale_up_gbps);
  a.scale_up.domain_size = s.domain;
  a.nic_per_accelerator = gigabytes_per_second(s.nic_gbps);
  return a;
}

// nodes x per_node accelerators; the scale-out NIC is the accelerator's.
inline hardware::Cluster test_cluster(const AcceleratorSpec& s, int nodes, int per_node = 8) {
  hardware::Cluster c;
  c.name = "test";
  c.accelerator = test_accelerator(s);
  c.nodes = nodes;
  c.accelerators_per_node = per_node;
  c.scale_out.nic_bandwidth = gigabytes_per_second(s.nic_gbps);
  c.scale_out.nics_per_node = per_node;
  return c;
}

// A small dense Llama-style model built by hand: `heads` heads of 64,
// hidden = 64 x heads, FFN 4 x hidden, vocabulary 1024, rotary positions
// (so max_seq_len only bounds the sequence).
inline model::Model toy_llama(int64_t layers, int64_t heads = 8, int64_t max_seq_len = 4096) {
  model::Model m;
  m.name = "toy";
  m.architecture = model::Architecture::kLlama;
  m.hidden = 64 * heads;
  m.layers = layers;
  m.heads = heads;
  m.kv_heads = heads;
  m.head_dim = 64;
  m.ffn = 4 * m.hidden;
  m.vocab = 1024;
  m.max_seq_len = max_seq_len;
  return m;
}

// DeepSeek-V3's published pre-training layout (V3TR §3.2): PP16 DualPipe,
// EP64, ZeRO-1 DP128, no TP, FP8, DeepSeek recompute, 20 comm SMs, M = 4;
// micro-batch 1 (unpublished, as the shipped scenario assumes).
inline plan::Plan deepseek_v3_plan() {
  plan::Plan p;
  p.tp = 1;
  p.pp = 16;
  p.dp = 128;
  p.ep = 64;
  p.cp = 1;
  p.zero_stage = 1;
  p.micro_batch = 1;
  p.global_batch = 15360;
  p.seq_len = 4096;
  p.schedule = plan::Schedule::kDualPipe;
  p.recompute = plan::Recompute::kDeepSeek;
  p.precision = plan::deepseek_fp8_policy();
  p.comm_sms = 20;
  p.max_nodes_per_token = 4;
  return p;
}

}  // namespace trainsim::testing
