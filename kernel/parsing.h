/* SPDX-License-Identifier: GPL-2.0 */
/* Bounds-checked packet parsing helpers for the BPF program (in progress). */
#ifndef GUARDER_PARSING_H
#define GUARDER_PARSING_H
#endif /* GUARDER_PARSING_H */
