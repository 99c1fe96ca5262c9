/* Paths as the report's page refers to files. */
#pragma once

/* A relative reference from directory FROM to PATH, both absolute and
 * canonical ("/a/b", "/a/c/d" -> "../c/d"). */
char *report_path_relative(const char *from_dir, const char *to_path);
