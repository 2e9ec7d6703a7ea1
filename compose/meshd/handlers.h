/* handlers.h: the request handlers, grouped by the file that holds them.
 * Each replies exactly once; those behind an authenticated route find the
 * caller in r->who and the {id} path segment in r->param. */
#ifndef MESHD_HANDLERS_H
#define MESHD_HANDLERS_H

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

/* sse.c */
void handle_stream(struct request *r);

#endif
