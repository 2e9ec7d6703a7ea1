/*
 * wgl.h: the linearizability search behind mp.check.linearizable (the
 * Wing-Gong algorithm with Lowe's memoisation, hence the name).
 *
 * One partition of a history (the ops of one key) is given as ops and as
 * the order of their calls and returns; mp_lin_check decides whether the
 * ops can be put in one sequential order that respects real time (an op
 * that returned before another was called comes first) and that the model
 * accepts. It is the Wing-Gong search with Lowe's memoisation, as
 * Porcupine does it: a cache of (set of ops already placed, model state)
 * pairs already explored prunes the search. The models are small and
 * built in: values are integers handed out by the caller (0 is nil).
 *
 * The search stops at a deadline (MP_LIN_TIMEOUT) or when its memory would
 * pass a cap (MP_LIN_MEMORY): it never hangs, and says it does not know.
 */
#ifndef MPOD_WGL_H
#define MPOD_WGL_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    MP_LIN_READ = 0,   /* register read: out = value id */
    MP_LIN_WRITE,      /* register write: arg = value id */
    MP_LIN_CAS,        /* cas: arg = old, arg2 = new; out 1 swapped, 0 did not */
    MP_LIN_ADD,        /* set add: arg = element id */
    MP_LIN_SET_READ,   /* set read: out = offset in pool, outlen = count (sorted ids) */
    MP_LIN_ENQUEUE,    /* queue enqueue: arg = element id */
    MP_LIN_DEQUEUE,    /* queue dequeue: out = element id, 0 = the queue was empty */
    MP_LIN_CODES
} mp_lin_code;

typedef struct {
    int32_t code;      /* an mp_lin_code */
    int32_t arg, arg2; /* the op's input */
    int32_t out, outlen;
    int32_t unknown;   /* 1: its output is unknown (info or never completed) */
} mp_lin_op;

typedef enum {
    MP_LIN_OK = 0,     /* linearizable */
    MP_LIN_ILLEGAL,    /* not linearizable */
    MP_LIN_TIMEOUT,    /* the deadline passed: unknown */
    MP_LIN_MEMORY      /* the memory cap was reached: unknown */
} mp_lin_result;

typedef struct {
    const mp_lin_op *ops;
    size_t nops;
    const int32_t *pool;   /* set reads' elements */
    size_t npool;
    /* 2 * nops entries in real-time order: i + 1 is op i's call, -(i + 1)
     * its return. Every op has exactly one of each, the call first. */
    const int32_t *events;
    const int32_t *init;   /* the model's first state (see linear.c) */
    size_t ninit;
    double deadline;       /* CLOCK_MONOTONIC seconds (mp_now()) */
    size_t max_bytes;      /* the search's memory cap */
} mp_lin_input;

typedef struct {
    mp_lin_result result;
    uint64_t steps;        /* model steps tried */
    size_t cached;         /* (placed ops, state) pairs remembered */
    /* the longest sequence of ops placed (all of them when OK) */
    int32_t *best;
    size_t nbest;
    /* the state after best (malloc'd; NULL after a memory failure) */
    int32_t *state;
    size_t nstate;
} mp_lin_output;

/* Check one partition. Fills out (free with mp_lin_output_free); the
 * input's arrays are only read. */
void mp_lin_check(const mp_lin_input *in, mp_lin_output *out);
void mp_lin_output_free(mp_lin_output *out);

/* The state after op `op` from state s (n ints), written to next (room
 * for n + 1 ints); returns the new length, or -1 if the model refuses. */
long mp_lin_step(const mp_lin_input *in, const int32_t *s, size_t n,
                 int32_t op, int32_t *next);

#endif
