// SPDX-License-Identifier: GPL-2.0 OR MIT
#include <inttypes.h>

#include "json.h"

void json_write_string(FILE *out, const char *s)
{
	const unsigned char *p;

	fputc('"', out);
	for (p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", out);
			break;
		case '\\':
			fputs("\\\\", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		default:
			if (*p < 0x20)
				fprintf(out, "\\u%04x", *p);
			else
				fputc(*p, out);
		}
	}
	fputc('"', out);
}

/* Separator and key common to every member. */
static void json_key(struct json_writer *w, const char *key)
{
	if (w->need_comma)
		fputc(',', w->out);
	w->need_comma = 1;
	if (key) {
		json_write_string(w->out, key);
		fputc(':', w->out);
	}
}

void json_begin_object(struct json_writer *w, const char *key)
{
	if (w->depth)
		json_key(w, key);
	fputc('{', w->out);
	w->depth++;
	w->need_comma = 0;
}

void json_end_object(struct json_writer *w)
{
	fputc('}', w->out);
	w->need_comma = 1;
	if (--w->depth == 0) {
		fputc('\n', w->out);
		w->need_comma = 0;
	}
}

void json_string(struct json_writer *w, const char *key, const char *value)
{
	json_key(w, key);
	json_write_string(w->out, value);
}

void json_uint(struct json_writer *w, const char *key, uint64_t value)
{
	json_key(w, key);
	fprintf(w->out, "%" PRIu64, value);
}
