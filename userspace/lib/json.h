/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Minimal JSON output for the tools' -j mode: one object per line, keys in
 * the order written.
 */
#ifndef CAPYMIG_JSON_H
#define CAPYMIG_JSON_H

#include <stdint.h>
#include <stdio.h>

struct json_writer {
	FILE *out;
	int depth;
	int need_comma;
};

void json_begin_object(struct json_writer *w, const char *key);
void json_end_object(struct json_writer *w);
void json_string(struct json_writer *w, const char *key, const char *value);
void json_uint(struct json_writer *w, const char *key, uint64_t value);

/* Writes @s as a JSON string literal, escaping what RFC 8259 requires. */
void json_write_string(FILE *out, const char *s);

#endif /* CAPYMIG_JSON_H */
