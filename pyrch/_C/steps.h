/* A run of plan steps in one call: a traced graph's consecutive native steps (GEMMs and
 * fused elementwise programs), described once in Python and replayed without returning
 * to Python between them (pyrch/jit/segments.py).
 *
 * Each step is validated as it runs, exactly as a lone call would be (pyrch_gemm and
 * pyrch_fused_run check every count, stride and extent against the buffer sizes given),
 * so a wrong description is refused, never run. The first refusal stops the run: the
 * steps before it have run, none after it. */
#ifndef PYRCH_STEPS_H
#define PYRCH_STEPS_H
#include <stdint.h>

enum { PYRCH_STEP_GEMM = 1, PYRCH_STEP_FUSED = 2 };

typedef struct {
    int32_t kind;                 /* PYRCH_STEP_GEMM: desc is a pyrch_gemm_t;
                                   * PYRCH_STEP_FUSED: desc is a pyrch_fused_t */
    const void *desc;
} pyrch_step_t;

/* Runs steps[0 .. n-1] in order. Returns 0, or the status of the first step that was
 * refused, with its index in *failed (when failed is not NULL; -1 when the list itself
 * was refused). */
int pyrch_run_steps(const pyrch_step_t *steps, int32_t n, int32_t *failed);

#endif
