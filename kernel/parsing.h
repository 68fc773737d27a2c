/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Bounds-checked packet parsing for the BPF program, in the style of
 * xdp-tools' parsing_helpers.h (our own code, not that header).
 *
 * One call of parse_packet() fills a struct packet_meta with everything
 * the flow table, the ICMP view and (later) the filter need, so nothing
 * parses a packet twice.
 *
 * Two notions of "end" are kept apart on purpose:
 *  - data_end is what the verifier knows: every read is checked against it;
 *  - the IP length (IPv4 total length, IPv6 40 + payload length) is what
 *    the packet says: L4 headers must fit inside it, and payload lengths
 *    are computed from it, so Ethernet padding of short frames is never
 *    taken for TCP payload.
 * All lengths are computed in 32 bits after the check that orders them,
 * so a malformed total length can never underflow.
 */
#ifndef GUARDER_PARSING_H
#define GUARDER_PARSING_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "kernel/conn_tracker.h"
#include "kernel/icmp.h"

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

#define GUARDER_VLAN_MAX 2
#define IPV4_FRAG_OFFSET 0x1fff
#define IPV4_FRAG_MF	 0x2000

/* TCP flag bits as in the 14th byte of the TCP header. */
#define TCPF_FIN 0x01
#define TCPF_SYN 0x02
#define TCPF_RST 0x04
#define TCPF_PSH 0x08
#define TCPF_ACK 0x10

/* packet_meta.frag */
enum {
	PKT_FRAG_NONE = 0,
	PKT_FRAG_FIRST = 1, /* offset 0, more fragments: ports are present */
	PKT_FRAG_LATER = 2, /* offset > 0: no L4 header */
};

/* packet_meta.icmp_kind */
enum {
	PKT_ICMP_NONE = 0,
	PKT_ICMP_ECHO, /* echo request or reply: echo_id/echo_seq valid */
	PKT_ICMP_ERROR, /* error message: inner holds the quoted packet */
	PKT_ICMP_OTHER,
};

/* Result of parse_packet() other than a negative malformed reason. */
enum {
	PARSE_IP = 0, /* IPv4/IPv6, meta filled, to be tracked */
	PARSE_NON_IP = 1, /* not IP: counted, not tracked */
	/*
	 * IPv4/IPv6 whose addresses (and protocol) were read but not the
	 * rest: m->unparsed holds the malformed reason, ports_ok and l4_ok
	 * what of the L4 header was read. Counted as malformed, filtered on
	 * what is known, never tracked.
	 */
	PARSE_PARTIAL = 2,
};

/*
 * Everything known about one packet after one parse. Addresses are in
 * network order, IPv4 mapped into IPv6; ports, seq and ack in host order.
 */
struct packet_meta {
	__u32 src[4];
	__u32 dst[4];
	__u32 ip_len; /* IP length (header + payload) */
	__u32 payload_len; /* L4 payload bytes (TCP: without SYN/FIN) */
	__u32 seq;
	__u32 ack;
	__u16 sport;
	__u16 dport;
	__u16 window;
	__u16 ip_id;
	__u16 echo_id;
	__u16 echo_seq;
	__u16 hdr_len; /* IP + L4 header bytes: repeated by every GSO segment */
	__u16 frag_off; /* fragment offset in 8-byte units (fragments only) */
	__u16 quote_off; /* ICMP errors: the quote's offset from the frame's start */
	__u16 quote_end; /* and the IP packet's end (parse_quote()) */
	__u32 frag_id; /* IPv4 identification or IPv6 fragment id (fragments only) */
	__u8 family; /* 4 or 6 */
	__u8 proto; /* L4 protocol after the IPv6 extension headers */
	__u8 pclass; /* enum guarder_proto_class */
	__u8 tcp_flags;
	__u8 frag; /* PKT_FRAG_* */
	__u8 icmp_kind;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 ports_ok; /* sport/dport were read (protocols with ports) */
	__u8 l4_ok; /* the whole L4 header was read (flags, ICMP type/code) */
	__u8 unparsed; /* PARSE_PARTIAL: the enum guarder_malformed reason */
	__u8 pad;
	struct icmp_inner inner;
};

/* Malformed reason as a negative return value, and back. */
#define PARSE_MALFORMED(r) (-1 - (int)(r))
#define PARSE_REASON(rc)   ((__u32)(-1 - (rc)))

static __always_inline void addr_v4_mapped(__u32 *a, __u32 v4)
{
	a[0] = 0;
	a[1] = 0;
	a[2] = bpf_htonl(0xffff);
	a[3] = v4;
}

static __always_inline void addr_v6_copy(__u32 *a, const struct in6_addr *v6)
{
	a[0] = v6->in6_u.u6_addr32[0];
	a[1] = v6->in6_u.u6_addr32[1];
	a[2] = v6->in6_u.u6_addr32[2];
	a[3] = v6->in6_u.u6_addr32[3];
}

static __always_inline int proto_has_ports(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_UDPLITE ||
	       proto == IPPROTO_SCTP || proto == IPPROTO_DCCP;
}

/* An 802.1Q/802.1AD tag as it follows the Ethernet addresses. */
struct vlan_tag {
	__be16 tci;
	__be16 proto;
};

/*
 * parse_ethhdr_vlan - step over Ethernet and at most GUARDER_VLAN_MAX
 * VLAN tags (802.1Q or 802.1AD). On success *pos points at the L3 header,
 * *proto holds its ethertype (network order) and 0 is returned; otherwise
 * a PARSE_MALFORMED() value.
 */
static __always_inline int parse_ethhdr_vlan(void **pos, void *data_end, __be16 *proto)
{
	struct ethhdr *eth = *pos;
	struct vlan_tag *vlan;
	__be16 p;
	int i;

	if ((void *)(eth + 1) > data_end)
		return PARSE_MALFORMED(GUARDER_M_ETH_TRUNC);
	p = eth->h_proto;
	vlan = (void *)(eth + 1);
#pragma unroll
	for (i = 0; i < GUARDER_VLAN_MAX; i++) {
		if (p != bpf_htons(ETH_P_8021Q) && p != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(vlan + 1) > data_end)
			return PARSE_MALFORMED(GUARDER_M_VLAN_TRUNC);
		p = vlan->proto;
		vlan++;
	}
	if (p == bpf_htons(ETH_P_8021Q) || p == bpf_htons(ETH_P_8021AD))
		return PARSE_MALFORMED(GUARDER_M_VLAN_DEPTH);
	*pos = vlan;
	*proto = p;
	return 0;
}

static __always_inline int ipv6_is_ext(__u8 nh)
{
	return nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS ||
	       nh == IPPROTO_FRAGMENT || nh == IPPROTO_AH;
}

/*
 * Bound of the offset of an IPv6 extension header from the IPv6 header.
 * A linear XDP buffer is at most a page, so a real chain ends far below;
 * masking the offset with it at the top of each step gives the verifier
 * the same range on every path, so it can prune instead of exploring every
 * combination of header types (400k instructions before, ~40k after).
 */
#define IPV6_EXT_OFF_MASK 0xfff

/*
 * parse_ipv6_ext - walk at most GUARDER_IPV6_EXT_MAX extension headers of
 * the IPv6 packet at @l3 (@ip_len bytes long), the first of type *nh.
 * Sets *l4_off to the offset of the upper-layer header from @l3 and *nh
 * to its protocol. A fragment header with a non-zero offset ends the walk
 * (no L4 header follows) and sets *frag to PKT_FRAG_LATER; offset 0 sets
 * PKT_FRAG_FIRST; both set *frag_off (8-byte units) and *frag_id.
 * Returns 0 or a PARSE_MALFORMED() value.
 */
static __always_inline int parse_ipv6_ext(void *l3, void *data_end, __u32 ip_len, __u8 *nh,
					  __u8 *frag, __u32 *l4_off, __u16 *frag_off,
					  __u32 *frag_id)
{
	__u32 off = sizeof(struct ipv6hdr), len;
	__u8 next = *nh;
	int i;

	for (i = 0; i < GUARDER_IPV6_EXT_MAX; i++) {
		__u8 *h;

		if (!ipv6_is_ext(next))
			break;
		off &= IPV6_EXT_OFF_MASK;
		h = l3 + off;
		/* Every extension header is at least 8 bytes long. */
		if ((void *)(h + 8) > data_end || off + 8 > ip_len)
			return PARSE_MALFORMED(GUARDER_M_IPV6_EXT_TRUNC);
		if (next == IPPROTO_FRAGMENT) {
			__u16 fo = bpf_ntohs(*(__be16 *)(h + 2));

			len = 8;
			*frag = (fo & 0xfff8) ? PKT_FRAG_LATER : PKT_FRAG_FIRST;
			*frag_off = fo >> 3;
			*frag_id = bpf_ntohl(*(__be32 *)(h + 4));
		} else if (next == IPPROTO_AH) {
			len = ((__u32)h[1] + 2) * 4;
		} else {
			len = ((__u32)h[1] + 1) * 8;
		}
		if (off + len > ip_len || off + len > IPV6_EXT_OFF_MASK)
			return PARSE_MALFORMED(GUARDER_M_IPV6_EXT_TRUNC);
		next = h[0];
		off += len;
		if (*frag == PKT_FRAG_LATER)
			goto out;
	}
	if (ipv6_is_ext(next))
		return PARSE_MALFORMED(GUARDER_M_IPV6_EXT_DEPTH);
out:
	*l4_off = off;
	*nh = next;
	return 0;
}

static __always_inline int icmp4_is_error(__u8 type)
{
	return type == ICMP_DEST_UNREACH || type == ICMP_SOURCE_QUENCH || type == ICMP_REDIRECT ||
	       type == ICMP_TIME_EXCEEDED || type == ICMP_PARAMETERPROB;
}

static __always_inline int icmp6_is_error(__u8 type)
{
	return type == ICMPV6_DEST_UNREACH || type == ICMPV6_PKT_TOOBIG ||
	       type == ICMPV6_TIME_EXCEED || type == ICMPV6_PARAMPROB;
}

/*
 * parse_icmp_quote - read the packet quoted by an ICMP(v6) error. The
 * quote starts right after the 8-byte ICMP header (at @q) and ends at
 * @ip_end. Fills @in; ports only when the quote holds them. Returns 0,
 * or PARSE_MALFORMED(GUARDER_M_ICMP_INNER_TRUNC) when the quote is shorter
 * than an IP header of the error's own family, is not one (an IPv6 header
 * quoted by ICMPv4), or cuts its IPv6 extension headers off.
 */
static __always_inline int parse_icmp_quote(void *q, void *data_end, void *ip_end, __u8 family,
					    struct icmp_inner *in)
{
	__u16 *ports;

	if (family == 4) {
		struct iphdr *iph = q;
		__u32 ihl;

		if ((void *)(iph + 1) > data_end || (void *)(iph + 1) > ip_end ||
		    iph->version != 4 || iph->ihl < 5)
			return PARSE_MALFORMED(GUARDER_M_ICMP_INNER_TRUNC);
		addr_v4_mapped(in->src, iph->saddr);
		addr_v4_mapped(in->dst, iph->daddr);
		in->proto = iph->protocol;
		in->valid = 1;
		/* A quoted non-first fragment carries no ports. */
		if (iph->frag_off & bpf_htons(IPV4_FRAG_OFFSET))
			return 0;
		ihl = iph->ihl * 4;
		ports = q + ihl;
	} else {
		struct ipv6hdr *ip6 = q;
		__u32 l4_off, fid;
		__u16 fo;
		__u8 nh, fr = PKT_FRAG_NONE;

		if ((void *)(ip6 + 1) > data_end || (void *)(ip6 + 1) > ip_end || ip6->version != 6)
			return PARSE_MALFORMED(GUARDER_M_ICMP_INNER_TRUNC);
		/*
		 * The quoted packet's extension headers, walked like the
		 * outer ones, so that inner-field rules see its real
		 * protocol and ports. A chain the quote cuts off makes the
		 * quote unreadable (then filter.unparsed applies).
		 */
		nh = ip6->nexthdr;
		if (parse_ipv6_ext(q, data_end, ip_end - q, &nh, &fr, &l4_off, &fo, &fid))
			return PARSE_MALFORMED(GUARDER_M_ICMP_INNER_TRUNC);
		l4_off &= IPV6_EXT_OFF_MASK;
		addr_v6_copy(in->src, &ip6->saddr);
		addr_v6_copy(in->dst, &ip6->daddr);
		in->proto = nh;
		in->valid = 1;
		if (fr == PKT_FRAG_LATER)
			return 0;
		ports = q + l4_off;
	}
	if (proto_has_ports(in->proto) && (void *)(ports + 2) <= data_end &&
	    (void *)(ports + 2) <= ip_end) {
		in->sport = bpf_ntohs(ports[0]);
		in->dport = bpf_ntohs(ports[1]);
	}
	return 0;
}

/*
 * parse_quote - read the quote of the ICMP error that parse_packet() left
 * in @m (quote_off, quote_end: offsets from @data) into m->inner. Apart
 * from parse_packet() so that the program verifies it once, in a global
 * function per hook, instead of once per path through the outer headers.
 * Returns 0 or PARSE_MALFORMED(GUARDER_M_ICMP_INNER_TRUNC).
 */
static __always_inline int parse_quote(void *data, void *data_end, struct packet_meta *m)
{
	void *q = data + (m->quote_off & IPV6_EXT_OFF_MASK);
	void *ip_end = data + m->quote_end;

	__builtin_memset(&m->inner, 0, sizeof(m->inner));
	return parse_icmp_quote(q, data_end, ip_end, m->family, &m->inner);
}

/*
 * parse_l4 - parse the transport header at @l4 (inside [@l4, @ip_end)).
 * Sets m->ports_ok once the ports are read and m->l4_ok once the whole
 * header is. For an ICMP error it notes where the quote is (parse_quote()
 * reads it). Returns 0 or a PARSE_MALFORMED() value; m keeps what was
 * read before the failure.
 */
static __always_inline int parse_l4(void *data, void *l4, void *data_end, void *ip_end,
				    struct packet_meta *m)
{
	__u32 hlen;

	/*
	 * The ports first, at the same place for every protocol that has
	 * them: a cut-off header may still name them.
	 */
	if (proto_has_ports(m->proto)) {
		__u16 *ports = l4;

		if (l4 + 4 > data_end || l4 + 4 > ip_end)
			return PARSE_MALFORMED(GUARDER_M_L4_TRUNC);
		m->sport = bpf_ntohs(ports[0]);
		m->dport = bpf_ntohs(ports[1]);
		m->ports_ok = 1;
	}
	switch (m->proto) {
	case IPPROTO_TCP: {
		struct tcphdr *th = l4;

		if ((void *)(th + 1) > data_end || (void *)(th + 1) > ip_end)
			return PARSE_MALFORMED(GUARDER_M_L4_TRUNC);
		hlen = th->doff * 4;
		if (hlen < sizeof(*th) || l4 + hlen > ip_end)
			return PARSE_MALFORMED(GUARDER_M_TCP_DOFF);
		m->seq = bpf_ntohl(th->seq);
		m->ack = bpf_ntohl(th->ack_seq);
		m->window = bpf_ntohs(th->window);
		m->tcp_flags = ((__u8 *)th)[13];
		m->payload_len = ip_end - (l4 + hlen);
		break;
	}
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
		if (l4 + sizeof(struct udphdr) > data_end || l4 + sizeof(struct udphdr) > ip_end)
			return PARSE_MALFORMED(GUARDER_M_L4_TRUNC);
		hlen = sizeof(struct udphdr);
		m->payload_len = ip_end - (l4 + hlen);
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6: {
		/* ICMP and ICMPv6 share the first 8 bytes' layout. */
		struct icmp_hdr *ih = l4;

		if ((void *)(ih + 1) > data_end || (void *)(ih + 1) > ip_end)
			return PARSE_MALFORMED(GUARDER_M_L4_TRUNC);
		hlen = sizeof(*ih);
		m->icmp_type = ih->type;
		m->icmp_code = ih->code;
		m->l4_ok = 1; /* type and code: what ICMP rules read */
		m->echo_id = 0;
		m->echo_seq = 0;
		m->payload_len = ip_end - (l4 + hlen);
		if ((m->family == 4 && (ih->type == ICMP_ECHO || ih->type == ICMP_ECHOREPLY)) ||
		    (m->family == 6 &&
		     (ih->type == ICMPV6_ECHO_REQUEST || ih->type == ICMPV6_ECHO_REPLY))) {
			m->icmp_kind = PKT_ICMP_ECHO;
			m->echo_id = bpf_ntohs(ih->un.echo.id);
			m->echo_seq = bpf_ntohs(ih->un.echo.sequence);
			/* Request and reply share one flow: both ports = id. */
			m->sport = m->echo_id;
			m->dport = m->echo_id;
		} else if ((m->family == 4 && icmp4_is_error(ih->type)) ||
			   (m->family == 6 && icmp6_is_error(ih->type))) {
			m->icmp_kind = PKT_ICMP_ERROR;
			m->quote_off = (void *)(ih + 1) - data;
			m->quote_end = ip_end - data;
		} else {
			m->icmp_kind = PKT_ICMP_OTHER;
		}
		break;
	}
	default: /* SCTP, DCCP (their ports read above), others */
		hlen = 0;
		m->payload_len = ip_end - l4;
		break;
	}
	m->hdr_len += hlen;
	m->l4_ok = 1;
	return 0;
}

static __always_inline __u8 proto_class(__u8 family, __u8 proto)
{
	if (proto == IPPROTO_TCP)
		return GUARDER_P_TCP;
	if (proto == IPPROTO_UDP)
		return GUARDER_P_UDP;
	if (family == 4)
		return proto == IPPROTO_ICMP ? GUARDER_P_ICMP : GUARDER_P_OTHER_IPV4;
	return proto == IPPROTO_ICMPV6 ? GUARDER_P_ICMPV6 : GUARDER_P_OTHER_IPV6;
}

/*
 * parse_packet - parse one Ethernet frame into @m. For speed @m is not
 * zeroed: every field is written here before anyone may read it, except
 * the fields of another kind of packet (seq/ack/window only for TCP,
 * echo_* and inner only for ICMP, ip_id only for IPv4).
 * @frame_len is the frame's real length: data_end - data for XDP,
 * skb->len for tc (whose linear data may be shorter). With @gso set (a tc
 * GSO super-packet) the IP length is taken from the frame, because the
 * stack may leave the IP length field 0 or stale for those.
 *
 * Returns PARSE_IP when @m describes an IP packet to track, PARSE_NON_IP,
 * PARSE_PARTIAL when only its IP header (and maybe part of its L4 header)
 * could be read, or PARSE_MALFORMED(reason) when not even its IP header
 * could (the last two are counted as malformed and never tracked).
 */
static __always_inline int parse_packet(void *data, void *data_end, __u32 frame_len, int gso,
					struct packet_meta *m)
{
	void *pos = data, *l3, *l4, *ip_end;
	__u32 l3_off;
	__be16 eth_proto;
	int rc;

	m->sport = 0;
	m->dport = 0;
	m->payload_len = 0;
	m->tcp_flags = 0;
	m->frag = PKT_FRAG_NONE;
	m->frag_off = 0;
	m->frag_id = 0;
	m->icmp_kind = PKT_ICMP_NONE;
	m->icmp_type = 0;
	m->icmp_code = 0;
	m->ports_ok = 0;
	m->l4_ok = 0;
	m->unparsed = 0;
	rc = parse_ethhdr_vlan(&pos, data_end, &eth_proto);
	if (rc)
		return rc;
	l3 = pos;
	l3_off = l3 - data;

	if (eth_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = l3;
		__u32 ihl, tot;

		if ((void *)(iph + 1) > data_end || l3_off + sizeof(*iph) > frame_len)
			return PARSE_MALFORMED(GUARDER_M_IPV4_TRUNC);
		ihl = iph->ihl * 4;
		if (iph->version != 4 || ihl < sizeof(*iph) || l3 + ihl > data_end)
			return PARSE_MALFORMED(GUARDER_M_IPV4_IHL);
		if (gso) {
			tot = frame_len - l3_off;
		} else {
			tot = bpf_ntohs(iph->tot_len);
			if (tot < ihl || tot > frame_len - l3_off)
				return PARSE_MALFORMED(GUARDER_M_IPV4_TOTLEN);
		}
		m->family = 4;
		m->proto = iph->protocol;
		m->ip_len = tot;
		m->ip_id = bpf_ntohs(iph->id);
		m->hdr_len = ihl;
		addr_v4_mapped(m->src, iph->saddr);
		addr_v4_mapped(m->dst, iph->daddr);
		if (iph->frag_off & bpf_htons(IPV4_FRAG_OFFSET))
			m->frag = PKT_FRAG_LATER;
		else if (iph->frag_off & bpf_htons(IPV4_FRAG_MF))
			m->frag = PKT_FRAG_FIRST;
		if (m->frag) {
			m->frag_off = bpf_ntohs(iph->frag_off) & IPV4_FRAG_OFFSET;
			m->frag_id = m->ip_id;
		}
		l4 = l3 + ihl;
		ip_end = l3 + tot;
	} else if (eth_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;
		__u32 tot, l4_off;
		__u8 nh;

		if ((void *)(ip6 + 1) > data_end || l3_off + sizeof(*ip6) > frame_len ||
		    ip6->version != 6)
			return PARSE_MALFORMED(GUARDER_M_IPV6_TRUNC);
		if (gso) {
			tot = frame_len - l3_off;
		} else {
			tot = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
			if (tot > frame_len - l3_off)
				return PARSE_MALFORMED(GUARDER_M_IPV6_PAYLEN);
		}
		m->family = 6;
		m->ip_len = tot;
		addr_v6_copy(m->src, &ip6->saddr);
		addr_v6_copy(m->dst, &ip6->daddr);
		ip_end = l3 + tot;
		nh = ip6->nexthdr;
		m->proto = nh;
		m->pclass = GUARDER_P_OTHER_IPV6;
		rc = parse_ipv6_ext(l3, data_end, tot, &nh, &m->frag, &l4_off, &m->frag_off,
				    &m->frag_id);
		if (rc) {
			/* The addresses are known: an address rule still applies. */
			m->unparsed = PARSE_REASON(rc);
			return PARSE_PARTIAL;
		}
		l4_off &= IPV6_EXT_OFF_MASK;
		l4 = l3 + l4_off;
		m->proto = nh;
		m->hdr_len = l4_off;
	} else {
		m->pclass = GUARDER_P_NON_IP;
		return PARSE_NON_IP;
	}

	m->pclass = proto_class(m->family, m->proto);
	/* A later fragment has no L4 header: frag_cache may know its ports. */
	if (m->frag == PKT_FRAG_LATER)
		return PARSE_IP;
	rc = parse_l4(data, l4, data_end, ip_end, m);
	if (rc) {
		m->unparsed = PARSE_REASON(rc);
		return PARSE_PARTIAL;
	}
	return PARSE_IP;
}

#endif /* GUARDER_PARSING_H */
