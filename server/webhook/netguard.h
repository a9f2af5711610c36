/*
 * netguard.h: the addresses a webhook may not reach, so that a client
 * cannot aim poold at the network behind it (SSRF): loopback, RFC 1918
 * private, link-local (the cloud metadata address among them), CGNAT,
 * multicast, unspecified and reserved IPv4; IPv6 loopback, unique-local,
 * link-local, site-local and multicast; and every IPv6 form that carries
 * an IPv4 address (mapped, compatible, NAT64, 6to4), judged by that
 * address. Pure.
 */
#ifndef POOLD_NETGUARD_H
#define POOLD_NETGUARD_H

#include <stddef.h>
#include <sys/socket.h>

/* 1 when sa may not be reached, with the range's name in why; else 0. */
int netguard_forbidden(const struct sockaddr *sa, char *why, size_t len);

/* For a URL's host: 1 or 0 as netguard_forbidden when it is a literal
 * address (IPv6 in brackets or not), -1 when it is a name. */
int netguard_literal(const char *host, char *why, size_t len);

#endif
