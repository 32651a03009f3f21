/* A traced plan in one call: its native steps (GEMMs and fused elementwise programs),
 * described once in Python and replayed without returning to Python between them, and
 * its other steps as calls back into Python (pyrch/jit/segments.py).
 *
 * Each native step is validated as it runs, exactly as a lone call would be (pyrch_gemm
 * and pyrch_fused_run check every count, stride and extent against the buffer sizes
 * given), so a wrong description is refused, never run. The first refusal stops the
 * run: the steps before it have run, none after it. */
#ifndef PYRCH_STEPS_H
#define PYRCH_STEPS_H
#include <stdint.h>

enum { PYRCH_STEP_GEMM = 1, PYRCH_STEP_FUSED = 2, PYRCH_STEP_PYTHON = 3, PYRCH_STEP_CALL = 4,
       PYRCH_STEP_ATTN = 5 };

typedef struct {
    int32_t kind;                 /* PYRCH_STEP_GEMM: desc is a pyrch_gemm_t;
                                   * PYRCH_STEP_FUSED: desc is a pyrch_fused_t;
                                   * PYRCH_STEP_PYTHON: desc is a pyrch_pystep_t;
                                   * PYRCH_STEP_CALL: desc is a pyrch_call_t;
                                   * PYRCH_STEP_ATTN: desc is a pyrch_attn_t */
    const void *desc;
} pyrch_step_t;

/* One of the row kernels (rows.h, norm.h) with its arguments in a struct, so a plan can
 * record and replay it as it does a GEMM. Python's wrappers (pyrch/_C/rows.py) call
 * every kernel this way, eager or traced. The kernel validates the arguments as its
 * own entry point does. */
enum {
    PYRCH_CALL_SOFTMAX = 1,           /* src0 x; dst0 y; i: rows, n, log */
    PYRCH_CALL_SOFTMAX_BACKWARD = 2,  /* src0 g, src1 y; dst0; i: rows, n, log */
    PYRCH_CALL_LAYER_NORM = 3,        /* src0 x, src1 w, src2 b; dst0; i: rows, D; eps */
    PYRCH_CALL_LAYER_NORM_BACKWARD = 4, /* src0 g, src1 x, src2 w; dst0 gx, dst1 gw,
                                         * dst2 gb; i: rows, D; eps */
    PYRCH_CALL_CE_BACKWARD = 5,       /* src0 g, src1 x, src2 t; dst0; i: rows, n, g per row
                                       * (1) or one scalar (0), mean, ignore_index */
    PYRCH_CALL_CE = 6,                /* src0 x, src1 t; dst0 the loss per row (reduction 0) or
                                       * its sum (1) or mean over the counted rows (2), one
                                       * float; i: rows, n, ignore_index, reduction */
    PYRCH_CALL_GATHER = 7,            /* src0 table, src1 int64 indices; dst0 rows;
                                       * i: element size, V, width, indices */
    PYRCH_CALL_SCATTER_ADD = 8,       /* src0 g, src1 int64 indices; dst0 (V, width) table;
                                       * i: element size, V, width, indices */
    PYRCH_CALL_SUM_ROWS = 9,          /* src0 (rows, cols); dst0 (cols); i: element size,
                                       * rows, cols */
    PYRCH_CALL_ADAM_SCALARS = 10      /* src0 step, src1 lr, src2 beta1, src3 beta2 (one
                                       * value each); dst0 lr / (1 - beta1^step), dst1
                                       * sqrt(1 - beta2^step), computed in double and
                                       * rounded once; i: the dtype of each (PYRCH_SCALAR_*):
                                       * step, lr, beta1, beta2, the outputs */
};

/* the dtypes PYRCH_CALL_ADAM_SCALARS reads and writes */
enum { PYRCH_SCALAR_F32 = 0, PYRCH_SCALAR_F64 = 1, PYRCH_SCALAR_I64 = 2 };

typedef struct {
    int32_t fn;                   /* PYRCH_CALL_* */
    int32_t nthreads;
    const void *src[4];           /* the inputs, with their sizes in bytes */
    int64_t src_nbytes[4];
    void *dst[3];                 /* the outputs */
    int64_t dst_nbytes[3];
    int64_t i[5];
    double eps;
    int64_t bad;                  /* set by the kernel: a row whose target is out of range
                                   * (PYRCH_CALL_CE, PYRCH_CALL_CE_BACKWARD) */
} pyrch_call_t;

int pyrch_call(pyrch_call_t *c);

/* Steps that run in Python: pyrch_py_step(token, id) is called. The token names the
 * Python program the call belongs to (Python looks it up and refuses any it does not
 * know), id the group of its steps to run. */
typedef struct {
    int64_t token;
    int32_t id;
} pyrch_pystep_t;

/* Defined in Python (cffi def_extern in pyrch/jit/segments.py; build.py declares it
 * `extern "Python+C"`). Returns 0 when the steps failed (Python keeps the exception) or
 * the token is unknown; else 1 + how many of the following steps to skip (Python ran
 * them itself). */
int32_t pyrch_py_step(int64_t token, int32_t id);

/* Runs steps[0 .. n-1] in order. Returns 0, or the status of the first step that was
 * refused or failed (PYRCH_E_PYTHON for a Python step), with its index in *failed
 * (when failed is not NULL; -1 when the list itself was refused). A Python step's skip
 * past the end of the list is refused (PYRCH_E_COUNT). */
int pyrch_run_steps(const pyrch_step_t *steps, int32_t n, int32_t *failed);

#endif
