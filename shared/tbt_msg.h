/*
 * tbt_msg.h - the job and result messages agents and the coordinator
 * exchange over Kafka: versioned JSON, documented field by field in
 * proto/messages.md (JSON Schemas: proto/job.schema.json,
 * proto/result.schema.json).
 *
 * A job carries a Test, self-contained: its definition as JSON (which the
 * YAML loader reads as it is) with the polling profile inlined, the run's
 * variables, and a deadline. A result carries everything the reports need,
 * and the (run id, job id, attempt) that lets the coordinator keep the first
 * result per job.
 *
 * Decoding reads hostile input (anything can be published on a topic):
 * sizes and depths are bounded and every field is type-checked; an invalid
 * message is an error that says which field, never a crash.
 */
#ifndef TBT_MSG_H
#define TBT_MSG_H

#include "tbt_model.h"
#include "tbt_result.h"
#include "tbt_vars.h"

#define TBT_MSG_VERSION 1
#define TBT_MSG_MAX_BYTES (8u * 1024u * 1024u)

typedef struct tbt_job {
    char *run_id, *job_id, *environment;
    int attempt;                /* 1 for the first delivery */
    int64_t deadline_unix_ms;   /* 0: none */
    char *test_id, *test_name;  /* for messages and logs */
    char *test_file;            /* the definition's path on the coordinator's machine, or NULL */
    char *definition;           /* {"type":"Test","spec":{...}} */
    tbt_vars *vars;
    char *suite;                /* NULL unless a suite step */
    int step, steps;
    /* What the coordinator wants back besides the verdict. */
    bool want_view;             /* the trace view for the HTML report */
    size_t view_max_bytes;      /* its bound (TBT_MSG_VIEW_MAX_BYTES when 0) */
    bool view_on_failure;       /* ... only when the test does not pass (campaigns: an example failing run) */
    char *analyzer;             /* analyzer configuration JSON (tbt_analyzer.h), or NULL: no analysis */
} tbt_job;

/* A result travels as one Kafka record: by default a trace view inside it
 * is bounded well under the brokers' default 1 MB message.max.bytes. A
 * coordinator that knows its cluster takes more (the embedded broker of
 * `tbt run`: TBT_MSG_VIEW_LIMIT), never past what a result may weigh. */
#define TBT_MSG_VIEW_MAX_BYTES (512u * 1024u)
#define TBT_MSG_VIEW_LIMIT (TBT_MSG_MAX_BYTES - 1024u * 1024u)

/* Encode a job for def (polling profile inlined) with vars. job supplies
 * the ids, attempt, environment, deadline and suite fields (its definition
 * and vars members are ignored). Returns 0. */
int tbt_job_encode(const tbt_job *job, const tbt_test_def *def, const tbt_vars *vars, tbt_buf *out);
/* The definition part of a job for def, as JSON text (caller frees), and
 * tbt_job_encode with it already encoded: a campaign sends the same test
 * thousands of times. */
char *tbt_job_definition(const tbt_test_def *def);
int tbt_job_encode_with(const tbt_job *job, const tbt_test_def *def, const char *def_json, const tbt_vars *vars,
                        tbt_buf *out);
/* Decode; on success *out owns everything (tbt_job_clear). Errors: -EINVAL
 * with the offending field, -E2BIG over TBT_MSG_MAX_BYTES, -EPROTO for a
 * newer major version. */
int tbt_job_decode(const char *json, size_t len, tbt_job *out, tbt_error *err);
void tbt_job_clear(tbt_job *job);
/* Load the job's definition into defs (file access off: a job cannot make
 * an agent read its disk) and find the Test. */
int tbt_job_load(const tbt_job *job, tbt_defs *defs, const tbt_test_def **out, tbt_error *err);
/* The same for an agent that shares the coordinator's files (the embedded
 * agent of `tbt run`, or `tbt agent --allow-files`): the definition keeps
 * its path, so request bodies and .proto files named relative to it are
 * found. */
int tbt_job_load_trusted(const tbt_job *job, tbt_defs *defs, const tbt_test_def **out, tbt_error *err);

typedef struct tbt_result_meta {
    char *run_id, *job_id, *environment, *agent_id;
    int attempt;
} tbt_result_meta;

/* Encode res (a test result) as a result message for job. */
int tbt_result_encode(const tbt_job *job, const char *agent_id, const tbt_test_result *res, tbt_buf *out);
/* Decode into *out with every string in rr's arena; meta (heap strings,
 * tbt_result_meta_clear) says whose result it is. */
int tbt_result_decode(const char *json, size_t len, tbt_run_result *rr, tbt_test_result *out, tbt_result_meta *meta,
                      tbt_error *err);
void tbt_result_meta_clear(tbt_result_meta *m);

#endif
