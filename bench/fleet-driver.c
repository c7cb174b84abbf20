// bench/fleet-driver.c: the pod churn of bench/fleet.sh. One thread per simulated pod; each thread enters its node's
// network namespace (setns is per thread, and a process spawned from a thread inherits that thread's namespaces),
// then repeats ADD then DEL of the plugin until the deadline, exec'ing it exactly as a runtime execs a plugin
// (bench/driver.c's way: posix_spawn with the CNI environment, the config on stdin, stdout/stderr drained, waitpid).
// A DEL follows every ADD, failed or not (a runtime cleans up a failed ADD with DEL). Unlike driver.c, a failing
// exec does not stop the run: it is recorded with its CNI error code.
//
//   fleet-driver SECONDS PODS BINARY NODE...      NODE := NAME,NETNS_PATH,CONF_FILE,AGENT_SOCKET
//
// Each exec prints one JSON line on stdout:
//   {"node":"n1","pod":0,"cycle":3,"verb":"ADD","t":12.345,"us":81234,"rc":0,"code":null,"msg":""}
// t: seconds from the start to the exec's start; us: its duration (posix_spawn to waitpid); code/msg: the CNI error
// (from the plugin's stdout) when rc != 0. FLEET_MAX_CYCLES (environment, default 0 = no limit) stops each pod after
// that many cycles.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char name[64], netns[256], sock[256];
    char *conf;
    size_t conflen;
} Node;

typedef struct {
    Node *node;
    int pod;
} Pod;

static const char *binary;
static double start_s, end_s;
static long max_cycles;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

static char *slurp(const char *path, size_t *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die(path);
    struct stat st;
    if (fstat(fd, &st) != 0) die("fstat");
    char *b = malloc(st.st_size + 1);
    size_t n = 0;
    while (n < (size_t)st.st_size) {
        ssize_t r = read(fd, b + n, st.st_size - n);
        if (r <= 0) die("read conf");
        n += r;
    }
    b[n] = 0;
    close(fd);
    *len = n;
    return b;
}

typedef struct {
    char *buf;
    size_t len, cap;
} Buf;

static void buf_add(Buf *b, const char *p, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->buf = realloc(b->buf, b->cap);
    }
    memcpy(b->buf + b->len, p, n);
    b->len += n;
    b->buf[b->len] = 0;
}

// Writes the config to stdin and drains stdout/stderr until EOF on both.
static void exchange(int ifd, const char *conf, size_t conflen, int ofd, int efd, Buf *out) {
    struct pollfd p[3] = {{ofd, POLLIN, 0}, {efd, POLLIN, 0}, {ifd, POLLOUT, 0}};
    size_t written = 0;
    int open_out = 2;
    if (conflen == 0) { close(ifd); p[2].fd = -1; }
    char tmp[8192];
    while (open_out > 0 || p[2].fd >= 0) {
        if (poll(p, 3, -1) < 0) {
            if (errno == EINTR) continue;
            die("poll");
        }
        for (int i = 0; i < 2; i++) {
            if (p[i].fd >= 0 && (p[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                ssize_t r = read(p[i].fd, tmp, sizeof tmp);
                if (r > 0) {
                    if (i == 0) buf_add(out, tmp, r);
                } else if (r == 0 || errno != EINTR) {
                    close(p[i].fd);
                    p[i].fd = -1;
                    open_out--;
                }
            }
        }
        if (p[2].fd >= 0 && (p[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w = write(p[2].fd, conf + written, conflen - written);
            if (w > 0) written += w;
            if (w < 0 && errno != EINTR && errno != EAGAIN) written = conflen;  // EPIPE: the plugin stopped reading
            if (written >= conflen) {
                close(p[2].fd);
                p[2].fd = -1;
            }
        }
    }
}

// The CNI error's code and msg from the plugin's stdout ({"cniVersion","code","msg","details"}); msg is copied as
// it stands in the JSON (already escaped), cut at 300 bytes without leaving a dangling escape.
static void cni_error(const char *out, int *code, char *msg, size_t cap) {
    *code = -1;
    msg[0] = 0;
    const char *c = strstr(out, "\"code\"");
    if (c) {
        c = strchr(c + 6, ':');
        if (c) *code = atoi(c + 1);
    }
    const char *m = strstr(out, "\"msg\"");
    if (!m) return;
    m = strchr(m + 5, '"');
    if (!m) return;
    m++;
    size_t n = 0;
    while (m[n] && m[n] != '"' && n + 2 < cap) {
        if (m[n] == '\\' && m[n + 1]) {
            if (n + 3 >= cap) break;
            msg[n] = m[n];
            msg[n + 1] = m[n + 1];
            n += 2;
            continue;
        }
        msg[n] = m[n];
        n++;
        if (n >= 300) break;
    }
    msg[n] = 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)msg[i] < 0x20) msg[i] = ' ';
}

static void run_one(Pod *pod, const char *verb, const char *cid, long cycle) {
    Node *node = pod->node;
    char e_cmd[64], e_cid[160], e_netns[300], e_sock[300], e_args[400];
    snprintf(e_cmd, sizeof e_cmd, "CNI_COMMAND=%s", verb);
    snprintf(e_cid, sizeof e_cid, "CNI_CONTAINERID=%s", cid);
    snprintf(e_netns, sizeof e_netns, "CNI_NETNS=%s", node->netns);
    snprintf(e_sock, sizeof e_sock, "ENI_MULTUS_AGENT_SOCKET=%s", node->sock);
    snprintf(e_args, sizeof e_args, "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=fleet;K8S_POD_NAME=%s;K8S_POD_UID=uid-%s", cid, cid);
    char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", e_cmd, e_cid, e_netns, "CNI_IFNAME=net1",
                    "CNI_PATH=/nonexistent", e_args, e_sock, NULL};
    char *argv[] = {(char *)binary, NULL};
    int in[2], out[2], err[2];
    if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) die("pipe2");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    Buf ob = {0};
    buf_add(&ob, "", 0);
    double t0 = now_s();
    pid_t pid;
    int rc = posix_spawn(&pid, binary, &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    close(err[1]);
    int status = 0;
    if (rc != 0) {
        errno = rc;
        die("posix_spawn");
    }
    exchange(in[1], node->conf, node->conflen, out[0], err[0], &ob);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    double t1 = now_s();
    int exitc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    int code = -1;
    char msg[320] = "";
    if (exitc != 0) cni_error(ob.buf, &code, msg, sizeof msg);
    char codebuf[16];
    if (exitc != 0 && code >= 0) snprintf(codebuf, sizeof codebuf, "%d", code);
    else snprintf(codebuf, sizeof codebuf, "null");
    pthread_mutex_lock(&out_lock);
    printf("{\"node\":\"%s\",\"pod\":%d,\"cycle\":%ld,\"verb\":\"%s\",\"t\":%.3f,\"us\":%.0f,\"rc\":%d,\"code\":%s,\"msg\":\"%s\"}\n",
           node->name, pod->pod, cycle, verb, t0 - start_s, (t1 - t0) * 1e6, exitc, codebuf, msg);
    fflush(stdout);
    pthread_mutex_unlock(&out_lock);
    free(ob.buf);
}

static void *pod_main(void *arg) {
    Pod *pod = arg;
    int fd = open(pod->node->netns, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die(pod->node->netns);
    if (setns(fd, CLONE_NEWNET) != 0) die("setns");
    close(fd);
    for (long cycle = 0; now_s() < end_s && (max_cycles == 0 || cycle < max_cycles); cycle++) {
        char cid[128];
        snprintf(cid, sizeof cid, "fleet-%s-p%d-c%ld", pod->node->name, pod->pod, cycle);
        run_one(pod, "ADD", cid, cycle);
        run_one(pod, "DEL", cid, cycle);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: fleet-driver SECONDS PODS BINARY NAME,NETNS,CONF,SOCKET...\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    double seconds = atof(argv[1]);
    int pods = atoi(argv[2]);
    binary = argv[3];
    const char *mc = getenv("FLEET_MAX_CYCLES");
    max_cycles = mc ? atol(mc) : 0;
    int nnodes = argc - 4;
    Node *nodes = calloc(nnodes, sizeof *nodes);
    for (int i = 0; i < nnodes; i++) {
        char *spec = strdup(argv[4 + i]);
        char *f[4];
        for (int k = 0; k < 4; k++) {
            f[k] = strsep(&spec, ",");
            if (!f[k]) {
                fprintf(stderr, "fleet-driver: bad node spec %s\n", argv[4 + i]);
                return 2;
            }
        }
        snprintf(nodes[i].name, sizeof nodes[i].name, "%s", f[0]);
        snprintf(nodes[i].netns, sizeof nodes[i].netns, "%s", f[1]);
        nodes[i].conf = slurp(f[2], &nodes[i].conflen);
        snprintf(nodes[i].sock, sizeof nodes[i].sock, "%s", f[3]);
    }
    int n = nnodes * pods;
    pthread_t *th = calloc(n, sizeof *th);
    Pod *ps = calloc(n, sizeof *ps);
    start_s = now_s();
    end_s = start_s + seconds;
    for (int i = 0; i < n; i++) {
        ps[i].node = &nodes[i / pods];
        ps[i].pod = i % pods;
        if (pthread_create(&th[i], NULL, pod_main, &ps[i]) != 0) die("pthread_create");
    }
    for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
    fprintf(stderr, "fleet-driver: %d pods on %d nodes, %.1f s\n", n, nnodes, now_s() - start_s);
    return 0;
}
