/* See steps.h. */
#include <stddef.h>

#include "steps.h"
#include "gemm.h"
#include "vm.h"

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
