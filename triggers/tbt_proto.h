/*
 * tbt_proto.h - a small, bounded .proto reader and the proto3 JSON mapping,
 * for the grpc trigger: tbt reads the service's .proto itself at run time,
 * so users need no protoc (docs/grpc-trigger.md says why and what is left
 * out: extensions, groups, custom option semantics).
 *
 * A tbt_proto owns every file it read (the text given plus its imports; the
 * well-known types google/protobuf/{timestamp,duration,wrappers,struct,
 * empty,any,field_mask}.proto are built in) and every message, enum and
 * service in them. Messages and methods returned by lookups are borrowed
 * from it and live until tbt_proto_free.
 *
 * Input is hostile: the text, the nesting, the number of files and
 * definitions are bounded; errors carry file:line:col and a caret.
 */
#ifndef TBT_PROTO_H
#define TBT_PROTO_H

#include <cjson/cJSON.h>

#include "tbt_common.h"

#define TBT_PROTO_MAX_TEXT (1u << 20)  /* bytes of one .proto */
#define TBT_PROTO_MAX_FILES 64         /* the text and its imports */
#define TBT_PROTO_MAX_DEPTH 32         /* nested messages, and JSON/wire nesting */
#define TBT_PROTO_MAX_DEFS 4096        /* messages + enums + services + fields per tbt_proto */

typedef struct tbt_proto tbt_proto;
typedef struct tbt_proto_message tbt_proto_message;

typedef struct tbt_proto_method {
    const char *name;                 /* "Reserve" */
    const char *service;              /* "inventory.Inventory" (full name) */
    const tbt_proto_message *input, *output;
    bool client_streaming, server_streaming;
} tbt_proto_method;

/* Parse .proto text. `loc` says where the text sits (a YAML scalar), or is
 * NULL; `file` names it in messages when loc is NULL. Imports are read from
 * `dir` (NULL: the current directory). Returns 0 and *out (free with
 * tbt_proto_free), or negative with err at the fault; *out NULL then. */
int tbt_proto_parse(const char *text, size_t len, const char *file, const tbt_loc *loc, const char *dir,
                    tbt_proto **out, tbt_error *err);
/* Read path and parse it; imports relative to its directory. */
int tbt_proto_parse_file(const char *path, tbt_proto **out, tbt_error *err);
void tbt_proto_free(tbt_proto *p);

/* A message by full name ("pkg.Outer.Inner", leading dot allowed); NULL. */
const tbt_proto_message *tbt_proto_find_message(const tbt_proto *p, const char *full_name);
const char *tbt_proto_message_name(const tbt_proto_message *m);

/* The method `service`/`method`: service may be NULL when method is
 * "pkg.Service.Method"; a service name without package matches when it is
 * unique. Returns 0 and *out, or -ENOENT with a message listing what exists. */
int tbt_proto_find_method(const tbt_proto *p, const char *service, const char *method, const tbt_proto_method **out,
                          tbt_error *err);

/* Encode JSON (the proto3 JSON mapping) as message m in protobuf wire
 * format, appended to out. Unknown fields and wrong types are errors that
 * name the field path and the message type. */
int tbt_proto_encode_json(const tbt_proto_message *m, const cJSON *json, tbt_buf *out, tbt_error *err);
/* Decode protobuf bytes of message m to JSON text (proto3 JSON: lowerCamelCase
 * names, 64-bit integers as strings, enums by name, bytes base64, the
 * well-known types in their JSON forms), appended to out. Unknown fields are
 * skipped; fields absent on the wire are omitted. Bounds-checked. */
int tbt_proto_decode_json(const tbt_proto_message *m, const uint8_t *data, size_t len, tbt_buf *out,
                          tbt_error *err);

#endif
