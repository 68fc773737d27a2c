/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Logging for every Guarder process: one line per message on stderr,
 * "LEVEL component: text". No BPF here: processes that load or read BPF
 * objects route libbpf's and libxdp's messages in with lib/log_libbpf.h.
 */
#ifndef GUARDER_LOG_H
#define GUARDER_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

/* log_init - set the process name printed in each line and the threshold. */
void log_init(const char *component, enum log_level level);

/* log_set_level - change the threshold (e.g. from -v). */
void log_set_level(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * log_vmsg - log_msg() with a va_list, for print callbacks of other
 * libraries. Consumes @ap; a line above the threshold prints nothing.
 */
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif /* GUARDER_LOG_H */
