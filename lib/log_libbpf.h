/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libbpf's and libxdp's own messages through lib/log.h, one level down
 * (their warnings become our info, everything else our debug). Apart from
 * lib/log.c so that a process without BPF (guarder-ai) does not link
 * libbpf or libxdp for its logger.
 */
#ifndef GUARDER_LOG_LIBBPF_H
#define GUARDER_LOG_LIBBPF_H

/*
 * log_libbpf_route - install our print callbacks in libbpf and libxdp,
 * replacing theirs (which print to stderr unconditionally). Call once,
 * before the first libbpf or libxdp call that may log.
 */
void log_libbpf_route(void);

#endif /* GUARDER_LOG_LIBBPF_H */
