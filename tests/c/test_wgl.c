/*
 * test_wgl.c: unit tests for src/wgl.c, the linearizability search, on
 * hand-made partitions: each model's step, a valid and an invalid
 * register history with the longest order found and the state after it,
 * an unknown op placed at the end, and the two ways it gives up without
 * hanging: a deadline already passed on an exponential history, and a
 * memory cap too small for it.
 */
#include "wgl.h"
#include "mpod.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#define OP(code, arg, arg2, out) { code, arg, arg2, out, 0, 0 }

static mp_lin_input input(const mp_lin_op *ops, size_t n, const int32_t *events)
{
    static const int32_t nil_state[1] = { 0 };
    mp_lin_input in = { ops, n, NULL, 0, events, nil_state, 1, mp_now() + 10, (size_t)1 << 28 };
    return in;
}

static void test_steps(void)
{
    mp_lin_op ops[] = {
        OP(MP_LIN_READ, 0, 0, 5), OP(MP_LIN_WRITE, 7, 0, 0), OP(MP_LIN_CAS, 5, 6, 1),
        OP(MP_LIN_CAS, 5, 6, 0), OP(MP_LIN_ADD, 3, 0, 0), OP(MP_LIN_ENQUEUE, 9, 0, 0),
        OP(MP_LIN_DEQUEUE, 0, 0, 4), OP(MP_LIN_DEQUEUE, 0, 0, 0),
    };
    mp_lin_input in = input(ops, 8, NULL);
    int32_t five[1] = { 5 }, set[2] = { 1, 4 }, queue[2] = { 4, 8 }, next[4];
    is_int(mp_lin_step(&in, five, 1, 0, next), 1, "a read of the value fits");
    is_int(mp_lin_step(&in, next, 1, 1, next), 1, "a write always fits");
    is_int(next[0], 7, "and sets the value");
    is_int(mp_lin_step(&in, five, 1, 2, next), 1, "a cas that swapped fits its old value");
    is_int(next[0], 6, "and sets the new one");
    is_int(mp_lin_step(&in, five, 1, 3, next), -1, "a cas that did not swap does not fit its old value");
    is_int(mp_lin_step(&in, set, 2, 4, next), 3, "a set add inserts");
    ok(next[0] == 1 && next[1] == 3 && next[2] == 4, "in order");
    is_int(mp_lin_step(&in, queue, 2, 5, next), 3, "an enqueue appends");
    is_int(next[2], 9, "at the tail");
    is_int(mp_lin_step(&in, queue, 2, 6, next), 1, "a dequeue of the head fits");
    is_int(next[0], 8, "and removes it");
    is_int(mp_lin_step(&in, queue, 2, 7, next), -1, "an empty dequeue does not fit a queue with items");
}

static void test_register(void)
{
    /* write 1 overlaps read -> 1; then write 2; then read -> 1 (stale) */
    mp_lin_op ops[] = {
        OP(MP_LIN_WRITE, 1, 0, 0), OP(MP_LIN_READ, 0, 0, 1),
        OP(MP_LIN_WRITE, 2, 0, 0), OP(MP_LIN_READ, 0, 0, 1),
    };
    int32_t events[] = { 1, 2, -2, -1, 3, -3, 4, -4 };
    mp_lin_input in = input(ops, 2, events);
    mp_lin_output out;
    mp_lin_check(&in, &out);
    is_int(out.result, MP_LIN_OK, "the first two ops are linearizable");
    is_int(out.nbest, 2, "and their order places both");
    ok(out.best[0] == 0 && out.best[1] == 1, "the write before the read");
    mp_lin_output_free(&out);

    in.nops = 4;
    mp_lin_check(&in, &out);
    is_int(out.result, MP_LIN_ILLEGAL, "a stale read after a newer write is not");
    is_int(out.nbest, 3, "the longest order places three ops");
    ok(out.state && out.nstate == 1 && out.state[0] == 2, "after which the value is 2");
    mp_lin_output_free(&out);

    ops[3].unknown = 1;           /* a read of unknown result fits anywhere */
    int32_t later[] = { 1, 2, -2, -1, 3, -3, 4, -4 };
    in.events = later;
    mp_lin_check(&in, &out);
    is_int(out.result, MP_LIN_OK, "an op of unknown outcome fits");
    mp_lin_output_free(&out);
}

/* n writes all overlapping, then a read of a value none wrote */
static void test_gives_up(void)
{
    enum { N = 40 };
    mp_lin_op ops[N + 1];
    int32_t events[2 * (N + 1)];
    for (int i = 0; i < N; i++) {
        ops[i] = (mp_lin_op)OP(MP_LIN_WRITE, i + 1, 0, 0);
        events[i] = i + 1;
        events[N + 1 + i] = -(i + 1);
    }
    ops[N] = (mp_lin_op)OP(MP_LIN_READ, 0, 0, 1000);
    events[N] = N + 1;
    events[2 * N + 1] = -(N + 1);
    mp_lin_input in = input(ops, N + 1, events);
    in.deadline = mp_now() - 1;
    double start = mp_now();
    mp_lin_output out;
    mp_lin_check(&in, &out);
    is_int(out.result, MP_LIN_TIMEOUT, "a deadline passed: the search says it does not know");
    ok(mp_now() - start < 1, "at once");
    mp_lin_output_free(&out);

    in.deadline = mp_now() + 60;
    in.max_bytes = 1 << 20;
    mp_lin_check(&in, &out);
    is_int(out.result, MP_LIN_MEMORY, "a memory cap reached: it does not know either");
    mp_lin_output_free(&out);
}

int main(void)
{
    test_steps();
    test_register();
    test_gives_up();
    return done_testing();
}
