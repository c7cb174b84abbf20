// Measurement-only: a minimal libmnl (the 23 functions eni-multus uses), so -static-executable can link.
#include <errno.h>
#include <libmnl/libmnl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
struct mnl_socket { int fd; struct sockaddr_nl addr; };
struct mnl_socket *mnl_socket_open2(int bus, int flags) {
    struct mnl_socket *nl = calloc(1, sizeof *nl); if (!nl) return NULL;
    nl->fd = socket(AF_NETLINK, SOCK_RAW | flags, bus);
    if (nl->fd < 0) { free(nl); return NULL; }
    return nl;
}
struct mnl_socket *mnl_socket_open(int bus) { return mnl_socket_open2(bus, 0); }
int mnl_socket_bind(struct mnl_socket *nl, unsigned int groups, pid_t pid) {
    nl->addr.nl_family = AF_NETLINK; nl->addr.nl_groups = groups; nl->addr.nl_pid = pid;
    if (bind(nl->fd, (struct sockaddr *)&nl->addr, sizeof nl->addr) < 0) return -1;
    socklen_t l = sizeof nl->addr;
    if (getsockname(nl->fd, (struct sockaddr *)&nl->addr, &l) < 0) return -1;
    if (l != sizeof nl->addr || nl->addr.nl_family != AF_NETLINK) { errno = EINVAL; return -1; }
    return 0;
}
int mnl_socket_close(struct mnl_socket *nl) { int r = close(nl->fd); free(nl); return r; }
int mnl_socket_get_fd(const struct mnl_socket *nl) { return nl->fd; }
unsigned int mnl_socket_get_portid(const struct mnl_socket *nl) { return nl->addr.nl_pid; }
ssize_t mnl_socket_sendto(const struct mnl_socket *nl, const void *buf, size_t len) {
    static const struct sockaddr_nl snl = {.nl_family = AF_NETLINK};
    return sendto(nl->fd, buf, len, 0, (const struct sockaddr *)&snl, sizeof snl);
}
ssize_t mnl_socket_recvfrom(const struct mnl_socket *nl, void *buf, size_t bufsiz) {
    struct sockaddr_nl addr; struct iovec iov = {buf, bufsiz};
    struct msghdr msg = {.msg_name = &addr, .msg_namelen = sizeof addr, .msg_iov = &iov, .msg_iovlen = 1};
    ssize_t r = recvmsg(nl->fd, &msg, 0);
    if (r == -1) return r;
    if (msg.msg_flags & MSG_TRUNC) { errno = ENOSPC; return -1; }
    if (msg.msg_namelen != sizeof addr) { errno = EINVAL; return -1; }
    return r;
}
int mnl_socket_setsockopt(const struct mnl_socket *nl, int type, void *buf, socklen_t len) {
    return setsockopt(nl->fd, SOL_NETLINK, type, buf, len);
}
struct nlmsghdr *mnl_nlmsg_put_header(void *buf) {
    int len = MNL_ALIGN(sizeof(struct nlmsghdr)); struct nlmsghdr *n = buf;
    memset(buf, 0, len); n->nlmsg_len = len; return n;
}
void *mnl_nlmsg_put_extra_header(struct nlmsghdr *n, size_t size) {
    char *p = (char *)n + n->nlmsg_len; n->nlmsg_len += MNL_ALIGN(size); memset(p, 0, MNL_ALIGN(size)); return p;
}
void *mnl_nlmsg_get_payload_tail(const struct nlmsghdr *n) { return (char *)n + MNL_ALIGN(n->nlmsg_len); }
uint16_t mnl_attr_get_type(const struct nlattr *a) { return a->nla_type & NLA_TYPE_MASK; }
uint16_t mnl_attr_get_payload_len(const struct nlattr *a) { return a->nla_len - MNL_ATTR_HDRLEN; }
void *mnl_attr_get_payload(const struct nlattr *a) { return (char *)a + MNL_ATTR_HDRLEN; }
bool mnl_attr_ok(const struct nlattr *a, int len) {
    return len >= (int)sizeof(struct nlattr) && a->nla_len >= sizeof(struct nlattr) && (int)a->nla_len <= len;
}
struct nlattr *mnl_attr_next(const struct nlattr *a) { return (struct nlattr *)((char *)a + MNL_ALIGN(a->nla_len)); }
void mnl_attr_put(struct nlmsghdr *n, uint16_t type, size_t len, const void *data) {
    struct nlattr *a = mnl_nlmsg_get_payload_tail(n);
    uint16_t plen = MNL_ALIGN(sizeof(struct nlattr)) + len;
    a->nla_type = type; a->nla_len = plen;
    memcpy(mnl_attr_get_payload(a), data, len);
    int pad = MNL_ALIGN(len) - len; if (pad > 0) memset((char *)mnl_attr_get_payload(a) + len, 0, pad);
    n->nlmsg_len += MNL_ALIGN(plen);
}
void mnl_attr_put_u16(struct nlmsghdr *n, uint16_t t, uint16_t d) { mnl_attr_put(n, t, 2, &d); }
void mnl_attr_put_u32(struct nlmsghdr *n, uint16_t t, uint32_t d) { mnl_attr_put(n, t, 4, &d); }
void mnl_attr_put_u8(struct nlmsghdr *n, uint16_t t, uint8_t d) { mnl_attr_put(n, t, 1, &d); }
void mnl_attr_put_strz(struct nlmsghdr *n, uint16_t t, const char *d) { mnl_attr_put(n, t, strlen(d) + 1, d); }
struct nlattr *mnl_attr_nest_start(struct nlmsghdr *n, uint16_t type) {
    struct nlattr *s = mnl_nlmsg_get_payload_tail(n);
    s->nla_type = NLA_F_NESTED | type; n->nlmsg_len += MNL_ALIGN(sizeof(struct nlattr)); return s;
}
void mnl_attr_nest_end(struct nlmsghdr *n, struct nlattr *s) {
    s->nla_len = (char *)mnl_nlmsg_get_payload_tail(n) - (char *)s;
}
static int cb_err(const struct nlmsghdr *n, void *d) {
    (void)d; const struct nlmsgerr *e = (const void *)((char *)n + MNL_NLMSG_HDRLEN);
    if (n->nlmsg_len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct nlmsgerr))) { errno = EBADMSG; return MNL_CB_ERROR; }
    errno = e->error < 0 ? -e->error : e->error;
    return e->error == 0 ? MNL_CB_STOP : MNL_CB_ERROR;
}
int mnl_cb_run2(const void *buf, size_t numbytes, unsigned int seq, unsigned int portid, mnl_cb_t cb_data,
                void *data, mnl_cb_t *ctl, unsigned int ctl_len) {
    int ret = MNL_CB_OK, len = numbytes;
    const struct nlmsghdr *n = buf;
    while (len >= (int)sizeof(struct nlmsghdr) && n->nlmsg_len >= sizeof(struct nlmsghdr) && (int)n->nlmsg_len <= len) {
        if (n->nlmsg_pid && portid && n->nlmsg_pid != portid) { errno = ESRCH; return -1; }
        if (n->nlmsg_seq && seq && n->nlmsg_seq != seq) { errno = EPROTO; return -1; }
        if (n->nlmsg_flags & NLM_F_DUMP_INTR) { errno = EINTR; return -1; }
        if (n->nlmsg_type >= NLMSG_MIN_TYPE) {
            if (cb_data) { ret = cb_data(n, data); if (ret <= MNL_CB_STOP) return ret; }
        } else if (n->nlmsg_type < ctl_len && ctl && ctl[n->nlmsg_type]) {
            ret = ctl[n->nlmsg_type](n, data); if (ret <= MNL_CB_STOP) return ret;
        } else if (n->nlmsg_type == NLMSG_ERROR) { ret = cb_err(n, data); if (ret <= MNL_CB_STOP) return ret; }
        else if (n->nlmsg_type == NLMSG_DONE) return MNL_CB_STOP;
        len -= MNL_ALIGN(n->nlmsg_len);
        n = (const struct nlmsghdr *)((char *)n + MNL_ALIGN(n->nlmsg_len));
    }
    return ret;
}
int mnl_cb_run(const void *buf, size_t numbytes, unsigned int seq, unsigned int portid, mnl_cb_t cb, void *data) {
    return mnl_cb_run2(buf, numbytes, seq, portid, cb, data, NULL, 0);
}
