/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Directories as locks. bpffs holds no regular files but takes
 * directories, and the kernel drops a flock(2) when its holder dies, even
 * by SIGKILL: so the collector's pin directory and the rule set's
 * rule_lock are locked as open directories.
 */
#ifndef GUARDER_LOCK_DIR_H
#define GUARDER_LOCK_DIR_H

#include <sys/types.h>

/*
 * lock_dir_open - open the directory @path for flock(2), after making it
 * with @mode when @mode is not 0 (an existing one is fine). Errors are
 * logged once as "cannot create the @what @path: ..." or "cannot open the
 * @what @path: ...". Returns the descriptor (close-on-exec; the caller
 * closes it), or a negative errno.
 */
int lock_dir_open(const char *path, mode_t mode, const char *what);

#endif /* GUARDER_LOCK_DIR_H */
