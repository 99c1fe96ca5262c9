#include "nat_pcap.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <pcap/pcap.h>
#include <sys/time.h>

struct nat_pcap {
    pcap_t *dead;
    pcap_dumper_t *dumper[2];
    bool dirty;
};

nat_pcap_t *nat_pcap_open(const char *dir, int *err)
{
    if (g_mkdir_with_parents(dir, 0755) < 0) {
        *err = -errno;
        return NULL;
    }
    nat_pcap_t *p = g_new0(nat_pcap_t, 1);
    p->dead = pcap_open_dead(DLT_RAW, 65535);
    const char *names[2] = { "inside.pcap", "outside.pcap" };
    for (int i = 0; i < 2; i++) {
        g_autofree char *path = g_build_filename(dir, names[i], NULL);
        p->dumper[i] = p->dead ? pcap_dump_open(p->dead, path) : NULL;
        if (!p->dumper[i]) {
            *err = -EIO;
            nat_pcap_close(p);
            return NULL;
        }
    }
    return p;
}

void nat_pcap_close(nat_pcap_t *p)
{
    if (!p)
        return;
    for (int i = 0; i < 2; i++)
        if (p->dumper[i])
            pcap_dump_close(p->dumper[i]);
    if (p->dead)
        pcap_close(p->dead);
    g_free(p);
}

void nat_pcap_write(nat_pcap_t *p, nat_pcap_side_t side, const uint8_t *data, size_t len)
{
    if (!p)
        return;
    struct pcap_pkthdr h;
    gettimeofday(&h.ts, NULL);
    h.caplen = h.len = (bpf_u_int32)len;
    pcap_dump((u_char *)p->dumper[side], &h, data);
    p->dirty = true;
}

void nat_pcap_flush(nat_pcap_t *p)
{
    if (!p || !p->dirty)
        return;
    pcap_dump_flush(p->dumper[0]);
    pcap_dump_flush(p->dumper[1]);
    p->dirty = false;
}
