/* See steps.h. */
#include <stddef.h>

#include "steps.h"
#include "attn.h"
#include "gemm.h"
#include "norm.h"
#include "rows.h"
#include "vm.h"

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

int pyrch_call(pyrch_call_t *c)
{
    if (c == NULL)
        return PYRCH_E_NULL;
    const int64_t *i = c->i;
    switch (c->fn) {
    case PYRCH_CALL_SOFTMAX:
        if (i[1] < 0 || i[2] < 0 || i[2] > 1)
            return PYRCH_E_COUNT;
        return pyrch_softmax_f32(c->src[0], c->src_nbytes[0], i[1], c->dst[0], c->dst_nbytes[0],
                                 i[1], i[0], i[1], (int)i[2], c->nthreads);
    case PYRCH_CALL_SOFTMAX_BACKWARD:
        if (i[2] < 0 || i[2] > 1)
            return PYRCH_E_COUNT;
        return pyrch_softmax_backward_f32(c->src[0], c->src_nbytes[0], c->src[1], c->src_nbytes[1],
                                          c->dst[0], c->dst_nbytes[0], i[0], i[1], (int)i[2],
                                          c->nthreads);
    case PYRCH_CALL_LAYER_NORM:
        return pyrch_layer_norm_f32(c->src[0], c->src_nbytes[0], i[0], i[1], c->src[1], c->src[2],
                                    min64(c->src_nbytes[1], c->src_nbytes[2]), c->eps, c->dst[0],
                                    c->dst_nbytes[0], c->nthreads);
    case PYRCH_CALL_LAYER_NORM_BACKWARD:
        return pyrch_layer_norm_backward_f32(
            c->src[0], c->src[1], min64(min64(c->src_nbytes[0], c->src_nbytes[1]), c->dst_nbytes[0]),
            i[0], i[1], c->src[2], c->src_nbytes[2], c->eps, c->dst[0], c->dst[1], c->dst[2],
            min64(c->dst_nbytes[1], c->dst_nbytes[2]), c->nthreads);
    case PYRCH_CALL_CE_BACKWARD:
        if (i[2] < 0 || i[2] > 1 || i[3] < 0 || i[3] > 1)
            return PYRCH_E_COUNT;
        return pyrch_cross_entropy_backward_f32(c->src[0], c->src_nbytes[0], i[2], (int)i[3],
                                                c->src[1], c->src_nbytes[1], c->src[2],
                                                c->src_nbytes[2], i[0], i[1], i[4], c->dst[0],
                                                c->dst_nbytes[0], &c->bad, c->nthreads);
    default:
        return PYRCH_E_OPCODE;
    }
}

int pyrch_run_steps(const pyrch_step_t *steps, int32_t n, int32_t *failed)
{
    if (failed != NULL)
        *failed = -1;
    if (n < 0)
        return PYRCH_E_COUNT;
    if (n > 0 && steps == NULL)
        return PYRCH_E_NULL;
    for (int32_t i = 0; i < n; i++) {
        int rc;
        if (steps[i].desc == NULL)
            rc = PYRCH_E_NULL;
        else if (steps[i].kind == PYRCH_STEP_GEMM)
            rc = pyrch_gemm((const pyrch_gemm_t *)steps[i].desc);
        else if (steps[i].kind == PYRCH_STEP_FUSED)
            rc = pyrch_fused_run((const pyrch_fused_t *)steps[i].desc);
        else if (steps[i].kind == PYRCH_STEP_CALL)
            rc = pyrch_call((pyrch_call_t *)steps[i].desc);
        else if (steps[i].kind == PYRCH_STEP_ATTN)
            rc = pyrch_attention((const pyrch_attn_t *)steps[i].desc);
        else if (steps[i].kind == PYRCH_STEP_PYTHON) {
            const pyrch_pystep_t *p = (const pyrch_pystep_t *)steps[i].desc;
            int32_t r = pyrch_py_step(p->token, p->id);
            if (r <= 0)
                rc = PYRCH_E_PYTHON;
            else if (r - 1 > n - 1 - i)
                rc = PYRCH_E_COUNT;
            else {
                i += r - 1;          /* the steps Python ran in its place */
                continue;
            }
        } else
            rc = PYRCH_E_OPCODE;
        if (rc != PYRCH_OK) {
            if (failed != NULL)
                *failed = i;
            return rc;
        }
    }
    return PYRCH_OK;
}
