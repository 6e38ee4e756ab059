/* fuzz_folder.c — the native CLI's model folder loader (load_model_dir in src/cli/load.c):
 * config.json, model.safetensors.index.json and the shards, written to a temporary folder from
 * one input and loaded as `pldr-native` loads a folder. An input is a list of files:
 *
 *     #PARAMS# q8 prompt          (optional: weight format and G-cache mode)
 *     #FILE# config.json
 *     {...}
 *     #FILE# model.safetensors
 *     <bytes>
 *
 * each file running to the newline before the next "#FILE# " line. Names that are not plain file
 * names are not written (the index may still name anything: "../x", "/etc/passwd"). Seeds: small
 * synthetic folders (one file, shards with an index, F16/BF16, q8_0/q4_0 pldr.quant, predefined
 * G) made from the runtime's tensor table by tests/fuzz/seeds.mjs.
 *
 * Properties: a refused folder has a one-line message; a loaded model runs. */
#define _GNU_SOURCE /* memmem */
#include <stdlib.h>
#include <unistd.h>

#include "../../src/cli/load.h"
#include "fuzz.h"

#define MAX_FILES 12
static const char MARK[] = "#FILE# ";
#define MARK_LEN (sizeof MARK - 1)

static char dir[256];

static void remove_dir(void) {
    if (dir[0]) rmdir(dir);
}

static int make_dir(void) {
    if (dir[0]) return 0;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(dir, sizeof dir, "%s/pldr-fuzz-folder-XXXXXX", base);
    if (!mkdtemp(dir)) {
        dir[0] = 0;
        return -1;
    }
    atexit(remove_dir);
    return 0;
}

static int plain_name(const uint8_t *s, size_t n) {
    if (n == 0 || n > 64 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
              s[i] == '_' || s[i] == '-'))
            return 0;
    return 1;
}

static void parse_params(const uint8_t *p, size_t n, pldr_model_params *mp) {
    const struct { const char *word; int *field, value; } words[] = {
        {"q8", &mp->weight_format, PLDR_WEIGHTS_Q8}, {"q4", &mp->weight_format, PLDR_WEIGHTS_Q4},
        {"prompt", &mp->gcache_mode, PLDR_GCACHE_PROMPT}, {"off", &mp->gcache_mode, PLDR_GCACHE_OFF},
        {"fixed", &mp->gcache_mode, PLDR_GCACHE_FIXED},
    };
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (memmem(p, n, words[i].word, strlen(words[i].word))) *words[i].field = words[i].value;
}

/* Writes the input's files into dir; their paths go to written[] (to remove). */
static int write_files(const uint8_t *data, size_t size, pldr_model_params *mp, char written[][320]) {
    const uint8_t *p = data, *end = data + size;
    if (size >= 9 && memcmp(p, "#PARAMS# ", 9) == 0) {
        const uint8_t *nl = memchr(p, '\n', size);
        parse_params(p, (size_t)((nl ? nl : end) - p), mp);
        p = nl ? nl + 1 : end;
    }
    int n = 0;
    while (p < end && n < MAX_FILES && (size_t)(end - p) >= MARK_LEN && memcmp(p, MARK, MARK_LEN) == 0) {
        const uint8_t *name = p + MARK_LEN, *nl = memchr(name, '\n', (size_t)(end - name));
        if (!nl) break;
        const uint8_t *body = nl + 1, *next = memmem(body, (size_t)(end - body), "\n#FILE# ", MARK_LEN + 1);
        const uint8_t *stop = next ? next : end;
        if (plain_name(name, (size_t)(nl - name))) {
            snprintf(written[n], sizeof written[n], "%s/%.*s", dir, (int)(nl - name), (const char *)name);
            FILE *f = fopen(written[n], "wb");
            if (f) {
                fwrite(body, 1, (size_t)(stop - body), f);
                fclose(f);
                n++;
            }
        }
        p = next ? next + 1 : end;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (make_dir()) return 0;
    pldr_model_params mp = pldr_model_default_params();
    char written[MAX_FILES][320];
    int n = write_files(data, size, &mp, written);
    char err[1024] = "";
    pldr_model *m = load_model_dir(dir, &mp, err, sizeof err);
    if (m) {
        pldr_session_params sp = pldr_session_default_params();
        sp.context_length = pldr_model_context_max(m) < 4 ? pldr_model_context_max(m) : 4;
        pldr_session *s = pldr_session_new(m, &sp);
        int32_t ids[2] = {1 % pldr_model_vocab_size(m), 0};
        if (s) CHECK(pldr_session_prefill(s, ids, sp.context_length < 2 ? 1 : 2, NULL) == PLDR_OK, "a loaded model: %s",
                     pldr_session_error(s));
        pldr_session_free(s);
        pldr_model_free(m);
    } else {
        check_message(err);
    }
    for (int i = 0; i < n; i++) unlink(written[i]);
    return 0;
}
