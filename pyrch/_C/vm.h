/* The fused-elementwise interpreter.
 *
 * A program is straight-line three-address code over registers. Registers
 * 0 .. n_in-1 hold the input operands, n_in .. n_in+n_const-1 the constants,
 * the rest are temporaries (allocated by liveness in Python). The program runs
 * blockwise over the output index space: each register is a block of up to
 * PYRCH_BLOCK values of the compute dtype, so temporaries stay in cache.
 *
 * Memory: every pointer below is borrowed from Python for the duration of
 * one call; the VM allocates only per-thread register blocks and frees them
 * before returning. Strides are in bytes and must be >= 0 (0 = broadcast).
 */
#ifndef PYRCH_VM_H
#define PYRCH_VM_H
#include <stdint.h>

#define PYRCH_BLOCK 1024
#define PYRCH_MAX_DIM 8
#define PYRCH_MAX_REGS 256
#define PYRCH_MAX_OPERANDS 64
#define PYRCH_MAX_INSTR 4096

/* dtype codes shared with Python (pyrch/_C/fused.py) */
enum { PYRCH_F32 = 0, PYRCH_F64 = 1, PYRCH_I64 = 2, PYRCH_BOOL = 3, PYRCH_I32 = 4 };

/* status codes (Python turns them into messages) */
enum {
    PYRCH_OK = 0, PYRCH_E_NULL = -1, PYRCH_E_COUNT = -2, PYRCH_E_OPCODE = -3,
    PYRCH_E_REGISTER = -4, PYRCH_E_SHAPE = -5, PYRCH_E_STRIDE = -6, PYRCH_E_BOUNDS = -7,
    PYRCH_E_DTYPE = -8, PYRCH_E_NOMEM = -9, PYRCH_E_DST = -10, PYRCH_E_INDEX = -11,
    PYRCH_E_PYTHON = -12
};

typedef struct {
    int32_t n_instr, n_regs, n_in, n_const, n_out, ndim, dtype, nthreads;
    const int32_t *code;          /* n_instr rows of (opcode, dst, src0, src1, src2) */
    const double *consts;         /* n_const values */
    const int64_t *shape;         /* ndim output extents */
    char *const *in_ptr;          /* n_in base pointers */
    const int32_t *in_dtype;      /* n_in */
    const int64_t *in_strides;    /* n_in * ndim, bytes */
    const int64_t *in_nbytes;     /* n_in: size of the buffer behind each pointer */
    char *const *out_ptr;         /* n_out */
    const int32_t *out_dtype;
    const int64_t *out_strides;   /* n_out * ndim */
    const int64_t *out_nbytes;
    const int32_t *out_reg;       /* register holding each output */
    /* NULL, or per output: 1 = a sum over the dims where its strides are 0 (a reduction
     * fused after the elementwise program: the summed values are never stored), 0 = a
     * plain store. Sums are kept in double, one partial per thread, and written at the end.
     * 2 / 3 = softmax / log-softmax over the last dimension (a float32 program and output,
     * that dimension at most PYRCH_BLOCK long and unit-strided, no zero strides): each
     * block is then one whole row, and the row's values go from the register through the
     * row kernel into the output, so the elementwise prologue is never stored. */
    const int32_t *out_acc;
} pyrch_fused_t;

/* out_acc kinds */
enum { PYRCH_OUT_STORE = 0, PYRCH_OUT_SUM = 1, PYRCH_OUT_SOFTMAX = 2, PYRCH_OUT_LOG_SOFTMAX = 3 };

/* the most elements a summed output may have (its per-thread partials are doubles) */
#define PYRCH_MAX_ACC (1 << 20)

int pyrch_fused_validate(const pyrch_fused_t *p);
int pyrch_fused_run(const pyrch_fused_t *p);
int pyrch_n_opcodes(void);
const char *pyrch_opcode_hash(void);
const char *pyrch_opcode_name(int op);
int pyrch_opcode_arity(int op);

/* Run fn(ctx, 0..n-1) on the VM's thread pool, each part once, the caller claiming
 * parts too (see vm.c); returns how many threads could take part. Used by the VM,
 * GEMM, column sums and layer norm, so pyrch's threads never compete with each other. */
int pyrch_pool_run(void (*fn)(void *ctx, int part), void *ctx, int n);
/* The most parts one job is split into. */
#define PYRCH_MAX_PARTS 64
/* How many parts to split `items` (samples, rows, planes) into: nthreads, clamped to
 * [1, PYRCH_MAX_PARTS] and to items; 1 when `work` is under `min_work` (too little to
 * pay for waking a thread). pyrch_pool_run(fn, ctx, 1) runs fn(ctx, 0) in the caller. */
int pyrch_pool_parts(int nthreads, int64_t items, int64_t work, int64_t min_work);

#endif
