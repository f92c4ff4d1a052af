// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Unit tests of the JSON writer behind every tool's -j output.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <cmocka.h>

#include "json.h"

static char *text;
static size_t text_len;

static struct json_writer open_writer(void)
{
	struct json_writer w = { .out = open_memstream(&text, &text_len) };

	assert_non_null(w.out);
	return w;
}

static void close_and_expect(struct json_writer *w, const char *expected)
{
	fclose(w->out);
	assert_string_equal(text, expected);
	free(text);
}

static void escapes_quotes_backslashes_and_controls(void **state)
{
	struct json_writer w = open_writer();

	json_write_string(w.out, "a\"b\\c\nd\te\x01");
	close_and_expect(&w, "\"a\\\"b\\\\c\\nd\\te\\u0001\"");
}

static void object_members_are_comma_separated(void **state)
{
	struct json_writer w = open_writer();

	json_begin_object(&w, NULL);
	json_string(&w, "version", "1.0");
	json_uint(&w, "n", 18446744073709551615ULL);
	json_end_object(&w);
	close_and_expect(&w,
			 "{\"version\":\"1.0\",\"n\":18446744073709551615}\n");
}

static void nested_objects_and_consecutive_lines(void **state)
{
	struct json_writer w = open_writer();

	json_begin_object(&w, NULL);
	json_uint(&w, "a", 1);
	json_begin_object(&w, "inner");
	json_uint(&w, "b", 2);
	json_end_object(&w);
	json_uint(&w, "c", 3);
	json_end_object(&w);
	json_begin_object(&w, NULL);
	json_end_object(&w);
	close_and_expect(&w, "{\"a\":1,\"inner\":{\"b\":2},\"c\":3}\n{}\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(escapes_quotes_backslashes_and_controls),
		cmocka_unit_test(object_members_are_comma_separated),
		cmocka_unit_test(nested_objects_and_consecutive_lines),
	};

	return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
