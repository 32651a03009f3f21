/* See steps.h. */
#include <math.h>
#include <stddef.h>

#include "steps.h"
#include "attn.h"
#include "gemm.h"
#include "norm.h"
#include "rows.h"
#include "rowsel.h"
#include "vm.h"

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* One value of dtype `code` (PYRCH_SCALAR_*) at p, widened to double; 0 when p does not
 * hold one. */
static int read_scalar(const void *p, int64_t nbytes, int64_t code, double *out)
{
    int64_t size = code == PYRCH_SCALAR_F32 ? 4 : 8;
    if (code < PYRCH_SCALAR_F32 || code > PYRCH_SCALAR_I64 || p == NULL || nbytes < size)
        return 0;
    if (code == PYRCH_SCALAR_F32)
        *out = *(const float *)p;
    else if (code == PYRCH_SCALAR_F64)
        *out = *(const double *)p;
    else
        *out = (double)*(const int64_t *)p;
    return 1;
}

/* Adam's step size lr / (1 - beta1^step) and sqrt(1 - beta2^step) as Python computes
 * them on floats (pyrch/ops/nn.py _adam_scalars: the same libm pow, the square root as
 * pow(x, 0.5), each result rounded once to the output dtype). Where Python would raise
 * or leave float arithmetic (a zero or negative correction, a negative base's fractional
 * power) or a count is NaN, the call is refused and Python computes (and raises). */
static int adam_scalars(pyrch_call_t *c)
{
    const int64_t *i = c->i;
    double step, lr, b1, b2;
    if (!read_scalar(c->src[0], c->src_nbytes[0], i[0], &step) ||
        !read_scalar(c->src[1], c->src_nbytes[1], i[1], &lr) ||
        !read_scalar(c->src[2], c->src_nbytes[2], i[2], &b1) ||
        !read_scalar(c->src[3], c->src_nbytes[3], i[3], &b2))
        return PYRCH_E_BOUNDS;
    if (i[4] != PYRCH_SCALAR_F32 && i[4] != PYRCH_SCALAR_F64)
        return PYRCH_E_DTYPE;
    int64_t size = i[4] == PYRCH_SCALAR_F32 ? 4 : 8;
    if (c->dst[0] == NULL || c->dst[1] == NULL)
        return PYRCH_E_NULL;
    if (c->dst_nbytes[0] < size || c->dst_nbytes[1] < size)
        return PYRCH_E_BOUNDS;
    /* Python's float ** differs from pow only where it raises (a negative base with a
     * fractional exponent, 0 to a negative power): refused here */
    if ((b1 < 0 && step != floor(step)) || (b2 < 0 && step != floor(step)) ||
        ((b1 == 0 || b2 == 0) && step < 0))
        return PYRCH_E_COUNT;
    double bc1 = 1 - pow(b1, step), bc2 = 1 - pow(b2, step);
    if (bc1 == 0 || bc2 < 0 || isnan(bc1) || isnan(bc2))
        return PYRCH_E_COUNT;
    double a = lr / bc1, b = pow(bc2, 0.5);
    if (i[4] == PYRCH_SCALAR_F32) {
        *(float *)c->dst[0] = (float)a;
        *(float *)c->dst[1] = (float)b;
    } else {
        *(double *)c->dst[0] = a;
        *(double *)c->dst[1] = b;
    }
    return PYRCH_OK;
}

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
    case PYRCH_CALL_CE:
        if (i[3] < 0 || i[3] > 2)
            return PYRCH_E_COUNT;
        return pyrch_cross_entropy_reduce_f32(c->src[0], c->src_nbytes[0], c->src[1],
                                              c->src_nbytes[1], i[0], i[1], i[2], (int)i[3],
                                              c->dst[0], c->dst_nbytes[0], &c->bad, c->nthreads);
    case PYRCH_CALL_GATHER:
        if (i[0] != 1 && i[0] != 2 && i[0] != 4 && i[0] != 8)
            return PYRCH_E_DTYPE;
        return pyrch_gather_rows((int)i[0], c->src[0], c->src_nbytes[0], i[1], i[2], c->src[1],
                                 c->src_nbytes[1], i[3], c->dst[0], c->dst_nbytes[0]);
    case PYRCH_CALL_SCATTER_ADD:
        if (i[0] != 4 && i[0] != 8)
            return PYRCH_E_DTYPE;
        return pyrch_scatter_add_rows((int)i[0], c->dst[0], c->dst_nbytes[0], i[1], i[2],
                                      c->src[1], c->src_nbytes[1], i[3], c->src[0],
                                      c->src_nbytes[0]);
    case PYRCH_CALL_SUM_ROWS:
        if (i[0] != 4 && i[0] != 8)
            return PYRCH_E_DTYPE;
        return pyrch_sum_rows((int)i[0], c->src[0], c->src_nbytes[0], i[1], i[2], c->dst[0],
                              c->dst_nbytes[0], c->nthreads);
    case PYRCH_CALL_ADAM_SCALARS:
        return adam_scalars(c);
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
