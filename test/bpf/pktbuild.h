/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small builder of Ethernet frames for the BPF tests and the benchmark.
 * Headers are appended in order; pkt_finish() fills the length fields
 * (IPv4 total length and checksum, IPv6 payload length, UDP length) of
 * the outermost IP header from what was appended after it. Addresses are
 * given as text ("10.0.0.1", "fd00::1").
 */
#ifndef GUARDER_PKTBUILD_H
#define GUARDER_PKTBUILD_H

#include <stddef.h>
#include <stdint.h>

#define PKT_MAX 4096

struct pkt {
	uint8_t data[PKT_MAX];
	size_t len;
	long l3; /* offset of the first IP header, -1 when none */
	long udp; /* offset of the UDP header, -1 when none */
};

/* TCP flag bits (the 14th byte of the TCP header). */
#define PKT_FIN 0x01
#define PKT_SYN 0x02
#define PKT_RST 0x04
#define PKT_PSH 0x08
#define PKT_ACK 0x10

/* Empty packet (no Ethernet header: usable for a quoted inner packet). */
void pkt_init(struct pkt *p);
/* Ethernet header with @ntags VLAN tags (TPIDs in @tpids) before @ethertype. */
void pkt_eth(struct pkt *p, const uint16_t *tpids, int ntags, uint16_t ethertype);
/* 20-byte IPv4 header; id and frag_off (host order, flags included) given. */
void pkt_ipv4(struct pkt *p, const char *src, const char *dst, uint8_t proto, uint16_t id,
	      uint16_t frag_off);
void pkt_ipv6(struct pkt *p, const char *src, const char *dst, uint8_t nexthdr);
/*
 * IPv6 extension header of type @type (its first byte is @next) of @len
 * bytes (a multiple of 8, or of 4 for AH); the length field is derived.
 * For a fragment header @frag_off is the raw field: offset << 3 | M flag.
 */
void pkt_ipv6_ext(struct pkt *p, uint8_t type, uint8_t next, unsigned int len, uint16_t frag_off);
/* IPv6 fragment header: @frag_off is offset << 3 | M flag, @id the identification. */
void pkt_ipv6_frag(struct pkt *p, uint8_t next, uint16_t frag_off, uint32_t id);
void pkt_tcp(struct pkt *p, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
	     uint8_t flags, uint16_t window);
void pkt_udp(struct pkt *p, uint16_t sport, uint16_t dport);
/* ICMP/ICMPv6 header: type, code, and the 4 "rest of header" bytes. */
void pkt_icmp(struct pkt *p, uint8_t type, uint8_t code, uint16_t id, uint16_t seq);
void pkt_payload(struct pkt *p, size_t n);
void pkt_append(struct pkt *p, const void *bytes, size_t n);
/* Fill the length fields and the IPv4 header checksum. */
void pkt_finish(struct pkt *p);

/* Parse a text address into 16 bytes, IPv4 mapped as ::ffff:a.b.c.d. */
void pkt_addr(const char *text, uint32_t out[4]);

/* Ready-made frames used by many tests. Payload bytes are zeros. */
void pkt_tcp4(struct pkt *p, const char *src, uint16_t sport, const char *dst, uint16_t dport,
	      uint8_t flags, uint32_t seq, uint32_t ack, uint16_t win, size_t payload);
void pkt_tcp6(struct pkt *p, const char *src, uint16_t sport, const char *dst, uint16_t dport,
	      uint8_t flags, uint32_t seq, uint32_t ack, uint16_t win, size_t payload);
void pkt_udp4(struct pkt *p, const char *src, uint16_t sport, const char *dst, uint16_t dport,
	      size_t payload);
void pkt_udp6(struct pkt *p, const char *src, uint16_t sport, const char *dst, uint16_t dport,
	      size_t payload);
void pkt_echo4(struct pkt *p, const char *src, const char *dst, uint8_t type, uint16_t id,
	       uint16_t seq);
void pkt_echo6(struct pkt *p, const char *src, const char *dst, uint8_t type, uint16_t id,
	       uint16_t seq);
/* ICMP(v6) error from @src to @dst quoting @inner (which has no Ethernet header). */
void pkt_icmp_err4(struct pkt *p, const char *src, const char *dst, uint8_t type, uint8_t code,
		   const struct pkt *inner);
void pkt_icmp_err6(struct pkt *p, const char *src, const char *dst, uint8_t type, uint8_t code,
		   const struct pkt *inner);

#endif /* GUARDER_PKTBUILD_H */
