// Batch normalization fused with the sigmoid (and the 2x2 max pooling) after it,
// and batch normalization alone.
//
// bnref/fused.py builds this file with torch.utils.cpp_extension and wraps
// its six operators in autograd Functions; the module docstring there gives
// the formulas. Each operator reads its input in as few passes as the maths
// allows and writes only what the next layer or the backward pass needs:
//
//   bn_sigmoid_pool_forward    (N, C, H, W) -> sigmoid(maxpool2x2(a*x + b)), (N, C, H/2, W/2)
//   bn_sigmoid_pool_backward   dL/dout -> dL/dx, dL/dgamma, dL/dbeta
//   bn_sigmoid_forward         (N, C) -> sigmoid(a*x + b)
//   bn_sigmoid_backward        dL/dout -> dL/dx, dL/dgamma, dL/dbeta
//   bn_forward                 (N, C) or (N, C, H, W) -> a*x + b
//   bn_backward                dL/dy -> dL/dx, dL/dgamma, dL/dbeta
//
// with a = gamma / sqrt(var + eps) and b = beta - a * mean per channel.
// Pooling before the sigmoid gives the same values as pooling after it,
// because the sigmoid is increasing: max(sigmoid(z)) = sigmoid(max(z)).
// The pooling keeps PyTorch's choice among equal maxima (the first in
// row-major order) and its NaN rule (a NaN wins), so that the gradient goes
// where nn.MaxPool2d would send it.
//
// Threads take whole channels for the sums (so the sums do not depend on the
// number of threads) and (sample, channel) planes for the elementwise passes.
// The (N, C, H, W) loops are written with at::vec::Vectorized (below), the
// (N, C) ones as plain loops that `omp simd` lets the compiler vectorize;
// fused.py compiles with the instruction set that PyTorch itself uses on
// this CPU (AVX2, AVX-512).

#include <ATen/Dispatch.h>
#include <ATen/Functions.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/cpu/vec/vec.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <tuple>
#include <vector>

namespace bnref {
namespace {

using at::Tensor;

// Per-channel statistics of a batch from the sums of the shifted values
// d = x - K (K: the channel's first value). Shifting keeps the single-pass
// variance S2/M - (S1/M)^2 accurate when the mean is large next to the
// standard deviation: what cancels is (mean - K), not the mean itself.
struct Stats {
  double mean, var;
};

inline Stats stats_from_shifted_sums(double K, double s1, double s2, int64_t M) {
  const double m1 = s1 / M;
  return {K + m1, std::max(s2 / M - m1 * m1, 0.0)};
}

// The per-channel numbers both passes need, in the compute dtype.
template <typename T>
struct Coefs {
  std::vector<T> a, b, mean, invstd;
  explicit Coefs(int64_t C) : a(C), b(C), mean(C), invstd(C) {}
};

template <typename T>
Coefs<T> coefs(const Tensor& gamma, const Tensor& beta, const Tensor& mean, const Tensor& var,
               double eps) {
  const int64_t C = gamma.numel();
  const T* g = gamma.data_ptr<T>();
  const T* be = beta.data_ptr<T>();
  const T* mu = mean.data_ptr<T>();
  const T* v = var.data_ptr<T>();
  Coefs<T> k(C);
  for (int64_t c = 0; c < C; ++c) {
    k.invstd[c] = T(1) / std::sqrt(v[c] + T(eps));
    k.a[c] = g[c] * k.invstd[c];
    k.b[c] = be[c] - k.a[c] * mu[c];
    k.mean[c] = mu[c];
  }
  return k;
}

// The backward pass of y = a*x + b with batch statistics, from the sums
// sdz = sum(dz) and sdzc = sum(dz * (x - mean)) over the channel's M values:
//   dgamma = invstd * sdzc,   dbeta = sdz,
//   dx = a * (dz - sdz/M - xhat * dgamma/M) = a*dz + B*x + C   (per channel B, C).
// With fixed statistics (eval) the mean and variance are constants: dx = a*dz.
template <typename T>
void backward_coefs(const Coefs<T>& k, const double* sdz, const double* sdzc, int64_t M,
                    bool training, T* dgamma, T* dbeta, std::vector<T>& B, std::vector<T>& Cc) {
  for (size_t c = 0; c < k.a.size(); ++c) {
    const double dg = double(k.invstd[c]) * sdzc[c];
    dgamma[c] = T(dg);
    dbeta[c] = T(sdz[c]);
    if (training) {
      const double bc = -double(k.a[c]) * k.invstd[c] * dg / M;
      B[c] = T(bc);
      Cc[c] = T(-double(k.a[c]) * sdz[c] / M - bc * k.mean[c]);
    } else {
      B[c] = T(0);
      Cc[c] = T(0);
    }
  }
}

Tensor compute_dtype_vector(const Tensor& t, const Tensor& x) {
  return t.reshape(-1).to(x.scalar_type()).contiguous();
}

void check_input(const Tensor& x, int64_t dim, const char* op) {
  TORCH_CHECK(x.device().is_cpu(), op, " runs on the CPU; got a tensor on ", x.device());
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble, op,
              " computes in float32 or float64; got ", x.scalar_type());
  TORCH_CHECK(x.dim() == dim, op, " expects a ", dim, "-D input; got ", x.dim(), "-D");
}

// Sums over one channel of the shifted values, plane by plane.
template <typename T>
void channel_sums_4d(const T* x, int64_t N, int64_t C, int64_t HW, int64_t c, double K,
                     double* s1, double* s2) {
  double a1 = 0, a2 = 0;
  for (int64_t n = 0; n < N; ++n) {
    const T* p = x + (n * C + c) * HW;
    const T k = T(K);
    T p1 = 0, p2 = 0;  // one plane in T, the planes in double
#pragma omp simd reduction(+ : p1, p2)
    for (int64_t i = 0; i < HW; ++i) {
      const T d = p[i] - k;
      p1 += d;
      p2 += d * d;
    }
    a1 += p1;
    a2 += p2;
  }
  *s1 = a1;
  *s2 = a2;
}

// Row by row, all features at once (the contiguous axis): sums of the values
// shifted by the first row.
template <typename T>
void rows_shifted_sums(const T* __restrict x, int64_t N, int64_t C, double* __restrict s1,
                       double* __restrict s2) {
  for (int64_t n = 0; n < N; ++n) {
    const T* row = x + n * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const double d = double(row[c]) - double(x[c]);
      s1[c] += d;
      s2[c] += d * d;
    }
  }
}

// The statistics a forward pass normalizes with, in x's dtype, shape (C,): in
// training the batch's per-channel mean and biased variance, from one pass of
// shifted sums over x ((N, C, H, W): each thread takes whole channels, so the
// sums do not depend on the thread count); in eval copies of the moving ones
// (copies: an operator's outputs must not alias its inputs).
std::pair<Tensor, Tensor> batch_stats(const Tensor& x, const Tensor& mean_in,
                                      const Tensor& var_in, bool training) {
  if (!training) {
    return {compute_dtype_vector(mean_in, x).clone(), compute_dtype_vector(var_in, x).clone()};
  }
  const int64_t N = x.size(0), C = x.size(1), HW = x.dim() == 4 ? x.size(2) * x.size(3) : 1;
  Tensor mean = at::empty({C}, x.options()), var = at::empty({C}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "batch_stats", [&] {
    using T = scalar_t;
    const T* xp = x.data_ptr<T>();
    T* mp = mean.data_ptr<T>();
    T* vp = var.data_ptr<T>();
    if (x.dim() == 4) {
      at::parallel_for(0, C, 1, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
          const double K = N > 0 ? double(xp[c * HW]) : 0.0;
          double s1, s2;
          channel_sums_4d(xp, N, C, HW, c, K, &s1, &s2);
          const Stats st = stats_from_shifted_sums(K, s1, s2, N * HW);
          mp[c] = T(st.mean);
          vp[c] = T(st.var);
        }
      });
    } else {
      std::vector<double> s1(C, 0.0), s2(C, 0.0);
      rows_shifted_sums(xp, N, C, s1.data(), s2.data());
      for (int64_t c = 0; c < C; ++c) {
        const Stats st = stats_from_shifted_sums(N > 0 ? double(xp[c]) : 0.0, s1[c], s2[c], N);
        mp[c] = T(st.mean);
        vp[c] = T(st.var);
      }
    }
  });
  return {mean, var};
}

// ---------------------------------------------------------------------------
// (N, C, H, W): batch norm, 2x2 max pooling, sigmoid
// ---------------------------------------------------------------------------

// Vectorized<T> is PyTorch's own SIMD wrapper (the one its CPU kernels are
// written with): L = Vec::size() lanes of AVX2 or AVX-512, loads and stores
// of fewer lanes for the ends of rows, comparisons that give lane masks and
// blendv(a, b, mask) that takes b where the mask is set. There is no branch
// on the data: with random values a branch per comparison would be
// mispredicted half the time.
template <typename T>
using Vec = at::vec::Vectorized<T>;

// The even- and odd-indexed values of x[0, 2n): two loads, one deinterleave.
template <typename T>
std::pair<Vec<T>, Vec<T>> load_pairs(const T* x, int64_t n) {
  constexpr int64_t L = Vec<T>::size();
  const Vec<T> lo = Vec<T>::loadu(x, std::min<int64_t>(2 * n, L));
  const Vec<T> hi = Vec<T>::loadu(x + L, std::max<int64_t>(2 * n - L, 0));
  return at::vec::deinterleave2(lo, hi);
}

// The inverse: store evens and odds interleaved into x[0, 2n).
template <typename T>
void store_pairs(T* x, const Vec<T>& even, const Vec<T>& odd, int64_t n) {
  constexpr int64_t L = Vec<T>::size();
  const auto [lo, hi] = at::vec::interleave2(even, odd);
  lo.store(x, std::min<int64_t>(2 * n, L));
  if (2 * n > L) hi.store(x + L, 2 * n - L);
}

// PyTorch's max-pooling rule for "does v replace the running maximum m":
// v is larger, or v is NaN.
template <typename T>
Vec<T> replaces(const Vec<T>& v, const Vec<T>& m) {
  return (v > m) | v.isnan();
}

// The window positions 0 1 / 2 3 (row-major) as lane values, read from bytes.
template <typename T>
Vec<T> load_positions(const uint8_t* idx, int64_t n) {
  T k[Vec<T>::size()];
  for (int64_t q = 0; q < n; ++q) k[q] = T(idx[q]);
  return Vec<T>::loadu(k, n);
}

// One plane (one sample, one channel) of H x W values: the pooled a*x + b,
// per window the position of its maximum, and the input x there (for the
// backward pass's sums, which then read a quarter of the values). First the
// pairs of each row (the whole plane in one loop: rows are contiguous and W
// is even), into the scratch rows h, hk, hx (the value, 0/1 for right, the
// input); then each output row from the two rows of pairs above each other.
// Taking the right value of a pair only if it replaces the left, and the
// lower pair only if it replaces the upper, is PyTorch's scan of the window
// in row-major order.
template <typename T>
void pool_plane(const T* x, T* out, uint8_t* idx, T* xsel, int64_t Ho, int64_t Wo, T A, T B,
                T* h, T* hk, T* hx) {
  constexpr int64_t L = Vec<T>::size();
  const Vec<T> a(A), b(B), zero(0), one(1), two(2);
  const int64_t pairs = 2 * Ho * Wo;
  for (int64_t m = 0; m < pairs; m += L) {
    const int64_t n = std::min(L, pairs - m);
    const auto [left, right] = load_pairs(x + 2 * m, n);
    const Vec<T> zl = at::vec::fmadd(a, left, b), zr = at::vec::fmadd(a, right, b);
    const Vec<T> take_right = replaces(zr, zl);
    Vec<T>::blendv(zl, zr, take_right).store(h + m, n);
    Vec<T>::blendv(zero, one, take_right).store(hk + m, n);
    Vec<T>::blendv(left, right, take_right).store(hx + m, n);
  }
  for (int64_t i = 0; i < Ho; ++i) {
    const T* top = h + 2 * i * Wo;
    const T* bottom = top + Wo;
    const T* k_top = hk + 2 * i * Wo;
    const T* k_bottom = k_top + Wo;
    for (int64_t j = 0; j < Wo; j += L) {
      const int64_t n = std::min(L, Wo - j);
      const Vec<T> t = Vec<T>::loadu(top + j, n), u = Vec<T>::loadu(bottom + j, n);
      const Vec<T> take_lower = replaces(u, t);
      Vec<T>::blendv(t, u, take_lower).store(out + i * Wo + j, n);
      Vec<T>::blendv(Vec<T>::loadu(hx + 2 * i * Wo + j, n),
                     Vec<T>::loadu(hx + (2 * i + 1) * Wo + j, n), take_lower)
          .store(xsel + i * Wo + j, n);
      const Vec<T> k = Vec<T>::blendv(Vec<T>::loadu(k_top + j, n),
                                      Vec<T>::loadu(k_bottom + j, n) + two, take_lower);
      T kk[L];
      k.store(kk, n);
      for (int64_t q = 0; q < n; ++q) idx[i * Wo + j + q] = uint8_t(kk[q]);
    }
  }
}

std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor> bn_sigmoid_pool_forward(
    const Tensor& x_in, const Tensor& gamma_in, const Tensor& beta_in, const Tensor& mean_in,
    const Tensor& var_in, double eps, bool training) {
  check_input(x_in, 4, "bn_sigmoid_pool_forward");
  const Tensor x = x_in.contiguous();
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  TORCH_CHECK(H % 2 == 0 && W % 2 == 0,
              "bn_sigmoid_pool_forward pools 2x2 windows: height and width must be even; got ",
              H, "x", W);
  const int64_t Ho = H / 2, Wo = W / 2, HW = H * W;
  const Tensor gamma = compute_dtype_vector(gamma_in, x), beta = compute_dtype_vector(beta_in, x);
  Tensor mean, var;
  std::tie(mean, var) = batch_stats(x, mean_in, var_in, training);
  Tensor out = at::empty({N, C, Ho, Wo}, x.options());
  Tensor idx = at::empty({N, C, Ho, Wo}, x.options().dtype(at::kByte));
  Tensor xsel = at::empty({N, C, Ho, Wo}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "bn_sigmoid_pool_forward", [&] {
    using T = scalar_t;
    const Coefs<T> k = coefs<T>(gamma, beta, mean, var, eps);
    const T* xp = x.data_ptr<T>();
    T* op = out.data_ptr<T>();
    uint8_t* ip = idx.data_ptr<uint8_t>();
    T* sp = xsel.data_ptr<T>();
    const int64_t Q = Ho * Wo;
    at::parallel_for(0, N * C, 8, [&](int64_t p0, int64_t p1) {
      std::vector<T> h(HW / 2), hk(HW / 2), hx(HW / 2);  // one plane's rows of pairs, in cache
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t c = p % C;
        pool_plane(xp + p * HW, op + p * Q, ip + p * Q, sp + p * Q, Ho, Wo, k.a[c], k.b[c],
                   h.data(), hk.data(), hx.data());
      }
    });
  });
  out.sigmoid_();  // on a quarter of the values; PyTorch's vectorized kernel
  return {out, idx, xsel, mean, var};
}

// The four values of each window of output row i, lanes j .. j + n:
// x0 x1 / x2 x3, as the window positions 0 1 / 2 3.
template <typename T>
struct Window {
  Vec<T> x0, x1, x2, x3;
};

template <typename T>
Window<T> load_windows(const T* x, int64_t W, int64_t i, int64_t j, int64_t n) {
  const auto [x0, x1] = load_pairs(x + 2 * i * W + 2 * j, n);
  const auto [x2, x3] = load_pairs(x + (2 * i + 1) * W + 2 * j, n);
  return {x0, x1, x2, x3};
}

// dz = dL/dout * s * (1 - s): the gradient through the sigmoid, at the maxima
template <typename T>
Vec<T> sigmoid_grad(const T* dout, const T* s, int64_t q, int64_t n) {
  const Vec<T> sv = Vec<T>::loadu(s + q, n);
  return Vec<T>::loadu(dout + q, n) * sv * (Vec<T>(1) - sv);
}

// One plane of the backward pass: sum(dz) and sum(dz * (x - mean)) over the
// positions that held the maxima (the other three of each window get no
// gradient), from the inputs there that the forward pass kept: one loop over
// the plane's Q windows. Lanes past the end load dout = 0, so they add 0.
template <typename T>
void plane_backward_sums(const T* xsel, const T* dout, const T* s, int64_t Q, T mean,
                         double* sdz, double* sdzc) {
  constexpr int64_t L = Vec<T>::size();
  const Vec<T> mu(mean);
  Vec<T> a1(0), a2(0);
  for (int64_t q = 0; q < Q; q += L) {
    const int64_t n = std::min(L, Q - q);
    const Vec<T> dz = sigmoid_grad(dout, s, q, n);
    a1 = a1 + dz;
    a2 = at::vec::fmadd(dz, Vec<T>::loadu(xsel + q, n) - mu, a2);
  }
  T p1[L], p2[L];
  a1.store(p1);
  a2.store(p2);
  for (int64_t l = 0; l < L; ++l) {
    *sdz += p1[l];
    *sdzc += p2[l];
  }
}

// One plane of dx = A*dz + B*x + C (training) or A*dz (eval), where dz is
// nonzero only at the window's maximum.
template <typename T>
void plane_backward_dx(const T* x, const T* dout, const T* s, const uint8_t* idx, T* dx,
                       int64_t Ho, int64_t Wo, T A, T B, T Cc, bool training) {
  constexpr int64_t L = Vec<T>::size();
  const int64_t W = 2 * Wo;
  const Vec<T> a(A), b(B), c(Cc), zero(0), one(1), two(2), three(3);
  for (int64_t i = 0; i < Ho; ++i) {
    for (int64_t j = 0; j < Wo; j += L) {
      const int64_t n = std::min(L, Wo - j), q = i * Wo + j;
      const Vec<T> g = a * sigmoid_grad(dout, s, q, n);
      const Vec<T> k = load_positions<T>(idx + q, n);
      const Window<T> w = load_windows(x, W, i, j, n);
      Vec<T> d0 = Vec<T>::blendv(zero, g, k == zero), d1 = Vec<T>::blendv(zero, g, k == one);
      Vec<T> d2 = Vec<T>::blendv(zero, g, k == two), d3 = Vec<T>::blendv(zero, g, k == three);
      if (training) {  // the batch statistics carry a gradient to every position
        d0 = d0 + at::vec::fmadd(b, w.x0, c);
        d1 = d1 + at::vec::fmadd(b, w.x1, c);
        d2 = d2 + at::vec::fmadd(b, w.x2, c);
        d3 = d3 + at::vec::fmadd(b, w.x3, c);
      }
      store_pairs(dx + 2 * i * W + 2 * j, d0, d1, n);
      store_pairs(dx + (2 * i + 1) * W + 2 * j, d2, d3, n);
    }
  }
}

std::tuple<Tensor, Tensor, Tensor> bn_sigmoid_pool_backward(
    const Tensor& dout_in, const Tensor& out, const Tensor& idx, const Tensor& xsel,
    const Tensor& x,
    const Tensor& gamma_in, const Tensor& beta_in, const Tensor& mean, const Tensor& var,
    double eps, bool training) {
  check_input(x, 4, "bn_sigmoid_pool_backward");
  TORCH_CHECK(x.is_contiguous() && out.is_contiguous() && idx.is_contiguous() &&
                  xsel.is_contiguous(),
              "bn_sigmoid_pool_backward expects the tensors its forward saved");
  const Tensor dout = dout_in.to(x.scalar_type()).contiguous();
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t Ho = H / 2, Wo = W / 2, HW = H * W, M = N * HW;
  const Tensor gamma = compute_dtype_vector(gamma_in, x), beta = compute_dtype_vector(beta_in, x);
  Tensor dx = at::empty_like(x);
  Tensor dgamma = at::empty({C}, x.options()), dbeta = at::empty({C}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "bn_sigmoid_pool_backward", [&] {
    using T = scalar_t;
    const Coefs<T> k = coefs<T>(gamma, beta, mean, var, eps);
    const T* xp = x.data_ptr<T>();
    const T* dp = dout.data_ptr<T>();
    const T* sp = out.data_ptr<T>();
    const uint8_t* ip = idx.data_ptr<uint8_t>();
    const T* xs = xsel.data_ptr<T>();
    const int64_t Q = Ho * Wo;
    std::vector<double> sdz(C), sdzc(C);
    at::parallel_for(0, C, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        double a1 = 0, a2 = 0;
        for (int64_t n = 0; n < N; ++n) {
          const int64_t p = n * C + c;
          plane_backward_sums(xs + p * Q, dp + p * Q, sp + p * Q, Q, k.mean[c], &a1, &a2);
        }
        sdz[c] = a1;
        sdzc[c] = a2;
      }
    });
    std::vector<T> B(C), Cc(C);
    backward_coefs(k, sdz.data(), sdzc.data(), M, training, dgamma.data_ptr<T>(),
                   dbeta.data_ptr<T>(), B, Cc);
    T* dxp = dx.data_ptr<T>();
    at::parallel_for(0, N * C, 8, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t c = p % C;
        plane_backward_dx(xp + p * HW, dp + p * Q, sp + p * Q, ip + p * Q, dxp + p * HW, Ho, Wo,
                          k.a[c], B[c], Cc[c], training);
      }
    });
  });
  return {dx, dgamma, dbeta};
}

// ---------------------------------------------------------------------------
// (N, C): batch norm, sigmoid
// ---------------------------------------------------------------------------

template <typename T>
void rows_affine(const T* __restrict x, T* __restrict y, int64_t N, int64_t C,
                 const T* __restrict a, const T* __restrict b) {
  for (int64_t n = 0; n < N; ++n) {
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) y[n * C + c] = a[c] * x[n * C + c] + b[c];
  }
}

// sum(dz) and sum(dz * (x - mean)) per feature, dz = dout * s * (1 - s)
template <typename T>
void rows_backward_sums(const T* __restrict x, const T* __restrict dout, const T* __restrict s,
                        int64_t N, int64_t C, const T* __restrict mean, double* __restrict sdz,
                        double* __restrict sdzc) {
  for (int64_t n = 0; n < N; ++n) {
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const int64_t q = n * C + c;
      const double dz = double(dout[q]) * s[q] * (1.0 - s[q]);
      sdz[c] += dz;
      sdzc[c] += dz * (double(x[q]) - mean[c]);
    }
  }
}

template <typename T>
void rows_backward_dx(const T* __restrict x, const T* __restrict dout, const T* __restrict s,
                      T* __restrict dx, int64_t N, int64_t C, const T* __restrict a,
                      const T* __restrict B, const T* __restrict Cc, bool training) {
  for (int64_t n = 0; n < N; ++n) {
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const int64_t q = n * C + c;
      const T dz = dout[q] * s[q] * (T(1) - s[q]);
      dx[q] = training ? a[c] * dz + B[c] * x[q] + Cc[c] : a[c] * dz;
    }
  }
}

std::tuple<Tensor, Tensor, Tensor> bn_sigmoid_forward(
    const Tensor& x_in, const Tensor& gamma_in, const Tensor& beta_in, const Tensor& mean_in,
    const Tensor& var_in, double eps, bool training) {
  check_input(x_in, 2, "bn_sigmoid_forward");
  const Tensor x = x_in.contiguous();
  const int64_t N = x.size(0), C = x.size(1);
  const Tensor gamma = compute_dtype_vector(gamma_in, x), beta = compute_dtype_vector(beta_in, x);
  Tensor mean, var;
  std::tie(mean, var) = batch_stats(x, mean_in, var_in, training);
  Tensor out = at::empty_like(x);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "bn_sigmoid_forward", [&] {
    using T = scalar_t;
    const T* xp = x.data_ptr<T>();
    const Coefs<T> k = coefs<T>(gamma, beta, mean, var, eps);
    rows_affine(xp, out.data_ptr<T>(), N, C, k.a.data(), k.b.data());
  });
  out.sigmoid_();
  return {out, mean, var};
}

std::tuple<Tensor, Tensor, Tensor> bn_sigmoid_backward(
    const Tensor& dout_in, const Tensor& out, const Tensor& x, const Tensor& gamma_in,
    const Tensor& beta_in, const Tensor& mean, const Tensor& var, double eps, bool training) {
  check_input(x, 2, "bn_sigmoid_backward");
  TORCH_CHECK(x.is_contiguous() && out.is_contiguous(),
              "bn_sigmoid_backward expects the tensors its forward saved");
  const Tensor dout = dout_in.to(x.scalar_type()).contiguous();
  const int64_t N = x.size(0), C = x.size(1);
  const Tensor gamma = compute_dtype_vector(gamma_in, x), beta = compute_dtype_vector(beta_in, x);
  Tensor dx = at::empty_like(x);
  Tensor dgamma = at::empty({C}, x.options()), dbeta = at::empty({C}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "bn_sigmoid_backward", [&] {
    using T = scalar_t;
    const Coefs<T> k = coefs<T>(gamma, beta, mean, var, eps);
    const T* xp = x.data_ptr<T>();
    const T* dp = dout.data_ptr<T>();
    const T* sp = out.data_ptr<T>();
    std::vector<double> sdz(C, 0.0), sdzc(C, 0.0);
    rows_backward_sums(xp, dp, sp, N, C, k.mean.data(), sdz.data(), sdzc.data());
    std::vector<T> B(C), Cc(C);
    backward_coefs(k, sdz.data(), sdzc.data(), N, training, dgamma.data_ptr<T>(),
                   dbeta.data_ptr<T>(), B, Cc);
    rows_backward_dx(xp, dp, sp, dx.data_ptr<T>(), N, C, k.a.data(), B.data(), Cc.data(),
                     training);
  });
  return {dx, dgamma, dbeta};
}

// ---------------------------------------------------------------------------
// Batch norm alone, (N, C, H, W) or (N, C): y = a*x + b
// ---------------------------------------------------------------------------
//
// The same sums and coefficients as above, without a layer after it. The
// forward reads x twice (the sums, then y) and writes y; the backward reads
// dy and x twice (the sums, then dx) and writes dx. That is the memory
// traffic of PyTorch's own CPU kernel, less one read of x in the forward:
// its statistics take two passes (the mean, then the sum of squared
// deviations), one scalar value at a time.

// One plane (or one run of M contiguous values) of y = A*x + B.
template <typename T>
void affine_plane(const T* __restrict x, T* __restrict y, int64_t M, T A, T B) {
#pragma omp simd
  for (int64_t i = 0; i < M; ++i) y[i] = A * x[i] + B;
}

// sum(dy) and sum(dy * (x - mean)) over one plane, accumulated in T across
// the plane's values and in double across planes.
template <typename T>
void plane_dy_sums(const T* __restrict x, const T* __restrict dy, int64_t M, T mean,
                   double* sdy, double* sdyc) {
  T p1 = 0, p2 = 0;
#pragma omp simd reduction(+ : p1, p2)
  for (int64_t i = 0; i < M; ++i) {
    p1 += dy[i];
    p2 += dy[i] * (x[i] - mean);
  }
  *sdy += p1;
  *sdyc += p2;
}

// dx = A*dy + B*x + C over one plane (training), dx = A*dy (eval: x plays no
// part, so that an infinite x does not turn the gradient into 0 * inf = NaN)
template <typename T>
void plane_dx(const T* __restrict x, const T* __restrict dy, T* __restrict dx, int64_t M, T A,
              T B, T Cc, bool training) {
  if (training) {
#pragma omp simd
    for (int64_t i = 0; i < M; ++i) dx[i] = A * dy[i] + B * x[i] + Cc;
  } else {
#pragma omp simd
    for (int64_t i = 0; i < M; ++i) dx[i] = A * dy[i];
  }
}

// (N, C) rows: sum(dy) and sum(dy * (x - mean)) per feature
template <typename T>
void rows_dy_sums(const T* __restrict x, const T* __restrict dy, int64_t N, int64_t C,
                  const T* __restrict mean, double* __restrict sdy, double* __restrict sdyc) {
  for (int64_t n = 0; n < N; ++n) {
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const int64_t q = n * C + c;
      sdy[c] += dy[q];
      sdyc[c] += double(dy[q]) * (double(x[q]) - mean[c]);
    }
  }
}

template <typename T>
void rows_dx(const T* __restrict x, const T* __restrict dy, T* __restrict dx, int64_t N,
             int64_t C, const T* __restrict a, const T* __restrict B, const T* __restrict Cc,
             bool training) {
  for (int64_t n = 0; n < N; ++n) {
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const int64_t q = n * C + c;
      dx[q] = training ? a[c] * dy[q] + B[c] * x[q] + Cc[c] : a[c] * dy[q];
    }
  }
}

void check_bn_input(const Tensor& x, const char* op) {
  TORCH_CHECK(x.dim() == 2 || x.dim() == 4, op,
              " expects a 2-D (N, C) or 4-D (N, C, H, W) input; got ", x.dim(), "-D");
  check_input(x, x.dim(), op);
}

std::tuple<Tensor, Tensor, Tensor> bn_forward(const Tensor& x_in, const Tensor& gamma_in,
                                              const Tensor& beta_in, const Tensor& mean_in,
                                              const Tensor& var_in, double eps, bool training) {
  check_bn_input(x_in, "bn_forward");
  const Tensor x = x_in.contiguous();
  const int64_t N = x.size(0), C = x.size(1), HW = x.dim() == 4 ? x.size(2) * x.size(3) : 1;
  const Tensor gamma = compute_dtype_vector(gamma_in, x), beta = compute_dtype_vector(beta_in, x);
  Tensor mean, var;
  std::tie(mean, var) = batch_stats(x, mean_in, var_in, training);
  Tensor y = at::empty_like(x);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "bn_forward", [&] {
    using T = scalar_t;
    const T* xp = x.data_ptr<T>();
    const Coefs<T> k = coefs<T>(gamma, beta, mean, var, eps);
    T* yp = y.data_ptr<T>();
    if (x.dim() == 4) {
      at::parallel_for(0, N * C, 8, [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p)
          affine_plane(xp + p * HW, yp + p * HW, HW, k.a[p % C], k.b[p % C]);
      });
    } else {
      rows_affine(xp, yp, N, C, k.a.data(), k.b.data());
    }
  });
  return {y, mean, var};
}

std::tuple<Tensor, Tensor, Tensor> bn_backward(const Tensor& dy_in, const Tensor& x,
                                               const Tensor& gamma_in, const Tensor& beta_in,
                                               const Tensor& mean, const Tensor& var, double eps,
                                               bool training) {
  check_bn_input(x, "bn_backward");
  TORCH_CHECK(x.is_contiguous(), "bn_backward expects the tensors its forward saved");
  const Tensor dy = dy_in.to(x.scalar_type()).contiguous();
  const int64_t N = x.size(0), C = x.size(1), HW = x.dim() == 4 ? x.size(2) * x.size(3) : 1;
  const int64_t M = N * HW;
  const Tensor gamma = compute_dtype_vector(gamma_in, x), beta = compute_dtype_vector(beta_in, x);
  Tensor dx = at::empty_like(x);
  Tensor dgamma = at::empty({C}, x.options()), dbeta = at::empty({C}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "bn_backward", [&] {
    using T = scalar_t;
    const Coefs<T> k = coefs<T>(gamma, beta, mean, var, eps);
    const T* xp = x.data_ptr<T>();
    const T* dp = dy.data_ptr<T>();
    T* dxp = dx.data_ptr<T>();
    std::vector<double> sdy(C, 0.0), sdyc(C, 0.0);
    if (x.dim() == 4) {
      at::parallel_for(0, C, 1, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c)
          for (int64_t n = 0; n < N; ++n) {
            const int64_t p = n * C + c;
            plane_dy_sums(xp + p * HW, dp + p * HW, HW, k.mean[c], &sdy[c], &sdyc[c]);
          }
      });
    } else {
      rows_dy_sums(xp, dp, N, C, k.mean.data(), sdy.data(), sdyc.data());
    }
    std::vector<T> B(C), Cc(C);
    backward_coefs(k, sdy.data(), sdyc.data(), M, training, dgamma.data_ptr<T>(),
                   dbeta.data_ptr<T>(), B, Cc);
    if (x.dim() == 4) {
      at::parallel_for(0, N * C, 8, [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
          const int64_t c = p % C;
          plane_dx(xp + p * HW, dp + p * HW, dxp + p * HW, HW, k.a[c], B[c], Cc[c], training);
        }
      });
    } else {
      rows_dx(xp, dp, dxp, N, C, k.a.data(), B.data(), Cc.data(), training);
    }
  });
  return {dx, dgamma, dbeta};
}

}  // namespace
}  // namespace bnref

// The schemas, then the kernels for CPU tensors: registered under the CPU dispatch key
// (not as catch-all kernels), the operators are seen as such by PyTorch's dispatcher, its
// Python modes included, and a tensor on another device gets the dispatcher's own error.
TORCH_LIBRARY(bnref_fused, m) {
  m.def(
      "bn_sigmoid_pool_forward(Tensor x, Tensor gamma, Tensor beta, Tensor mean, Tensor var, "
      "float eps, bool training) -> (Tensor out, Tensor idx, Tensor xsel, Tensor mean, Tensor var)");
  m.def(
      "bn_sigmoid_pool_backward(Tensor dout, Tensor out, Tensor idx, Tensor xsel, Tensor x, "
      "Tensor gamma, Tensor beta, Tensor mean, Tensor var, float eps, bool training) -> "
      "(Tensor dx, Tensor dgamma, Tensor dbeta)");
  m.def(
      "bn_sigmoid_forward(Tensor x, Tensor gamma, Tensor beta, Tensor mean, Tensor var, "
      "float eps, bool training) -> (Tensor out, Tensor mean, Tensor var)");
  m.def(
      "bn_sigmoid_backward(Tensor dout, Tensor out, Tensor x, Tensor gamma, Tensor beta, "
      "Tensor mean, Tensor var, float eps, bool training) -> "
      "(Tensor dx, Tensor dgamma, Tensor dbeta)");
  m.def(
      "bn_forward(Tensor x, Tensor gamma, Tensor beta, Tensor mean, Tensor var, float eps, "
      "bool training) -> (Tensor y, Tensor mean, Tensor var)");
  m.def(
      "bn_backward(Tensor dy, Tensor x, Tensor gamma, Tensor beta, Tensor mean, Tensor var, "
      "float eps, bool training) -> (Tensor dx, Tensor dgamma, Tensor dbeta)");
}

TORCH_LIBRARY_IMPL(bnref_fused, CPU, m) {
  m.impl("bn_sigmoid_pool_forward", &bnref::bn_sigmoid_pool_forward);
  m.impl("bn_sigmoid_pool_backward", &bnref::bn_sigmoid_pool_backward);
  m.impl("bn_sigmoid_forward", &bnref::bn_sigmoid_forward);
  m.impl("bn_sigmoid_backward", &bnref::bn_sigmoid_backward);
  m.impl("bn_forward", &bnref::bn_forward);
  m.impl("bn_backward", &bnref::bn_backward);
}
