/* Branch-free float32 math that the compiler can vectorise.
 *
 * Scalar libm calls (expf, logf, ...) stop gcc from vectorising a loop unless
 * -ffast-math is on, and -ffast-math would break isnan/isinf ops. These
 * versions use only arithmetic, bit casts and selects, so `#pragma omp simd`
 * loops over them become AVX2/AVX-512 code. Accuracy: a few ulp for exp/log,
 * under 1.5 ulp for tanh and erf; NaN and +-inf behave as in libm. erfinv,
 * which libm lacks, is here in float64 too. */
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
    /* hi: the largest float whose exp is finite (ln(FLT_MAX) rounds up, to a float whose
     * exp overflows); lo: the smallest float whose exp is normal (ln(FLT_MIN) rounds
     * down, to a float whose exp is subnormal, flushed to 0 like every exp below lo) */
    const float hi = 88.72283172607421875f, lo = -87.33654022216796875f;
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
    /* p * 2^n by adding n to p's exponent field (two integer ops where building 2^n
     * as two normal factors took nine: exp 0.38 -> 0.30 ns a value on one AVX-512
     * core). On [lo, hi] the result is a finite normal float: n = 128 only where
     * r < 0, so p < 1, and n = -126 only where r > 0, so p >= 1 */
    float y = pv_bits2f(pv_f2bits(p) + ((int32_t)n << 23));
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

/* c[0] x^(n-1) + ... + c[n-1] by Horner's rule with fused multiply-adds; inlined
 * with constant arrays, the loop unrolls and vectorises. */
static inline float pv_hornerf(float x, const float *c, int n)
{
    float p = c[0];
    for (int i = 1; i < n; i++)
        p = PV_FMA(p, x, c[i]);
    return p;
}

static inline float pyrch_tanhf(float x)
{
    /* |x| < 0.7: tanh(a) = a + a^3 P(a^2), the a^3 term under 16% of the value.
     * 0.7 <= |x| < 9: tanh(a) = 1 - 2 / (e^(2a) + 1), e^(2a) = 2^(n+1) w with w = e^(2r) / 2
     * = 0.5 + r + r^2 Q(r) for |r| <= ln2/4, so e^(2a) + 1 = fma(2^(n+1), w, 1) rounds once
     * and the 2 / (...) it feeds is at most 0.4 (a few rounding errors there move the
     * result by under half an ulp). +-1 from |x| >= 9 on (float32 tanh rounds to +-1
     * from 9.0103 on). n comes from the 0x1.8p23 rounding trick, its bits shifted into
     * 2^(n+1)'s exponent field (n <= 26 on the range used; beyond 9 the select wins).
     * P (degree 4 in a^2) and Q (degree 4) were fitted for pyrch by Lawson's iteratively
     * reweighted least squares toward minimax relative error (0.26 and 0.05 units of
     * 2^-24), in float64 on 3000 Chebyshev points (mpmath targets). Measured over every
     * float32 against float64 tanh: <= 1.07 ulp (the rational fit before: 5.7 ulp). One
     * AVX-512 core: 0.31 -> 0.36 ns a value with the values in L1 (an exp more, the same
     * one division), 0.67 -> 0.73 ns over 16M-element arrays (memory-bound) */
    static const float p[5] = {-0.00513865938f, 0.0200919677f, -0.05355886f, 0.13329111f,
                               -0.333331913f};
    static const float q[7] = {0.0442061871f, 0.133900747f, 0.333347172f, 0.666660786f,
                               0.999999881f, 1.0f, 0.5f};
    float ax = fabsf(x);
    float t = ax * ax;
    float ys = PV_FMA(ax * t, pv_hornerf(t, p, 5), ax);
    float k = PV_FMA(ax, 2.88539008177792682f, 12583040.0f);  /* 0x1.8p23 + 128 + n */
    float n = k - 12583040.0f;
    float r = PV_FMA(n, 1.06097220e-4f, PV_FMA(n, -0.3466796875f, ax));  /* ln2/2 in two */
    float w = pv_hornerf(r, q, 7);
    float sc = pv_bits2f((int32_t)((uint32_t)pv_f2bits(k) << 23));        /* 2^(n+1) */
    float yl = 1.0f - 2.0f / PV_FMA(sc, w, 1.0f);
    /* NaN compares false and takes the polynomial side, which keeps it */
    float y = ax >= 0.7f ? yl : ys;
    y = ax >= 9.0f ? 1.0f : y;
    return copysignf(y, x);
}

static inline float pyrch_erff(float x)
{
    /* |x| < 1: erf(a) = a C0 + a P(a^2), C0 = 2/sqrt(pi) rounded to float32, P (degree 6)
     * the rest, added in the last fma. 1 <= |x| < 3.95: erf(a) = K + Q(a - m) with Q
     * (degree 12, no constant term) ending in the same fma, m = 2.46455812 chosen so that
     * K = erf(m) rounded to float32 is off by 1e-6 ulp; a - m is exact there (both are
     * multiples of 2^-23 and the difference is under 2). +-1 from |x| >= 3.95 on (float32
     * erf rounds to +-1 from 3.9153 on). No division and no exp. P and Q were fitted for
     * pyrch by Lawson's iteratively reweighted least squares toward minimax error, P in
     * erf's relative error (0.02 units of 2^-24), Q in absolute error (0.60 units of
     * 2^-24), in float64 on 4000 Chebyshev points (mpmath targets). Measured over every
     * float32 against float64 erf: <= 1.42 ulp (the rational fit before: 6.8 ulp, 4.0e-7
     * absolute). One AVX-512 core: 0.30 -> 0.31 ns a value with the values in L1 (18 fmas
     * where there were 11 and a division), 0.71 -> 0.73 ns over 16M-element arrays */
    static const float p[7] = {7.85388183e-05f, -0.000801020069f, 0.00518832868f,
                               -0.0268538129f, 0.112835854f, -0.37612626f, -6.00033943e-08f};
    static const float q[13] = {-9.08539278e-06f, 2.48997949e-05f, 5.2803498e-05f,
                                -0.000299152685f, 0.000378736295f, 0.000475869485f,
                                -0.00294792838f, 0.00671717944f, -0.0097515313f,
                                0.00965363346f, -0.00640225969f, 0.00259724911f,
                                0.999508619f};
    float ax = fabsf(x);
    float ys = PV_FMA(ax, 1.12837923f, ax * pv_hornerf(ax * ax, p, 7));
    float yl = pv_hornerf(ax - 2.46455812f, q, 13);
    /* NaN compares false and takes the polynomial side, which keeps it */
    float y = ax >= 1.0f ? yl : ys;
    y = ax >= 3.95f ? 1.0f : y;
    return copysignf(y, x);
}

static inline float pyrch_erfcf(float x) { return 1.0f - pyrch_erff(x); }
static inline float pyrch_sigmoidf(float x) { return 1.0f / (1.0f + pyrch_expf(-x)); }

/* erfinv: with w = -log(1 - x^2), erfinv(x) = x * P(w) for w < 4 (|x| < 0.9908) and
 * sign(x) * Q(sqrt(w)) beyond. P and Q are minimax polynomials (relative error) fitted
 * for pyrch with a Remez exchange against mpmath's erfinv: P on w in [0, 4] around 2,
 * Q on sqrt(w) in [2, 4] around 3, which reaches 1 - 2^-24, the last float below 1.
 * Fit errors 1e-9 and 5e-9; checked on every float in (-1, 1), the result is within
 * 2.4 ulp (1 ulp for 99.9%). Both branches are computed and one selected, so loops
 * vectorise. +-1 give +-inf; |x| > 1 and NaN give NaN. */
static inline float pyrch_erfinvf(float x)
{
    float a = fabsf(x);
    float t = PV_FMA(-a, a, 1.0f);                   /* 1 - x^2, rounded once */
    float w = -pyrch_logf(t);
    float u = w - 2.0f;
    float p = -9.58832747e-09f;
    p = PV_FMA(p, u, 6.55468781e-08f);
    p = PV_FMA(p, u, 3.0218925e-07f);
    p = PV_FMA(p, u, -4.86177123e-06f);
    p = PV_FMA(p, u, 7.61121919e-06f);
    p = PV_FMA(p, u, 0.0002159203f);
    p = PV_FMA(p, u, -0.00169217319f);
    p = PV_FMA(p, u, -0.00196813559f);
    p = PV_FMA(p, u, 0.249768078f);
    p = PV_FMA(p, u, -5.52602657e-08f);              /* P(w) - 1.37721527f */
    float v = sqrtf(w) - 3.0f;
    float q = -1.42207873e-05f;
    q = PV_FMA(q, v, 5.60087865e-05f);
    q = PV_FMA(q, v, -4.66384154e-05f);
    q = PV_FMA(q, v, -0.000220308037f);
    q = PV_FMA(q, v, 0.00114662352f);
    q = PV_FMA(q, v, -0.00344533753f);
    q = PV_FMA(q, v, 0.00684307376f);
    q = PV_FMA(q, v, 1.00266242f);
    q = PV_FMA(q, v, -5.79100892e-08f) + 2.83280206f;  /* Q's constant in two parts */
    /* a * P(w) as a * 1.37721527f + a * (the rest): the leading product is exact in the fma */
    float y = w < 4.0f ? PV_FMA(a, 1.37721527f, a * p) : q;
    y = t == 0.0f ? INFINITY : y;                    /* x = +-1 */
    y = t < 0.0f ? NAN : copysignf(y, x);            /* |x| > 1 */
    return x != x ? x : y;
}

/* float64 erfinv, the same scheme in three pieces fitted the same way: x * P(w) for w < 4,
 * then Q(sqrt(w)) on [2, 4] and R(sqrt(w)) on [4, 6.125] (sqrt(w) is 6.004 at 1 - 2^-53).
 * Fit errors below 4e-18; the result is within 3e-16 relative (2 ulp) against mpmath.
 * Scalar code with libm's log, like the VM's other float64 transcendentals; fma() is
 * exact-rounded whether libm uses the instruction or not. */
static const double pv_erfinv_p[21] = {
    7.06797967816151e-17, 0.24976806887075081, -0.001968143541781342, -0.001692148369770826,
    0.0002159377892791321, 7.581550373887038e-06, -4.874470698860701e-06, 3.169428895274886e-07,
    6.906214845274923e-08, -1.289605167005236e-08, -2.5632772175105886e-10, 2.939233035636494e-10,
    -2.1235782777362213e-11, -4.332711219135324e-12, 8.459990870155538e-13, 1.759551759350037e-14,
    -1.985331303947631e-14, 1.223797965371459e-15, 3.169524971980786e-16, -3.4193175632933804e-17,
    -2.905354688166861e-18};
static const double pv_erfinv_q[23] = {
    -1.5572554651294236e-16, 1.002662382571917, 0.006843688661766701, -0.003445030040543023,
    0.0011424362702866842, -0.00022121694058474246, -3.657324160652969e-05, 5.58572303577218e-05,
    -2.408811225069615e-05, 2.5511688325862127e-06, 3.1487072610346627e-06, -2.011891580035155e-06,
    3.7792108588910735e-07, 1.8988439297054539e-07, -1.5562402589430461e-07, 3.843673836896051e-08,
    9.892166286829033e-09, -1.2306901796269592e-08, 3.850877861517373e-09, 1.0433142676609563e-09,
    -1.0212485454275732e-09, 2.7344421591634105e-11, 8.976796153334428e-11};
static const double pv_erfinv_r[18] = {
    8.592085693537358e-17, 1.010280677983992, -0.00017730423760214446, -0.00019677576343573208,
    7.009524181604768e-05, -1.805132556602383e-05, 4.098329787069091e-06, -8.664942760863165e-07,
    1.7424469444484364e-07, -3.352131570496668e-08, 6.084754877530474e-09, -9.648921674261925e-10,
    8.258118173446508e-11, 3.0789194062977445e-11, -2.4756081150576782e-11, 1.3177605422632388e-11,
    -5.726174305146601e-12, 1.2433295166195942e-12};

static inline double pv_horner(const double *c, int n, double u)
{
    double p = c[n - 1];
    for (int k = n - 2; k >= 0; k--)
        p = p * u + c[k];
    return p;
}

static inline double pyrch_erfinv(double x)
{
    double a = fabs(x);
    if (!(a < 1.0))                                  /* +-1, |x| > 1, NaN */
        return a == 1.0 ? copysign(INFINITY, x) : (x != x ? x : NAN);
    double w = -log((1.0 - a) * (1.0 + a));          /* 1 - a is exact where it matters */
    /* each table starts with the low part of the polynomial's constant, whose high part is
     * added last (in the fma for x * P, where the product with it is exact) */
    if (w < 4.0)
        return copysign(fma(a, 1.3772152115148184, a * pv_horner(pv_erfinv_p, 21, w - 2.0)), x);
    double s = sqrt(w);
    double y = s < 4.0 ? pv_horner(pv_erfinv_q, 23, s - 3.0) + 2.832801984778809
                       : pv_horner(pv_erfinv_r, 18, s - 5.0625) + 4.913049587215595;
    return copysign(y, x);
}

/* The registry's cexpr is `erfinv(a)` (CUDA's name). libm has no erfinv, so the name is
 * defined here and picks the float or double version by the operand's type. */
#define erfinv(x) _Generic((x), float: pyrch_erfinvf, default: pyrch_erfinv)(x)

#endif
