/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The ICMP and ICMPv6 definitions the BPF program needs, declared here
 * rather than taken from <linux/icmp.h>: that UAPI header includes
 * <linux/if.h>, which includes glibc's <sys/socket.h>, and BPF code must
 * never reach into libc headers (see docs/kernel.md, "Headers"). The
 * values are the IANA numbers (RFC 792, RFC 4443); the layout is the
 * 8-byte header that ICMP and ICMPv6 share.
 */
#ifndef GUARDER_ICMP_H
#define GUARDER_ICMP_H

#include <linux/types.h>

/* ICMP (IPv4) types */
#define ICMP_ECHOREPLY	    0
#define ICMP_DEST_UNREACH   3
#define ICMP_SOURCE_QUENCH  4
#define ICMP_REDIRECT	    5
#define ICMP_ECHO	    8
#define ICMP_TIME_EXCEEDED  11
#define ICMP_PARAMETERPROB  12

/* ICMPv6 types */
#define ICMPV6_DEST_UNREACH  1
#define ICMPV6_PKT_TOOBIG    2
#define ICMPV6_TIME_EXCEED   3
#define ICMPV6_PARAMPROB     4
#define ICMPV6_ECHO_REQUEST  128
#define ICMPV6_ECHO_REPLY    129

/* The first 8 bytes of an ICMP or ICMPv6 message. */
struct icmp_hdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	union {
		struct {
			__be16 id;
			__be16 sequence;
		} echo;
		__be32 rest;
	} un;
};

#endif /* GUARDER_ICMP_H */
