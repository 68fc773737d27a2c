/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The rules file: the persistent copy of the rule set, written before the
 * API answers and read back when the API or the collector starts.
 *
 *   {"version": 1, "next_id": N, "rules": [rule_to_json(), ...]}
 *
 * Writes go through atomic_file_write(): after a crash the file holds the
 * old set or the new one, never a mix. Leftover "<name>.tmp.*" files are
 * ignored by the load.
 */
#ifndef GUARDER_RULES_FILE_H
#define GUARDER_RULES_FILE_H

#include <linux/types.h>
#include <stddef.h>

#include "rule.h"

#define RULES_FILE_VERSION 1

/*
 * rules_file_save - write @n rules and @next_id to @path atomically, mode
 * 0600. Creates the parent directory (mode 0700, one level) if missing.
 * Every rule must pass rule_validate() (-EINVAL otherwise, nothing
 * written). Returns 0 or a negative errno (logged with the path); on
 * error the previous file is intact and no temp file is left behind.
 */
int rules_file_save(const char *path, const struct rule *rules, size_t n, __u32 next_id);

/*
 * rules_file_load - read @path. A missing file is an empty set (returns 0
 * with *n = 0, *next_id = 0, *rules = NULL). The text is read by
 * json_strict_parse() (a key twice in an object is corruption), every rule
 * with rule_from_json(RULE_PARSE_STORED); duplicate ids, a wrong
 * version, more than @max rules or any corruption fail the whole load with
 * -EINVAL and the reason in @err ("<path>: rules[3]: action: ..."), and
 * the outputs are left unchanged. *next_id is raised above the highest id
 * if the file says less. On success *rules is a malloc'd array the caller
 * frees (NULL when empty). Other errors: -ENOMEM, or the errno of a failed
 * read (also described in @err).
 */
int rules_file_load(const char *path, size_t max, struct rule **rules, size_t *n, __u32 *next_id,
		    char *err, size_t errlen);

#endif /* GUARDER_RULES_FILE_H */
