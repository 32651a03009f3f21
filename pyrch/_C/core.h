/* pyrch/_C: public entry points. Every function returns a status code
 * (0 = ok, negative = error) and never trusts its arguments blindly. */
#ifndef PYRCH_CORE_H
#define PYRCH_CORE_H

#define PYRCH_ABI_VERSION 1

int pyrch_abi_version(void);
long long pyrch_checked_sum_i64(const long long *xs, long long n, long long *out);

#endif
