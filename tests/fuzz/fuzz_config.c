/* fuzz_config.c — config.json as the native loader reads it (src/cli/json.c, apply_config in
 * src/cli/load.c), then pldr_model_memory_needed and, when the weights are small,
 * pldr_model_alloc. Seeds: the config.json files of models/pldr-tiny, tests/fixtures/pldr-micro
 * and the released 110M shape.
 *
 * Properties: a refused config has a one-line message; the query and alloc agree (as in
 * fuzz_hparams.c). */
#include "../../src/cli/load.h"
#include "fuzz.h"

#define ALLOC_CAP (64.0 * (1 << 20))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pldr_model *m = pldr_model_new(NULL);
    if (!m) return 0;
    char err[512] = "";
    if (apply_config(m, (const char *)data, size, err, sizeof err)) {
        check_message(err);
        pldr_model_free(m);
        return 0;
    }
    double w, s;
    int q = pldr_model_memory_needed(m, NULL, &w, &s);
    if (q) check_message(pldr_model_error(m));
    if (q || w <= ALLOC_CAP) {
        int rc = pldr_model_alloc(m);
        CHECK(q ? rc == q : rc == PLDR_OK || rc == PLDR_ERR_OUT_OF_MEMORY, "query %s, alloc %s: %s", pldr_status_name(q),
              pldr_status_name(rc), pldr_model_error(m));
    }
    pldr_model_free(m);
    return 0;
}
