/* tbt_proto_private.h - the parsed schema, shared by the .proto reader
 * (tbt_proto.c) and the JSON codec (tbt_proto_json.c). Everything lives in
 * the tbt_proto's arena. */
#ifndef TBT_PROTO_PRIVATE_H
#define TBT_PROTO_PRIVATE_H

#include "tbt_proto.h"

/* descriptor.proto's numbering */
typedef enum proto_type {
    PT_DOUBLE = 1, PT_FLOAT, PT_INT64, PT_UINT64, PT_INT32, PT_FIXED64, PT_FIXED32, PT_BOOL, PT_STRING,
    PT_GROUP, PT_MESSAGE, PT_BYTES, PT_UINT32, PT_ENUM, PT_SFIXED32, PT_SFIXED64, PT_SINT32, PT_SINT64
} proto_type;

typedef enum proto_wkt {
    WKT_NONE = 0, WKT_TIMESTAMP, WKT_DURATION, WKT_WRAPPER, WKT_STRUCT, WKT_VALUE, WKT_LIST, WKT_ANY,
    WKT_FIELD_MASK, WKT_EMPTY
} proto_wkt;

typedef struct proto_file {
    const char *name, *import_name;
    const char *text;
    size_t len;
    const tbt_loc *loc; /* where the text sits in a definition, or NULL */
    bool builtin;
} proto_file;

typedef struct proto_enum_value {
    const char *name;
    int32_t number;
} proto_enum_value;

typedef struct proto_enum {
    const char *full_name;
    proto_enum_value *values;
    size_t n;
} proto_enum;

typedef struct proto_field {
    const char *name, *json_name;
    int32_t number;
    proto_type type;
    bool repeated, is_map, packed;
    int oneof; /* 1-based oneof index, 0 when none */
    const tbt_proto_message *msg;
    const proto_enum *en;
    /* for resolution and its errors */
    const char *type_name, *scope;
    const proto_file *file;
    size_t type_off;
} proto_field;

struct tbt_proto_message {
    const char *full_name;
    proto_field *fields;
    size_t n, cap;
    int n_oneofs;
    bool map_entry;
    proto_wkt wkt;
    const proto_file *file;
    const tbt_proto *proto; /* for google.protobuf.Any's type lookups */
};

typedef struct proto_method {
    tbt_proto_method m;
    char *in_name, *out_name;
    const char *scope;
    size_t in_off, out_off;
    const proto_file *file;
} proto_method;

typedef struct proto_service {
    const char *full_name;
    proto_method *methods;
    size_t n;
    const proto_file *file;
} proto_service;

struct tbt_proto {
    tbt_arena *arena;
    proto_file **files;
    size_t n_files, cap_files;
    tbt_proto_message **msgs;
    size_t n_msgs, cap_msgs;
    proto_enum **enums;
    size_t n_enums, cap_enums;
    proto_service **svcs;
    size_t n_svcs, cap_svcs;
    size_t n_defs;
};

#endif
