#include "sockerr.h"

#include <time.h> /* linux/errqueue.h needs struct timespec */
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "sockaddr.h"

bool sockerr_enable(int fd)
{
    int one = 1;
    return setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof one) == 0;
}

bool sockerr_next_icmp(int fd, sockerr_icmp_t *out)
{
    for (;;) {
        uint8_t data[64], control[512];
        struct sockaddr_in to = { 0 };
        struct iovec iov = { data, sizeof data };
        struct msghdr msg = { .msg_name = &to, .msg_namelen = sizeof to, .msg_iov = &iov,
                              .msg_iovlen = 1, .msg_control = control,
                              .msg_controllen = sizeof control };
        if (recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
            return false;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != IPPROTO_IP || c->cmsg_type != IP_RECVERR)
                continue;
            struct sock_extended_err ee;
            memcpy(&ee, CMSG_DATA(c), sizeof ee);
            if (ee.ee_origin != SO_EE_ORIGIN_ICMP)
                continue;
            *out = (sockerr_icmp_t){ .type = ee.ee_type, .code = ee.ee_code,
                                     .to = msg.msg_namelen >= sizeof to ? sockaddr_to_endpoint(&to)
                                                                        : addr_endpoint(0, 0) };
            return true;
        }
    }
}
