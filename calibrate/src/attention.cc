#include "attention.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <limits>
#include <map>
#include <stdexcept>
#include <utility>
#include <vector>

#include "kernels.h"

namespace trainsim::calibrate {
namespace {

// A cuDNN call refused while building a graph. Caught by AttentionBench::run, which records the
// point as skipped with this text ("file:line: call on <what> failed: STATUS (cuDNN's message)").
struct CudnnFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string cudnn_failure_text(cudnnStatus_t status, const char* call, const std::string& what, const char* file,
                               int line) {
  char last[512] = "";
  cudnnGetLastErrorString(last, sizeof last);
  std::string text = std::string(file) + ":" + std::to_string(line) + ": " + call;
  if (!what.empty()) text += " on " + what;
  text += " failed: " + std::string(cudnnGetErrorString(status));
  if (last[0] != '\0') text += " (" + std::string(last) + ")";
  return text;
}

[[noreturn]] void throw_cudnn(cudnnStatus_t status, const char* call, const std::string& what, const char* file,
                              int line) {
  throw CudnnFailure(cudnn_failure_text(status, call, what, file, line));
}

// Checked cuDNN call while building a graph: a refusal throws CudnnFailure (the point is skipped).
#define CAL_CUDNN_WHAT(call, what)                                                          \
  do {                                                                                      \
    cudnnStatus_t cal_status_ = (call);                                                     \
    if (cal_status_ != CUDNN_STATUS_SUCCESS)                                                \
      ::trainsim::calibrate::throw_cudnn(cal_status_, #call, (what), __FILE__, __LINE__);   \
  } while (0)
#define CAL_CUDNN(call) CAL_CUDNN_WHAT(call, std::string())

// Checked cuDNN call where a failure means the run cannot go on (handle creation, execution
// inside the timed loop): prints file:line and exits 2, as CAL_CUDA does.
#define CAL_CUDNN_FATAL(call)                                                                    \
  do {                                                                                           \
    cudnnStatus_t cal_status_ = (call);                                                          \
    if (cal_status_ != CUDNN_STATUS_SUCCESS) {                                                   \
      char cal_last_[512] = "";                                                                  \
      cudnnGetLastErrorString(cal_last_, sizeof cal_last_);                                      \
      ::trainsim::calibrate::die(#call, std::string(cudnnGetErrorString(cal_status_)) + " (" +   \
                                            cal_last_ + ")", __FILE__, __LINE__);                \
    }                                                                                            \
  } while (0)

// Owns one backend descriptor. `what` names it in error messages.
class Desc {
 public:
  Desc() = default;
  Desc(cudnnBackendDescriptorType_t type, std::string what) : what_(std::move(what)) {
    CAL_CUDNN_WHAT(cudnnBackendCreateDescriptor(type, &d_), what_);
  }
  ~Desc() {
    if (d_ != nullptr) cudnnBackendDestroyDescriptor(d_);
  }
  Desc(Desc&& o) noexcept : d_(std::exchange(o.d_, nullptr)), what_(std::move(o.what_)) {}
  Desc& operator=(Desc&& o) noexcept {
    if (this != &o) {
      if (d_ != nullptr) cudnnBackendDestroyDescriptor(d_);
      d_ = std::exchange(o.d_, nullptr);
      what_ = std::move(o.what_);
    }
    return *this;
  }
  Desc(const Desc&) = delete;
  Desc& operator=(const Desc&) = delete;

  cudnnBackendDescriptor_t get() const { return d_; }
  const std::string& what() const { return what_; }

  void set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, int64_t count, const void* values) {
    CAL_CUDNN_WHAT(cudnnBackendSetAttribute(d_, name, type, count, values),
                   what_ + ", attribute " + std::to_string(static_cast<int>(name)));
  }
  void set_desc(cudnnBackendAttributeName_t name, const Desc& other) {
    cudnnBackendDescriptor_t raw = other.get();
    set(name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &raw);
  }
  void set_type(cudnnBackendAttributeName_t name, cudnnDataType_t type) { set(name, CUDNN_TYPE_DATA_TYPE, 1, &type); }
  void set_int(cudnnBackendAttributeName_t name, int64_t v) { set(name, CUDNN_TYPE_INT64, 1, &v); }
  void finalize() { CAL_CUDNN_WHAT(cudnnBackendFinalize(d_), what_); }

 private:
  cudnnBackendDescriptor_t d_ = nullptr;
  std::string what_;
};

using Dims = std::array<int64_t, 4>;

// Unique ids of the tensors the caller supplies (the variant pack); virtual tensors get ids
// from kFirstVirtual up.
enum Uid : int64_t {
  kQ = 1, kK, kV, kO, kStats, kAttnScale, kNegInf, kOne, kDO, kDQ, kDK, kDV, kDQAccum, kSoftmaxSum,
  kFirstVirtual = 1000
};

// Builds one backend operation graph: tensors by uid, operations in order. Keeps every descriptor
// alive as long as the graph (and the plan made from it) is in use.
class GraphBuilder {
 public:
  // A tensor; uid 0 makes it virtual with the next free id. Returns the uid.
  int64_t tensor(const std::string& name, cudnnDataType_t type, const Dims& dim, const Dims& stride, int64_t uid = 0,
                 bool by_value = false) {
    const bool is_virtual = uid == 0;
    if (is_virtual) uid = next_virtual_++;
    Desc t(CUDNN_BACKEND_TENSOR_DESCRIPTOR, "tensor '" + name + "'");
    t.set_type(CUDNN_ATTR_TENSOR_DATA_TYPE, type);
    t.set(CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dim.data());
    t.set(CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, stride.data());
    t.set_int(CUDNN_ATTR_TENSOR_UNIQUE_ID, uid);
    t.set_int(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, 16);  // cudnn-frontend's default alignment
    const bool v = is_virtual, bv = by_value;
    t.set(CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &v);
    if (by_value) t.set(CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &bv);
    t.finalize();
    tensors_.emplace(uid, std::move(t));
    return uid;
  }

  // A scalar FP32 passed by value at execution (the pointer in the variant pack is to host memory).
  int64_t scalar(const std::string& name, int64_t uid) {
    return tensor(name, CUDNN_DATA_FLOAT, {1, 1, 1, 1}, {1, 1, 1, 1}, uid, true);
  }

  // y = mode(x[, b[, t]]); b < 0 / t < 0 when the mode takes fewer inputs; axis for GEN_INDEX.
  void pointwise(const std::string& name, cudnnPointwiseMode_t mode, cudnnDataType_t compute, int64_t x, int64_t y,
                 int64_t b = -1, int64_t t = -1, int64_t axis = -1) {
    Desc pw(CUDNN_BACKEND_POINTWISE_DESCRIPTOR, "pointwise descriptor '" + name + "'");
    pw.set(CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode);
    pw.set_type(CUDNN_ATTR_POINTWISE_MATH_PREC, compute);
    if (axis >= 0) pw.set_int(CUDNN_ATTR_POINTWISE_AXIS, axis);
    pw.finalize();
    Desc op(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, "pointwise operation '" + name + "'");
    op.set_desc(CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pw);
    op.set_desc(CUDNN_ATTR_OPERATION_POINTWISE_XDESC, at(x));
    if (b >= 0) op.set_desc(CUDNN_ATTR_OPERATION_POINTWISE_BDESC, at(b));
    if (t >= 0) op.set_desc(CUDNN_ATTR_OPERATION_POINTWISE_TDESC, at(t));
    op.set_desc(CUDNN_ATTR_OPERATION_POINTWISE_YDESC, at(y));
    op.finalize();
    keep_.push_back(std::move(pw));
    ops_.push_back(std::move(op));
  }

  // c = a b over the last two dimensions, batched over the first two; FP32 accumulation.
  void matmul(const std::string& name, int64_t a, int64_t b, int64_t c) {
    Desc mm(CUDNN_BACKEND_MATMUL_DESCRIPTOR, "matmul descriptor '" + name + "'");
    mm.set_type(CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_DATA_FLOAT);
    mm.finalize();
    Desc op(CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR, "matmul operation '" + name + "'");
    op.set_desc(CUDNN_ATTR_OPERATION_MATMUL_ADESC, at(a));
    op.set_desc(CUDNN_ATTR_OPERATION_MATMUL_BDESC, at(b));
    op.set_desc(CUDNN_ATTR_OPERATION_MATMUL_CDESC, at(c));
    op.set_desc(CUDNN_ATTR_OPERATION_MATMUL_DESC, mm);
    op.finalize();
    keep_.push_back(std::move(mm));
    ops_.push_back(std::move(op));
  }

  // y = reduce(x) over the dimensions where y has extent 1; FP32.
  void reduction(const std::string& name, cudnnReduceTensorOp_t mode, int64_t x, int64_t y) {
    Desc red(CUDNN_BACKEND_REDUCTION_DESCRIPTOR, "reduction descriptor '" + name + "'");
    red.set(CUDNN_ATTR_REDUCTION_OPERATOR, CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, 1, &mode);
    red.set_type(CUDNN_ATTR_REDUCTION_COMP_TYPE, CUDNN_DATA_FLOAT);
    red.finalize();
    Desc op(CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR, "reduction operation '" + name + "'");
    op.set_desc(CUDNN_ATTR_OPERATION_REDUCTION_XDESC, at(x));
    op.set_desc(CUDNN_ATTR_OPERATION_REDUCTION_YDESC, at(y));
    op.set_desc(CUDNN_ATTR_OPERATION_REDUCTION_DESC, red);
    op.finalize();
    keep_.push_back(std::move(red));
    ops_.push_back(std::move(op));
  }

  // y = x viewed with y's dimensions and strides (how the graph expresses a transpose).
  void reshape(const std::string& name, int64_t x, int64_t y) {
    Desc op(CUDNN_BACKEND_OPERATION_RESHAPE_DESCRIPTOR, "reshape operation '" + name + "'");
    op.set_desc(CUDNN_ATTR_OPERATION_RESHAPE_XDESC, at(x));
    op.set_desc(CUDNN_ATTR_OPERATION_RESHAPE_YDESC, at(y));
    op.finalize();
    ops_.push_back(std::move(op));
  }

  // The operation graph over every operation added. Throws CudnnFailure when cuDNN refuses it.
  Desc finalize(cudnnHandle_t handle) {
    Desc g(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, "operation graph");
    g.set(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
    std::vector<cudnnBackendDescriptor_t> raw;
    for (const Desc& op : ops_) raw.push_back(op.get());
    g.set(CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, static_cast<int64_t>(raw.size()), raw.data());
    g.finalize();
    return g;
  }

  size_t operation_count() const { return ops_.size(); }

 private:
  const Desc& at(int64_t uid) const {
    auto it = tensors_.find(uid);
    if (it == tensors_.end()) throw CudnnFailure("attention.cc: internal: no tensor with uid " + std::to_string(uid));
    return it->second;
  }

  std::map<int64_t, Desc> tensors_;
  std::vector<Desc> keep_;  // operator descriptors referenced by the operations
  std::vector<Desc> ops_;
  int64_t next_virtual_ = kFirstVirtual;
};

struct Shape {
  int64_t b, h, s, dqk, dv;
};

// [batch, heads, seq, dim] view of a BSHD buffer ([batch, seq, heads, dim], dim contiguous).
Dims bshd_stride(const Shape& x, int64_t d) { return {x.s * x.h * d, d, x.h * d, 1}; }
// The same buffer viewed as its transpose [batch, heads, dim, seq] (how the graph takes K^T, V^T).
Dims bshd_stride_transposed(const Shape& x, int64_t d) { return {x.s * x.h * d, d, 1, x.h * d}; }
Dims packed_stride(const Dims& d) { return {d[1] * d[2] * d[3], d[2] * d[3], d[3], 1}; }

// Scores S = scale * Q K^T with the causal mask applied (shared by forward and backward). In the
// backward graph the statistics are subtracted before the mask, as cudnn-frontend orders it.
int64_t scaled_scores(GraphBuilder& g, const Shape& x, int64_t stats_to_subtract) {
  const Dims s_dim{x.b, x.h, x.s, x.s};
  const Dims s_stride = packed_stride(s_dim);
  const int64_t scale = g.scalar("attn_scale", kAttnScale);
  const int64_t neg_inf = g.scalar("mask value -inf", kNegInf);
  const int64_t s = g.tensor("S = Q K^T", CUDNN_DATA_FLOAT, s_dim, s_stride);
  g.matmul("Q K^T", kQ, kK, s);
  int64_t last = g.tensor("S * scale", CUDNN_DATA_FLOAT, s_dim, s_stride);
  g.pointwise("attn_scale", CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, s, last, scale);
  if (stats_to_subtract >= 0) {
    const int64_t sub = g.tensor("S - stats", CUDNN_DATA_FLOAT, s_dim, s_stride);
    g.pointwise("sub stats", CUDNN_POINTWISE_SUB, CUDNN_DATA_FLOAT, last, sub, stats_to_subtract);
    last = sub;
  }
  // Causal (top-left diagonal, right bound 0): keep where row >= column, else -inf.
  const int64_t row = g.tensor("row index", CUDNN_DATA_INT32, s_dim, s_stride);
  g.pointwise("gen row index", CUDNN_POINTWISE_GEN_INDEX, CUDNN_DATA_FLOAT, last, row, -1, -1, 2);
  const int64_t col = g.tensor("column index", CUDNN_DATA_INT32, s_dim, s_stride);
  g.pointwise("gen column index", CUDNN_POINTWISE_GEN_INDEX, CUDNN_DATA_FLOAT, last, col, -1, -1, 3);
  const int64_t keep = g.tensor("row >= column", CUDNN_DATA_BOOLEAN, s_dim, s_stride);
  g.pointwise("row >= column", CUDNN_POINTWISE_CMP_GE, CUDNN_DATA_BOOLEAN, row, keep, col);
  const int64_t masked = g.tensor("masked S", CUDNN_DATA_FLOAT, s_dim, s_stride);
  g.pointwise("causal select", CUDNN_POINTWISE_BINARY_SELECT, CUDNN_DATA_FLOAT, last, masked, neg_inf, keep);
  return masked;
}

void build_forward(GraphBuilder& g, const Shape& x) {
  g.tensor("Q", CUDNN_DATA_BFLOAT16, {x.b, x.h, x.s, x.dqk}, bshd_stride(x, x.dqk), kQ);
  g.tensor("K^T", CUDNN_DATA_BFLOAT16, {x.b, x.h, x.dqk, x.s}, bshd_stride_transposed(x, x.dqk), kK);
  g.tensor("V", CUDNN_DATA_BFLOAT16, {x.b, x.h, x.s, x.dv}, bshd_stride(x, x.dv), kV);
  g.tensor("O", CUDNN_DATA_BFLOAT16, {x.b, x.h, x.s, x.dv}, bshd_stride(x, x.dv), kO);
  const Dims row_dim{x.b, x.h, x.s, 1};
  const Dims row_stride = packed_stride(row_dim);
  g.tensor("Stats", CUDNN_DATA_FLOAT, row_dim, row_stride, kStats);

  const int64_t masked = scaled_scores(g, x, -1);
  const Dims s_dim{x.b, x.h, x.s, x.s};
  const Dims s_stride = packed_stride(s_dim);
  // Softmax with statistics (cudnn-frontend CompositeSoftmaxNode).
  const int64_t max = g.tensor("row max", CUDNN_DATA_FLOAT, row_dim, row_stride);
  g.reduction("row max", CUDNN_REDUCE_TENSOR_MAX, masked, max);
  const int64_t sub = g.tensor("S - max", CUDNN_DATA_FLOAT, s_dim, s_stride);
  g.pointwise("sub max", CUDNN_POINTWISE_SUB, CUDNN_DATA_FLOAT, masked, sub, max);
  const int64_t e = g.tensor("exp(S - max)", CUDNN_DATA_FLOAT, s_dim, s_stride);
  g.pointwise("exp", CUDNN_POINTWISE_EXP, CUDNN_DATA_FLOAT, sub, e);
  const int64_t sum = g.tensor("row sum", CUDNN_DATA_FLOAT, row_dim, row_stride);
  g.reduction("row sum", CUDNN_REDUCE_TENSOR_ADD, e, sum);
  const int64_t log_sum = g.tensor("log(row sum)", CUDNN_DATA_FLOAT, row_dim, row_stride);
  g.pointwise("log", CUDNN_POINTWISE_LOG, CUDNN_DATA_FLOAT, sum, log_sum);
  g.pointwise("stats = max + log(sum)", CUDNN_POINTWISE_ADD, CUDNN_DATA_FLOAT, max, kStats, log_sum);
  // P in the input type: cuDNN takes the second matmul's A operand in the I/O type.
  const int64_t p = g.tensor("P", CUDNN_DATA_BFLOAT16, s_dim, s_stride);
  g.pointwise("P = exp / sum", CUDNN_POINTWISE_DIV, CUDNN_DATA_FLOAT, e, p, sum);
  g.matmul("P V", p, kV, kO);
}

void build_backward(GraphBuilder& g, const Shape& x) {
  g.tensor("Q", CUDNN_DATA_BFLOAT16, {x.b, x.h, x.s, x.dqk}, bshd_stride(x, x.dqk), kQ);
  g.tensor("K^T", CUDNN_DATA_BFLOAT16, {x.b, x.h, x.dqk, x.s}, bshd_stride_transposed(x, x.dqk), kK);
  g.tensor("V^T", CUDNN_DATA_BFLOAT16, {x.b, x.h, x.dv, x.s}, bshd_stride_transposed(x, x.dv), kV);
  g.tensor("O", CUDNN_DATA_BFLOAT16, {x.b, x.h, x.s, x.dv}, bshd_stride(x, x.dv), kO);
  g.tensor("dO", CUDNN_DATA_BFLOAT16, {x.b, x.h, x.s, x.dv}, bshd_stride(x, x.dv), kDO);
  g.tensor("dQ", CUDNN_DATA_BFLOAT16, {x.b, x.h, x.s, x.dqk}, bshd_stride(x, x.dqk), kDQ);
  g.tensor("dK", CUDNN_DATA_BFLOAT16, {x.b, x.h, x.s, x.dqk}, bshd_stride(x, x.dqk), kDK);
  g.tensor("dV", CUDNN_DATA_BFLOAT16, {x.b, x.h, x.s, x.dv}, bshd_stride(x, x.dv), kDV);
  const Dims row_dim{x.b, x.h, x.s, 1};
  const Dims row_stride = packed_stride(row_dim);
  g.tensor("Stats", CUDNN_DATA_FLOAT, row_dim, row_stride, kStats);
  g.tensor("softmax_sum", CUDNN_DATA_FLOAT, row_dim, row_stride, kSoftmaxSum);
  const Dims dq_dim{x.b, x.h, x.s, x.dqk};
  g.tensor("dQ accumulator", CUDNN_DATA_FLOAT, dq_dim, packed_stride(dq_dim), kDQAccum);
  const int64_t one = g.scalar("one", kOne);
  const int64_t scale = kAttnScale;  // created by scaled_scores; referenced after it

  // softmax_sum = rowsum(dO * O) * 1 (the 1 stands where dropout's 1 - p would be).
  const Dims o_dim{x.b, x.h, x.s, x.dv};
  const int64_t d_o = g.tensor("dO * O", CUDNN_DATA_FLOAT, o_dim, packed_stride(o_dim));
  g.pointwise("dO * O", CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, kDO, d_o, kO);
  const int64_t rowsum = g.tensor("rowsum(dO * O)", CUDNN_DATA_FLOAT, row_dim, row_stride);
  g.reduction("rowsum(dO * O)", CUDNN_REDUCE_TENSOR_ADD, d_o, rowsum);
  g.pointwise("softmax_sum", CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, rowsum, kSoftmaxSum, one);

  // P recomputed from the statistics.
  const int64_t masked = scaled_scores(g, x, kStats);
  const Dims s_dim{x.b, x.h, x.s, x.s};
  const Dims s_stride = packed_stride(s_dim);
  const Dims st_dim{x.b, x.h, x.s, x.s};  // [b, h, s_kv, s_q] (s_q == s_kv)
  const Dims st_stride{x.s * x.s * x.h, x.s * x.s, 1, x.s};  // transpose of s_stride
  const int64_t p = g.tensor("P", CUDNN_DATA_FLOAT, s_dim, s_stride);
  g.pointwise("exp", CUDNN_POINTWISE_EXP, CUDNN_DATA_FLOAT, masked, p);

  // dV = P^T dO.
  const int64_t pt = g.tensor("P^T", CUDNN_DATA_BFLOAT16, st_dim, st_stride);
  g.reshape("P^T", p, pt);
  g.matmul("P^T dO", pt, kDO, kDV);

  // dS = (dO V^T - softmax_sum) * P * scale.
  const int64_t dp = g.tensor("dP = dO V^T", CUDNN_DATA_FLOAT, s_dim, s_stride);
  g.matmul("dO V^T", kDO, kV, dp);
  const int64_t dp_sub = g.tensor("dP - softmax_sum", CUDNN_DATA_FLOAT, s_dim, s_stride);
  g.pointwise("dP - softmax_sum", CUDNN_POINTWISE_SUB, CUDNN_DATA_FLOAT, dp, dp_sub, kSoftmaxSum);
  const int64_t dp_p = g.tensor("(dP - softmax_sum) * P", CUDNN_DATA_FLOAT, s_dim, s_stride);
  g.pointwise("* P", CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, dp_sub, dp_p, p);
  const int64_t ds = g.tensor("dS", CUDNN_DATA_FLOAT, s_dim, s_stride);
  g.pointwise("dS * scale", CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, dp_p, ds, scale);

  // dK = dS^T Q.
  const int64_t dst = g.tensor("dS^T", CUDNN_DATA_BFLOAT16, st_dim, st_stride);
  g.reshape("dS^T", ds, dst);
  g.matmul("dS^T Q", dst, kQ, kDK);

  // dQ = dS K, accumulated in FP32 and copied to BF16. K is the K^T buffer viewed untransposed;
  // cudnn-frontend leaves this virtual view in the intermediate type (FP32).
  const int64_t k = g.tensor("K", CUDNN_DATA_FLOAT, {x.b, x.h, x.s, x.dqk}, bshd_stride(x, x.dqk));
  g.reshape("K", kK, k);
  g.matmul("dS K", ds, k, kDQAccum);
  g.pointwise("dQ = accumulator", CUDNN_POINTWISE_IDENTITY, CUDNN_DATA_FLOAT, kDQAccum, kDQ);
}

}  // namespace

struct AttentionBench::Prepared {
  GraphBuilder graph;
  Desc op_graph;
  std::vector<Desc> configs;
  Desc plan;
  std::string engine;
  bool backward = false;
  void* workspace = nullptr;
  std::vector<Desc> variant_packs;  // one per buffer set
  std::vector<void*> dq_accum;      // per set, for the pre-9.6 memset
  size_t dq_accum_bytes = 0;
  // Host values of the by-value scalars; the variant packs point at them.
  float attn_scale = 1.0f;
  float neg_inf = -std::numeric_limits<float>::infinity();
  float one = 1.0f;
};

std::string AttentionBench::cudnn_version_text() {
  const size_t v = cudnnGetVersion();  // 10000 * major + 100 * minor + patch (cuDNN 9)
  return std::to_string(v / 10000) + "." + std::to_string(v % 10000 / 100) + "." + std::to_string(v % 100);
}

AttentionBench::AttentionBench(const DeviceInfo& dev, Arena& arena, cudaStream_t stream)
    : dev_(dev), arena_(arena), stream_(stream) {
  CAL_CUDNN_FATAL(cudnnCreate(&handle_));
  CAL_CUDNN_FATAL(cudnnSetStream(handle_, stream_));
}

AttentionBench::~AttentionBench() {
  if (handle_ != nullptr) cudnnDestroy(handle_);
}

// Builds the graph, finds an engine (heuristics mode A, the first configuration whose execution
// plan finalizes, as cudnn-frontend's check_support does), and lays out the buffers. Throws
// CudnnFailure or std::runtime_error (arena) with the reason.
void AttentionBench::prepare(Prepared& prep, const AttentionPoint& p) {
  const Shape x{p.batch, p.heads, p.seq, p.qk_head_dim, p.v_head_dim};
  prep.backward = p.direction == "bwd";
  prep.attn_scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(p.qk_head_dim)));
  if (prep.backward) build_backward(prep.graph, x);
  else build_forward(prep.graph, x);
  prep.op_graph = prep.graph.finalize(handle_);

  Desc heur(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, "engine heuristics");
  heur.set_desc(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, prep.op_graph);
  cudnnBackendHeurMode_t mode = CUDNN_HEUR_MODE_A;
  heur.set(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode);
  heur.finalize();
  int64_t count = 0;
  CAL_CUDNN_WHAT(cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0,
                                          &count, nullptr),
                 "engine heuristics results (count)");
  if (count <= 0) throw CudnnFailure("cuDNN heuristics (mode A) offer no engine for this graph");
  std::vector<cudnnBackendDescriptor_t> raw;
  for (int64_t i = 0; i < count; ++i) {
    prep.configs.emplace_back(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, "engine config " + std::to_string(i));
    raw.push_back(prep.configs.back().get());
  }
  int64_t got = 0;
  CAL_CUDNN_WHAT(cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                          count, &got, raw.data()),
                 "engine heuristics results");
  std::string refusals;
  for (int64_t i = 0; i < got && prep.plan.get() == nullptr; ++i) {
    Desc plan(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, "execution plan " + std::to_string(i));
    plan.set(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle_);
    plan.set_desc(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, prep.configs[static_cast<size_t>(i)]);
    const cudnnStatus_t st = cudnnBackendFinalize(plan.get());
    if (st != CUDNN_STATUS_SUCCESS) {
      if (refusals.empty()) refusals = cudnn_failure_text(st, "cudnnBackendFinalize", plan.what(), __FILE__, __LINE__);
      continue;
    }
    Desc engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR, "engine");
    cudnnBackendDescriptor_t engine_raw = engine.get();
    int64_t n = 0, index = -1;
    CAL_CUDNN_WHAT(cudnnBackendGetAttribute(prep.configs[static_cast<size_t>(i)].get(), CUDNN_ATTR_ENGINECFG_ENGINE,
                                            CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n, &engine_raw),
                   "engine config's engine");
    CAL_CUDNN_WHAT(cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &n,
                                            &index),
                   "engine global index");
    prep.engine = "cuDNN " + cudnn_version_text() + " engine " + std::to_string(index) + " (heuristics mode A, rank " +
                  std::to_string(i) + " of " + std::to_string(got) + ")";
    prep.plan = std::move(plan);
  }
  if (prep.plan.get() == nullptr) {
    // Heuristics count every candidate but hand back only those passing cuDNN's support checks;
    // CUDNN_LOGWARN_DBG=1 CUDNN_LOGDEST_DBG=stderr prints why each candidate was dropped.
    throw CudnnFailure("cuDNN heuristics (mode A) found " + std::to_string(count) + " candidate engine configs, " +
                       std::to_string(got) + " viable" +
                       (refusals.empty() ? std::string() : "; first plan refusal: " + refusals));
  }
  int64_t workspace_bytes = 0, n = 0;
  CAL_CUDNN_WHAT(cudnnBackendGetAttribute(prep.plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64,
                                          1, &n, &workspace_bytes),
                 "execution plan workspace size");

  // Buffers: one workspace, then as many copies of the operands as rotation_count asks for.
  const size_t q_bytes = size_t(x.b) * x.s * x.h * x.dqk * 2, v_bytes = size_t(x.b) * x.s * x.h * x.dv * 2;
  const size_t row_bytes = size_t(x.b) * x.h * x.s * 4;
  prep.dq_accum_bytes = prep.backward ? size_t(x.b) * x.h * x.s * x.dqk * 4 : 0;
  // fwd: Q K V O Stats; bwd adds dO dQ dK dV, the dQ accumulator and softmax_sum.
  const size_t set_bytes = prep.backward ? 4 * q_bytes + 4 * v_bytes + 2 * row_bytes + prep.dq_accum_bytes + 16 * 256
                                         : 2 * q_bytes + 2 * v_bytes + row_bytes + 8 * 256;
  arena_.reset();
  prep.workspace = arena_.alloc(static_cast<size_t>(std::max<int64_t>(workspace_bytes, 256)));
  if (prep.workspace == nullptr || set_bytes > arena_.available()) {
    throw std::runtime_error("operands (" + std::to_string(set_bytes >> 20) + " MiB) and workspace (" +
                             std::to_string(workspace_bytes >> 20) + " MiB) exceed the device memory arena");
  }
  int sets = rotation_count(set_bytes, dev_.l2_bytes, 8);
  sets = std::max(1, std::min<int>(sets, static_cast<int>(arena_.available() / set_bytes)));
  for (int set = 0; set < sets; ++set) {
    auto buffer = [&](size_t bytes) { return arena_.alloc(bytes); };
    std::vector<int64_t> uids;
    std::vector<void*> ptrs;
    auto add = [&](int64_t uid, void* ptr) {
      uids.push_back(uid);
      ptrs.push_back(ptr);
    };
    const uint64_t seed = 5000 + 20 * static_cast<uint64_t>(set);
    void* q = buffer(q_bytes);
    void* k = buffer(q_bytes);
    void* v = buffer(v_bytes);
    void* o = buffer(v_bytes);
    void* stats = buffer(row_bytes);
    fill_random(q, q_bytes / 2, DType::kBF16, seed + 0, stream_);
    fill_random(k, q_bytes / 2, DType::kBF16, seed + 1, stream_);
    fill_random(v, v_bytes / 2, DType::kBF16, seed + 2, stream_);
    fill_random(o, v_bytes / 2, DType::kBF16, seed + 3, stream_);
    // Statistics as input of the backward: random values of magnitude 0.25 to 1 keep every
    // exp(S - stats) finite (|S| is about 1 for these inputs); the values do not steer the kernel.
    fill_random(stats, row_bytes / 4, DType::kF32, seed + 4, stream_);
    add(kQ, q);
    add(kK, k);
    add(kV, v);
    add(kO, o);
    add(kStats, stats);
    add(kAttnScale, &prep.attn_scale);
    add(kNegInf, &prep.neg_inf);
    if (prep.backward) {
      void* d_o = buffer(v_bytes);
      void* dq = buffer(q_bytes);
      void* dk = buffer(q_bytes);
      void* dv = buffer(v_bytes);
      void* dq_accum = buffer(prep.dq_accum_bytes);
      void* softmax_sum = buffer(row_bytes);
      fill_random(d_o, v_bytes / 2, DType::kBF16, seed + 5, stream_);
      CAL_CUDA(cudaMemsetAsync(dq_accum, 0, prep.dq_accum_bytes, stream_));
      prep.dq_accum.push_back(dq_accum);
      add(kDO, d_o);
      add(kDQ, dq);
      add(kDK, dk);
      add(kDV, dv);
      add(kDQAccum, dq_accum);
      add(kSoftmaxSum, softmax_sum);
      add(kOne, &prep.one);
    }
    Desc pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, "variant pack " + std::to_string(set));
    pack.set(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, static_cast<int64_t>(uids.size()), uids.data());
    pack.set(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, static_cast<int64_t>(ptrs.size()),
             ptrs.data());
    pack.set(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &prep.workspace);
    pack.finalize();
    prep.variant_packs.push_back(std::move(pack));
  }
  CAL_CUDA(cudaStreamSynchronize(stream_));
}

void AttentionBench::enqueue(const Prepared& prep, int rep) {
  const size_t set = static_cast<size_t>(rep) % prep.variant_packs.size();
  // Before cuDNN 9.6 the caller zeroed the dQ accumulator (cudnn-frontend does it for those).
  if (prep.backward && cudnnGetVersion() < 90600) {
    CAL_CUDA(cudaMemsetAsync(prep.dq_accum[set], 0, prep.dq_accum_bytes, stream_));
  }
  CAL_CUDNN_FATAL(cudnnBackendExecute(handle_, prep.plan.get(), prep.variant_packs[set].get()));
}

AttentionResult AttentionBench::run(const AttentionPoint& p, const TimingOptions& opts, const Deadline& deadline) {
  AttentionResult r;
  if (dev_.cc_major < 8) {
    r.why_not = "cuDNN fused attention needs compute capability >= 8.0";
    return r;
  }
  if (cudnnGetVersion() < 90000) {
    r.why_not = "needs cuDNN 9 at run time, found " + cudnn_version_text();
    return r;
  }
  if (!p.causal) {
    r.why_not = "only causal attention is built";
    return r;
  }
  auto prep = std::make_unique<Prepared>();
  const auto build_start = std::chrono::steady_clock::now();
  try {
    prepare(*prep, p);
    // One trial call outside the timer: a plan cuDNN accepts but cannot launch is a skipped point.
    const size_t set = 0;
    const cudnnStatus_t trial = cudnnBackendExecute(handle_, prep->plan.get(), prep->variant_packs[set].get());
    if (trial != CUDNN_STATUS_SUCCESS) throw_cudnn(trial, "cudnnBackendExecute", "trial call", __FILE__, __LINE__);
    CAL_CUDA(cudaStreamSynchronize(stream_));
    // The timer captures repetitions into a CUDA graph; try one capture here, where a refusal only
    // skips the point (inside the timer it would end the run).
    CAL_CUDA(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    const cudnnStatus_t captured = cudnnBackendExecute(handle_, prep->plan.get(), prep->variant_packs[set].get());
    cudaGraph_t graph = nullptr;
    const cudaError_t ended = cudaStreamEndCapture(stream_, &graph);
    if (graph != nullptr) cudaGraphDestroy(graph);
    if (captured != CUDNN_STATUS_SUCCESS) {
      (void)cudaGetLastError();
      throw_cudnn(captured, "cudnnBackendExecute", "call under CUDA graph capture", __FILE__, __LINE__);
    }
    if (ended != cudaSuccess) {
      (void)cudaGetLastError();
      throw CudnnFailure(std::string(__FILE__) + ":" + std::to_string(__LINE__) +
                         ": cudaStreamEndCapture around cudnnBackendExecute failed: " + cudaGetErrorString(ended));
    }
  } catch (const std::exception& e) {
    r.why_not = e.what();
    CAL_CUDA(cudaStreamSynchronize(stream_));
    prep.reset();
    arena_.reset();
    return r;
  }
  r.engine = prep->engine;
  r.build_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - build_start).count();
  r.stats = time_on_stream(stream_, [&](int rep) { enqueue(*prep, rep); }, static_cast<int>(prep->variant_packs.size()),
                           opts, deadline);
  CAL_CUDA(cudaStreamSynchronize(stream_));
  prep.reset();
  arena_.reset();
  r.ok = r.stats.samples > 0;
  if (!r.ok) r.why_not = "time budget spent";
  return r;
}

}  // namespace trainsim::calibrate
