/*
 * fuzz_sse.c: libFuzzer target for the text/event-stream parser (src/sse.c).
 *
 * A differential check, not only "no crash": each input is parsed once in
 * a single feed and once cut into pieces at pseudo-random points derived
 * from the input itself, under the default size limit and under a tiny one.
 * Both runs must produce the same transcript of callbacks, the same result
 * and the same last event ID. Every event must also keep the spec's
 * invariants: no CR or LF in the type or the id, no CR in the data, no NUL
 * in the id, data within the limit.
 */
#include "sse.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SMALL_LIMIT 64

/* Callbacks write length-prefixed records, so transcripts compare
 * unambiguously with memcmp. */
typedef struct {
    FILE *out;
    char *bytes;
    size_t len;
    size_t max_size;
} transcript;

static void put_field(FILE *out, const char *s, size_t len)
{
    fwrite(&len, sizeof len, 1, out);
    fwrite(s, 1, len, out);
}

static void check_event(const transcript *t, const mp_sse_event *ev)
{
    if (memchr(ev->type, '\n', ev->type_len) || memchr(ev->type, '\r', ev->type_len)
        || memchr(ev->id, '\n', ev->id_len) || memchr(ev->id, '\r', ev->id_len)
        || memchr(ev->id, '\0', ev->id_len) || memchr(ev->data, '\r', ev->data_len)
        || ev->data_len >= t->max_size || ev->type_len == 0
        || (!ev->has_id && ev->id_len != 0)) {
        fprintf(stderr, "fuzz_sse: an event breaks the spec's invariants\n");
        abort();
    }
}

static void on_event(void *ud, const mp_sse_event *ev)
{
    transcript *t = ud;
    check_event(t, ev);
    fputc(ev->has_id ? 'E' : 'e', t->out);
    put_field(t->out, ev->type, ev->type_len);
    put_field(t->out, ev->data, ev->data_len);
    put_field(t->out, ev->id, ev->id_len);
}

static void on_retry(void *ud, uint64_t ms)
{
    transcript *t = ud;
    fputc('R', t->out);
    fwrite(&ms, sizeof ms, 1, t->out);
}

static void on_comment(void *ud, const char *text, size_t len)
{
    transcript *t = ud;
    fputc('C', t->out);
    put_field(t->out, text, len);
}

static const mp_sse_handlers handlers = { on_event, on_retry, on_comment };

/* xorshift64, seeded from the input so every run of an input is the same. */
static uint64_t next_random(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

static uint64_t seed_from(const uint8_t *data, size_t size)
{
    uint64_t h = 0xcbf29ce484222325u;         /* FNV-1a */
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 0x100000001b3u;
    return h ? h : 1;
}

/* Parse the input, whole (seed 0) or in pseudo-random pieces. Fills t with
 * the transcript and the result, the last id appended as a final record. */
static int parse(const uint8_t *data, size_t size, size_t max_size,
                 uint64_t seed, transcript *t)
{
    mp_sse_parser p;
    int rc = MP_SSE_OK;
    *t = (transcript){ .max_size = max_size };
    t->out = open_memstream(&t->bytes, &t->len);
    mp_sse_init(&p, &handlers, t);
    p.max_size = max_size;
    for (size_t pos = 0; pos < size;) {
        uint64_t r = seed ? next_random(&seed) : 0;
        size_t piece = seed ? 1 + r % ((r >> 32) & 1 ? 4 : 97) : size;
        if (piece > size - pos)
            piece = size - pos;
        rc = mp_sse_feed(&p, data + pos, piece);
        pos += piece;
    }
    size_t id_len;
    const char *id = mp_sse_last_id(&p, &id_len);
    fputc(id ? 'I' : 'i', t->out);
    put_field(t->out, id ? id : "", id_len);
    mp_sse_free(&p);
    fclose(t->out);
    return rc;
}

static void compare(const uint8_t *data, size_t size, size_t max_size)
{
    transcript whole, split;
    int whole_rc = parse(data, size, max_size, 0, &whole);
    int split_rc = parse(data, size, max_size, seed_from(data, size), &split);
    if (whole_rc != split_rc || whole.len != split.len
        || memcmp(whole.bytes, split.bytes, whole.len) != 0) {
        fprintf(stderr, "fuzz_sse: whole and split feeding differ "
                "(max_size %zu, results %d and %d)\n", max_size, whole_rc,
                split_rc);
        abort();
    }
    free(whole.bytes);
    free(split.bytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    compare(data, size, MP_SSE_DEFAULT_MAX_SIZE);
    compare(data, size, SMALL_LIMIT);
    return 0;
}
