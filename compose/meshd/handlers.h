/* handlers.h: the request handlers, grouped by the file that holds them.
 * Each replies exactly once; those behind an authenticated route find the
 * caller in r->who and the {id} path segment in r->param. */
#ifndef MESHD_HANDLERS_H
#define MESHD_HANDLERS_H

#include "bug.h"
#include "http.h"

/* health.c */
void handle_live(struct request *r);
void handle_ready(struct request *r);

/* auth.c */
void handle_sign_up(struct request *r);
void handle_sign_in(struct request *r);
void handle_get_session(struct request *r);
void handle_sign_out(struct request *r);

/* api.c */
void handle_create_org(struct request *r);
void handle_create_key(struct request *r);
void handle_list_threads(struct request *r);
void handle_create_thread(struct request *r);
void handle_get_thread(struct request *r);
void handle_post_message(struct request *r);
#if MESHD_BUG_IS(ack_before_commit)
/* Waits (5 s at most) until the threads this pod queued so far are
 * inserted. */
void threads_wait_written(void);
#endif

/* sse.c */
void handle_stream(struct request *r);

#endif
