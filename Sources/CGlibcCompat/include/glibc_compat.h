// Definitions that keep a dynamically linked plugin within the glibc of the EKS node images (Amazon Linux 2023: 2.34).
//
// This toolchain's static Swift runtime was built against Debian 12's glibc 2.36 and refers to two symbols whose
// current version is newer than 2.34: arc4random (added in 2.36) and hypotf (re-versioned in 2.35). Defining them in
// the executable makes the link resolve them here, so a dynamic build (scripts/build-release.sh, BUILD_LINK=dynamic:
// the fallback where no libmnl.a can be had) asks the node's glibc for neither. The shipped static executable links
// them too, in place of libc.a's.
// The header exists so SwiftPM builds the target and the tests can call the definitions by their own names.
#ifndef ENI_MULTUS_GLIBC_COMPAT_H
#define ENI_MULTUS_GLIBC_COMPAT_H
#include <stdint.h>

/// A uniformly random 32-bit value from the kernel's CSPRNG (getrandom(2), retried on EINTR; never fails
/// silently: an unusable getrandom aborts, as glibc's own arc4random does).
uint32_t eni_multus_arc4random(void);

/// hypotf computed in double precision: exact for every float input (no overflow or underflow of the squares),
/// rounded once to float; an infinite argument gives +inf even beside a NaN (C99 F.10.4.3).
float eni_multus_hypotf(float x, float y);
#endif
