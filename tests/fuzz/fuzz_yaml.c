/* fuzz_yaml.c - YAML streams through the tree builder and the definition
 * loader: parse, load as Tracetest resources, resolve (with file access
 * off, so that steps and polling references naming files are errors, not
 * reads), format the error, free everything. */
#include "tbt_eval.h"
#include "tbt_model.h"
#include "tbt_trigger.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tbt_error err = TBT_ERROR_INIT;
    tbt_buf out = TBT_BUF_INIT;

    /* The tree alone: walk what was built through the accessors. */
    tbt_ydocs *docs = NULL;
    if (tbt_yaml_parse("fuzz.yaml", (const char *)data, size, &docs, &err) == 0) {
        for (size_t i = 0; i < docs->n_docs; i++) {
            const tbt_ynode *n = docs->docs[i];
            if (!n)
                continue;
            (void)tbt_ymap_get(n, "type");
            (void)tbt_ynode_kind_name(n);
            size_t len;
            (void)tbt_ydocs_line(docs, n->loc.line, &len);
        }
        tbt_ydocs_free(docs);
    }
    tbt_error_format(&err, &out);
    tbt_error_clear(&err);

    /* As definitions. */
    tbt_defs *d = tbt_defs_new();
    tbt_defs_set_file_access(d, false);
    int r = tbt_defs_load_text(d, "fuzz.yaml", (const char *)data, size, &err);
    if (r == 0)
        r = tbt_defs_resolve(d, &err);
    if (r < 0)
        tbt_defs_error_source(d, &err);
    tbt_error_format(&err, &out);
    for (size_t i = 0; i < tbt_defs_count(d); i++) {
        const tbt_resource_ref *ref = tbt_defs_at(d, i);
        tbt_buf_printf(&out, "%s %s\n", tbt_resource_kind_name(ref->kind), ref->type_name);
        if (r != 0 || ref->kind != TBT_RES_TEST)
            continue;
        /* what a run does next: the trigger block (every kind's parser) and
         * the selectors and assertions */
        const tbt_test_def *t = ref->def;
        tbt_trigger trig;
        tbt_error e2 = TBT_ERROR_INIT;
        if (tbt_trigger_parse(&t->trigger, &trig, &e2) == 0)
            tbt_trigger_destroy(&trig);
        tbt_error_format(&e2, &out);
        tbt_error_clear(&e2);
        tbt_error_list errs = TBT_ERROR_LIST_INIT;
        tbt_plan *p = NULL;
        if (tbt_plan_compile(t, d, &p, &errs) == 0)
            tbt_plan_free(p);
        tbt_error_list_format(&errs, &out);
        tbt_error_list_clear(&errs);
    }
    (void)tbt_defs_default_polling(d);
    tbt_error_clear(&err);
    tbt_defs_free(d);
    tbt_buf_free(&out);
    return 0;
}
