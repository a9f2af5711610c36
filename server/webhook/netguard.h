/*
 * netguard.h: the addresses a webhook may not reach, so that a client
 * cannot aim poold at the network behind it (SSRF): every block of IANA's
 * special-purpose registries, IPv4 and IPv6 (loopback, private, link-local
 * with the cloud metadata address, CGNAT, documentation, benchmarking,
 * IETF assignments, ...), multicast, reserved space and IPv6 outside
 * global unicast; every IPv6 form that carries an IPv4 address (mapped,
 * translated, compatible, NAT64, 6to4), judged by that address; and the
 * addresses of this host's own interfaces, whatever they are.
 */
#ifndef POOLD_NETGUARD_H
#define POOLD_NETGUARD_H

#include <stddef.h>
#include <sys/socket.h>

/* 1 when sa is in a range no webhook may reach, with the range's name in
 * why; else 0. Pure: the tables alone. */
int netguard_forbidden(const struct sockaddr *sa, char *why, size_t len);

/* 1 when sa (or the IPv4 address it carries) is an address of one of this
 * host's interfaces other than loopback, saying which in why; else 0. */
int netguard_own(const struct sockaddr *sa, char *why, size_t len);

/* netguard_own, then netguard_forbidden: 1 when either refuses sa. */
int netguard_refused(const struct sockaddr *sa, char *why, size_t len);

/* For a URL's host: 1 or 0 as netguard_refused when it is a literal
 * address (IPv6 in brackets or not), -1 when it is a name. */
int netguard_literal(const char *host, char *why, size_t len);

#endif
