/* Small self-test entry points used at import to prove the extension works. */
#include <stddef.h>
#include "core.h"

int pyrch_abi_version(void) { return PYRCH_ABI_VERSION; }

/* Sum n int64 values into *out. Returns -1 for a NULL pointer or negative n. */
long long pyrch_checked_sum_i64(const long long *xs, long long n, long long *out)
{
    if (out == NULL || n < 0 || (n > 0 && xs == NULL))
        return -1;
    long long s = 0;
    for (long long i = 0; i < n; i++)
        s += xs[i];
    *out = s;
    return 0;
}
