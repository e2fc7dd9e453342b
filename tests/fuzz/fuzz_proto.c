/* fuzz_proto.c - the .proto reader on arbitrary text; when it parses, every
 * message is also used to decode the input bytes as protobuf and to encode
 * an empty JSON object (the codec's bounds on hostile schemas and bytes). */
#include <stdlib.h>
#include <string.h>

#include "tbt_proto.h"
#include "tbt_proto_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tbt_proto *p = NULL;
    tbt_error err = TBT_ERROR_INIT;
    tbt_loc loc = {"fuzz.yaml", 4, 7, TBT_STYLE_LITERAL};
    /* imports of anything but the built-in well-known types fail: no dir */
    if (tbt_proto_parse((const char *)data, size, "fuzz.proto", (size & 1) ? &loc : NULL, "/nonexistent", &p,
                        &err) == 0) {
        cJSON *empty = cJSON_CreateObject();
        for (size_t i = 0; i < p->n_msgs && i < 64; i++) {
            tbt_buf out = TBT_BUF_INIT;
            tbt_error e2 = TBT_ERROR_INIT;
            tbt_proto_decode_json(p->msgs[i], data, size, &out, &e2);
            tbt_error_clear(&e2);
            tbt_buf_reset(&out);
            tbt_proto_encode_json(p->msgs[i], empty, &out, &e2);
            tbt_error_clear(&e2);
            tbt_buf_free(&out);
        }
        cJSON_Delete(empty);
        tbt_proto_free(p);
    }
    tbt_buf b = TBT_BUF_INIT;
    tbt_error_format(&err, &b);
    tbt_buf_free(&b);
    tbt_error_clear(&err);
    return 0;
}
