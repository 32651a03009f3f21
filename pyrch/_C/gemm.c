/* GEMM steps: OpenBLAS (scipy-openblas32), or Intel MKL's sequential sgemm where it
 * is installed, plus a vectorised epilogue. */
#include <stddef.h>
#include <math.h>
#include <dlfcn.h>
#include <cblas.h>
#include "gemm.h"
#include "vm.h"
#include "vmath.h"
#include "smallgemm.h"

/* below this many flops a GEMM stays on one thread */
#define PYRCH_GEMM_PAR_FLOPS 2e6

/* OpenBLAS runs on one thread inside each part: the parts are pyrch's threads. */
static void blas_single_threaded(void)
{
    static int done = 0;      /* a benign race: every caller sets the same value */
    if (!done) {
        scipy_openblas_set_num_threads(1);
        done = 1;
    }
}

/* MKL, found at run time (pyrch_use_mkl): its single-threaded sgemm runs 10-30% faster
 * than OpenBLAS's on the medium products of MLP and GPT steps here (512x1024 @
 * 1024x128: 172 against 127 GFLOP/s on one core), the same code PyTorch's CPU build
 * calls. float32 only: float64 stays on OpenBLAS, whose sums eager and traced runs
 * share bit for bit. MKL_INT is int (libmkl_rt's default LP64 interface); the
 * CBLAS enum values are the standard ones both libraries use. */
typedef void (*mkl_sgemm_fn)(int, int, int, int, int, int, float, const float *, int,
                             const float *, int, float, float *, int);
static mkl_sgemm_fn mkl_sgemm;
static int mkl_on;
/* MKL_Set_Num_Threads_Local when MKL runs a threading layer: each of pyrch's calls asks
 * for one thread on the calling thread only (the parts are pyrch's threads) and then
 * restores what was there, leaving MKL's process-wide setting alone */
static int (*mkl_local_threads)(int);

/* MKL's threading layer. libmkl_rt loads its layer libraries into the global symbol
 * scope, and a PyTorch imported afterwards binds the internal calls of its own (static)
 * MKL to them, since the names are the same. Under the sequential layer every PyTorch
 * GEMM then ran on one thread (its MLP b128 step 2.0 -> 2.9 ms when pyrch was imported
 * first). The GNU OpenMP layer, over the libgomp PyTorch uses too (the loader shares a
 * libgomp.so.1 by name), keeps PyTorch's calls threaded, and pyrch's own calls take one
 * thread through mkl_local_threads. Where no libgomp.so.1 can be loaded, the
 * sequential layer, as before. Codes: MKL_THREADING_SEQUENTIAL 1, MKL_THREADING_GNU 3. */
int pyrch_use_mkl(const char *path)
{
    if (path == NULL)
        return 0;
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL)
        return 0;
    int (*layer)(int) = (int (*)(int))dlsym(h, "MKL_Set_Threading_Layer");
    int (*iface)(int) = (int (*)(int))dlsym(h, "MKL_Set_Interface_Layer");
    int (*local)(int) = (int (*)(int))dlsym(h, "MKL_Set_Num_Threads_Local");
    mkl_sgemm_fn f = (mkl_sgemm_fn)dlsym(h, "cblas_sgemm");
    /* 32-bit MKL_INT (LP64, code 0): MKL_INTERFACE_LAYER=ILP64 in the environment, or an
     * MKL already set up that way, would read our int arguments as 64-bit ones */
    if (layer == NULL || iface == NULL || f == NULL || iface(0) != 0) {
        dlclose(h);
        return 0;
    }
    void *gomp = local != NULL ? dlopen("libgomp.so.1", RTLD_NOW | RTLD_GLOBAL) : NULL;
    /* the layer in effect: an MKL already in use (numpy built on it) keeps its own */
    int in_effect = layer(gomp != NULL ? 3 : 1);
    if (in_effect != 1) {
        if (local != NULL) {
            mkl_local_threads = local;
        } else {
            int (*domain_threads)(int, int) = (int (*)(int, int))dlsym(h, "MKL_Domain_Set_Num_Threads");
            if (domain_threads != NULL)
                domain_threads(1, 1);  /* (1 thread, MKL_DOMAIN_BLAS) */
        }
    }
    mkl_sgemm = f;            /* the handles stay open for the process's life */
    mkl_on = 1;
    return 1;
}

int pyrch_mkl_threaded(void)
{
    return mkl_local_threads != NULL;
}

int pyrch_set_mkl(int on)
{
    mkl_on = on && mkl_sgemm != NULL;
    return mkl_on;
}

/* Whether the n bytes at p and the m bytes at q share a byte (an extent that wraps
 * around the address space counts as sharing). */
static int overlaps(const void *p, int64_t n, const void *q, int64_t m)
{
    if (p == NULL || q == NULL || n <= 0 || m <= 0)
        return 0;
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)q, ae, be;
    if (__builtin_add_overflow(a, (uintptr_t)n, &ae) || __builtin_add_overflow(b, (uintptr_t)m, &be))
        return 1;
    return a < be && b < ae;
}

/* Whether every element of `batch` stored rows x cols matrices (leading dim ld; entry b
 * at (b / batch_in) * stride + (b % batch_in) * stride_in) lies within nbytes. */
static int fits(int64_t rows, int64_t cols, int64_t ld, int64_t stride, int64_t batch,
                int64_t batch_in, int64_t stride_in, int64_t nbytes, int isz)
{
    if (rows == 0 || cols == 0 || batch == 0)
        return 1;
    if (ld < cols || ld < 1 || stride < 0 || stride_in < 0)
        return 0;
    /* (checked arithmetic: a hostile stride must not wrap around into a small extent) */
    int64_t last, t1, t2;
    if (__builtin_mul_overflow(rows - 1, ld, &last) || __builtin_add_overflow(last, cols, &last))
        return 0;
    if (batch_in > 1) {
        if (batch % batch_in)
            return 0;
        if (__builtin_mul_overflow(batch / batch_in - 1, stride, &t1) ||
            __builtin_mul_overflow(batch_in - 1, stride_in, &t2) ||
            __builtin_add_overflow(last, t1, &last) || __builtin_add_overflow(last, t2, &last))
            return 0;
    } else if (stride > 0) {
        if (__builtin_mul_overflow(batch - 1, stride, &t1) || __builtin_add_overflow(last, t1, &last))
            return 0;
    }
    return last <= nbytes / isz;
}

/* Element offset of batch entry b in an operand with strides (stride, stride_in). */
static inline int64_t batch_off(const pyrch_gemm_t *g, int64_t b, int64_t stride, int64_t stride_in)
{
    return g->batch_in > 1 ? (b / g->batch_in) * stride + (b % g->batch_in) * stride_in
                           : b * stride;
}

/* Element offset of batch entry b in C. */
static inline int64_t c_off(const pyrch_gemm_t *g, int64_t b)
{
    return g->batch_in > 1 && g->stride_c_in > 0
               ? (b / g->batch_in) * g->stride_c + (b % g->batch_in) * g->stride_c_in
               : b * g->stride_c;
}

/* One row of C: + bias, then the activation. A loop per activation (the switch outside
 * it) so each one vectorises, with the VM's polynomial exp/tanh/erf for float32. */
#define ACT_LOOP(T, X)                                                                     \
    _Pragma("omp simd")                                                                    \
    for (int64_t j = 0; j < n; j++) {                                                      \
        T x = row[j];                                                                      \
        row[j] = (X);                                                                      \
    }

#define DEFINE_EPILOGUE(T, SUF, EXP, TANH, ERF, CLONES)                                   \
CLONES                                                                                     \
static void epilogue_##SUF(T *c, int64_t m, int64_t n, int64_t ldc, const T *bias,         \
                           int bias_kind, int act, T *aux, int64_t ldaux)                  \
{                                                                                          \
    for (int64_t i = 0; i < m; i++) {                                                      \
        T *restrict row = c + i * ldc;                                                     \
        T *restrict arow = aux != NULL ? aux + i * ldaux : NULL;                           \
        if (bias_kind == PYRCH_BIAS_COL) {                                                 \
            _Pragma("omp simd")                                                            \
            for (int64_t j = 0; j < n; j++)                                                \
                row[j] += bias[j];                                                         \
        } else if (bias_kind == PYRCH_BIAS_ROW) {                                          \
            T rb = bias[i];                                                                \
            _Pragma("omp simd")                                                            \
            for (int64_t j = 0; j < n; j++)                                                \
                row[j] += rb;                                                              \
        }                                                                                  \
        switch (act) {                                                                     \
        case PYRCH_ACT_RELU: ACT_LOOP(T, x > 0 ? x : 0) break;                              \
        case PYRCH_ACT_TANH: ACT_LOOP(T, TANH(x)) break;                                   \
        case PYRCH_ACT_SIGMOID: ACT_LOOP(T, 1 / (1 + EXP(-x))) break;                      \
        case PYRCH_ACT_GELU_TANH:                                                          \
            ACT_LOOP(T, (T)0.5 * x * (1 + TANH((T)0.7978845608028654 *                     \
                                               (x + (T)0.044715 * x * x * x)))) break;     \
        case PYRCH_ACT_GELU: ACT_LOOP(T, (T)0.5 * x * (1 + ERF(x * (T)0.7071067811865476))) break; \
        case PYRCH_ACT_MUL:                                                                \
            if (arow == NULL)                                                              \
                break;                                                                     \
            _Pragma("omp simd")                                                            \
            for (int64_t j = 0; j < n; j++)                                                \
                row[j] = row[j] * arow[j];                                                 \
            break;                                                                         \
        case PYRCH_ACT_GELU_D:                                                             \
            if (arow == NULL)                                                              \
                break;                                                                     \
            _Pragma("omp simd")                                                            \
            for (int64_t j = 0; j < n; j++) {                                              \
                T x = row[j];                                                              \
                T cdf = (ERF(x * (T)0.7071067811865476) + 1) * (T)0.5;                     \
                row[j] = x * cdf;                                                          \
                arow[j] = cdf + x * (EXP(x * x * (T)-0.5) * (T)0.3989422804014327);         \
            }                                                                              \
            break;                                                                         \
        default: break;                                                                    \
        }                                                                                  \
    }                                                                                      \
}

DEFINE_EPILOGUE(float, f32, pyrch_expf, pyrch_tanhf, pyrch_erff,
                __attribute__((target_clones("avx512f", "arch=haswell", "default"))))
DEFINE_EPILOGUE(double, f64, exp, tanh, erf, )

/* Which pyrch kernel (smallgemm.c) takes a float32 product, if any; MKL (or OpenBLAS)
 * takes the rest. The medium products stay on the packed kernel even with MKL: on
 * two threads it beat MKL's sgemm on 17 of the 18 MLP and GPT layer shapes (0.78-0.97x
 * MKL's time; 1.09x on 128x1024 @ 1024x128, A stored transposed), and a traced GPT
 * step ran 10% faster (session 14, in-process A/B). MKL's time there went partly to
 * packing both operands (8% of a GPT step's samples) and to zeroing C before it
 * accumulates (`sgemm_mscale`, 4.6%), which the packed kernel never does. */
static int sgemm_kind(const pyrch_gemm_t *g)
{
    if (g->dtype != PYRCH_F32 || g->alpha != 1.0 || g->beta != 0.0)
        return PYRCH_SMALL_NONE;
    return pyrch_small_sgemm_kind(g->trans_a, g->trans_b, g->m, g->n, g->k);
}

/* One part of a GEMM: the columns [j0, j1) or the rows [i0, i1) of every C[b]. */
typedef struct {
    const pyrch_gemm_t *g;
    int64_t cut[PYRCH_MAX_PARTS + 1];
    int by;                 /* 0: columns, 1: rows, 2: batch entries */
} split_t;

static void gemm_block(const pyrch_gemm_t *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1,
                       int64_t b0, int64_t b1)
{
    int64_t m = i1 - i0, n = j1 - j0;
    if (m <= 0 || n <= 0)
        return;
    /* element offsets of the block in A (rows i0..), B (columns j0..), C and the bias */
    int64_t oa = g->trans_a ? i0 : i0 * g->lda;
    int64_t ob = g->trans_b ? j0 * g->ldb : j0;
    int64_t oc = i0 * g->ldc + j0;
    int64_t obias = g->bias_kind == PYRCH_BIAS_COL ? j0 : i0;
    enum CBLAS_TRANSPOSE ta = g->trans_a ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = g->trans_b ? CblasTrans : CblasNoTrans;
    /* a product with a small side (the whole product, not this part) skips OpenBLAS's
     * packing (smallgemm.c) */
    int small = sgemm_kind(g);
    /* one MKL thread on this thread for the block's products, the setting restored after */
    int mkl_local = mkl_on && mkl_local_threads != NULL && g->dtype == PYRCH_F32;
    int before = mkl_local ? mkl_local_threads(1) : 0;
    for (int64_t b = b0; b < b1; b++) {
        if (g->dtype == PYRCH_F32) {
            const float *A = (const float *)g->a + batch_off(g, b, g->stride_a, g->stride_a_in) + oa;
            const float *B = (const float *)g->b + batch_off(g, b, g->stride_b, g->stride_b_in) + ob;
            float *Cm = (float *)g->c + c_off(g, b) + oc;
            if (g->k == 0) {
                for (int64_t i = 0; i < m; i++)
                    for (int64_t j = 0; j < n; j++)
                        Cm[i * g->ldc + j] = g->beta == 0 ? 0.0f : (float)g->beta * Cm[i * g->ldc + j];
            } else if (small && pyrch_small_sgemm(small, g->trans_a, m, n, g->k, A, g->lda, B,
                                                  g->ldb, Cm, g->ldc)) {
                /* done by a pyrch kernel */
            } else if (mkl_on)
                mkl_sgemm(CblasRowMajor, ta, tb, (int)m, (int)n, (int)g->k, (float)g->alpha, A,
                          (int)g->lda, B, (int)g->ldb, (float)g->beta, Cm, (int)g->ldc);
            else
                scipy_cblas_sgemm(CblasRowMajor, ta, tb, (blasint)m, (blasint)n, (blasint)g->k,
                                  (float)g->alpha, A, (blasint)g->lda, B, (blasint)g->ldb,
                                  (float)g->beta, Cm, (blasint)g->ldc);
            if (g->bias_kind || g->act)
                epilogue_f32(Cm, m, n, g->ldc, g->bias ? (const float *)g->bias + obias : NULL,
                             g->bias_kind, g->act,
                             g->act >= PYRCH_ACT_GELU_D ? (float *)g->aux + i0 * g->ldaux + j0 : NULL,
                             g->ldaux);
        } else {
            const double *A = (const double *)g->a + batch_off(g, b, g->stride_a, g->stride_a_in) + oa;
            const double *B = (const double *)g->b + batch_off(g, b, g->stride_b, g->stride_b_in) + ob;
            double *Cm = (double *)g->c + c_off(g, b) + oc;
            if (g->k == 0) {
                for (int64_t i = 0; i < m; i++)
                    for (int64_t j = 0; j < n; j++)
                        Cm[i * g->ldc + j] = g->beta == 0 ? 0.0 : g->beta * Cm[i * g->ldc + j];
            } else
                scipy_cblas_dgemm(CblasRowMajor, ta, tb, (blasint)m, (blasint)n, (blasint)g->k,
                                  g->alpha, A, (blasint)g->lda, B, (blasint)g->ldb, g->beta, Cm,
                                  (blasint)g->ldc);
            if (g->bias_kind || g->act)       /* (PYRCH_ACT_GELU_D is float32 only) */
                epilogue_f64(Cm, m, n, g->ldc, g->bias ? (const double *)g->bias + obias : NULL,
                             g->bias_kind, g->act, NULL, 0);
        }
    }
    if (mkl_local)
        mkl_local_threads(before);
}

static void gemm_part(void *ctx, int t)
{
    const split_t *s = ctx;
    const pyrch_gemm_t *g = s->g;
    if (s->by == 2)
        gemm_block(g, 0, g->m, 0, g->n, s->cut[t], s->cut[t + 1]);
    else if (s->by == 1)
        gemm_block(g, s->cut[t], s->cut[t + 1], 0, g->n, 0, g->batch);
    else
        gemm_block(g, 0, g->m, s->cut[t], s->cut[t + 1], 0, g->batch);
}

int pyrch_gemm(const pyrch_gemm_t *g)
{
    if (g == NULL)
        return PYRCH_E_NULL;
    if (g->dtype != PYRCH_F32 && g->dtype != PYRCH_F64)
        return PYRCH_E_DTYPE;
    if (g->m < 0 || g->n < 0 || g->k < 0 || g->batch < 0 || g->m > INT32_MAX ||
        g->n > INT32_MAX || g->k > INT32_MAX || g->lda > INT32_MAX || g->ldb > INT32_MAX ||
        g->ldc > INT32_MAX || g->act < 0 || g->act > PYRCH_ACT_MUL || g->bias_kind < 0 ||
        g->bias_kind > PYRCH_BIAS_ROW)
        return PYRCH_E_COUNT;
    int isz = g->dtype == PYRCH_F32 ? 4 : 8;
    int64_t ar = g->trans_a ? g->k : g->m, ac = g->trans_a ? g->m : g->k;
    int64_t br = g->trans_b ? g->n : g->k, bc = g->trans_b ? g->k : g->n;
    if (g->m * g->n * g->batch == 0)
        return PYRCH_OK;
    if ((g->k > 0 && (g->a == NULL || g->b == NULL)) || g->c == NULL)
        return PYRCH_E_NULL;
    if (g->batch_in < 0 || (g->batch_in > 1 && g->batch % g->batch_in))
        return PYRCH_E_COUNT;
    if ((g->k > 0 && (!fits(ar, ac, g->lda, g->stride_a, g->batch, g->batch_in, g->stride_a_in,
                            g->nbytes_a, isz) ||
                      !fits(br, bc, g->ldb, g->stride_b, g->batch, g->batch_in, g->stride_b_in,
                            g->nbytes_b, isz))) ||
        !fits(g->m, g->n, g->ldc, g->stride_c, g->batch,
              g->stride_c_in > 0 ? g->batch_in : 1, g->stride_c_in, g->nbytes_c, isz) ||
        (g->stride_c == 0 && g->batch > 1) || g->stride_c_in < 0 ||
        (g->stride_c_in > 0 && g->batch_in <= 1))
        return PYRCH_E_BOUNDS;
    if (g->bias_kind != PYRCH_BIAS_NONE) {
        int64_t need = g->bias_kind == PYRCH_BIAS_COL ? g->n : g->m;
        if (g->bias == NULL)
            return PYRCH_E_NULL;
        if (need > g->nbytes_bias / isz)
            return PYRCH_E_BOUNDS;
    }
    if (g->act >= PYRCH_ACT_GELU_D) {       /* an aux matrix: written (GELU_D) or read (MUL) */
        if (g->dtype != PYRCH_F32)
            return PYRCH_E_DTYPE;
        if (g->batch != 1 || g->beta != 0.0)
            return PYRCH_E_COUNT;
        if (g->aux == NULL)
            return PYRCH_E_NULL;
        if (g->ldaux < g->n || g->ldaux > INT32_MAX ||
            !fits(g->m, g->n, g->ldaux, 0, 1, 1, 0, g->nbytes_aux, isz))
            return PYRCH_E_BOUNDS;
        /* a written aux must not touch what other parts still read (A, B, the bias) or
         * write (C); a read one must not touch C, which the product overwrites first */
        int written = g->act == PYRCH_ACT_GELU_D;
        if ((written && g->k > 0 && overlaps(g->aux, g->nbytes_aux, g->a, g->nbytes_a)) ||
            (written && g->k > 0 && overlaps(g->aux, g->nbytes_aux, g->b, g->nbytes_b)) ||
            overlaps(g->aux, g->nbytes_aux, g->c, g->nbytes_c) ||
            (written && g->bias_kind != PYRCH_BIAS_NONE &&
             overlaps(g->aux, g->nbytes_aux, g->bias, g->nbytes_bias)))
            return PYRCH_E_BOUNDS;
    }
    /* NOTE: OpenBLAS (or MKL) runs single-threaded here and the parts run on the VM's pool,
     * split along the longer side of C (in multiples of 16): one set of pyrch
     * threads, so BLAS workers never spin on a core the VM needs. */
    blas_single_threaded();
    int parts = g->nthreads < 1 ? 1 : g->nthreads;
    if (parts > PYRCH_MAX_PARTS)
        parts = PYRCH_MAX_PARTS;
    double flops = 2.0 * (double)g->m * (double)g->n * (double)g->k * (double)g->batch;
    if (flops < PYRCH_GEMM_PAR_FLOPS)
        parts = 1;
    split_t sp;
    sp.g = g;
    /* whole batch entries when there are enough (attention's 64 small products);
     * else rows, whose blocks of C are contiguous, wherever there are enough of them:
     * measured faster than columns for every MLP and GPT shape with m >= 64 here
     * (MLP b128 weight gradient 480-720 -> 380-400 us, GPT qkv 440-490 -> 400-420),
     * except where B is the largest of the three matrices (a layer's weight in x @ W.T
     * and g @ W): by columns each thread then reads only its half of B, which stays in
     * that core's cache from one step to the next (in a training loop, MLP b128's
     * 128x784 @ 784x512 485-526 -> 434-454 us; alone, the two splits ran alike) */
    double sa = (double)g->m * (double)g->k, sb = (double)g->k * (double)g->n;
    sp.by = g->batch >= 2 * parts ? 2 : g->m >= 64 && !(sb > sa && sb > (double)g->m * (double)g->n);
    /* NOTE: the medium-product kernels split the same way. Each thread then packs all
     * of B's panels, which earlier code avoided by splitting them by columns; but B is
     * the smaller operand wherever rows are chosen, and by rows each thread reads only
     * half of A and writes half of C. Every GPT layer shape ran as fast or faster by
     * rows (two threads, best of 5, us: 1024x128 @ (384x128)^T 534 -> 487, 1024x512 @
     * 512x128 700 -> 628, 1024x384 @ 384x128 515 -> 469, the head's 1024x128 @
     * (65x128)^T 136 -> 104; the MLP's shapes alike either way); a traced GPT step,
     * in-process A/B: median 26.4 -> 23.6 ms (session 14). */
    int64_t len = sp.by == 2 ? g->batch : sp.by ? g->m : g->n;
    int64_t units = sp.by == 2 ? len : (len + 15) / 16;
    if (parts > units)
        parts = (int)units;
    for (int t = 0; t <= parts; t++) {
        int64_t c = units * t / parts * (sp.by == 2 ? 1 : 16);
        sp.cut[t] = c < len ? c : len;
    }
    if (parts <= 1)
        gemm_block(g, 0, g->m, 0, g->n, 0, g->batch);
    else
        pyrch_pool_run(gemm_part, &sp, parts);
    return PYRCH_OK;
}
