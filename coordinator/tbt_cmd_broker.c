/* tbt_cmd_broker.c - `tbt broker`: librdkafka's mock cluster, which speaks
 * the Kafka protocol on real TCP ports, as a process of its own: for local
 * multi-agent setups, the demo and the tests. Production uses a real Kafka
 * cluster; this is the single-machine stand-in (no persistence, no SASL/TLS,
 * offsets in memory).
 *
 * The first line of standard output is the bootstrap list HOST:PORT,...; the
 * broker runs until SIGINT or SIGTERM. */
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "tbt_cli.h"
#include "tbt_commands.h"

enum { O_COUNT = 1, O_TOPIC };

static const tbt_cli_opt broker_opts[] = {
    {"brokers-count", 'n', "N", "brokers in the cluster (default 1, at most 16)", O_COUNT},
    {"topic", 't', "NAME[:PARTITIONS]", "create a topic at start (default 4 partitions; repeatable)", O_TOPIC},
};

int tbt_cmd_broker(int argc, char **argv)
{
    tbt_cli cli = {"tbt broker", "[--brokers-count N] [--topic NAME[:PARTITIONS]]...",
                   "Run an embedded Kafka-protocol broker (librdkafka's mock cluster) on free loopback ports.\n"
                   "Prints the bootstrap list (HOST:PORT,...) as the first line of standard output and runs\n"
                   "until SIGINT or SIGTERM. For local setups and tests; production uses a real Kafka cluster.",
                   broker_opts, TBT_ARRAY_LEN(broker_opts), argc, argv, 0};
    long count = 1;
    char **topics = NULL;
    size_t n_topics = 0, cap_topics = 0;
    int code = TBT_EXIT_ERROR;
    const char *arg;
    int id;
    while ((id = tbt_cli_next(&cli, &arg)) != -1) {
        if (id == -3) {
            code = TBT_EXIT_OK;
            goto out;
        }
        if (id < 0)
            goto out;
        if (id == O_COUNT) {
            char *end;
            count = strtol(arg, &end, 10);
            if (*end || count < 1 || count > 16) {
                fprintf(stderr, "tbt broker: --brokers-count takes 1 to 16, got '%s'\n", arg);
                goto out;
            }
        } else if (id == O_TOPIC) {
            TBT_GROW(topics, cap_topics, n_topics + 1);
            topics[n_topics++] = (char *)arg;
        }
    }
    if (cli.optind < argc) {
        fprintf(stderr, "tbt broker: unexpected argument '%s'\n", argv[cli.optind]);
        goto out;
    }
    /* block the signals before any librdkafka thread starts, so they all
     * inherit the mask and sigwait below receives them */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "tbt broker: %s\n", errstr);
        goto out;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, (int)count);
    if (!mc) {
        fprintf(stderr, "tbt broker: could not start the mock cluster\n");
        rd_kafka_destroy(rk);
        goto out;
    }
    for (size_t i = 0; i < n_topics; i++) {
        char *name = tbt_xstrdup(topics[i]);
        char *colon = strrchr(name, ':');
        long parts = 4;
        if (colon) {
            *colon = '\0';
            parts = strtol(colon + 1, NULL, 10);
        }
        if (!*name || parts < 1 || parts > 1000 ||
            rd_kafka_mock_topic_create(mc, name, (int)parts, (int)(count < 3 ? count : 3)) != 0) {
            fprintf(stderr, "tbt broker: cannot create topic '%s'\n", topics[i]);
            free(name);
            rd_kafka_mock_cluster_destroy(mc);
            rd_kafka_destroy(rk);
            goto out;
        }
        free(name);
    }
    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "tbt broker: stopping (signal %d)\n", sig);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    code = TBT_EXIT_OK;
out:
    free(topics);
    return code;
}
