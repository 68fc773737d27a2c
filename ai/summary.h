/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What guarder-ai tells the model: a compact, bounded summary of the
 * windowed features and the recent detector findings. Never raw flows:
 * only per-host and per-service aggregates, at most AI_SUMMARY_TOP of
 * each, and the last AI_RECENT_FINDINGS findings.
 */
#ifndef GUARDER_AI_SUMMARY_H
#define GUARDER_AI_SUMMARY_H

#include <stddef.h>

#include "detect.h"

#define AI_SUMMARY_TOP 10

struct json_object;

/*
 * ai_summary_build - the summary of @eng's open windows (entries touched
 * within ai.window of the newest record): top sources and destinations
 * by flows, top TCP services by half-open flows then flows, and the
 * recent findings. *@busiest_node (may be NULL) gets the node of the top
 * source, or "" when the window is empty. Returns a new object (caller
 * owns it) or NULL when out of memory.
 */
struct json_object *ai_summary_build(const struct ai_engine *eng, char *busiest_node,
				     size_t node_len);

/* ai_summary_system_prompt - the system message sent with a summary. */
const char *ai_summary_system_prompt(void);

#endif /* GUARDER_AI_SUMMARY_H */
