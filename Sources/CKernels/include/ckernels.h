// Hot loops of swift-qat: plain C over raw buffers, compiled for several CPU levels at once
// (target_clones, chosen at run time), so the package needs no unsafe compiler flags.
// Every kernel splits its work into chunks of a fixed size, independent of the thread count, and
// combines partial results in a fixed order: results do not depend on the number of threads.
#ifndef CKERNELS_H
#define CKERNELS_H
#include <stddef.h>
#include <stdint.h>
#include "ck_round.h"

// ---- threads (GNU OpenMP runtime, shared with oneDNN so both use one pool) ----
typedef void (*ck_range_fn)(void *ctx, int64_t begin, int64_t end);
/// Calls fn(ctx, b, e) for consecutive chunks [b, e) of [0, n) with e - b <= grain, in parallel.
void ck_parallel_for(int64_t n, int64_t grain, ck_range_fn fn, void *ctx);
void ck_set_num_threads(int n);
int ck_get_num_threads(void);

// ---- elementwise ----
typedef enum {
  CK_ADD = 0, CK_SUB, CK_MUL, CK_DIV, CK_MAX, CK_MIN,
  CK_EQ, CK_NE, CK_LT, CK_LE, CK_GT, CK_GE, CK_POW
} ck_binary_op;

/// out (contiguous, `shape`) = a op b, where a and b are read through element strides
/// (stride 0 = broadcast). Comparisons give 1 or 0.
void ck_binary(ck_binary_op op, int ndim, const int64_t *shape, float *out,
               const float *a, const int64_t *astrides, const float *b, const int64_t *bstrides);

/// out = cond != 0 ? a : b with broadcasting strides as in ck_binary.
void ck_select(int ndim, const int64_t *shape, float *out, const float *cond, const int64_t *cstrides,
               const float *a, const int64_t *astrides, const float *b, const int64_t *bstrides);

typedef enum {
  CK_NEG = 0, CK_ABS, CK_EXP, CK_LOG, CK_SQRT, CK_TANH, CK_SIGMOID, CK_RELU, CK_SQUARE,
  CK_RECIPROCAL, CK_RSQRT, CK_SIGN, CK_STEP /* x > 0 ? 1 : 0 */
} ck_unary_op;

void ck_unary(ck_unary_op op, const float *x, float *y, int64_t n);
/// y = relu(a + b), same-length contiguous operands (the sum rounded first, as add then ReLU)
void ck_add_relu(const float *a, const float *b, float *y, int64_t n);
void ck_round(const float *x, float *y, int64_t n, ck_rounding rule);
void ck_clamp(const float *x, float *y, int64_t n, float lo, float hi);
/// y = x * a + b (two roundings, never fused)
void ck_scale_shift(const float *x, float *y, int64_t n, float a, float b);
/// y = a * x + y
void ck_axpy(float a, const float *x, float *y, int64_t n);
void ck_fill(float *y, int64_t n, float v);
/// 1 where lo <= x <= hi, else 0
void ck_in_range_mask(const float *x, float *y, int64_t n, float lo, float hi);

// ---- strided copies (permute, slice, expand, pad, concat) ----
/// y[contiguous over shape] = x[sum(i_k * xstrides[k])]
void ck_gather(float *y, const float *x, int ndim, const int64_t *shape, const int64_t *xstrides);
/// y[sum(i_k * ystrides[k])] = x[contiguous over shape]  (accumulate != 0: +=)
void ck_scatter(float *y, const int64_t *ystrides, const float *x, int ndim, const int64_t *shape, int accumulate);
/// The same for int16 codes (the simulator's slice and pad), from / to x or y + offset.
void cks_gather_i16(int16_t *y, const int16_t *x, int ndim, const int64_t *shape, const int64_t *xstrides, int64_t offset);
void cks_scatter_i16(int16_t *y, const int64_t *ystrides, int64_t offset, const int16_t *x, int ndim, const int64_t *shape);

// ---- reductions: x viewed as [outer, r, inner] -> out [outer, inner] ----
typedef enum { CK_SUM = 0, CK_MAXR, CK_MINR } ck_reduce_op;
void ck_reduce(ck_reduce_op op, const float *x, float *out, int64_t outer, int64_t r, int64_t inner);
void ck_argmax(const float *x, int64_t *out, int64_t outer, int64_t r, int64_t inner, int take_min);

// ---- softmax over the last axis of [rows, cols] ----
void ck_softmax(const float *x, float *y, int64_t rows, int64_t cols, int log_softmax);

// ---- per-channel kernels over x [N, C, HW]: plain NCHW (block 1) or nChw{block}c ----
/// mean and biased variance per channel (double accumulation, fixed order)
void ck_channel_stats(const float *x, int64_t N, int64_t C, int64_t HW, int64_t block, float *mean, float *var);
/// y = x * scale[c] + shift[c]; relu != 0 clamps at 0 afterwards
void ck_channel_affine(const float *x, float *y, int64_t N, int64_t C, int64_t HW, int64_t block,
                       const float *scale, const float *shift, int relu);
/// per channel: sum_g = sum(g), sum_gx = sum(g * (x - mean[c])). With mask_scale and mask_shift
/// (else NULL), g counts only where x * mask_scale[c] + mask_shift[c] > 0 (a fused ReLU's backward).
void ck_channel_grad_sums(const float *g, const float *x, int64_t N, int64_t C, int64_t HW, int64_t block,
                          const float *mean, const float *mask_scale, const float *mask_shift,
                          double *sum_g, double *sum_gx);
/// per channel: dx = a[c] * g + b[c] * (x - mean[c]) + d[c], g masked as in ck_channel_grad_sums
void ck_channel_grad_input(const float *g, const float *x, float *dx, int64_t N, int64_t C, int64_t HW, int64_t block,
                           const float *mean, const float *a, const float *b, const float *d,
                           const float *mask_scale, const float *mask_shift);
/// per channel sums of x over N and HW (double accumulation)
void ck_channel_sums(const float *x, int64_t N, int64_t C, int64_t HW, int64_t block, double *sums);
/// NCHW <-> nChw{block}c (to_blocked != 0: plain x to blocked y)
void ck_convert_layout(const float *x, float *y, int64_t N, int64_t C, int64_t HW, int64_t block, int to_blocked);

// ---- pooling over x [NC, H, W] ----
void ck_maxpool2d(const float *x, float *y, int32_t *argmax, int64_t nc, int h, int w,
                  int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw, int oh, int ow);
void ck_maxpool2d_backward(const float *gy, const int32_t *argmax, float *gx, int64_t nc,
                           int64_t in_plane, int64_t out_plane);
/// Average pooling. divisor > 0 overrides the element count; count_pad counts padded cells.
void ck_avgpool2d(const float *x, float *y, int64_t nc, int h, int w, int kh, int kw, int sh, int sw,
                  int ph, int pw, int oh, int ow, int count_pad, float divisor);
void ck_avgpool2d_backward(const float *gy, float *gx, int64_t nc, int h, int w, int kh, int kw,
                           int sh, int sw, int ph, int pw, int oh, int ow, int count_pad, float divisor);

// ---- fake quantization: q = clamp(round(x * inv_scale) + zero, qmin, qmax); y = (q - zero) * scale ----
void ck_fake_quant(const float *x, float *y, int64_t n, float inv_scale, float scale, float zero,
                   float qmin, float qmax, ck_rounding rule);
/// per-channel over x [outer, C, inner] with per-channel inv_scale / scale / zero
void ck_fake_quant_channels(const float *x, float *y, int64_t outer, int64_t c, int64_t inner,
                            const float *inv_scale, const float *scale, const float *zero,
                            float qmin, float qmax, ck_rounding rule);
/// straight-through gradient: gx = g where qmin <= round(x * inv_scale) + zero <= qmax, else 0
void ck_fake_quant_grad(const float *g, const float *x, float *gx, int64_t n, float inv_scale,
                        float zero, float qmin, float qmax, ck_rounding rule);
void ck_fake_quant_channels_grad(const float *g, const float *x, float *gx, int64_t outer, int64_t c,
                                 int64_t inner, const float *inv_scale, const float *zero,
                                 float qmin, float qmax, ck_rounding rule);

/// Learned-range (LSQ / TQT) backward: gx = g inside [qmin, qmax] of v = x·inv_scale, else 0;
/// returns Σ g·r with r = round(v) − v inside, qmin below, qmax above.
double ck_learned_range_grad(const float *g, const float *x, float *gx, int64_t n, float inv_scale, float qmin, float qmax,
                             ck_rounding rule);

// ---- calibration statistics (chunked, combined in order: thread-count independent) ----
/// Minimum and maximum (NaN if any element is NaN).
void ck_min_max(const float *x, int64_t n, float *min_out, float *max_out);
/// For each of `grids` scales: sum over elements of (x − fakequant(x))², into errors[grids].
void ck_quant_sq_errors(const float *x, int64_t n, int grids, const float *inv_scales, const float *scales, float zero,
                        float qmin, float qmax, ck_rounding rule, double *errors);
/// Adds the histogram of x (or |x| when absolute) over [lo, hi) with `bins` bins to counts;
/// out-of-range values land in the edge bins, NaNs are ignored.
void ck_histogram(const float *x, int64_t n, float lo, float hi, int bins, int absolute, double *counts);

// ---- integer convolution for the simulator (exact) ----
/// Weights w [O, Cg, KH, KW] packed for cks_conv2d_i32; `packed` holds
/// cks_packed_weights_count(o, groups, cg, kh, kw) int32 values.
void cks_pack_weights(const int16_t *w, int o, int groups, int cg, int kh, int kw, int32_t *packed);
size_t cks_packed_weights_count(int o, int groups, int cg, int kh, int kw);
/// Requantization fused into cks_conv2d_i32: code = saturate(shift_round(relu?(acc + bias[o]), shift))
/// with shift in [1, 30] and |bias| <= 2^30 (so every biased sum fits int32).
typedef struct {
  const int32_t *bias;  // per output channel, or NULL
  int relu, shift, rule, qmin, qmax;
} cks_conv_requant;
/// conv(x [N, C, H, W], w) summed exactly in int32. Exact when |x|, |w| <= 128 (int8 values) and
/// K·128·128 < 2^30; use cks_conv2d_i64 otherwise. With `rq`, writes int16 codes [N, O, OH, OW] to
/// `out`; without, the sums to `acc`.
void cks_conv2d_i32(const int16_t *x, const int32_t *packed_w, int32_t *acc, const cks_conv_requant *rq, int16_t *out,
                    int64_t n, int c, int h, int w, int o, int kh, int kw, int sh, int sw, int pt, int pl, int dh, int dw,
                    int groups, int oh, int ow);
/// The byte form: weights packed four channels per int32 (cks_pack_weights_u8s8, count from
/// cks_packed_weights_count_u8s8) and inputs as bytes, multiplied with vpmaddubsw. Exact only when
/// every input code is in [0, 127] and every weight in [−128, 127] (check with cks_codes_within);
/// results are then identical to cks_conv2d_i32's.
void cks_pack_weights_u8s8(const int16_t *w, int o, int groups, int cg, int kh, int kw, int32_t *packed);
size_t cks_packed_weights_count_u8s8(int o, int groups, int cg, int kh, int kw);
void cks_conv2d_u8s8(const int16_t *x, const int32_t *packed_w, int32_t *acc, const cks_conv_requant *rq, int16_t *out,
                     int64_t n, int c, int h, int w, int o, int kh, int kw, int sh, int sw, int pt, int pl, int dh, int dw,
                     int groups, int oh, int ow);
/// 1 when every one of the n codes is within [lo, hi].
int cks_codes_within(const int16_t *x, int64_t n, int lo, int hi);
/// Testing: run cks_conv2d_i32 with the portable (scalar) tiles even on AVX2 machines (results are
/// identical by construction; the switch exists so tests can check that).
void cks_use_portable_conv(int on);
/// The same with int64 accumulation, any int16 operands.
void cks_conv2d_i64(const int16_t *x, const int16_t *w, int64_t *acc, int64_t n, int c, int h, int wd,
                    int o, int kh, int kw, int sh, int sw, int pt, int pl, int dh, int dw, int groups, int oh, int ow);

// ---- requantization (simulator and exact fake-quant) ----
typedef enum { CK_ACT_NONE = 0, CK_ACT_RELU = 1, CK_ACT_RELU6 = 2, CK_ACT_LEAKY_DPU = 3 } ck_activation;
/// out[n, c, p] = saturate(shift_round(act((acc << left) + bias[c]), shift)). relu6 and the DPU leaky
/// ReLU (slope 26/256) work at 8 more fractional bits (values × 256); relu6_limit = 6 at that fraction.
/// Exactly one of acc32 / acc64 is non-null; bias may be null.
void cks_requantize(const int32_t *acc32, const int64_t *acc64, int64_t n, int64_t c, int64_t p, int left_shift,
                    const int64_t *bias, ck_activation act, int64_t relu6_limit, int shift, ck_rounding rule,
                    int qmin, int qmax, int16_t *out);
/// out[n, c, p] = saturate(act(round((acc + bias[c]) · mult[c] / 2^shift[c]))), the product exact
/// in 128 bits; ReLU / ReLU6 clamp the rounded code to [0, relu6_code]; the DPU leaky ReLU scales
/// by 26 / 256 and shifts 8 more. Exactly one of acc32 / acc64 is non-null; bias may be null.
void cks_requantize_mul(const int32_t *acc32, const int64_t *acc64, int64_t n, int64_t c, int64_t p,
                        const int64_t *bias, const int64_t *mult, const int32_t *shift, ck_activation act,
                        int64_t relu6_code, ck_rounding rule, int qmin, int qmax, int16_t *out);
/// cks_requantize_mul on sums given as floats (exact integers below 2^24 in magnitude: a float
/// op on integer codes), writing the dequantized values code · cell.
void cks_requantize_mul_f32(const float *sums, int64_t n, int64_t c, int64_t p, const int64_t *bias, const int64_t *mult,
                            const int32_t *shift, ck_activation act, int64_t relu6_code, ck_rounding rule, int qmin, int qmax,
                            float cell, float *out);
/// y = saturate(shift_round(act(x), shift)) elementwise.
void cks_rescale(const int16_t *x, int16_t *y, int64_t n, int shift, ck_rounding rule, int qmin, int qmax,
                 ck_activation act, int64_t relu6_limit);
/// y = saturate(shift_round(act((a << la) ± (b << lb)), shift)) elementwise (− when subtract).
void cks_add(const int16_t *a, int la, const int16_t *b, int lb, int subtract, int16_t *y, int64_t n, int shift,
             ck_rounding rule, int qmin, int qmax, ck_activation act, int64_t relu6_limit);
/// y = saturate(shift_round(a · b, shift)) elementwise (shift = fa + fb − fo, DPU shift_write).
void cks_mul_i16(const int16_t *a, const int16_t *b, int16_t *y, int64_t n, int shift, ck_rounding rule, int qmin, int qmax);
/// The DPU's hard sigmoid: y = saturate(shift_round(clamp(x + 3·2^fi, 0, 6·2^fi) · 2731, 14 + fi − fo)).
void cks_hsigmoid_i16(const int16_t *x, int16_t *y, int64_t n, int fi, int fo, ck_rounding rule, int qmin, int qmax);
/// The DPU's hard swish: h = clamp(shift_round_half_up(clamp(x + 3·2^fi, 0, 6·2^fi) · 2731, 7 + fi), −128, 127)
/// (hard sigmoid at fix position 7), y = saturate(shift_round(x · h, fi + 7 − fo)).
void cks_hswish_i16(const int16_t *x, int16_t *y, int64_t n, int fi, int fo, ck_rounding rule, int qmin, int qmax);
/// Table lookup: x [outer, channels, inner] codes in [lo, lo + entries); y = table[c · entries + x − lo]
/// (table_channels 1: one table for all channels).
void cks_lookup_i16(const int16_t *x, int16_t *y, int64_t outer, int64_t channels, int64_t inner, const int16_t *table,
                    int64_t table_channels, int lo, int64_t entries);
/// y = saturate(round(x · scale)) with scale = 2^f (the fake-quant formula), into int16.
void cks_quantize(const float *x, int16_t *y, int64_t n, float scale, ck_rounding rule, int qmin, int qmax);

/// Integer max pooling over planes [NC, H, W] (padding never wins).
void cks_maxpool_i16(const int16_t *x, int16_t *y, int64_t nc, int h, int w, int kh, int kw, int sh, int sw,
                     int ph, int pw, int dh, int dw, int oh, int ow);
/// Window sums over planes (padding counts as zero), int64.
void cks_sumpool_i16(const int16_t *x, int64_t *y, int64_t nc, int h, int w, int kh, int kw, int sh, int sw,
                     int ph, int pw, int oh, int ow);
// ---- optimizers (PyTorch update rules) ----
/// SGD with momentum / dampening / Nesterov / L2 weight decay. first != 0 initialises buf = d.
void ck_sgd_update(float *p, const float *g, float *buf, int64_t n, float lr, float momentum, float dampening,
                   float weight_decay, int nesterov, int first);
/// Adam (decoupled != 0: AdamW). step counts from 1.
void ck_adam_update(float *p, const float *g, float *m, float *v, int64_t n, float lr, float beta1, float beta2,
                    float eps, float weight_decay, int decoupled, int64_t step);

// ---- convolution input gradient, few input channels (stride 1, dilation 1, one group) ----
/// dx [n, c, h, wd] from dy [n, o, oh, ow] (row-major, or nChw{dy_block}c when dy_block > 1) and
/// w [o, c, kh, kw]; pt, pl = top and left padding (0 to kh-1, kw-1). Returns 0, or -1 when
/// scratch memory could not be allocated.
int ck_conv_bwd_data_direct(const float *dy, int dy_block, const float *w, float *dx, int64_t n, int c, int h, int wd,
                            int o, int oh, int ow, int kh, int kw, int pt, int pl);

// ---- convolution weight gradient, 3-wide kernels, output channels a multiple of 8 (AVX2 + FMA) ----
/// 1 when the machine has AVX2 and FMA (ck_conv_bwd_weight_k3 needs both).
int ck_conv_bwd_weight_k3_available(void);
/// dw [o, c, kh, 3] from x [n, c, h, w] (row-major, or nChw{x_block}c) and dy in nChw8c
/// [n, o/8, oh, ow, 8]; stride (sh, sw), top/left padding (pt, pl), no dilation, one group.
/// Returns 0, or -1 when scratch memory could not be allocated (dw untouched).
int ck_conv_bwd_weight_k3(const float *x, int x_block, const float *dy, float *dw, int64_t n, int c, int h, int w,
                          int o, int oh, int ow, int kh, int sh, int sw, int pt, int pl);

/// Swaps two paths atomically (Linux renameat2 with RENAME_EXCHANGE): both must exist. Returns 0,
/// or -1 with errno set (ENOSYS / EINVAL where the kernel or the file system lacks it).
int ck_rename_exchange(const char *a, const char *b);

#endif
