/* auth.h: authenticating a request (cookie session, or Bearer API key or
 * session token) for the routes that need a user. */
#ifndef MESHD_AUTH_H
#define MESHD_AUTH_H

#include "http.h"

/* Fills r->who, or replies 401 (no or unknown credential), 403 (a cookie
 * on a write without Origin == BASE_URL) or 503 and returns false. */
bool auth_require_user(struct request *r);

#endif
