#include "nat_nfq.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <string.h>
#include <sys/socket.h>

#include "common/packet.h"
#include "common/wire.h"

/* A verdict message is headers plus the packet: keep room for many. */
#define NFQ_SEND_BUFFER (512 * 1024)
#define NFQ_RECV_BUFFER (0xffff + MNL_SOCKET_BUFFER_SIZE)
#define NFQ_SOCKET_RCVBUF (16 * 1024 * 1024)
#define NFQ_PROC_STATS "/proc/net/netfilter/nfnetlink_queue"

struct nat_nfq {
    struct mnl_socket *nl;
    uint32_t portid;
    uint16_t first, count; /* the queues bound */
    uint8_t *recv_buf;
    uint8_t *send_buf;
    size_t send_len;
    nat_nfqstat_t stats;
    nat_nfq_handler_fn handler;
    void *ctx;
};

static int send_config(nat_nfq_t *q, struct nlmsghdr *nlh)
{
    nlh->nlmsg_flags |= NLM_F_ACK;
    nlh->nlmsg_seq = (uint32_t)g_get_monotonic_time();
    if (mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) < 0)
        return -errno;
    ssize_t n = mnl_socket_recvfrom(q->nl, q->recv_buf, NFQ_RECV_BUFFER);
    if (n < 0)
        return -errno;
    if (mnl_cb_run(q->recv_buf, (size_t)n, nlh->nlmsg_seq, q->portid, NULL, NULL) < 0)
        return -errno;
    return 0;
}

nat_nfq_t *nat_nfq_open(uint16_t first, uint16_t count, uint32_t queue_maxlen, int *err)
{
    nat_nfq_t *q = g_new0(nat_nfq_t, 1);
    q->recv_buf = g_malloc(NFQ_RECV_BUFFER);
    q->send_buf = g_malloc(NFQ_SEND_BUFFER);
    int rc = 0;
    q->nl = mnl_socket_open(NETLINK_NETFILTER);
    if (!q->nl || mnl_socket_bind(q->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        rc = -errno;
        goto fail;
    }
    q->portid = mnl_socket_get_portid(q->nl);
    q->first = first;
    q->count = count;
    for (uint16_t i = 0; i < count; i++) {
        uint16_t num = (uint16_t)(first + i);
        struct nlmsghdr *nlh = nfq_nlmsg_put((char *)q->send_buf, NFQNL_MSG_CONFIG, num);
        nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
        if ((rc = send_config(q, nlh)) < 0)
            goto fail;
        nlh = nfq_nlmsg_put((char *)q->send_buf, NFQNL_MSG_CONFIG, num);
        /* The whole packet: a verdict payload shorter than it would trim it. */
        nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, 0xffff);
        nfq_nlmsg_cfg_put_qmaxlen(nlh, queue_maxlen);
        /* No NFQA_CFG_F_FAIL_OPEN: when full, drop rather than leak untranslated.
         * NFQA_CFG_F_GSO: a TCP sender's 64 KB super-packets arrive whole,
         * one verdict each, instead of cut into 1500-byte segments first. */
        mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(NFQA_CFG_F_GSO));
        mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO));
        if ((rc = send_config(q, nlh)) < 0)
            goto fail;
    }
    int fd = mnl_socket_get_fd(q->nl);
    int one = 1, size = NFQ_SOCKET_RCVBUF, sndbuf = NFQ_SEND_BUFFER;
    /* Overflow is counted by the kernel queue; don't turn it into recv errors. */
    setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    /* Netlink refuses (EMSGSIZE) a message longer than the socket's send
     * buffer (wmem_default, 208 KB): a full batch of verdicts with 1500-byte
     * packets is longer, and its packets would stay queued unanswered until
     * the queue fills. The kernel doubles the value asked for. */
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return q;
fail:
    *err = rc ? rc : -EIO;
    nat_nfq_close(q);
    return NULL;
}

void nat_nfq_close(nat_nfq_t *q)
{
    if (!q)
        return;
    if (q->nl)
        mnl_socket_close(q->nl);
    g_free(q->recv_buf);
    g_free(q->send_buf);
    g_free(q);
}

int nat_nfq_fd(const nat_nfq_t *q)
{
    return mnl_socket_get_fd(q->nl);
}

void nat_nfq_stats(const nat_nfq_t *q, nat_nfqstat_t *out)
{
    *out = q->stats;
    g_autofree char *text = NULL;
    if (g_file_get_contents(NFQ_PROC_STATS, &text, NULL, NULL))
        nat_nfqstat_parse_proc(out, text, q->first, q->count, q->portid);
}

/* With NFQA_CFG_F_GSO the kernel no longer completes checksums it left to
 * offload (NFQA_SKB_CSUMNOTREADY): the TCP or UDP checksum field holds only
 * the pseudo-header sum. A verdict with a payload marks the packet as having
 * no offload at all, so the full checksum is computed here, as the kernel
 * does itself without the flag (skb_checksum_help); a GSO packet is cut
 * into segments, each with a fresh checksum, on its way out. */
static void complete_checksum(uint8_t *p, size_t len)
{
    if (len < PACKET_IPV4_HEADER_MIN || (p[0] >> 4) != 4)
        return;
    size_t ihl = (size_t)(p[0] & 0x0f) * 4;
    size_t total = ((size_t)p[PACKET_IPV4_OFF_TOTAL_LENGTH] << 8) | p[PACKET_IPV4_OFF_TOTAL_LENGTH + 1];
    unsigned frag = ((unsigned)p[PACKET_IPV4_OFF_FRAGMENT] << 8) | p[PACKET_IPV4_OFF_FRAGMENT + 1];
    if (ihl < PACKET_IPV4_HEADER_MIN || total > len || total < ihl || (frag & 0x3fff))
        return; /* the parser counts it as malformed or a fragment */
    uint8_t proto = p[PACKET_IPV4_OFF_PROTOCOL];
    uint8_t *l4 = p + ihl;
    size_t l4_len = total - ihl, off;
    if (proto == PACKET_IPPROTO_TCP && l4_len >= PACKET_TCP_HEADER_MIN)
        off = PACKET_TCP_OFF_CHECKSUM;
    else if (proto == PACKET_IPPROTO_UDP && l4_len >= PACKET_UDP_HEADER)
        off = PACKET_UDP_OFF_CHECKSUM;
    else
        return;
    uint32_t src = wire_get32(p + PACKET_IPV4_OFF_SRC), dst = wire_get32(p + PACKET_IPV4_OFF_DST);
    uint16_t check = proto == PACKET_IPPROTO_TCP ? packet_tcp_checksum(src, dst, l4, l4_len)
                                                 : packet_udp_checksum(src, dst, l4, l4_len);
    l4[off] = (uint8_t)(check >> 8);
    l4[off + 1] = (uint8_t)check;
}

static int packet_cb(const struct nlmsghdr *nlh, void *data)
{
    nat_nfq_t *q = data;
    struct nlattr *attr[NFQA_MAX + 1] = { NULL };
    if (nfq_nlmsg_parse(nlh, attr) < 0 || !attr[NFQA_PACKET_HDR])
        return MNL_CB_OK;
    struct nfqnl_msg_packet_hdr *ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
    struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
    nat_nfq_packet_t pkt = {
        .queue = ntohs(nfg->res_id),
        .id = ntohl(ph->packet_id),
        .data = attr[NFQA_PAYLOAD] ? mnl_attr_get_payload(attr[NFQA_PAYLOAD]) : NULL,
        .len = attr[NFQA_PAYLOAD] ? mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]) : 0,
    };
    uint32_t info = attr[NFQA_SKB_INFO] ? ntohl(mnl_attr_get_u32(attr[NFQA_SKB_INFO])) : 0;
    if ((info & NFQA_SKB_CSUMNOTREADY) && pkt.data)
        complete_checksum(pkt.data, pkt.len);
    q->stats.received++;
    q->handler(&pkt, q->ctx);
    return MNL_CB_OK;
}

int nat_nfq_receive(nat_nfq_t *q, int budget, nat_nfq_handler_fn handler, void *ctx)
{
    q->handler = handler;
    q->ctx = ctx;
    int handled = 0;
    while (handled < budget) {
        ssize_t n = recv(mnl_socket_get_fd(q->nl), q->recv_buf, NFQ_RECV_BUFFER, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == ENOBUFS) {
                q->stats.enobufs++;
                continue;
            }
            nat_nfq_flush(q);
            return -errno;
        }
        uint64_t before = q->stats.received;
        mnl_cb_run(q->recv_buf, (size_t)n, 0, q->portid, packet_cb, q);
        handled += (int)(q->stats.received - before);
    }
    int rc = nat_nfq_flush(q);
    return rc < 0 ? rc : handled;
}

int nat_nfq_verdict(nat_nfq_t *q, uint16_t queue, uint32_t id, bool accept, const uint8_t *payload,
                    size_t len)
{
    size_t need = MNL_ALIGN(sizeof(struct nlmsghdr)) + MNL_ALIGN(sizeof(struct nfgenmsg)) +
                  MNL_ALIGN(sizeof(struct nfqnl_msg_verdict_hdr)) + MNL_ATTR_HDRLEN * 2 + MNL_ALIGN(len);
    if (q->send_len + need > NFQ_SEND_BUFFER) {
        int rc = nat_nfq_flush(q);
        if (rc < 0)
            return rc;
    }
    struct nlmsghdr *nlh = nfq_nlmsg_put((char *)q->send_buf + q->send_len, NFQNL_MSG_VERDICT, queue);
    nfq_nlmsg_verdict_put(nlh, (int)id, accept ? NF_ACCEPT : NF_DROP);
    if (accept && payload)
        nfq_nlmsg_verdict_put_pkt(nlh, payload, (uint32_t)len);
    q->send_len += MNL_ALIGN(nlh->nlmsg_len);
    q->stats.verdicts++;
    return 0;
}

int nat_nfq_flush(nat_nfq_t *q)
{
    if (q->send_len == 0)
        return 0;
    ssize_t n = mnl_socket_sendto(q->nl, q->send_buf, q->send_len);
    int rc = n < 0 ? -errno : 0;
    q->send_len = 0;
    q->stats.sends++;
    if (rc == -ENOBUFS)
        q->stats.enobufs++; /* the batch's packets stay queued, unanswered */
    return rc;
}
