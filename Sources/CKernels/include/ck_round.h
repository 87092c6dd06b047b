// The one definition of every rounding rule in swift-qat.
// Fake-quant kernels (float), the QAT code (through Swift) and the integer simulator (int64 shifts)
// all call these functions, so a value rounds the same way wherever it is computed.
#ifndef CK_ROUND_H
#define CK_ROUND_H
#include <stdint.h>

typedef enum {
  CK_ROUND_HALF_EVEN = 0,    // ties to even ("std_round" in vai_q for weights, bias, input)
  CK_ROUND_HALF_UP = 1,      // ties toward +infinity (DPU activations: floor(x + 0.5))
  CK_ROUND_HALF_AWAY = 2,    // ties away from zero (C roundf, Swift's bare rounded())
  CK_ROUND_FLOOR = 3,        // toward -infinity
  CK_ROUND_CEIL = 4,         // toward +infinity
  CK_ROUND_TOWARD_ZERO = 5,  // truncation
} ck_rounding;

// Float rounding. Exact for every finite input. Half-up compares the exact fraction x - floor(x)
// with 0.5 (never computes x + 0.5, which can round up a value just below a tie).
static inline float ck_round_f32(float x, ck_rounding rule) {
  switch (rule) {
  case CK_ROUND_HALF_EVEN: return __builtin_rintf(x);
  case CK_ROUND_HALF_UP: { float f = __builtin_floorf(x); return (x - f >= 0.5f) ? f + 1.0f : f; }
  case CK_ROUND_HALF_AWAY: return __builtin_roundf(x);
  case CK_ROUND_FLOOR: return __builtin_floorf(x);
  case CK_ROUND_CEIL: return __builtin_ceilf(x);
  case CK_ROUND_TOWARD_ZERO: return __builtin_truncf(x);
  }
  return x;
}

static inline double ck_round_f64(double x, ck_rounding rule) {
  switch (rule) {
  case CK_ROUND_HALF_EVEN: return __builtin_rint(x);
  case CK_ROUND_HALF_UP: { double f = __builtin_floor(x); return (x - f >= 0.5) ? f + 1.0 : f; }
  case CK_ROUND_HALF_AWAY: return __builtin_round(x);
  case CK_ROUND_FLOOR: return __builtin_floor(x);
  case CK_ROUND_CEIL: return __builtin_ceil(x);
  case CK_ROUND_TOWARD_ZERO: return __builtin_trunc(x);
  }
  return x;
}

// Integer rounding division by 2^shift (shift >= 0): the value v * 2^-shift rounded with `rule`.
// The integer simulator requantizes with this; it equals ck_round_f64(v * 2^-shift) whenever v fits
// in 53 bits (tested exhaustively on small ranges and randomly on large ones).
static inline int64_t ck_shift_round_i64(int64_t v, int shift, ck_rounding rule) {
  if (shift <= 0) return v * ((int64_t)1 << -shift);
  if (shift > 62) shift = 62;
  int64_t q = v >> shift;                      // floor
  int64_t r = v - (q * ((int64_t)1 << shift)); // remainder in [0, 2^shift)
  int64_t half = (int64_t)1 << (shift - 1);
  switch (rule) {
  case CK_ROUND_HALF_EVEN: return (r > half || (r == half && (q & 1))) ? q + 1 : q;
  case CK_ROUND_HALF_UP: return (r >= half) ? q + 1 : q;
  case CK_ROUND_HALF_AWAY: return (r > half || (r == half && v > 0)) ? q + 1 : q;
  case CK_ROUND_FLOOR: return q;
  case CK_ROUND_CEIL: return r != 0 ? q + 1 : q;
  case CK_ROUND_TOWARD_ZERO: return (r != 0 && v < 0) ? q + 1 : q;
  }
  return q;
}

static inline int64_t ck_saturate_i64(int64_t v, int64_t lo, int64_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

#endif
