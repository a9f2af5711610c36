/*
 * unit_netguard.c: which addresses a webhook may not reach.
 */
#include <string.h>

#include "harness.h"
#include "webhook/netguard.h"

static int
literal(const char *host)
{
    char why[128] = "";
    int rc = netguard_literal(host, why, sizeof(why));

    if (rc == 1 && why[0] == '\0')
        harness_fail(__FILE__, __LINE__, "%s: refused without a reason", host);
    return rc;
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

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
