/*
 * LD_PRELOAD shim for Debian's user-mode-linux 6.1 on hosts whose XSAVE area
 * includes AMX (Intel Sapphire Rapids and later), like this project's
 * machines.
 *
 * UML 6.1 keeps each guest task's FPU state in a fixed 2696-byte buffer
 * (legacy area, header, AVX, AVX-512 opmask/ZMM, PKRU) and moves it with
 * PTRACE_GETREGSET / PTRACE_SETREGSET(NT_X86_XSTATE).  A short GETREGSET is
 * fine, but the host kernel fails any SETREGSET that is not exactly its full
 * xstate size (11008 bytes with AMX) with EFAULT, so the UML kernel panics as
 * soon as init runs:
 *     userspace - ptrace set fp regs failed, errno = 14
 *     Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b
 * Upstream fixed this after 6.1 ("um: switch to regset API and depend on
 * XSTATE"); bookworm ships 6.1.
 *
 * This shim interposes ptrace() in the linux.uml process: a short
 * NT_X86_XSTATE SETREGSET is widened to the host's full size, the part past
 * UML's buffer zero-filled.  That part holds only AMX tile state, which no
 * guest task can have enabled (its XSTATE_BV bits, in UML's part, are clear),
 * so nothing is lost.  Everything else passes through unchanged.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif

typedef long (*ptrace_fn)(int, pid_t, void *, void *);

static ptrace_fn real_ptrace;
static size_t host_size;                 /* full host xstate size, 0 = unknown */
static unsigned char buf[65536] __attribute__((aligned(64)));

static long call(int req, pid_t pid, void *addr, void *data)
{
	if (!real_ptrace)
		real_ptrace = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");
	return real_ptrace(req, pid, addr, data);
}

long ptrace(enum __ptrace_request request, ...)
{
	va_list ap;
	va_start(ap, request);
	pid_t pid = va_arg(ap, pid_t);
	void *addr = va_arg(ap, void *);
	void *data = va_arg(ap, void *);
	va_end(ap);

	int req = (int)request;
	if (req != PTRACE_SETREGSET || (uintptr_t)addr != NT_X86_XSTATE || !data)
		return call(req, pid, addr, data);

	struct iovec *uiov = data;
	int saved = errno;
	if (!host_size) {
		struct iovec probe = { buf, sizeof(buf) };
		if (call(PTRACE_GETREGSET, pid, addr, &probe) < 0 ||
		    probe.iov_len > sizeof(buf)) {
			errno = saved;
			return call(req, pid, addr, data);
		}
		host_size = probe.iov_len;
	}
	if (uiov->iov_len >= host_size) {
		errno = saved;
		return call(req, pid, addr, data);
	}
	memcpy(buf, uiov->iov_base, uiov->iov_len);
	memset(buf + uiov->iov_len, 0, host_size - uiov->iov_len);
	struct iovec full = { buf, host_size };
	errno = saved;
	return call(PTRACE_SETREGSET, pid, addr, &full);
}
