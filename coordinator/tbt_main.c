/* tbt_main.c - the tbt binary: git-style subcommands. */
#include <stdio.h>
#include <string.h>

#include "tbt_cli.h"
#include "tbt_commands.h"
#include "tbt_config.h"

typedef struct tbt_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} tbt_command;

static const tbt_command commands[] = {
    {"run", tbt_cmd_run, "run tests against a live system: trigger, receive its spans, evaluate"},
    {"agent", tbt_cmd_agent, "serve one environment: take jobs from Kafka, run them, publish results"},
    {"eval", tbt_cmd_eval, "evaluate tests against a captured trace (OTLP JSON or protobuf)"},
    {"broker", tbt_cmd_broker, "run an embedded Kafka-protocol broker (for local setups and tests)"},
    {"lint", tbt_cmd_lint, "audit a captured trace's instrumentation with the analyzer (score and rules)"},
};

static void usage(FILE *f)
{
    fprintf(f, "Usage: tbt <command> [options]\n\n"
               "Trace-based tests for event-driven systems: Tracetest-compatible definitions,\n"
               "evaluated against the OpenTelemetry trace a request produces.\n\nCommands:\n");
    for (size_t i = 0; i < TBT_ARRAY_LEN(commands); i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nRun 'tbt <command> --help' for a command's options; 'tbt --version' for the version.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return TBT_EXIT_ERROR;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return TBT_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("tbt %s\n", TBT_VERSION);
        return TBT_EXIT_OK;
    }
    for (size_t i = 0; i < TBT_ARRAY_LEN(commands); i++)
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "tbt: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return TBT_EXIT_ERROR;
}
