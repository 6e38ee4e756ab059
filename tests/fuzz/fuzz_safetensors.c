/* fuzz_safetensors.c — the native CLI's safetensors header reader (st_read_header in
 * src/cli/load.c, the rules of docs/FORMAT.md "Header rules") on whole files. Seeds: the shared
 * corpus tests/fixtures/safetensors-headers/cases.json, the shards of the synthetic folders and
 * pldr-micro's header.
 *
 * Properties: a refused file has a one-line message; an accepted one is what the rules say: its
 * tensors, in data order, cover the data section exactly, which ends where the file does; each
 * has a known element dtype, dimensions within int32 and offsets spanning shape × dtype bytes
 * (a pldr.quant tensor: U8 rows of its format's blocks). */
#define _GNU_SOURCE /* fmemopen */
#include "../../src/cli/load.h"
#include "../../src/util/size.h"
#include "fuzz.h"

static void check_header(const st_header *h, size_t size) {
    uint64_t at = 0;
    for (size_t i = 0; i < h->n; i++) {
        const st_tensor *t = &h->t[i];
        CHECK(t->name && t->begin == at && t->end >= t->begin, "tensor %zu: [%llu, %llu) after %llu", i,
              (unsigned long long)t->begin, (unsigned long long)t->end, (unsigned long long)at);
        CHECK(pldr_dtype_block_size(t->dtype) == 1, "tensor %s: dtype %d", t->name, (int)t->dtype);
        uint64_t bytes = (uint64_t)pldr_dtype_block_bytes(t->dtype);
        for (int d = 0; d < t->ndim; d++) {
            CHECK(t->dims[d] >= 0 && t->dims[d] <= INT32_MAX, "tensor %s: dimension %lld", t->name, (long long)t->dims[d]);
            bytes = u64_mul(bytes, (uint64_t)t->dims[d]);
        }
        CHECK(bytes == t->end - t->begin, "tensor %s: %llu bytes in [%llu, %llu)", t->name, (unsigned long long)bytes,
              (unsigned long long)t->begin, (unsigned long long)t->end);
        if (t->quant != PLDR_DTYPE_INVALID) {
            uint64_t row = ((uint64_t)t->qshape[1] + 31) / 32 * (uint64_t)pldr_dtype_block_bytes(t->quant);
            CHECK(t->dtype == PLDR_DTYPE_U8 && t->ndim == 2 && t->dims[0] == t->qshape[0] && (uint64_t)t->dims[1] == row,
                  "tensor %s: a pldr.quant tensor stored as something else", t->name);
        }
        at = t->end;
    }
    CHECK(at == h->data_len && (uint64_t)h->data_start + h->data_len == size, "data [%lld + %llu) in a file of %zu",
          (long long)h->data_start, (unsigned long long)h->data_len, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const uint8_t empty[1];
    FILE *f = fmemopen((void *)(size ? data : empty), size ? size : 1, "rb");
    if (!f) return 0;
    st_header h;
    char err[1024] = "";
    if (st_read_header(f, (int64_t)size, "fuzz.safetensors", &h, err, sizeof err) == 0) {
        check_header(&h, size);
        st_free(&h);
    } else {
        check_message(err);
    }
    fclose(f);
    return 0;
}
