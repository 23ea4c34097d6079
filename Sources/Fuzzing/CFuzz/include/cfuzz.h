#ifndef CITYEYE_CFUZZ_H
#define CITYEYE_CFUZZ_H
#include <stddef.h>
#include <stdint.h>

/// Runs libFuzzer's driver on `callback`; returns -1 when the program was built without -sanitize=fuzzer (the
/// driver is then absent: a plain `swift build` of every product must still link).
int cityeye_run_fuzzer(int *argc, char ***argv, int (*callback)(const uint8_t *, size_t));

#endif
