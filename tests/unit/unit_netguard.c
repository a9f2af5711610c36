/*
 * unit_netguard.c: which addresses a webhook may not reach.
 */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "webhook/netguard.h"

static char last_why[128]; /* the reason of the last literal() */

static int
literal(const char *host)
{
    int rc;

    last_why[0] = '\0';
    rc = netguard_literal(host, last_why, sizeof(last_why));
    if (rc == 1 && last_why[0] == '\0')
        harness_fail(__FILE__, __LINE__, "%s: refused without a reason", host);
    return rc;
}

/* Each of inward refused, each of outward let through. */
static void
expect_judged(const char *const *inward, const char *const *outward)
{
    for (int i = 0; inward && inward[i]; i++)
        if (literal(inward[i]) != 1)
            harness_fail(__FILE__, __LINE__, "%s was allowed", inward[i]);
    for (int i = 0; outward && outward[i]; i++)
        if (literal(outward[i]) != 0)
            harness_fail(__FILE__, __LINE__, "%s was refused: %s", outward[i], last_why);
}

TEST(test_netguard_refuses_inward_ipv4)
{
    const char *inward[] = {"127.0.0.1", "127.9.9.9", "10.1.2.3", "172.16.0.1", "172.31.255.255",
                            "192.168.1.1", "169.254.169.254", "100.64.0.1", "100.127.255.254",
                            "0.0.0.0", "224.0.0.1", "239.255.255.250", "255.255.255.255", "192.0.0.8",
                            "198.18.0.1", NULL};

    for (int i = 0; inward[i]; i++)
        if (literal(inward[i]) != 1)
            harness_fail(__FILE__, __LINE__, "%s was allowed", inward[i]);
}

TEST(test_netguard_allows_public_ipv4)
{
    const char *outward[] = {"8.8.8.8", "1.1.1.1", "172.15.255.255", "172.32.0.1", "100.63.255.255",
                             "100.128.0.1", "192.169.0.1", "169.255.0.1", "11.0.0.1", NULL};

    for (int i = 0; outward[i]; i++)
        if (literal(outward[i]) != 0)
            harness_fail(__FILE__, __LINE__, "%s was refused", outward[i]);
}

TEST(test_netguard_judges_ipv6_and_the_ipv4_it_carries)
{
    const char *inward[] = {"::1", "[::1]", "::", "fc00::1", "fd12:3456::1", "fe80::1", "fec0::1",
                            "ff02::1", "::ffff:127.0.0.1", "[::ffff:169.254.169.254]", "::ffff:10.0.0.1",
                            "::127.0.0.1", "64:ff9b::192.168.0.1", "2002:c0a8:0101::1", NULL};
    const char *outward[] = {"2606:4700:4700::1111", "[2001:4860:4860::8888]", "::ffff:8.8.8.8",
                             "64:ff9b::8.8.8.8", "2002:0808:0808::1", NULL};

    for (int i = 0; inward[i]; i++)
        if (literal(inward[i]) != 1)
            harness_fail(__FILE__, __LINE__, "%s was allowed", inward[i]);
    for (int i = 0; outward[i]; i++)
        if (literal(outward[i]) != 0)
            harness_fail(__FILE__, __LINE__, "%s was refused", outward[i]);
}

TEST(test_netguard_leaves_names_to_delivery)
{
    CHECK_INT(literal("example.com"), -1);
    CHECK_INT(literal("localhost"), -1); /* resolved, then judged, when sent */
    CHECK_INT(literal("[not-an-address]"), -1);
    CHECK_INT(literal("1.2.3.4.5"), -1);
    CHECK_INT(literal("256.0.0.1"), -1);
    CHECK_INT(literal("127.0.0.1 x"), -1);
}

/* A URL may write an IPv4 address in fewer parts, in octal or in hex. */
TEST(test_netguard_reads_ipv4_as_urls_write_it)
{
    const char *inward[] = {"127.1", "0x7f.1", "0177.0.0.1", "2130706433", "1", "10.1", "0xa9fea9fe", NULL};

    for (int i = 0; inward[i]; i++)
        if (literal(inward[i]) != 1)
            harness_fail(__FILE__, __LINE__, "%s was allowed", inward[i]);
    CHECK_INT(literal("1.2.3"), 0); /* 1.2.0.3 */
    CHECK_INT(literal("134744072"), 0); /* 8.8.8.8 */
}

/* IANA's IPv4 special-purpose registry: each block's first and last
 * address, and the public addresses just outside. */
TEST(test_netguard_refuses_the_ipv4_special_purpose_registry)
{
    const char *inward[] = {"192.0.2.0", "192.0.2.255", "198.51.100.0", "198.51.100.255", "203.0.113.0",
                            "203.0.113.255", "198.18.0.0", "198.19.255.255", "192.0.0.0", "192.0.0.255",
                            "192.31.196.0", "192.31.196.255", "192.52.193.0", "192.52.193.255", "192.88.99.0",
                            "192.88.99.255", "192.175.48.0", "192.175.48.255", "0.0.0.1", "0.255.255.255",
                            "255.255.255.255", "240.0.0.1", NULL};
    const char *outward[] = {"192.0.1.255", "192.0.3.0", "198.51.99.255", "198.51.101.0", "203.0.112.255",
                             "203.0.114.0", "198.17.255.255", "198.20.0.0", "192.31.195.255", "192.31.197.0",
                             "192.52.192.255", "192.52.194.0", "192.88.98.255", "192.88.100.0", "192.175.47.255",
                             "192.175.49.0", "1.0.0.0", "223.255.255.255", NULL};

    expect_judged(inward, outward);
    CHECK(literal("192.0.2.1") == 1 && strstr(last_why, "documentation"));
    CHECK(literal("198.18.0.1") == 1 && strstr(last_why, "benchmarking"));
}

/* IANA's IPv6 special-purpose registry, and what lies outside global
 * unicast (2000::/3). */
TEST(test_netguard_refuses_the_ipv6_special_purpose_registry)
{
    const char *inward[] = {"2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "3fff::1", "3fff:fff::1",
                            "2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:1ff::1", "2001:20::1",
                            "100::1", "100::ffff:ffff:ffff:ffff", "100:0:0:1::1", "64:ff9b:1::1",
                            "64:ff9b:1:ffff::1", "5f00::1", "2620:4f:8000::1", "4000::1", "e000::1", "::2", "64:ff9b:2::1",
                            NULL};
    const char *outward[] = {"2001:db9::1", "2001:db7::1", "3fff:1000::1", "2001:200::1", "2620:4f:8001::1",
                             "2620:4f:7fff::1", "2a00:1450:4001::1", "3ffe:ffff::1", NULL};

    expect_judged(inward, outward);
    CHECK(literal("2001:db8::1") == 1 && strstr(last_why, "documentation"));
    CHECK(literal("[100::1]") == 1 && strstr(last_why, "discard"));
}

/* The IPv4-translated form (::ffff:0:a.b.c.d, RFC 2765) carries an IPv4
 * address as the mapped form (::ffff:a.b.c.d) does, in either spelling. */
TEST(test_netguard_judges_the_translated_and_mapped_forms_by_their_ipv4)
{
    const char *inward[] = {"::ffff:0:7f00:1", "[::ffff:0:7f00:1]", "::ffff:0:127.0.0.1", "::ffff:127.0.0.1",
                            "::ffff:7f00:1", "::ffff:0:a00:1", "::ffff:0:a9fe:a9fe", "::ffff:0:c000:201",
                            "::ffff:c633:6401", "::ffff:0:0.0.0.0", NULL};
    const char *outward[] = {"::ffff:0:808:808", "::ffff:0:8.8.8.8", "::ffff:808:808", NULL};

    expect_judged(inward, outward);
    CHECK(literal("::ffff:0:7f00:1") == 1 && strstr(last_why, "loopback"));
}

/* Each address of this host's interfaces but loopback is refused, said
 * as this host's, and the IPv4 ones in their IPv6 forms too. */
TEST(test_netguard_refuses_the_addresses_of_this_host)
{
    struct ifaddrs *all = NULL;
    int seen = 0;

    CHECK(getifaddrs(&all) == 0);
    for (struct ifaddrs *i = all; i; i = i->ifa_next) {
        char text[INET6_ADDRSTRLEN], mapped[INET6_ADDRSTRLEN + 16];
        int fam = i->ifa_addr ? i->ifa_addr->sa_family : AF_UNSPEC;
        if ((fam != AF_INET && fam != AF_INET6) || (i->ifa_flags & IFF_LOOPBACK))
            continue;
        const void *a = fam == AF_INET ? (void *)&((struct sockaddr_in *)i->ifa_addr)->sin_addr
                                       : (void *)&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
        CHECK(inet_ntop(fam, a, text, sizeof(text)) != NULL);
        fprintf(stderr, "    %s: %s\n", i->ifa_name, text);
        CHECK_INT(literal(text), 1);
        CHECK(strstr(last_why, "this host") != NULL);
        if (fam == AF_INET) {
            snprintf(mapped, sizeof(mapped), "::ffff:%s", text);
            CHECK_INT(literal(mapped), 1);
            CHECK(strstr(last_why, "this host") != NULL);
            snprintf(mapped, sizeof(mapped), "::ffff:0:%s", text);
            CHECK_INT(literal(mapped), 1);
            CHECK(strstr(last_why, "this host") != NULL);
        }
        seen++;
    }
    freeifaddrs(all);
    if (!seen)
        fprintf(stderr, "    this host has no address but loopback: nothing to check\n");
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
