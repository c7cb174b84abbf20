// bench/floor.c: the floors for row 6. The netlink work of an ipvlan or a host-device ADD and DEL and nothing
// else: no config parsing, no IPAM, no result. Invoked like a plugin (the driver sets CNI_COMMAND, CNI_NETNS,
// CNI_IFNAME and writes a config to stdin, which is ignored). FLOOR_KIND (ipvlan, the default, or host-device),
// FLOOR_MASTER (ipvlan) or FLOOR_DEVICE (host-device), FLOOR_ADDR (a.b.c.d/len), FLOOR_DST (a.b.c.d/len) and
// FLOOR_GW say what to configure.
//   ADD: in the node netns: RTM_GETLINK master; RTM_NEWLINK ipvlan (l2, bridge) named "flrtmp0" with
//        IFLA_NET_NS_FD = the pod netns; then setns(pod) and a socket there: RTM_GETLINK flrtmp0 (its index),
//        RTM_NEWLINK rename to CNI_IFNAME, RTM_NEWADDR, RTM_NEWLINK IFF_UP, RTM_NEWROUTE. Every request is ACKed.
//   DEL: setns(pod), RTM_DELLINK by name.
// host-device, the same kernel work as eni-multus's host-device cycle:
//   ADD: in the node netns: RTM_GETLINK device; one RTM_NEWLINK that moves it into the pod netns
//        (IFLA_NET_NS_FD), renames it to CNI_IFNAME and sets IFLA_IFALIAS to its name; then setns(pod):
//        RTM_GETLINK CNI_IFNAME, RTM_NEWADDR, RTM_NEWLINK IFF_UP, RTM_NEWROUTE.
//   DEL: setns(pod): RTM_GETLINK CNI_IFNAME, one RTM_NEWLINK that moves it back into the node netns under its
//        own name (FLOOR_DEVICE) with an empty alias (the move drops its addresses and routes).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


static char buf[16384];
static struct mnl_socket *nl;
static unsigned seq, portid;

static void die(const char *w) { perror(w); exit(1); }

static int link_cb(const struct nlmsghdr *n, void *data) {
    struct ifinfomsg *ifi = mnl_nlmsg_get_payload(n);
    *(int *)data = ifi->ifi_index;
    return MNL_CB_OK;
}

// Sends one request and runs the reply (ACK or data) through cb.
static void talk(struct nlmsghdr *n, mnl_cb_t cb, void *data, const char *what) {
    n->nlmsg_seq = ++seq;
    if (mnl_socket_sendto(nl, n, n->nlmsg_len) < 0) die(what);
    int r = mnl_socket_recvfrom(nl, buf, sizeof buf);
    if (r < 0) die(what);
    if (mnl_cb_run(buf, r, seq, portid, cb, data) < 0) die(what);
}

static void open_sock(void) {
    nl = mnl_socket_open(NETLINK_ROUTE);
    if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) die("netlink socket");
    portid = mnl_socket_get_portid(nl);
}

static struct nlmsghdr *req(int type, int flags) {
    struct nlmsghdr *n = mnl_nlmsg_put_header(buf);
    n->nlmsg_type = type;
    n->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    return n;
}

static int getlink(const char *name) {
    struct nlmsghdr *n = req(RTM_GETLINK, 0);
    n->nlmsg_flags &= ~NLM_F_ACK;
    mnl_nlmsg_put_extra_header(n, sizeof(struct ifinfomsg));
    mnl_attr_put_strz(n, IFLA_IFNAME, name);
    int idx = 0;
    talk(n, link_cb, &idx, "RTM_GETLINK");
    return idx;
}

static int prefix(const char *s, struct in_addr *a) {
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%s", s);
    char *sl = strchr(tmp, '/');
    int len = sl ? atoi(sl + 1) : 32;
    if (sl) *sl = 0;
    if (inet_pton(AF_INET, tmp, a) != 1) { fprintf(stderr, "floor: bad address %s\n", s); exit(1); }
    return len;
}

// ADD's address, up and route on the interface `idx` of the current netns (the socket is there).
static void configure(int idx) {
    struct in_addr a;
    int alen = prefix(getenv("FLOOR_ADDR"), &a);
    struct nlmsghdr *n = req(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
    struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(n, sizeof(struct ifaddrmsg));
    ifa->ifa_family = AF_INET;
    ifa->ifa_prefixlen = alen;
    ifa->ifa_index = idx;
    mnl_attr_put(n, IFA_LOCAL, 4, &a);
    mnl_attr_put(n, IFA_ADDRESS, 4, &a);
    talk(n, NULL, NULL, "RTM_NEWADDR");

    n = req(RTM_NEWLINK, 0);
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(n, sizeof(struct ifinfomsg));
    ifi->ifi_index = idx;
    ifi->ifi_flags = IFF_UP;
    ifi->ifi_change = IFF_UP;
    talk(n, NULL, NULL, "RTM_NEWLINK up");

    struct in_addr dsta, gwa;
    int dlen = prefix(getenv("FLOOR_DST"), &dsta);
    prefix(getenv("FLOOR_GW"), &gwa);
    n = req(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
    struct rtmsg *rt = mnl_nlmsg_put_extra_header(n, sizeof(struct rtmsg));
    rt->rtm_family = AF_INET;
    rt->rtm_dst_len = dlen;
    rt->rtm_table = RT_TABLE_MAIN;
    rt->rtm_protocol = RTPROT_BOOT;
    rt->rtm_scope = RT_SCOPE_UNIVERSE;
    rt->rtm_type = RTN_UNICAST;
    mnl_attr_put(n, RTA_DST, 4, &dsta);
    mnl_attr_put(n, RTA_GATEWAY, 4, &gwa);
    mnl_attr_put_u32(n, RTA_OIF, idx);
    talk(n, NULL, NULL, "RTM_NEWROUTE");
}

// One RTM_NEWLINK on `idx`: into netns `fd`, named `name`, with alias `alias`.
static void move(int idx, int fd, const char *name, const char *alias) {
    struct nlmsghdr *n = req(RTM_NEWLINK, 0);
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(n, sizeof(struct ifinfomsg));
    ifi->ifi_index = idx;
    mnl_attr_put_u32(n, IFLA_NET_NS_FD, fd);
    mnl_attr_put_strz(n, IFLA_IFNAME, name);
    mnl_attr_put_strz(n, IFLA_IFALIAS, alias);
    talk(n, NULL, NULL, "RTM_NEWLINK move");
}

static int host_device(const char *cmd, int podfd, const char *ifname) {
    const char *device = getenv("FLOOR_DEVICE");
    if (!device) { fprintf(stderr, "floor: FLOOR_DEVICE\n"); return 1; }
    int nodefd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (nodefd < 0) die("/proc/self/ns/net");
    if (!strcmp(cmd, "ADD")) {
        open_sock();
        move(getlink(device), podfd, ifname, device);
        mnl_socket_close(nl);
        if (setns(podfd, CLONE_NEWNET)) die("setns");
        open_sock();
        configure(getlink(ifname));
        printf("{}\n");
    } else if (!strcmp(cmd, "DEL")) {
        if (setns(podfd, CLONE_NEWNET)) die("setns");
        open_sock();
        move(getlink(ifname), nodefd, device, "");
    }
    return 0;
}

int main(void) {
    const char *cmd = getenv("CNI_COMMAND"), *nspath = getenv("CNI_NETNS"), *ifname = getenv("CNI_IFNAME");
    if (!cmd || !nspath || !ifname) { fprintf(stderr, "floor: CNI_COMMAND, CNI_NETNS, CNI_IFNAME\n"); return 1; }
    int nsfd = open(nspath, O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) die(nspath);
    const char *kind = getenv("FLOOR_KIND");
    if (kind && !strcmp(kind, "host-device")) return host_device(cmd, nsfd, ifname);
    if (!strcmp(cmd, "DEL")) {
        if (setns(nsfd, CLONE_NEWNET)) die("setns");
        open_sock();
        struct nlmsghdr *n = req(RTM_DELLINK, 0);
        mnl_nlmsg_put_extra_header(n, sizeof(struct ifinfomsg));
        mnl_attr_put_strz(n, IFLA_IFNAME, ifname);
        talk(n, NULL, NULL, "RTM_DELLINK");
        return 0;
    }
    if (strcmp(cmd, "ADD")) return 0;
    const char *master = getenv("FLOOR_MASTER");
    open_sock();
    int midx = getlink(master);

    struct nlmsghdr *n = req(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    mnl_nlmsg_put_extra_header(n, sizeof(struct ifinfomsg));
    mnl_attr_put_strz(n, IFLA_IFNAME, "flrtmp0");
    mnl_attr_put_u32(n, IFLA_LINK, midx);
    mnl_attr_put_u32(n, IFLA_NET_NS_FD, nsfd);
    struct nlattr *li = mnl_attr_nest_start(n, IFLA_LINKINFO);
    mnl_attr_put_strz(n, IFLA_INFO_KIND, "ipvlan");
    struct nlattr *d = mnl_attr_nest_start(n, IFLA_INFO_DATA);
    mnl_attr_put_u16(n, IFLA_IPVLAN_MODE, 0 /* l2 */);
    mnl_attr_put_u16(n, IFLA_IPVLAN_FLAGS, 0 /* bridge */);
    mnl_attr_nest_end(n, d);
    mnl_attr_nest_end(n, li);
    talk(n, NULL, NULL, "RTM_NEWLINK ipvlan");
    mnl_socket_close(nl);

    if (setns(nsfd, CLONE_NEWNET)) die("setns");
    open_sock();
    int idx = getlink("flrtmp0");

    n = req(RTM_NEWLINK, 0);
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(n, sizeof(struct ifinfomsg));
    ifi->ifi_index = idx;
    mnl_attr_put_strz(n, IFLA_IFNAME, ifname);
    talk(n, NULL, NULL, "RTM_NEWLINK rename");

    configure(idx);
    printf("{}\n");
    return 0;
}
