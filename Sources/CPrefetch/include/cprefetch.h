#ifndef CITYEYE_CPREFETCH_H
#define CITYEYE_CPREFETCH_H

/// Asks the CPU to start loading the cache line at `p` now, so that a later access does not wait for memory.
static inline void cityeye_prefetch(const void *p) { __builtin_prefetch(p, 1, 3); }

#endif
