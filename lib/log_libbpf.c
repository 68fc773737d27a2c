// SPDX-License-Identifier: GPL-2.0
#include <stdarg.h>

#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include "log.h"
#include "log_libbpf.h"

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	enum log_level ours = level == LIBBPF_WARN ? LOG_LVL_INFO : LOG_LVL_DEBUG;

	log_vmsg(ours, fmt, ap);
	return 0;
}

static int libxdp_print(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	enum log_level ours = level == LIBXDP_WARN ? LOG_LVL_INFO : LOG_LVL_DEBUG;

	log_vmsg(ours, fmt, ap);
	return 0;
}

void log_libbpf_route(void)
{
	libbpf_set_print(libbpf_print);
	libxdp_set_print(libxdp_print);
}
