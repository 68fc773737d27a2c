// SPDX-License-Identifier: GPL-2.0
/* Frame builder for the BPF tests and the benchmark; see pktbuild.h. */
#include "pktbuild.h"

#include <arpa/inet.h>
#include <assert.h>
#include <string.h>

static uint8_t *pkt_put(struct pkt *p, size_t n)
{
	uint8_t *at = p->data + p->len;

	assert(p->len + n <= PKT_MAX);
	memset(at, 0, n);
	p->len += n;
	return at;
}

static void put16(uint8_t *at, uint16_t v)
{
	at[0] = v >> 8;
	at[1] = v & 0xff;
}

static void put32(uint8_t *at, uint32_t v)
{
	put16(at, v >> 16);
	put16(at + 2, v & 0xffff);
}

void pkt_init(struct pkt *p)
{
	p->len = 0;
	p->l3 = -1;
	p->udp = -1;
}

void pkt_eth(struct pkt *p, const uint16_t *tpids, int ntags, uint16_t ethertype)
{
	uint8_t *h = pkt_put(p, 14 + 4 * ntags);
	int i;

	memset(h, 0x02, 6);
	memset(h + 6, 0x04, 6);
	for (i = 0; i < ntags; i++) {
		put16(h + 12 + 4 * i, tpids[i]);
		put16(h + 14 + 4 * i, 100 + i); /* TCI: VLAN id */
	}
	put16(h + 12 + 4 * ntags, ethertype);
}

void pkt_addr(const char *text, uint32_t out[4])
{
	struct in_addr a4;

	memset(out, 0, 16);
	if (inet_pton(AF_INET, text, &a4) == 1) {
		out[2] = htonl(0xffff);
		out[3] = a4.s_addr;
		return;
	}
	if (inet_pton(AF_INET6, text, out) != 1)
		assert(!"bad address in a test");
}

void pkt_ipv4(struct pkt *p, const char *src, const char *dst, uint8_t proto, uint16_t id,
	      uint16_t frag_off)
{
	uint8_t *h;
	uint32_t a[4];

	if (p->l3 < 0)
		p->l3 = p->len;
	h = pkt_put(p, 20);
	h[0] = 0x45;
	put16(h + 4, id);
	put16(h + 6, frag_off);
	h[8] = 64;
	h[9] = proto;
	pkt_addr(src, a);
	memcpy(h + 12, &a[3], 4);
	pkt_addr(dst, a);
	memcpy(h + 16, &a[3], 4);
}

void pkt_ipv6(struct pkt *p, const char *src, const char *dst, uint8_t nexthdr)
{
	uint8_t *h;
	uint32_t a[4];

	if (p->l3 < 0)
		p->l3 = p->len;
	h = pkt_put(p, 40);
	h[0] = 0x60;
	h[6] = nexthdr;
	h[7] = 64;
	pkt_addr(src, a);
	memcpy(h + 8, a, 16);
	pkt_addr(dst, a);
	memcpy(h + 24, a, 16);
}

void pkt_ipv6_frag(struct pkt *p, uint8_t next, uint16_t frag_off, uint32_t id)
{
	uint8_t *h = pkt_put(p, 8);

	h[0] = next;
	put16(h + 2, frag_off);
	put16(h + 4, id >> 16);
	put16(h + 6, id & 0xffff);
}

void pkt_ipv6_ext(struct pkt *p, uint8_t type, uint8_t next, unsigned int len, uint16_t frag_off)
{
	uint8_t *h = pkt_put(p, len);

	h[0] = next;
	if (type == IPPROTO_FRAGMENT)
		put16(h + 2, frag_off);
	else if (type == IPPROTO_AH)
		h[1] = len / 4 - 2;
	else
		h[1] = len / 8 - 1;
}

void pkt_tcp(struct pkt *p, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
	     uint8_t flags, uint16_t window)
{
	uint8_t *h = pkt_put(p, 20);

	put16(h, sport);
	put16(h + 2, dport);
	put32(h + 4, seq);
	put32(h + 8, ack);
	h[12] = 5 << 4;
	h[13] = flags;
	put16(h + 14, window);
}

void pkt_udp(struct pkt *p, uint16_t sport, uint16_t dport)
{
	uint8_t *h;

	p->udp = p->len;
	h = pkt_put(p, 8);
	put16(h, sport);
	put16(h + 2, dport);
}

void pkt_icmp(struct pkt *p, uint8_t type, uint8_t code, uint16_t id, uint16_t seq)
{
	uint8_t *h = pkt_put(p, 8);

	h[0] = type;
	h[1] = code;
	put16(h + 4, id);
	put16(h + 6, seq);
}

void pkt_payload(struct pkt *p, size_t n)
{
	pkt_put(p, n);
}

void pkt_append(struct pkt *p, const void *bytes, size_t n)
{
	memcpy(pkt_put(p, n), bytes, n);
}

static uint16_t csum16(const uint8_t *b, size_t n)
{
	uint32_t s = 0;
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		s += (b[i] << 8) | b[i + 1];
	if (n & 1)
		s += b[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return ~s & 0xffff;
}

void pkt_finish(struct pkt *p)
{
	uint8_t *h;

	if (p->udp >= 0)
		put16(p->data + p->udp + 4, p->len - p->udp);
	if (p->l3 < 0)
		return;
	h = p->data + p->l3;
	if ((h[0] >> 4) == 4) {
		put16(h + 2, p->len - p->l3);
		put16(h + 10, 0);
		put16(h + 10, csum16(h, (h[0] & 0xf) * 4));
	} else {
		put16(h + 4, p->len - p->l3 - 40);
	}
}

static void eth_only(struct pkt *p, uint16_t ethertype)
{
	pkt_init(p);
	pkt_eth(p, NULL, 0, ethertype);
}

void pkt_tcp4(struct pkt *p, const char *src, uint16_t sport, const char *dst, uint16_t dport,
	      uint8_t flags, uint32_t seq, uint32_t ack, uint16_t win, size_t payload)
{
	eth_only(p, 0x0800);
	pkt_ipv4(p, src, dst, IPPROTO_TCP, 1, 0);
	pkt_tcp(p, sport, dport, seq, ack, flags, win);
	pkt_payload(p, payload);
	pkt_finish(p);
}

void pkt_tcp6(struct pkt *p, const char *src, uint16_t sport, const char *dst, uint16_t dport,
	      uint8_t flags, uint32_t seq, uint32_t ack, uint16_t win, size_t payload)
{
	eth_only(p, 0x86dd);
	pkt_ipv6(p, src, dst, IPPROTO_TCP);
	pkt_tcp(p, sport, dport, seq, ack, flags, win);
	pkt_payload(p, payload);
	pkt_finish(p);
}

void pkt_udp4(struct pkt *p, const char *src, uint16_t sport, const char *dst, uint16_t dport,
	      size_t payload)
{
	eth_only(p, 0x0800);
	pkt_ipv4(p, src, dst, IPPROTO_UDP, 1, 0);
	pkt_udp(p, sport, dport);
	pkt_payload(p, payload);
	pkt_finish(p);
}

void pkt_udp6(struct pkt *p, const char *src, uint16_t sport, const char *dst, uint16_t dport,
	      size_t payload)
{
	eth_only(p, 0x86dd);
	pkt_ipv6(p, src, dst, IPPROTO_UDP);
	pkt_udp(p, sport, dport);
	pkt_payload(p, payload);
	pkt_finish(p);
}

void pkt_echo4(struct pkt *p, const char *src, const char *dst, uint8_t type, uint16_t id,
	       uint16_t seq)
{
	eth_only(p, 0x0800);
	pkt_ipv4(p, src, dst, IPPROTO_ICMP, 1, 0);
	pkt_icmp(p, type, 0, id, seq);
	pkt_payload(p, 32);
	pkt_finish(p);
}

void pkt_echo6(struct pkt *p, const char *src, const char *dst, uint8_t type, uint16_t id,
	       uint16_t seq)
{
	eth_only(p, 0x86dd);
	pkt_ipv6(p, src, dst, IPPROTO_ICMPV6);
	pkt_icmp(p, type, 0, id, seq);
	pkt_payload(p, 32);
	pkt_finish(p);
}

void pkt_icmp_err4(struct pkt *p, const char *src, const char *dst, uint8_t type, uint8_t code,
		   const struct pkt *inner)
{
	eth_only(p, 0x0800);
	pkt_ipv4(p, src, dst, IPPROTO_ICMP, 1, 0);
	pkt_icmp(p, type, code, 0, 0);
	pkt_append(p, inner->data, inner->len);
	pkt_finish(p);
}

void pkt_icmp_err6(struct pkt *p, const char *src, const char *dst, uint8_t type, uint8_t code,
		   const struct pkt *inner)
{
	eth_only(p, 0x86dd);
	pkt_ipv6(p, src, dst, IPPROTO_ICMPV6);
	pkt_icmp(p, type, code, 0, 0);
	pkt_append(p, inner->data, inner->len);
	pkt_finish(p);
}
