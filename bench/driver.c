// bench/driver.c: the benchmark's timing driver. It execs CNI plugins exactly as a runtime does (environment +
// config on stdin, result on stdout) and times each exec from just before posix_spawn() to the return of wait4(),
// stdin written and stdout/stderr drained in between. The harness cost is the same for every side and small
// (a static C program, posix_spawn = clone(CLONE_VM|CLONE_VFORK) + execve).
//
//   driver cycle   ROW N WARMUP  SIDE [-- SIDE]...   ADD then DEL per side, sides alternating (order flipped on
//                                                     every iteration), CNI_CONTAINERID unique per iteration
//   driver version ROW N WARMUP  SIDE [-- SIDE]...   one VERSION exec per side per iteration
//   driver rss     ROW N         SIDE [-- SIDE]...   VERSION under ptrace: VmHWM read from /proc/PID/status at the
//                                                     PTRACE_EVENT_EXIT stop (the exiting process's own peak RSS,
//                                                     not the inherited ru_maxrss), also ru_maxrss for comparison
//   SIDE := NAME BINARY CONFFILE [KEY=VALUE]...       (CNI_COMMAND and CNI_CONTAINERID are set by the driver)
//
// DRIVER_AFTER_EXEC (cycle mode): a shell command run after every exec, outside the timed interval, with
// DRIVER_SIDE, DRIVER_VERB (ADD/DEL) and DRIVER_ITER (negative during warm-up) set; row 5 reads the emulator's
// call counters there, so calls are attributed to each ADD and DEL.
//
// Prints one JSON object per side on stdout: {"row","side","n","cycle"|"exec",...: {"median_us","min_us",...}}.
// Any non-zero exit of a plugin aborts the run with its stdout/stderr on stderr.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

typedef struct {
    const char *name, *bin;
    char *conf;
    size_t conflen;
    char **env;  // KEY=VALUE, plus 2 slots for CNI_COMMAND / CNI_CONTAINERID, NULL-terminated
    int nenv;
    double *a, *b; // per-iteration µs: ADD (or exec) and DEL
    long *rss_hwm, *rss_ru, *rss_anon, *rss_file;
} Side;

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static char outbuf[1 << 20], errbuf[1 << 16];
static size_t outlen, errlen;

static void die(const char *what) { perror(what); exit(2); }

static char *slurp(const char *path, size_t *len) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) die(path);
    struct stat st;
    fstat(fd, &st);
    char *b = malloc(st.st_size + 1);
    size_t n = 0;
    while (n < (size_t)st.st_size) {
        ssize_t r = read(fd, b + n, st.st_size - n);
        if (r <= 0) die("read conf");
        n += r;
    }
    close(fd);
    *len = n;
    return b;
}

// Drains both pipes until EOF on both.
static void drain(int ofd, int efd) {
    struct pollfd p[2] = {{ofd, POLLIN, 0}, {efd, POLLIN, 0}};
    int open_ = 2;
    outlen = errlen = 0;
    while (open_ > 0) {
        if (poll(p, 2, -1) < 0) { if (errno == EINTR) continue; die("poll"); }
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char tmp[65536];
            ssize_t r = read(p[i].fd, tmp, sizeof tmp);
            if (r <= 0) { close(p[i].fd); p[i].fd = -1; open_--; continue; }
            if (i == 0) { size_t c = r; if (outlen + c > sizeof outbuf) c = sizeof outbuf - outlen; memcpy(outbuf + outlen, tmp, c); outlen += c; }
            else { size_t c = r; if (errlen + c > sizeof errbuf) c = sizeof errbuf - errlen; memcpy(errbuf + errlen, tmp, c); errlen += c; }
        }
    }
}

static void fail(Side *s, const char *cmd, int status) {
    fprintf(stderr, "driver: %s %s failed (status 0x%x)\n--- stdout:\n%.*s\n--- stderr:\n%.*s\n", s->name, cmd,
            status, (int)outlen, outbuf, (int)errlen, errbuf);
    exit(1);
}

// One exec; returns wall µs. trace: run under ptrace and store VmHWM (kB) at exit in *hwm.
static long last_anon, last_file;  // RssAnon / RssFile (kB) at the last exit stop

static double run1(Side *s, const char *cmd, const char *cid, long *hwm, long *ru_rss) {
    static char cmdv[64], cidv[256];
    snprintf(cmdv, sizeof cmdv, "CNI_COMMAND=%s", cmd);
    snprintf(cidv, sizeof cidv, "CNI_CONTAINERID=%s", cid);
    s->env[s->nenv] = cmdv;
    s->env[s->nenv + 1] = cidv;
    s->env[s->nenv + 2] = NULL;
    int in[2], out[2], err[2];
    if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) die("pipe");
    char *argv[] = {(char *)s->bin, NULL};
    pid_t pid;
    int status;
    struct rusage ru;
    double t0 = now_us();
    if (!hwm) {
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, in[0], 0);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        posix_spawn_file_actions_adddup2(&fa, err[1], 2);
        int e = posix_spawn(&pid, s->bin, &fa, NULL, argv, s->env);
        posix_spawn_file_actions_destroy(&fa);
        if (e) { errno = e; die(s->bin); }
        close(in[0]); close(out[1]); close(err[1]);
        if (write(in[1], s->conf, s->conflen) != (ssize_t)s->conflen && errno != EPIPE) die("write stdin");
        close(in[1]);
        drain(out[0], err[0]);
        if (wait4(pid, &status, 0, &ru) < 0) die("wait4");
    } else {
        pid = fork();
        if (pid == 0) {
            dup2(in[0], 0); dup2(out[1], 1); dup2(err[1], 2);
            ptrace(PTRACE_TRACEME, 0, 0, 0);
            execve(s->bin, argv, s->env);
            _exit(127);
        }
        close(in[0]); close(out[1]); close(err[1]);
        if (waitpid(pid, &status, 0) < 0 || !WIFSTOPPED(status)) die("ptrace exec stop");
        ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL);
        if (write(in[1], s->conf, s->conflen) != (ssize_t)s->conflen && errno != EPIPE) die("write stdin");
        close(in[1]);
        ptrace(PTRACE_CONT, pid, 0, 0);
        *hwm = -1;
        for (;;) {
            if (wait4(pid, &status, __WALL, &ru) < 0) die("wait4");
            if (WIFEXITED(status) || WIFSIGNALED(status)) break;
            int sig = WSTOPSIG(status);
            if (sig == SIGTRAP && (status >> 16) == PTRACE_EVENT_EXIT) {
                char p[64], line[256];
                snprintf(p, sizeof p, "/proc/%d/status", pid);
                FILE *f = fopen(p, "r");
                while (f && fgets(line, sizeof line, f))
                    if (!strncmp(line, "VmHWM:", 6)) *hwm = strtol(line + 6, NULL, 10);
                    else if (!strncmp(line, "RssAnon:", 8)) last_anon = strtol(line + 8, NULL, 10);
                    else if (!strncmp(line, "RssFile:", 8)) last_file = strtol(line + 8, NULL, 10);
                if (f) fclose(f);
                sig = 0;
            } else if (sig == SIGTRAP) sig = 0;
            ptrace(PTRACE_CONT, pid, 0, sig);
        }
        drain(out[0], err[0]);
    }
    double t1 = now_us();
    if (ru_rss) *ru_rss = ru.ru_maxrss;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail(s, cmd, status);
    return t1 - t0;
}

static int cmpd(const void *x, const void *y) { double a = *(double *)x, b = *(double *)y; return (a > b) - (a < b); }
static int cmpl(const void *x, const void *y) { long a = *(long *)x, b = *(long *)y; return (a > b) - (a < b); }

static void stats(const char *key, double *v, int n) {
    double *c = malloc(n * sizeof *c), sum = 0;
    memcpy(c, v, n * sizeof *c);
    qsort(c, n, sizeof *c, cmpd);
    for (int i = 0; i < n; i++) sum += c[i];
    double med = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
    printf(",\"%s\":{\"median_us\":%.1f,\"min_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f,\"p90_us\":%.1f}", key, med,
           c[0], c[n - 1], sum / n, c[(int)(0.9 * (n - 1))]);
    free(c);
}

static void after_exec(const char *hook, Side *s, const char *verb, int it) {
    if (!hook || !*hook) return;
    char iter[32];
    snprintf(iter, sizeof iter, "%d", it);
    setenv("DRIVER_SIDE", s->name, 1);
    setenv("DRIVER_VERB", verb, 1);
    setenv("DRIVER_ITER", iter, 1);
    int st = system(hook);
    if (st != 0) { fprintf(stderr, "driver: DRIVER_AFTER_EXEC failed (status 0x%x)\n", st); exit(1); }
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: see bench/driver.c\n"); return 2; }
    signal(SIGPIPE, SIG_IGN);
    const char *mode = argv[1], *row = argv[2];
    int n = atoi(argv[3]), warm = 0, ai = 4;
    if (strcmp(mode, "rss")) warm = atoi(argv[ai++]);
    Side sides[8];
    int ns = 0;
    while (ai < argc) {
        if (!strcmp(argv[ai], "--")) { ai++; continue; }
        if (ns == 8 || ai + 2 >= argc) { fprintf(stderr, "driver: bad side list\n"); return 2; }
        Side *s = &sides[ns++];
        s->name = argv[ai];
        s->bin = argv[ai + 1];
        s->conf = slurp(argv[ai + 2], &s->conflen);
        ai += 3;
        int k = ai;
        while (k < argc && strcmp(argv[k], "--")) k++;
        s->nenv = k - ai;
        s->env = calloc(s->nenv + 3, sizeof(char *));
        for (int j = 0; j < s->nenv; j++) s->env[j] = argv[ai + j];
        ai = k;
        s->a = calloc(n, sizeof(double));
        s->b = calloc(n, sizeof(double));
        s->rss_hwm = calloc(n, sizeof(long));
        s->rss_ru = calloc(n, sizeof(long));
        s->rss_anon = calloc(n, sizeof(long));
        s->rss_file = calloc(n, sizeof(long));
    }
    char cid[128];
    const char *hook = getenv("DRIVER_AFTER_EXEC");
    for (int it = -warm; it < n; it++) {
        for (int jj = 0; jj < ns; jj++) {
            int j = (it & 1) ? ns - 1 - jj : jj; // alternate the order every iteration
            Side *s = &sides[j];
            snprintf(cid, sizeof cid, "bench-%d-%d", (int)getpid(), it + warm);
            if (!strcmp(mode, "cycle")) {
                double a = run1(s, "ADD", cid, NULL, NULL);
                after_exec(hook, s, "ADD", it);
                double b = run1(s, "DEL", cid, NULL, NULL);
                after_exec(hook, s, "DEL", it);
                if (it >= 0) { s->a[it] = a; s->b[it] = b; }
            } else if (!strcmp(mode, "version")) {
                long ru;
                double a = run1(s, "VERSION", cid, NULL, &ru);
                if (it >= 0) { s->a[it] = a; s->rss_ru[it] = ru; }
            } else if (!strcmp(mode, "rss")) {
                long hwm, ru;
                run1(s, "VERSION", cid, &hwm, &ru);
                s->rss_hwm[it] = hwm;
                s->rss_ru[it] = ru;
                s->rss_anon[it] = last_anon;
                s->rss_file[it] = last_file;
            } else { fprintf(stderr, "driver: unknown mode %s\n", mode); return 2; }
        }
    }
    for (int j = 0; j < ns; j++) {
        Side *s = &sides[j];
        printf("{\"row\":\"%s\",\"side\":\"%s\",\"n\":%d", row, s->name, n);
        if (!strcmp(mode, "cycle")) {
            double *c = malloc(n * sizeof *c);
            for (int i = 0; i < n; i++) c[i] = s->a[i] + s->b[i];
            stats("cycle", c, n);
            stats("add", s->a, n);
            stats("del", s->b, n);
            free(c);
        } else if (!strcmp(mode, "version")) {
            stats("exec", s->a, n);
        } else {
            qsort(s->rss_hwm, n, sizeof(long), cmpl);
            qsort(s->rss_ru, n, sizeof(long), cmpl);
            qsort(s->rss_anon, n, sizeof(long), cmpl);
            qsort(s->rss_file, n, sizeof(long), cmpl);
            printf(",\"vmhwm_kb\":{\"median\":%ld,\"min\":%ld,\"max\":%ld},\"ru_maxrss_kb\":{\"median\":%ld}"
                   ",\"at_exit_kb\":{\"anon\":%ld,\"file\":%ld}",
                   s->rss_hwm[n / 2], s->rss_hwm[0], s->rss_hwm[n - 1], s->rss_ru[n / 2], s->rss_anon[n / 2],
                   s->rss_file[n / 2]);
        }
        printf("}\n");
    }
    return 0;
}
