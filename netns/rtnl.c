#define _GNU_SOURCE
#include "rtnl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct rtnl {
    struct mnl_socket *nl;
    unsigned portid;
    unsigned seq;
    char message[256];
    char buf[8192];
};

rtnl_t *rtnl_open(void)
{
    rtnl_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    if (!r->nl || mnl_socket_bind(r->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        int err = errno;
        rtnl_close(r);
        errno = err;
        return NULL;
    }
    int one = 1;
    /* The kernel's own words about a failure, after a capped (short) echo. */
    mnl_socket_setsockopt(r->nl, NETLINK_CAP_ACK, &one, sizeof one);
    mnl_socket_setsockopt(r->nl, NETLINK_EXT_ACK, &one, sizeof one);
    r->portid = mnl_socket_get_portid(r->nl);
    r->seq = (unsigned)time(NULL);
    return r;
}

void rtnl_close(rtnl_t *r)
{
    if (!r)
        return;
    if (r->nl)
        mnl_socket_close(r->nl);
    free(r);
}

const char *rtnl_last_message(const rtnl_t *r)
{
    return r->message;
}

static struct nlmsghdr *request(rtnl_t *r, uint16_t type, uint16_t flags)
{
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(r->buf);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    nlh->nlmsg_seq = ++r->seq;
    r->message[0] = '\0';
    return nlh;
}

static int ack_attr(const struct nlattr *attr, void *data)
{
    rtnl_t *r = data;
    if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
        mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0) {
        strncpy(r->message, mnl_attr_get_str(attr), sizeof r->message - 1);
        r->message[sizeof r->message - 1] = '\0';
    }
    return MNL_CB_OK;
}

/* Sends the request and reads its acknowledgement. */
static int transact(rtnl_t *r, struct nlmsghdr *nlh)
{
    if (mnl_socket_sendto(r->nl, nlh, nlh->nlmsg_len) < 0)
        return -errno;
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(r->nl, r->buf, sizeof r->buf);
        if (n < 0)
            return errno == EINTR ? -EINTR : -errno;
        const struct nlmsghdr *h = (const struct nlmsghdr *)r->buf;
        for (int len = (int)n; mnl_nlmsg_ok(h, len); h = mnl_nlmsg_next(h, &len)) {
            if (h->nlmsg_seq != r->seq || h->nlmsg_type != NLMSG_ERROR)
                continue;
            const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
            if (e->error && (h->nlmsg_flags & NLM_F_ACK_TLVS)) {
                const char *tlvs = (const char *)(e + 1);
                const char *end = (const char *)h + h->nlmsg_len;
                if (end > tlvs)
                    mnl_attr_parse_payload(tlvs, (size_t)(end - tlvs), ack_attr, r);
            }
            return e->error; /* 0 or -errno */
        }
    }
}

static struct ifinfomsg *put_ifinfo(struct nlmsghdr *nlh)
{
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof *ifi);
    ifi->ifi_family = AF_UNSPEC;
    return ifi;
}

int rtnl_veth_add(rtnl_t *r, const char *name, int ns_fd, const char *peer, int peer_ns_fd)
{
    struct nlmsghdr *nlh = request(r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    put_ifinfo(nlh);
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
    mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)ns_fd);
    struct nlattr *info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
    struct nlattr *data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
    struct nlattr *p = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
    /* The peer's attributes follow an ifinfomsg of its own. */
    struct ifinfomsg *pifi = mnl_nlmsg_get_payload_tail(nlh);
    memset(pifi, 0, sizeof *pifi);
    nlh->nlmsg_len += MNL_ALIGN(sizeof *pifi);
    mnl_attr_put_strz(nlh, IFLA_IFNAME, peer);
    mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)peer_ns_fd);
    mnl_attr_nest_end(nlh, p);
    mnl_attr_nest_end(nlh, data);
    mnl_attr_nest_end(nlh, info);
    return transact(r, nlh);
}

int rtnl_bridge_add(rtnl_t *r, const char *name)
{
    struct nlmsghdr *nlh = request(r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    put_ifinfo(nlh);
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
    struct nlattr *info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
    mnl_attr_nest_end(nlh, info);
    return transact(r, nlh);
}

int rtnl_link_up(rtnl_t *r, const char *name)
{
    struct nlmsghdr *nlh = request(r, RTM_NEWLINK, 0);
    struct ifinfomsg *ifi = put_ifinfo(nlh);
    ifi->ifi_flags = IFF_UP;
    ifi->ifi_change = IFF_UP;
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
    return transact(r, nlh);
}

int rtnl_link_master(rtnl_t *r, const char *name, const char *master)
{
    unsigned index = if_nametoindex(master);
    if (index == 0)
        return -ENODEV;
    struct nlmsghdr *nlh = request(r, RTM_NEWLINK, 0);
    put_ifinfo(nlh);
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
    mnl_attr_put_u32(nlh, IFLA_MASTER, index);
    return transact(r, nlh);
}

int rtnl_addr_add(rtnl_t *r, const char *dev, uint32_t addr, unsigned prefix_len)
{
    unsigned index = if_nametoindex(dev);
    if (index == 0)
        return -ENODEV;
    struct nlmsghdr *nlh = request(r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
    struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof *ifa);
    ifa->ifa_family = AF_INET;
    ifa->ifa_prefixlen = (unsigned char)prefix_len;
    ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    ifa->ifa_index = index;
    uint32_t be = htonl(addr);
    mnl_attr_put_u32(nlh, IFA_LOCAL, be);
    mnl_attr_put_u32(nlh, IFA_ADDRESS, be);
    return transact(r, nlh);
}

int rtnl_route_add(rtnl_t *r, uint32_t dst, unsigned dst_len, uint32_t gateway)
{
    struct nlmsghdr *nlh = request(r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
    struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof *rtm);
    rtm->rtm_family = AF_INET;
    rtm->rtm_dst_len = (unsigned char)dst_len;
    rtm->rtm_table = RT_TABLE_MAIN;
    rtm->rtm_protocol = RTPROT_BOOT;
    rtm->rtm_scope = RT_SCOPE_UNIVERSE;
    rtm->rtm_type = RTN_UNICAST;
    if (dst_len > 0)
        mnl_attr_put_u32(nlh, RTA_DST, htonl(dst));
    mnl_attr_put_u32(nlh, RTA_GATEWAY, htonl(gateway));
    return transact(r, nlh);
}
