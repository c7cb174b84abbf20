// See include/glibc_compat.h for why these symbols are defined here.
#include "glibc_compat.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <sys/random.h>

uint32_t eni_multus_arc4random(void) {
    uint32_t v;
    unsigned char *p = (unsigned char *)&v;
    size_t got = 0;
    while (got < sizeof v) {
        ssize_t n = getrandom(p + got, sizeof v - got, 0);
        if (n > 0) {
            got += (size_t)n;
        } else if (n < 0 && errno != EINTR) {
            abort();
        }
    }
    return v;
}

float eni_multus_hypotf(float x, float y) {
    if (isinf(x) || isinf(y)) return INFINITY;
    double dx = x, dy = y;
    return (float)__builtin_sqrt(dx * dx + dy * dy);
}

// The names the Swift runtime refers to. Strong definitions in the executable win over the shared libc's, so the
// linker records no dynamic reference to arc4random@GLIBC_2.36 or hypotf@GLIBC_2.35.
uint32_t arc4random(void) { return eni_multus_arc4random(); }
float hypotf(float x, float y) { return eni_multus_hypotf(x, y); }
