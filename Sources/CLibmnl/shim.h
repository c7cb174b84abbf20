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
#include <sys/ioctl.h>
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

/// `MNL_ALIGN(len)`: round up to the 4-byte netlink alignment.
static inline size_t cmnl_align(size_t len) { return MNL_ALIGN(len); }

/// `CLONE_NEWNET`, `setns(2)` and `unshare(2)` for network namespaces. glibc declares `setns` and
/// `unshare` only under `_GNU_SOURCE`, which the Glibc module is not built with, so go through syscall(2).
#define CMNL_CLONE_NEWNET 0x40000000
static inline int cmnl_setns_net(int fd) { return (int)syscall(SYS_setns, fd, CMNL_CLONE_NEWNET); }
static inline int cmnl_unshare_net(void) { return (int)syscall(SYS_unshare, CMNL_CLONE_NEWNET); }

/// `ioctl(fd, NS_GET_NSTYPE)` (Linux 4.11): the `CLONE_NEW*` type of a namespace file, or -1 with errno.
#define CMNL_NS_GET_NSTYPE _IO(0xb7, 0x3)
static inline int cmnl_ns_type(int fd) { return ioctl(fd, CMNL_NS_GET_NSTYPE); }

#endif
