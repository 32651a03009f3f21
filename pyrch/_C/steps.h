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

enum { PYRCH_STEP_GEMM = 1, PYRCH_STEP_FUSED = 2, PYRCH_STEP_PYTHON = 3 };

typedef struct {
    int32_t kind;                 /* PYRCH_STEP_GEMM: desc is a pyrch_gemm_t;
                                   * PYRCH_STEP_FUSED: desc is a pyrch_fused_t;
                                   * PYRCH_STEP_PYTHON: desc is a pyrch_pystep_t */
    const void *desc;
} pyrch_step_t;

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
