/* JSON text with its numbers in their shortest form: json-glib prints every
 * double with 17 significant digits (0.80000000000000004), which is exact
 * but unreadable. Each number in `text` outside strings becomes the
 * shortest decimal that reads back as the same double (as Python's repr);
 * everything else is copied as it is. */
#pragma once

char *jsontidy_numbers(const char *text);
