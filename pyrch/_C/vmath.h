/* Branch-free float32 math that the compiler can vectorise.
 *
 * Scalar libm calls (expf, logf, ...) stop gcc from vectorising a loop unless
 * -ffast-math is on, and -ffast-math would break isnan/isinf ops. These
 * versions use only arithmetic, bit casts and selects, so `#pragma omp simd`
 * loops over them become AVX2/AVX-512 code. Accuracy: a few ulp for exp/log,
 * about 1.5e-7 absolute for erf; NaN and +-inf behave as in libm. */
#ifndef PYRCH_VMATH_H
#define PYRCH_VMATH_H
#include <stdint.h>
#include <string.h>
#include <math.h>

/* Polynomials use fused multiply-adds: one rounding instead of two, and half
 * the instructions. The AVX-512 and Haswell clones have them in hardware; the
 * baseline clone gets libm's fmaf (slow but the same result). float64 code
 * never uses this: float64 ops must round exactly as numpy's do. */
#define PV_FMA(a, b, c) __builtin_fmaf((a), (b), (c))

static inline float pv_bits2f(int32_t i) { float f; memcpy(&f, &i, 4); return f; }
static inline int32_t pv_f2bits(float f) { int32_t i; memcpy(&i, &f, 4); return i; }

static inline float pyrch_expf(float x)
{
    const float hi = 88.72283935546875f, lo = -87.3365447505531f;   /* ln(FLT_MAX), ln(FLT_MIN) */
    /* below lo the answer is 0 (selected at the end); compute on a harmless 0
     * there, since clamping to lo would build a subnormal and every subnormal
     * multiply costs ~100 cycles (a -inf attention mask made softmax 3x slower) */
    float xc = x > hi ? hi : (x < lo ? 0.0f : x);
    float n = nearbyintf(xc * 1.44269504088896341f);
    float r = PV_FMA(n, 2.12194440e-4f, PV_FMA(n, -0.693359375f, xc));   /* ln2 split in two */
    float p = 1.0f / 5040.0f;            /* Taylor to r^7: |r| <= ln2/2 leaves < 1 ulp */
    p = PV_FMA(p, r, 1.0f / 720.0f);
    p = PV_FMA(p, r, 1.0f / 120.0f);
    p = PV_FMA(p, r, 1.0f / 24.0f);
    p = PV_FMA(p, r, 1.0f / 6.0f);
    p = PV_FMA(p, r, 0.5f);
    p = PV_FMA(p, r, 1.0f);
    p = PV_FMA(p, r, 1.0f);
    /* 2^n as two normal factors: n reaches 128 just below ln(FLT_MAX) */
    int32_t n1 = (int32_t)n >> 1, n2 = (int32_t)n - n1;
    float y = (p * pv_bits2f((n1 + 127) << 23)) * pv_bits2f((n2 + 127) << 23);
    y = x > hi ? INFINITY : y;
    y = x < lo ? 0.0f : y;
    return x != x ? x : y;
}

static inline float pyrch_logf(float x)
{
    /* subnormals: scale into the normal range first (a libm call here would
     * stop the loop from vectorising) */
    int sub = x > 0.0f && x < 1.17549435e-38f;
    float xs = sub ? x * 8388608.0f : x;             /* 2^23 */
    int32_t bits = pv_f2bits(xs);
    int32_t e = ((bits >> 23) & 0xff) - 127 - (sub ? 23 : 0);
    float m = pv_bits2f((bits & 0x007fffff) | 0x3f800000);   /* m in [1, 2) */
    int big = m > 1.41421356f;
    m = big ? m * 0.5f : m;
    e = big ? e + 1 : e;
    float f = m - 1.0f;
    float s = f / (2.0f + f);
    float s2 = s * s;
    float p = 2.0f / 11.0f;
    p = PV_FMA(p, s2, 2.0f / 9.0f);
    p = PV_FMA(p, s2, 2.0f / 7.0f);
    p = PV_FMA(p, s2, 2.0f / 5.0f);
    p = PV_FMA(p, s2, 2.0f / 3.0f);
    p = PV_FMA(p, s2, 2.0f);
    float y = PV_FMA((float)e, 0.693147180559945f, s * p);
    /* specials through the selects */
    y = x == 0.0f ? -INFINITY : y;
    y = x < 0.0f ? NAN : y;
    y = x == INFINITY ? INFINITY : y;
    return x != x ? x : y;
}

static inline float pyrch_tanhf(float x)
{
    float ax = fabsf(x);
    float e = pyrch_expf(2.0f * ax);
    float t = 1.0f - 2.0f / (e + 1.0f);
    float x2 = x * x;
    float small = x * (1.0f + x2 * (-1.0f / 3.0f + x2 * (2.0f / 15.0f + x2 * (-17.0f / 315.0f))));
    float y = ax < 0.1f ? small : copysignf(t, x);
    return x != x ? x : y;
}

static inline float pyrch_erff(float x)
{
    /* Abramowitz & Stegun 7.1.26, |error| < 1.5e-7 */
    float ax = fabsf(x);
    float t = 1.0f / (1.0f + 0.3275911f * ax);
    float p = 1.061405429f;
    p = PV_FMA(p, t, -1.453152027f);
    p = PV_FMA(p, t, 1.421413741f);
    p = PV_FMA(p, t, -0.284496736f);
    p = PV_FMA(p, t, 0.254829592f);
    float y = PV_FMA(-p * t, pyrch_expf(-ax * ax), 1.0f);
    float x2 = x * x;
    /* near 0 the series keeps relative accuracy */
    float small = x * (1.12837916709551f + x2 * (-0.376126389031838f + x2 * 0.112837916709551f));
    y = ax < 0.01f ? small : copysignf(y, x);
    return x != x ? x : y;
}

static inline float pyrch_erfcf(float x) { return 1.0f - pyrch_erff(x); }
static inline float pyrch_sigmoidf(float x) { return 1.0f / (1.0f + pyrch_expf(-x)); }

#endif
