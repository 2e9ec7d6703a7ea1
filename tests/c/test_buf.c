/*
 * test_buf.c: unit tests for src/buf.c, the growable byte buffer: what
 * its users rely on (the content, its NUL, room reserved once, consuming
 * from the front, the size checks) and a long mixed run of appends and
 * consumes against a plain array.
 */
#include "buf.h"
#include "tap.h"

#include <stdint.h>
#include <stdlib.h>

#define S(lit) lit, sizeof lit - 1

static void test_empty(void)
{
    mp_sbuf b = { 0 };
    is_str(mp_sbuf_text(&b), "", "a zeroed buffer reads as \"\"");
    is_int(b.len, 0, "and is empty");
    mp_sbuf_clear(&b);
    mp_sbuf_truncate(&b, 0);
    ok(b.data == NULL, "clearing or truncating it allocates nothing");
    mp_sbuf_free(&b);
    ok(mp_sbuf_append(&b, "", 0), "appending nothing succeeds");
    is_str(b.data, "", "and leaves an allocated, NUL-terminated buffer");
    mp_sbuf_free(&b);
    ok(b.data == NULL && b.len == 0, "free leaves an empty buffer");
}

static void test_append(void)
{
    mp_sbuf b = { 0 };
    mp_sbuf_add(&b, S("one"));
    mp_sbuf_adds(&b, ", two");
    mp_sbuf_addf(&b, ", %d", 3);
    is_str(b.data, "one, two, 3", "add, adds and addf append");
    mp_sbuf_add(&b, S("\0x"));
    is_int(b.len, 13, "embedded NULs count in len");
    ok(b.data[13] == '\0', "and the content stays NUL-terminated");
    mp_sbuf_clear(&b);
    char big[1000];
    memset(big, 'y', sizeof big);
    mp_sbuf_addf(&b, "%.*s!", (int)sizeof big, big);
    ok(b.len == 1001 && memcmp(b.data, big, 1000) == 0 && b.data[1000] == '!',
       "addf formats text longer than its stack buffer");
    mp_sbuf_free(&b);
}

static void test_reserve(void)
{
    mp_sbuf b = { 0 };
    char *room = mp_sbuf_reserve(&b, 100000);
    ok(room != NULL && room == b.data, "reserve gives room at the end");
    char *start = b.data;
    char chunk[1000];
    for (int i = 0; i < 100; i++) {
        memset(chunk, 'a' + i % 26, sizeof chunk);
        mp_sbuf_append(&b, chunk, sizeof chunk);
    }
    ok(b.data == start, "100,000 bytes reserved at once take no reallocation");
    ok(b.len == 100000 && b.data[99999] == 'a' + 99 % 26 && b.data[100000] == '\0',
       "and all arrive");
    room = mp_sbuf_reserve(&b, 10);
    memcpy(room, "0123456789", 10);
    mp_sbuf_commit(&b, 4);
    ok(b.len == 100004 && strcmp(b.data + 100000, "0123") == 0,
       "commit adds what was written, NUL-terminated");
    size_t len = b.len;
    ok(mp_sbuf_reserve(&b, SIZE_MAX) == NULL, "a reservation past SIZE_MAX fails");
    ok(mp_sbuf_reserve(&b, SIZE_MAX - len) == NULL, "one that would wrap too");
    ok(!mp_sbuf_append(&b, "x", SIZE_MAX - len), "and so does such an append");
    ok(b.len == len && b.data[len] == '\0', "leaving the buffer as it was");
    mp_sbuf_free(&b);
}

static void test_consume(void)
{
    mp_sbuf b = { 0 };
    mp_sbuf_adds(&b, "line 1\nline 2\nrest");
    char *start = b.data;
    mp_sbuf_consume(&b, 7);
    is_str(b.data, "line 2\nrest", "consume drops bytes from the front");
    mp_sbuf_consume(&b, 7);
    is_str(mp_sbuf_text(&b), "rest", "and again");
    mp_sbuf_consume(&b, 4);
    ok(b.len == 0 && b.data == start, "an emptied buffer starts at its front again");
    mp_sbuf_adds(&b, "next");
    ok(b.data == start, "and reuses its memory");
    mp_sbuf_free(&b);

    mp_sbuf_reserve(&b, 1000);
    size_t cap = b.cap;
    char fill[1000];
    memset(fill, 'f', sizeof fill);
    mp_sbuf_add(&b, fill, cap - 1);
    mp_sbuf_consume(&b, 600);
    mp_sbuf_add(&b, S("tail"));
    ok(b.cap == cap && b.len == cap - 601 + 4, "consumed room is reused before growing");
    ok(memcmp(b.data + b.len - 5, "ftail", 6) == 0, "with the content intact");
    mp_sbuf_free(&b);
}

static void test_fits(void)
{
    mp_sbuf b = { 0 };
    ok(mp_sbuf_fits(&b, 10, 10), "10 bytes fit in 10");
    ok(!mp_sbuf_fits(&b, 11, 10), "11 do not");
    mp_sbuf_adds(&b, "12345678");
    ok(mp_sbuf_fits(&b, 2, 10) && !mp_sbuf_fits(&b, 3, 10), "the content counts");
    ok(!mp_sbuf_fits(&b, SIZE_MAX, 10), "a huge count does not wrap");
    ok(!mp_sbuf_fits(&b, 0, 4), "nothing fits once the content is past the limit");
    mp_sbuf_truncate(&b, 3);
    is_str(b.data, "123", "truncate keeps the front");
    mp_sbuf_free(&b);
}

/* Appends and consumes of pseudo-random sizes, checked against a plain
 * array after every step. */
static void test_queue(void)
{
    enum { TOTAL = 1 << 20 };
    char *model = malloc(TOTAL);
    mp_sbuf b = { 0 };
    size_t written = 0, read = 0, most = 0;
    uint32_t r = 12345;
    bool same = true;
    while (written < TOTAL && same) {
        r = r * 1103515245 + 12345;
        size_t n = (r >> 8) % 5000;
        if (n > TOTAL - written)
            n = TOTAL - written;
        for (size_t i = 0; i < n; i++)
            model[written + i] = (char)(written + i);
        if (b.len + n + 1 > most)
            most = b.len + n + 1;
        mp_sbuf_add(&b, model + written, n);
        written += n;
        size_t take = ((r >> 4) % 7000) % (b.len + 1);
        read += take;
        mp_sbuf_consume(&b, take);
        same = b.len == written - read && b.data[b.len] == '\0'
            && memcmp(b.data, model + read, b.len) == 0;
    }
    ok(same, "a queue of appends and consumes keeps its bytes in order");
    ok(b.cap <= 2 * most, "and its memory within twice the most it held (%zu, %zu)",
       b.cap, most);
    mp_sbuf_free(&b);
    free(model);
}

int main(void)
{
    test_empty();
    test_append();
    test_reserve();
    test_consume();
    test_fits();
    test_queue();
    return done_testing();
}
