/* tbt_commands.h - the subcommands of the tbt binary. Each takes the
 * arguments after its name (argv[0] is the subcommand) and returns the
 * process exit code. */
#ifndef TBT_COMMANDS_H
#define TBT_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>

#include "tbt_common.h"

int tbt_cmd_eval(int argc, char **argv);
int tbt_cmd_run(int argc, char **argv);
int tbt_cmd_broker(int argc, char **argv);
int tbt_cmd_agent(int argc, char **argv);
int tbt_cmd_lint(int argc, char **argv);
struct tbt_receiver_opts;
/* A receiver address: "host:port", ":port", "port" or "off" (host_store
 * receives an allocated host the options point to). */
int tbt_parse_listen(const char *s, bool *enabled, struct tbt_receiver_opts *ro, char **host_store);
/* Write a whole file. */
int tbt_write_file(const char *path, const char *data, size_t len, tbt_error *err);

#endif
