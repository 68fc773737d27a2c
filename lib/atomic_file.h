/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Replacing a file so that a reader, or the disk after a crash, sees the
 * old content or the new one, never a mix or a part: the rules file, the
 * API's AI decisions, the guarder-ai stats file.
 *
 * The new content goes to a temp file in the same directory, named
 * "<path>.tmp.<pid>.<n>" (n from 0; the next one when a name is taken, by
 * another writer or anything else), created O_CREAT | O_EXCL | O_NOFOLLOW
 * so that nothing already there, a symlink least of all, is followed or
 * reused. It is written whole, given its mode, fsync'd and renamed over
 * @path; then the directory is fsync'd so the rename itself is durable.
 * Writers of the same path at the same time each rename a whole file of
 * their own: the last rename wins. Readers that skip "<name>.tmp.*" never
 * see a half-written file even when a writer is killed midway.
 */
#ifndef GUARDER_ATOMIC_FILE_H
#define GUARDER_ATOMIC_FILE_H

#include <stddef.h>
#include <sys/types.h>

#define ATOMIC_FILE_TRIES 16 /* temp names tried before giving up (-EEXIST) */

/*
 * atomic_file_write - replace @path with @data[0..@len) as described
 * above. @mode: the file's permission bits, exactly (the umask does not
 * reduce them): 0600 for what names hosts or decisions, 0644 for counters
 * others read. @dir_mode: when not 0, the parent directory is created with
 * it if missing (one level, like mkdir); 0 = it must exist.
 * Returns 0, or a negative errno with "what failed: why" in @err (cut to
 * @errlen; nothing written when @errlen is 0). On every error before the
 * rename @path is untouched and the temp file removed; the only error
 * after it is a failed fsync of the directory, when @path already holds
 * the new content but a crash could still bring the old one back.
 */
int atomic_file_write(const char *path, const void *data, size_t len, mode_t mode, mode_t dir_mode,
		      char *err, size_t errlen);

#endif /* GUARDER_ATOMIC_FILE_H */
