// The single C boundary of the Netlink module: libmnl, the rtnetlink uapi headers, and
// `static inline` shims (prefixed `cmnl_`) for the macros Swift cannot import.
#ifndef CLIBMNL_SHIM_H
#define CLIBMNL_SHIM_H

// libc headers first: the uapi headers' libc-compat.h then skips their duplicate definitions.
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <net/if.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_link.h>
#include <linux/if_addr.h>
#include <linux/if_arp.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/veth.h>
#include <linux/magic.h>

#include <libmnl/libmnl.h>

// Layouts the Swift code writes and reads by offset.
_Static_assert(sizeof(struct nlmsghdr) == 16, "nlmsghdr");
_Static_assert(sizeof(struct nlattr) == 4, "nlattr");
_Static_assert(sizeof(struct nlmsgerr) == 20, "nlmsgerr");
_Static_assert(sizeof(struct ifinfomsg) == 16, "ifinfomsg");
_Static_assert(sizeof(struct ifaddrmsg) == 8, "ifaddrmsg");
_Static_assert(sizeof(struct rtmsg) == 12, "rtmsg");
_Static_assert(sizeof(struct rtgenmsg) == 1, "rtgenmsg");
_Static_assert(sizeof(struct sockaddr_ll) == 20, "sockaddr_ll");
_Static_assert(offsetof(struct ifinfomsg, ifi_index) == 4, "ifi_index");
_Static_assert(offsetof(struct ifinfomsg, ifi_flags) == 8, "ifi_flags");
_Static_assert(offsetof(struct ifaddrmsg, ifa_index) == 4, "ifa_index");
_Static_assert(offsetof(struct rtmsg, rtm_flags) == 8, "rtm_flags");

/// `MNL_SOCKET_BUFFER_SIZE`: min(page size, 8 KiB).
static inline size_t cmnl_socket_buffer_size(void) { return (size_t)MNL_SOCKET_BUFFER_SIZE; }

/// `MNL_ALIGN(len)`: round up to the 4-byte netlink alignment.
static inline size_t cmnl_align(size_t len) { return MNL_ALIGN(len); }

/// `MNL_NLMSG_HDRLEN` and `MNL_ATTR_HDRLEN`.
static inline size_t cmnl_nlmsg_hdrlen(void) { return MNL_NLMSG_HDRLEN; }
static inline size_t cmnl_attr_hdrlen(void) { return MNL_ATTR_HDRLEN; }

/// `mnl_attr_for_each` split in three: the first attribute after `offset` bytes of family header,
/// and whether `attr` is a complete attribute inside the message.
static inline struct nlattr *cmnl_attr_first(const struct nlmsghdr *nlh, size_t offset) {
    return (struct nlattr *)mnl_nlmsg_get_payload_offset(nlh, offset);
}
static inline bool cmnl_attr_ok_in_msg(const struct nlmsghdr *nlh, const struct nlattr *attr) {
    return mnl_attr_ok(attr, (int)((const char *)mnl_nlmsg_get_payload_tail(nlh) - (const char *)attr));
}

/// `mnl_attr_for_each_nested` split in three.
static inline struct nlattr *cmnl_attr_first_nested(const struct nlattr *nest) {
    return (struct nlattr *)mnl_attr_get_payload(nest);
}
static inline bool cmnl_attr_ok_in_nest(const struct nlattr *nest, const struct nlattr *attr) {
    return mnl_attr_ok(attr, (int)((const char *)mnl_attr_get_payload(nest) + mnl_attr_get_payload_len(nest)
                                   - (const char *)attr));
}

/// The attribute type without `NLA_F_NESTED` / `NLA_F_NET_BYTEORDER`.
static inline uint16_t cmnl_attr_type(const struct nlattr *attr) { return mnl_attr_get_type(attr); }

/// `CLONE_NEWNET`, `setns(2)` and `unshare(2)` for network namespaces. glibc declares `setns` and
/// `unshare` only under `_GNU_SOURCE`, which the Glibc module is not built with, so go through syscall(2).
#define CMNL_CLONE_NEWNET 0x40000000
static inline int cmnl_setns_net(int fd) { return (int)syscall(SYS_setns, fd, CMNL_CLONE_NEWNET); }
static inline int cmnl_unshare_net(void) { return (int)syscall(SYS_unshare, CMNL_CLONE_NEWNET); }

/// `errno` as a function (Swift's Glibc exposes it too; this keeps the C side self-contained).
static inline int cmnl_errno(void) { return errno; }

#endif
