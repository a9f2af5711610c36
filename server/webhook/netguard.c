/* netguard.c: see netguard.h. */
#include "webhook/netguard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* An IPv4 range: the address's first `bits` bits equal net's. */
static const struct {
    uint32_t net;
    int bits;
    const char *what;
} netguard_v4[] = {
    {0x00000000, 8, "unspecified (0.0.0.0/8)"},
    {0x0A000000, 8, "private (10.0.0.0/8)"},
    {0x64400000, 10, "carrier-grade NAT (100.64.0.0/10)"},
    {0x7F000000, 8, "loopback (127.0.0.0/8)"},
    {0xA9FE0000, 16, "link-local (169.254.0.0/16, cloud metadata included)"},
    {0xAC100000, 12, "private (172.16.0.0/12)"},
    {0xC0000000, 24, "IETF protocol assignments (192.0.0.0/24)"},
    {0xC0A80000, 16, "private (192.168.0.0/16)"},
    {0xC6120000, 15, "benchmarking (198.18.0.0/15)"},
    {0xE0000000, 4, "multicast (224.0.0.0/4)"},
    {0xF0000000, 4, "reserved or broadcast (240.0.0.0/4)"},
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

static int
netguard_v6_forbidden(const unsigned char *b, char *why, size_t len)
{
    static const unsigned char zero[16];
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b};

    if (memcmp(b, zero, 16) == 0)
        return snprintf(why, len, "unspecified (::)"), 1;
    if (memcmp(b, zero, 15) == 0 && b[15] == 1)
        return snprintf(why, len, "loopback (::1)"), 1;
    /* Forms that carry an IPv4 address are judged by it. */
    if (memcmp(b, mapped, 12) == 0 || memcmp(b, zero, 12) == 0 || memcmp(b, nat64, 12) == 0)
        return netguard_v4_forbidden(netguard_v4_at(b + 12), why, len);
    if (b[0] == 0x20 && b[1] == 0x02) /* 6to4 */
        return netguard_v4_forbidden(netguard_v4_at(b + 2), why, len);
    if ((b[0] & 0xfe) == 0xfc)
        return snprintf(why, len, "unique-local (fc00::/7)"), 1;
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
        return snprintf(why, len, "link-local (fe80::/10)"), 1;
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
        return snprintf(why, len, "site-local (fec0::/10)"), 1;
    if (b[0] == 0xff)
        return snprintf(why, len, "multicast (ff00::/8)"), 1;
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
        return netguard_forbidden((struct sockaddr *)&v4, why, len);
    if (inet_pton(AF_INET6, host, &v6.sin6_addr) == 1)
        return netguard_forbidden((struct sockaddr *)&v6, why, len);
    return -1;
}
