// trainsim-calibrate: measures GEMMs, memory-bound kernels, NCCL collectives and compute/copy
// interference on the GPUs present and writes one trainsim-measurements/1 file
// (calibrate/FORMAT.md). `--dry-run` prints the plan without touching CUDA.
#include <cublasLt.h>
#include <cuda_runtime.h>
#ifdef TRAINSIM_HAVE_CUDNN
#include <cudnn.h>
#endif

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#ifdef TRAINSIM_HAVE_CUDNN
#include "attention.h"
#endif
#include "collectives.h"
#include "common.h"
#include "gemm.h"
#include "kernels.h"
#include "plan.h"

namespace trainsim::calibrate {
namespace {

using Json = nlohmann::ordered_json;
constexpr const char* kToolVersion = "trainsim-calibrate 0.1";

struct Options {
  bool dry_run = false;
  double budget_s = 480;
  std::string out;
  std::string profile;
  std::string only;
  double sustained_seconds = 40;
};

void usage(std::ostream& os) {
  os << "usage: trainsim-calibrate [--dry-run] [--budget SECONDS] [--out FILE|DIR/] [--profile NAME]\n"
        "                          [--only gemm,grouped_gemm,attention,memory,collective,interference,sustained]\n"
        "                          [--sustained-seconds S]\n"
        "Measures on the GPUs present and writes one trainsim-measurements/1 JSON file.\n"
        "  --dry-run   print what would run; touches no GPU\n"
        "  --budget    wall-clock seconds for measuring (default 480); points left are recorded as skipped\n"
        "  --out       output file, or a directory ending in '/' for <gpu>-<date>.json inside it\n"
        "  --profile   hardware_profiles/ name the data describes (default: guessed from the GPU name)\n"
        "  --sustained-seconds  length of each sustained GEMM run (default 40); the run stops early, with a\n"
        "              note, when the budget ends first\n"
        "example: trainsim-calibrate --budget 300 --out calibrate/measurements/\n";
}

// Exits 64 (EX_USAGE) on a bad command line.
Options parse_options(int argc, char** argv) {
  Options o;
  auto value = [&](int& i) -> std::string {
    if (i + 1 >= argc) {
      std::cerr << "trainsim-calibrate: " << argv[i] << " needs a value\n";
      std::exit(64);
    }
    return argv[++i];
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--dry-run") {
      o.dry_run = true;
    } else if (a == "--budget") {
      const std::string v = value(i);
      char* end = nullptr;
      o.budget_s = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end != '\0' || !(o.budget_s > 0) || o.budget_s > 86400) {
        std::cerr << "trainsim-calibrate: --budget expects seconds in (0, 86400], found '" << v << "'\n";
        std::exit(64);
      }
    } else if (a == "--sustained-seconds") {
      const std::string v = value(i);
      char* end = nullptr;
      o.sustained_seconds = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end != '\0' || !(o.sustained_seconds >= 3) || o.sustained_seconds > 3600) {
        std::cerr << "trainsim-calibrate: --sustained-seconds expects seconds in [3, 3600] (at least 3 windows), "
                     "found '" << v << "'\n";
        std::exit(64);
      }
    } else if (a == "--out") {
      o.out = value(i);
    } else if (a == "--profile") {
      o.profile = value(i);
    } else if (a == "--only") {
      o.only = value(i);
    } else if (a == "--help" || a == "-h") {
      usage(std::cout);
      std::exit(0);
    } else {
      std::cerr << "trainsim-calibrate: unknown argument '" << a << "'\n";
      usage(std::cerr);
      std::exit(64);
    }
  }
  return o;
}

std::string today_utc() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string version_text(int v) {  // CUDA encodes 1000 * major + 10 * minor
  return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10);
}

// "NVIDIA H200" -> "h200"; unknown parts give "".
std::string guess_profile(const std::string& gpu) {
  for (const char* part : {"GH200", "H800", "H200", "H100", "H20", "A800", "A100", "B200", "B100", "L40S"}) {
    if (gpu.find(part) != std::string::npos) {
      std::string s = part;
      for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return s;
    }
  }
  return "";
}

std::string slug(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c))) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    else if (!out.empty() && out.back() != '-') out += '-';
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "gpu" : out;
}

DeviceInfo query_device(int device) {
  DeviceInfo d;
  d.device = device;
  cudaDeviceProp prop{};
  CAL_CUDA(cudaGetDeviceProperties(&prop, device));
  d.name = prop.name;
  d.cc_major = prop.major;
  d.cc_minor = prop.minor;
  d.sm_count = prop.multiProcessorCount;
  d.l2_bytes = prop.l2CacheSize;
  CAL_CUDA(cudaDeviceGetAttribute(&d.max_smem_per_block_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  return d;
}

void add_stats(Json& j, const Stats& s) {
  j["time"] = time_text(s.median_s);
  j["p10"] = time_text(s.p10_s);
  j["p90"] = time_text(s.p90_s);
  j["samples"] = s.samples;
}

// Counts skipped points by category and reason, keeping the first example of each.
class SkipLog {
 public:
  void add(const std::string& category, const std::string& reason, const std::string& example) {
    auto key = category + ": " + reason;
    auto it = index_.find(key);
    if (it == index_.end()) {
      index_[key] = entries_.size();
      entries_.push_back({key, example, 1});
    } else {
      entries_[it->second].count++;
    }
  }
  Json to_json() const {
    Json arr = Json::array();
    for (const Entry& e : entries_) {
      arr.push_back(e.key + " (" + std::to_string(e.count) + (e.count == 1 ? " point" : " points") +
                    ", first: " + e.example + ")");
    }
    return arr;
  }

 private:
  struct Entry {
    std::string key, example;
    int count;
  };
  std::vector<Entry> entries_;
  std::map<std::string, size_t> index_;
};

std::string gemm_text(GemmVariant v, int64_t m, int64_t n, int64_t k) {
  return variant_name(v) + " m=" + std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k);
}

Json gemm_json(const char* kind, GemmVariant v, int groups, int64_t m, int64_t n, int64_t k, const GemmResult& r,
               const std::string& label) {
  Json j;
  j["kind"] = kind;
  j["precision"] = precision_name(v.precision);
  if (v.scaling != GemmScaling::kNone) j["scaling"] = scaling_name(v.scaling);
  if (groups > 0) j["groups"] = groups;
  j["m"] = m;
  j["n"] = n;
  j["k"] = k;
  add_stats(j, r.stats);
  j["source"] = "calibrate/run, " + r.algo + "; " + label;
  return j;
}

// Times one memory-bound op over rotating buffers. Returns samples == 0 when not measured.
Stats run_memory(const MemoryPoint& p, Arena& arena, const DeviceInfo& dev, cudaStream_t stream,
                 const TimingOptions& opts, const Deadline& deadline, std::string* why_not) {
  const size_t e = static_cast<size_t>(p.elements);
  struct Buffers {
    void* a = nullptr;  // inputs and outputs of one set; meaning depends on the op
    void* b = nullptr;
    void* c = nullptr;
    void* d = nullptr;
  };
  size_t sizes[4] = {0, 0, 0, 0};
  switch (p.op) {
    case MemoryOp::kCopy: sizes[0] = sizes[1] = e * 2; break;
    case MemoryOp::kRmsNorm: sizes[0] = sizes[1] = e * 2; break;
    case MemoryOp::kSwiGlu: sizes[0] = e * 4; sizes[1] = e * 2; break;
    case MemoryOp::kAdamW: sizes[0] = sizes[1] = sizes[2] = sizes[3] = e * 4; break;
    case MemoryOp::kFp8Quantize: sizes[0] = e * 2; sizes[1] = e; sizes[2] = e / 128 * 4; break;
  }
  const size_t set_bytes = sizes[0] + sizes[1] + sizes[2] + sizes[3] + 4 * 256;
  arena.reset();
  constexpr int kHidden = 7168, kFfn = 2048;
  void* weight = arena.alloc(kHidden * 2);
  if (weight == nullptr || set_bytes > arena.available()) {
    *why_not = "buffers exceed the device memory arena";
    return Stats{};
  }
  fill_random(weight, kHidden, DType::kBF16, 9, stream);
  int sets = rotation_count(set_bytes, dev.l2_bytes, 128);
  sets = std::max(1, std::min<int>(sets, static_cast<int>(arena.available() / set_bytes)));
  std::vector<Buffers> bufs(sets);
  for (int s = 0; s < sets; ++s) {
    void** slots[4] = {&bufs[s].a, &bufs[s].b, &bufs[s].c, &bufs[s].d};
    for (int i = 0; i < 4; ++i) {
      if (sizes[i] > 0) *slots[i] = arena.alloc(sizes[i]);
    }
    // Inputs get random data: a for every op, and b, c, d for AdamW (grad, m, v; v made positive
    // is not needed since the kernel squares gradients into it before the square root).
    fill_random(bufs[s].a, sizes[0] / (p.op == MemoryOp::kAdamW ? 4 : 2),
                p.op == MemoryOp::kAdamW ? DType::kF32 : DType::kBF16, 100 + s, stream);
    if (p.op == MemoryOp::kAdamW) {
      fill_random(bufs[s].b, e, DType::kF32, 200 + s, stream);
      fill_random(bufs[s].c, e, DType::kF32, 300 + s, stream);
      fill_constant_f32(static_cast<float*>(bufs[s].d), e, 0.01f, stream);
    }
  }
  int step = 1;
  auto enqueue = [&](int rep) {
    const Buffers& b = bufs[static_cast<size_t>(rep) % bufs.size()];
    switch (p.op) {
      case MemoryOp::kCopy: launch_copy(b.a, b.b, e, stream); break;
      case MemoryOp::kRmsNorm: launch_rmsnorm(b.a, weight, b.b, e / kHidden, kHidden, stream); break;
      case MemoryOp::kSwiGlu: launch_swiglu(b.a, b.b, e / kFfn, kFfn, stream); break;
      case MemoryOp::kAdamW:
        launch_adamw(static_cast<float*>(b.a), static_cast<const float*>(b.b), static_cast<float*>(b.c),
                     static_cast<float*>(b.d), e, step++, stream);
        break;
      case MemoryOp::kFp8Quantize: launch_fp8_quantize(b.a, b.b, static_cast<float*>(b.c), e, stream); break;
    }
  };
  Stats s = time_on_stream(stream, enqueue, sets, opts, deadline);
  CAL_CUDA(cudaStreamSynchronize(stream));
  arena.reset();
  if (s.samples == 0) *why_not = "time budget spent";
  return s;
}

class Runner {
 public:
  Runner(const Options& opts, const Plan& plan) : opts_(opts), plan_(plan) {}

  int run() {
    const auto start = std::chrono::steady_clock::now();
    int ndev = 0;
    const cudaError_t st = cudaGetDeviceCount(&ndev);
    if (st != cudaSuccess || ndev == 0) {
      std::cerr << "trainsim-calibrate: no CUDA device available ("
                << (st != cudaSuccess ? cudaGetErrorString(st) : "0 devices")
                << "); use --dry-run to see the plan without a GPU\n";
      return 3;
    }
    CAL_CUDA(cudaSetDevice(0));
    dev_ = query_device(0);
    out_path_ = output_path();
    make_provenance(ndev);
    std::cerr << "trainsim-calibrate: " << dev_.name << " (cc " << dev_.cc_major << "." << dev_.cc_minor << ", "
              << dev_.sm_count << " SMs), " << ndev << " GPU(s), budget " << opts_.budget_s << " s -> " << out_path_
              << "\n";

    CAL_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    size_t free_bytes = 0, total_bytes = 0;
    CAL_CUDA(cudaMemGetInfo(&free_bytes, &total_bytes));
    // Leave room for cuBLASLt, NCCL (2 x 1 GiB buffers per GPU) and the CUDA context.
    const size_t reserve = size_t(6) << 30;
    const size_t arena_bytes = free_bytes > 2 * reserve ? std::min(free_bytes - reserve, size_t(96) << 30)
                                                        : free_bytes / 2;
    arena_ = std::make_unique<Arena>(arena_bytes);
    gemm_ = std::make_unique<GemmBench>(dev_, *arena_, stream_);

    double cumulative = 0;
    for (const Category& c : plan_.categories) {
      cumulative += c.budget_fraction;
      const Deadline deadline(start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                          std::chrono::duration<double>(cumulative * opts_.budget_s)));
      std::cerr << "  " << c.name << " ...\n";
      if (c.name == "gemm") run_gemms(deadline);
      else if (c.name == "grouped_gemm") run_grouped(deadline);
      else if (c.name == "attention") run_attention(deadline);
      else if (c.name == "memory") run_memory_points(deadline);
      else if (c.name == "collective") run_collectives(ndev, deadline);
      else if (c.name == "interference") run_interference(deadline);
      else if (c.name == "sustained") run_sustained(deadline);
      write();  // after every category, so a crash later keeps what was measured
    }
#ifdef TRAINSIM_HAVE_CUDNN
    attention_.reset();
#endif
    gemm_.reset();
    arena_.reset();
    CAL_CUDA(cudaStreamDestroy(stream_));
    std::cerr << "trainsim-calibrate: wrote " << measurements_.size() << " measurements to " << out_path_ << "\n";
    return 0;
  }

 private:
  std::string output_path() const {
    std::string out = opts_.out.empty() ? std::string("./") : opts_.out;
    if (out.back() == '/') out += slug(dev_.name) + "-" + today_utc() + ".json";
    return out;
  }

  void make_provenance(int ndev) {
    int driver = 0, runtime = 0;
    CAL_CUDA(cudaDriverGetVersion(&driver));
    CAL_CUDA(cudaRuntimeGetVersion(&runtime));
    int sm_khz = 0, mem_khz = 0, bus_bits = 0;
    CAL_CUDA(cudaDeviceGetAttribute(&sm_khz, cudaDevAttrClockRate, 0));
    CAL_CUDA(cudaDeviceGetAttribute(&mem_khz, cudaDevAttrMemoryClockRate, 0));
    CAL_CUDA(cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, 0));
    size_t free_bytes = 0, total_bytes = 0;
    CAL_CUDA(cudaMemGetInfo(&free_bytes, &total_bytes));
    std::string tool = std::string(kToolVersion) + " (cuBLASLt " + std::to_string(cublasLtGetVersion()) + ", NCCL " +
                       nccl_version_text();
#ifdef TRAINSIM_HAVE_CUDNN
    tool += ", cuDNN " + AttentionBench::cudnn_version_text();
#endif
    tool += ")";
    const std::string profile = opts_.profile.empty() ? guess_profile(dev_.name) : opts_.profile;
    provenance_["gpu"] = dev_.name;
    provenance_["profile"] = profile.empty() ? "unknown" : profile;
    provenance_["source"] = "calibrate/run on this machine, " + tool;
    provenance_["date"] = today_utc();
    provenance_["driver"] = "CUDA driver API " + version_text(driver);
    provenance_["cuda"] = "runtime " + version_text(runtime);
    provenance_["clocks"] = "SM " + std::to_string(sm_khz / 1000) + " MHz, memory " + std::to_string(mem_khz / 1000) +
                            " MHz (peak clocks reported by cudaDeviceGetAttribute; NVML not used)";
    provenance_["notes"] =
        "started " + now_utc() + "; " + std::to_string(ndev) + " GPU(s); compute capability " +
        std::to_string(dev_.cc_major) + "." + std::to_string(dev_.cc_minor) + ", " + std::to_string(dev_.sm_count) +
        " SMs, L2 " + std::to_string(dev_.l2_bytes >> 20) + " MiB, " + std::to_string(total_bytes >> 20) +
        " MiB memory on a " + std::to_string(bus_bits) + "-bit bus; budget " + std::to_string(int(opts_.budget_s)) +
        " s; times are medians over samples of back-to-back repetitions between CUDA events after 2 warm-up "
        "repetitions, inputs random non-zero and rotated through copies totalling over 2x L2";
    if (profile.empty()) {
      std::cerr << "trainsim-calibrate: warning: no hardware profile known for '" << dev_.name
                << "'; pass --profile NAME (recorded as \"unknown\")\n";
    }
  }

  void run_gemms(const Deadline& deadline) {
    for (const GemmPoint& g : plan_.gemms) {
      const std::string what = gemm_text(g.variant, g.m, g.n, g.k);
      if (deadline.passed()) {
        skipped_.add("gemm", "time budget spent", what);
        continue;
      }
      GemmResult r = gemm_->run(g.variant, 1, g.m, g.n, g.k, timing_, deadline);
      if (!r.ok) {
        skipped_.add("gemm", r.why_not, what);
        continue;
      }
      measurements_.push_back(gemm_json("gemm", g.variant, 0, g.m, g.n, g.k, r, g.label));
    }
  }

  void run_grouped(const Deadline& deadline) {
    for (const GroupedGemmPoint& g : plan_.grouped_gemms) {
      const std::string what = std::to_string(g.groups) + " x " + gemm_text(g.variant, g.m, g.n, g.k);
      if (deadline.passed()) {
        skipped_.add("grouped_gemm", "time budget spent", what);
        continue;
      }
      GemmResult r = gemm_->run(g.variant, g.groups, g.m, g.n, g.k, timing_, deadline);
      if (!r.ok) {
        skipped_.add("grouped_gemm", r.why_not, what);
        continue;
      }
      measurements_.push_back(gemm_json("grouped_gemm", g.variant, g.groups, g.m, g.n, g.k, r,
                                        g.label + ", strided batched"));
    }
  }

  static std::string attention_text(const AttentionPoint& a) {
    return a.direction + " seq=" + std::to_string(a.seq) + " heads=" + std::to_string(a.heads) +
           " qk_head_dim=" + std::to_string(a.qk_head_dim) + " v_head_dim=" + std::to_string(a.v_head_dim);
  }

  void run_attention(const Deadline& deadline) {
#ifdef TRAINSIM_HAVE_CUDNN
    for (const AttentionPoint& a : plan_.attention) {
      const std::string what = attention_text(a);
      if (deadline.passed()) {
        skipped_.add("attention", "time budget spent", what);
        continue;
      }
      if (!attention_) attention_ = std::make_unique<AttentionBench>(dev_, *arena_, stream_);
      AttentionResult r = attention_->run(a, timing_, deadline);
      if (!r.ok) {
        if (r.why_not != "time budget spent") std::cerr << "    attention " << what << ": " << r.why_not << "\n";
        skipped_.add("attention", r.why_not, what);
        continue;
      }
      Json j;
      j["kind"] = "attention";
      j["direction"] = a.direction;
      j["precision"] = "bf16";
      j["batch"] = a.batch;
      j["seq"] = a.seq;
      j["heads"] = a.heads;
      j["qk_head_dim"] = a.qk_head_dim;
      j["v_head_dim"] = a.v_head_dim;
      j["causal"] = a.causal;
      std::cerr << "    attention " << what << ": " << r.engine << ", plan built in " << r.build_s << " s, median "
                << time_text(r.stats.median_s) << "\n";
      add_stats(j, r.stats);
      j["source"] = "calibrate/run, " + r.engine +
                    ", backend graph in the cudnn-frontend SDPA pattern; BSHD BF16 Q/K/V/O, FP32 softmax stats" +
                    (a.direction == "bwd" ? ", FP32 dQ accumulator" : "");
      measurements_.push_back(j);
    }
#else
    (void)deadline;
    for (const AttentionPoint& a : plan_.attention) {
      skipped_.add("attention", "not built: cuDNN (cudnn.h, libcudnn) not found when trainsim-calibrate was built",
                   attention_text(a));
    }
#endif
  }

  void run_memory_points(const Deadline& deadline) {
    for (const MemoryPoint& p : plan_.memory) {
      const std::string what = memory_op_name(p.op) + " bytes=" + std::to_string(p.bytes);
      if (deadline.passed()) {
        skipped_.add("memory", "time budget spent", what);
        continue;
      }
      std::string why;
      Stats s = run_memory(p, *arena_, dev_, stream_, timing_, deadline, &why);
      if (s.samples == 0) {
        skipped_.add("memory", why, what);
        continue;
      }
      Json j;
      j["kind"] = "memory";
      j["op"] = memory_op_name(p.op);
      j["bytes"] = bytes_text(p.bytes);
      add_stats(j, s);
      measurements_.push_back(j);
    }
  }

  void run_collectives(int ndev, const Deadline& deadline) {
    if (plan_.collectives.empty()) return;
    if (ndev < 2) {
      for (const CollectivePoint& c : plan_.collectives) {
        skipped_.add("collective", "skipped, not run degenerate: only 1 GPU visible",
                     collective_op_name(c.op) + " message=" + std::to_string(c.message_bytes));
      }
      return;
    }
    CollectiveBench bench(ndev);
    for (const CollectivePoint& c : plan_.collectives) {
      const std::string what = collective_op_name(c.op) + " message=" + std::to_string(c.message_bytes);
      if (deadline.passed()) {
        skipped_.add("collective", "time budget spent", what);
        continue;
      }
      CollectiveResult r = bench.run(c, timing_, deadline);
      if (!r.ok) {
        skipped_.add("collective", r.why_not, what);
        continue;
      }
      Json j;
      j["kind"] = "collective";
      j["op"] = collective_op_name(c.op);
      j["tier"] = "scale_up";
      j["ranks"] = ndev;
      j["message"] = bytes_text(r.message_bytes);
      j["bus_bandwidth"] = gbps_text(r.bus_bandwidth);
      j["p10"] = gbps_text(r.bus_p10);
      j["p90"] = gbps_text(r.bus_p90);
      j["samples"] = r.time.samples;
      j["source"] = "calibrate/run, NCCL " + nccl_version_text() + ", one process, BF16, busbw as nccl-tests";
      measurements_.push_back(j);
    }
  }

  void run_interference(const Deadline& deadline) {
    std::map<std::string, double> baseline;  // variant -> median seconds alone
    for (const InterferencePoint& p : plan_.interference) {
      const std::string what = gemm_text(p.variant, p.m, p.n, p.k) + " comm_sms=" + std::to_string(p.comm_sms);
      const std::string key = variant_name(p.variant);
      if (deadline.passed()) {
        skipped_.add("interference", "time budget spent", what);
        continue;
      }
      if (p.comm_sms > 0 && baseline.count(key) == 0) {
        skipped_.add("interference", "no reference time for the GEMM alone", what);
        continue;
      }
      GemmResult r = gemm_->run_with_copy(p.variant, p.m, p.n, p.k, p.comm_sms, timing_, deadline);
      if (!r.ok) {
        skipped_.add("interference", r.why_not, what);
        continue;
      }
      if (p.comm_sms == 0) baseline[key] = r.stats.median_s;
      Json j;
      j["kind"] = "interference";
      j["comm_sms"] = p.comm_sms;
      j["total_sms"] = dev_.sm_count;
      // Throughput with the SMs taken over throughput alone, rounded to 4 decimals. Noise can put
      // it a hair above 1 (no slowdown); that is recorded as 1 and said in the note.
      const double ratio = baseline[key] / r.stats.median_s;
      j["gemm_fraction"] = std::min(1.0, std::round(ratio * 1e4) / 1e4);
      j["source"] = "calibrate/run, persistent HBM copy kernel on comm_sms SMs, " + r.algo +
                    " with SM_COUNT_TARGET = total - comm_sms";
      j["note"] = "GEMM " + gemm_text(p.variant, p.m, p.n, p.k) + ": median " + time_text(r.stats.median_s) +
                  " (p10 " + time_text(r.stats.p10_s) + ", p90 " + time_text(r.stats.p90_s) + ", " +
                  std::to_string(r.stats.samples) + " samples), alone " + time_text(baseline[key]) +
                  (ratio > 1.0 ? "; measured fraction " + std::to_string(ratio) + " recorded as 1" : "");
      measurements_.push_back(j);
    }
  }

  // Each variant gets an equal share of the time left, at most its planned seconds; the windows
  // become gemm rows with "bound": "sustained" and "elapsed" (calibrate/FORMAT.md).
  void run_sustained(const Deadline& deadline) {
    for (size_t i = 0; i < plan_.sustained.size(); ++i) {
      const SustainedPoint& pt = plan_.sustained[i];
      const std::string what = gemm_text(pt.variant, pt.m, pt.n, pt.k) + " for " + seconds_text(pt.seconds);
      const double share = deadline.remaining_s() / static_cast<double>(plan_.sustained.size() - i);
      if (deadline.passed() || share < 3 * pt.window_s) {
        skipped_.add("sustained", "time budget spent (fewer than 3 windows left)", what);
        continue;
      }
      const Deadline mine(std::chrono::steady_clock::now() +
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double>(share)));
      SustainedResult r = gemm_->run_sustained(pt.variant, pt.m, pt.n, pt.k, pt.seconds, pt.window_s, mine);
      if (!r.ok) {
        skipped_.add("sustained", r.why_not, what);
        continue;
      }
      std::cerr << "    sustained " << what << ": " << r.windows.size() << " windows"
                << (r.cut_short ? " (cut short by the budget)" : "") << "\n";
      for (size_t w = 0; w < r.windows.size(); ++w) {
        const SustainedWindow& win = r.windows[w];
        Json j;
        j["kind"] = "gemm";
        j["precision"] = precision_name(pt.variant.precision);
        if (pt.variant.scaling != GemmScaling::kNone) j["scaling"] = scaling_name(pt.variant.scaling);
        j["m"] = pt.m;
        j["n"] = pt.n;
        j["k"] = pt.k;
        j["bound"] = "sustained";
        j["elapsed"] = seconds_text(win.elapsed_s);
        j["time"] = time_text(win.window_s / win.reps);  // mean per GEMM over the window
        j["samples"] = win.reps;
        j["source"] = "calibrate/run, " + r.algo + "; sustained run, back to back";
        j["note"] = "window " + std::to_string(w + 1) + " of " + std::to_string(r.windows.size()) + ", " +
                    std::to_string(win.reps) + " GEMMs between CUDA events" +
                    (r.cut_short ? "; run planned for " + seconds_text(pt.seconds) + ", cut short by the budget" : "");
        measurements_.push_back(j);
      }
    }
  }

  static std::string seconds_text(double s) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3f s", s);
    return buf;
  }

  void write() {
    Json doc;
    doc["format"] = "trainsim-measurements/1";
    Json prov = provenance_;
    prov["skipped"] = skipped_.to_json();
    doc["provenance"] = prov;
    doc["measurements"] = measurements_;
    const std::string tmp = out_path_ + ".tmp-trainsim";
    {
      std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
      f << doc.dump(2) << "\n";
      if (!f) die("writing", tmp, __FILE__, __LINE__);
    }
    if (std::rename(tmp.c_str(), out_path_.c_str()) != 0) die("rename", std::strerror(errno), __FILE__, __LINE__);
  }

  const Options& opts_;
  const Plan& plan_;
  TimingOptions timing_;
  DeviceInfo dev_;
  std::string out_path_;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<Arena> arena_;
  std::unique_ptr<GemmBench> gemm_;
#ifdef TRAINSIM_HAVE_CUDNN
  std::unique_ptr<AttentionBench> attention_;  // created at the first attention point
#endif
  Json provenance_ = Json::object();
  Json measurements_ = Json::array();
  SkipLog skipped_;
};

}  // namespace
}  // namespace trainsim::calibrate

int main(int argc, char** argv) {
  using namespace trainsim::calibrate;
  const Options opts = parse_options(argc, argv);
  const Plan plan = filter_plan(make_plan(opts.sustained_seconds), opts.only);
  if (opts.dry_run) {
    print_plan(plan, opts.budget_s, std::cout);
    return 0;
  }
  Runner runner(opts, plan);
  return runner.run();
}
