/*
 * netguard.c: see netguard.h. Two tables, one an address family, each the
 * IANA special-purpose address registry (iana.org/assignments/iana-ipv4-
 * special-registry and iana-ipv6-special-registry, as of 2025) and the
 * multicast and reserved space beside it; then the addresses of this host
 * (getifaddrs), the only part that is not pure.
 */
#include "webhook/netguard.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* An IPv4 range: the address's first `bits` bits equal net's. A webhook
 * receiver lives in none of them, the globally reachable anycast ones
 * (AS112, AMT) included. */
static const struct {
    uint32_t net;
    int bits;
    const char *what;
} netguard_v4[] = {
    {0x00000000, 8, "\"this network\" (0.0.0.0/8)"},
    {0x0A000000, 8, "private (10.0.0.0/8)"},
    {0x64400000, 10, "carrier-grade NAT (100.64.0.0/10)"},
    {0x7F000000, 8, "loopback (127.0.0.0/8)"},
    {0xA9FE0000, 16, "link-local (169.254.0.0/16, cloud metadata included)"},
    {0xAC100000, 12, "private (172.16.0.0/12)"},
    {0xC0000000, 24, "IETF protocol assignments (192.0.0.0/24)"},
    {0xC0000200, 24, "documentation (192.0.2.0/24)"},
    {0xC01FC400, 24, "AS112 (192.31.196.0/24)"},
    {0xC034C100, 24, "AMT (192.52.193.0/24)"},
    {0xC0586300, 24, "6to4 relay anycast, deprecated (192.88.99.0/24)"},
    {0xC0A80000, 16, "private (192.168.0.0/16)"},
    {0xC0AF3000, 24, "AS112 (192.175.48.0/24)"},
    {0xC6120000, 15, "benchmarking (198.18.0.0/15)"},
    {0xC6336400, 24, "documentation (198.51.100.0/24)"},
    {0xCB007100, 24, "documentation (203.0.113.0/24)"},
    {0xE0000000, 4, "multicast (224.0.0.0/4)"},
    {0xF0000000, 4, "reserved or broadcast (240.0.0.0/4)"},
};

/* An IPv6 range. v4_at > 0: a form that carries an IPv4 address at that
 * byte, judged by it (what is then NULL). */
static const struct {
    unsigned char net[16];
    int bits, v4_at;
    const char *what;
} netguard_v6[] = {
    {{0}, 128, 0, "unspecified (::)"},
    {{[15] = 1}, 128, 0, "loopback (::1)"},
    {{[10] = 0xff, [11] = 0xff}, 96, 12, NULL},              /* IPv4-mapped, ::ffff:0:0/96 */
    {{[8] = 0xff, [9] = 0xff}, 96, 12, NULL},                /* IPv4-translated, ::ffff:0:0:0/96 */
    {{0}, 96, 12, NULL},                                     /* IPv4-compatible, ::/96 */
    {{0, 0x64, 0xff, 0x9b}, 96, 12, NULL},                   /* NAT64, 64:ff9b::/96 */
    {{0, 0x64, 0xff, 0x9b, 0, 1}, 48, 0, "local-use IPv4/IPv6 translation (64:ff9b:1::/48)"},
    {{1}, 64, 0, "discard-only (100::/64)"},
    {{1, 0, 0, 0, 0, 0, 0, 1}, 64, 0, "dummy prefix (100:0:0:1::/64)"},
    {{0x20, 0x01}, 23, 0, "IETF protocol assignments, Teredo included (2001::/23)"},
    {{0x20, 0x01, 0x0d, 0xb8}, 32, 0, "documentation (2001:db8::/32)"},
    {{0x20, 0x02}, 16, 2, NULL},                             /* 6to4, 2002::/16 */
    {{0x26, 0x20, 0, 0x4f, 0x80}, 48, 0, "AS112 (2620:4f:8000::/48)"},
    {{0x3f, 0xff}, 20, 0, "documentation (3fff::/20)"},
    {{0x5f}, 16, 0, "segment routing SIDs (5f00::/16)"},
    {{0xfc}, 7, 0, "unique-local (fc00::/7)"},
    {{0xfe, 0x80}, 10, 0, "link-local (fe80::/10)"},
    {{0xfe, 0xc0}, 10, 0, "site-local, deprecated (fec0::/10)"},
    {{0xff}, 8, 0, "multicast (ff00::/8)"},
};

static int
netguard_v4_forbidden(uint32_t a, char *why, size_t len)
{
    for (size_t i = 0; i < sizeof(netguard_v4) / sizeof(netguard_v4[0]); i++) {
        uint32_t mask = netguard_v4[i].bits ? ~0u << (32 - netguard_v4[i].bits) : 0;
        if ((a & mask) == netguard_v4[i].net) {
            snprintf(why, len, "%s", netguard_v4[i].what);
            return 1;
        }
    }
    return 0;
}

static uint32_t
netguard_v4_at(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* The first bits of b equal net's. */
static int
netguard_v6_in(const unsigned char *b, const unsigned char *net, int bits)
{
    int whole = bits / 8, rest = bits % 8;

    return memcmp(b, net, (size_t)whole) == 0 &&
           (!rest || ((b[whole] ^ net[whole]) & (0xff << (8 - rest)) & 0xff) == 0);
}

/* The row of netguard_v6 b falls in, or -1. */
static int
netguard_v6_row(const unsigned char *b)
{
    for (size_t i = 0; i < sizeof(netguard_v6) / sizeof(netguard_v6[0]); i++)
        if (netguard_v6_in(b, netguard_v6[i].net, netguard_v6[i].bits))
            return (int)i;
    return -1;
}

static int
netguard_v6_forbidden(const unsigned char *b, char *why, size_t len)
{
    int row = netguard_v6_row(b);

    if (row >= 0 && netguard_v6[row].v4_at)
        return netguard_v4_forbidden(netguard_v4_at(b + netguard_v6[row].v4_at), why, len);
    if (row >= 0)
        return snprintf(why, len, "%s", netguard_v6[row].what), 1;
    if ((b[0] & 0xe0) != 0x20)
        return snprintf(why, len, "not global unicast (outside 2000::/3)"), 1;
    return 0;
}

int
netguard_forbidden(const struct sockaddr *sa, char *why, size_t len)
{
    if (sa->sa_family == AF_INET)
        return netguard_v4_forbidden(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr), why, len);
    if (sa->sa_family == AF_INET6)
        return netguard_v6_forbidden(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr, why, len);
    snprintf(why, len, "not an internet address");
    return 1;
}

/* The IPv4 address sa is or carries, in host order; 0 when none. */
static int
netguard_v4_of(const struct sockaddr *sa, uint32_t *a)
{
    const unsigned char *b;
    int row;

    if (sa->sa_family == AF_INET) {
        *a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
        return 1;
    }
    if (sa->sa_family != AF_INET6)
        return 0;
    b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    if ((row = netguard_v6_row(b)) < 0 || !netguard_v6[row].v4_at)
        return 0;
    *a = netguard_v4_at(b + netguard_v6[row].v4_at);
    return 1;
}

/* Whether interface address ifa is sa, or the IPv4 address sa carries. */
static int
netguard_same(const struct sockaddr *ifa, const struct sockaddr *sa)
{
    uint32_t mine, theirs;

    if (ifa->sa_family == AF_INET6 && sa->sa_family == AF_INET6)
        return memcmp(((const struct sockaddr_in6 *)ifa)->sin6_addr.s6_addr,
                      ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr, 16) == 0;
    return ifa->sa_family == AF_INET && netguard_v4_of(ifa, &mine) && netguard_v4_of(sa, &theirs) &&
           mine == theirs;
}

/* Asked at each check, not kept: an interface may come and go. Loopback
 * interfaces are left to the tables, which name them better. */
int
netguard_own(const struct sockaddr *sa, char *why, size_t len)
{
    struct ifaddrs *all = NULL;
    int own = 0;

    if (getifaddrs(&all) != 0)
        return 0;
    for (const struct ifaddrs *i = all; i && !own; i = i->ifa_next)
        if (i->ifa_addr && !(i->ifa_flags & IFF_LOOPBACK) && netguard_same(i->ifa_addr, sa)) {
            snprintf(why, len, "an address of this host (%s)", i->ifa_name);
            own = 1;
        }
    freeifaddrs(all);
    return own;
}

int
netguard_refused(const struct sockaddr *sa, char *why, size_t len)
{
    return netguard_own(sa, why, len) || netguard_forbidden(sa, why, len);
}

/*
 * An IPv4 address as a URL may write it, and as the resolver reads a
 * number: one to four parts, each decimal, octal (a leading 0) or hex
 * (0x), the last filling the bytes left ("127.1", "0x7f.1", "2130706433").
 * libcurl rewrites such a host as a dotted quad, but not one with a final
 * dot: "127.1." came here as "127.1" once the dot was dropped, and
 * inet_pton, which takes dotted quads only, let it pass as a name.
 */
static int
netguard_v4_text(const char *host, struct in_addr *a)
{
    /* inet_aton stops at white space and takes what came before it. */
    return host[strcspn(host, " \t\n\v\f\r")] == '\0' && inet_aton(host, a) != 0;
}

int
netguard_literal(const char *host, char *why, size_t len)
{
    struct sockaddr_in v4 = {.sin_family = AF_INET};
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
    char bare[64];
    size_t n = strlen(host);

    /* A URL writes an IPv6 literal in brackets. */
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof(bare)) {
        memcpy(bare, host + 1, n - 2);
        bare[n - 2] = '\0';
        host = bare;
    }
    if (netguard_v4_text(host, &v4.sin_addr))
        return netguard_refused((struct sockaddr *)&v4, why, len);
    if (inet_pton(AF_INET6, host, &v6.sin6_addr) == 1)
        return netguard_refused((struct sockaddr *)&v6, why, len);
    return -1;
}
