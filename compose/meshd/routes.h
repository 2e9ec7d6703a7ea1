/* routes.h: the route table and the request gate in front of handlers. */
#ifndef MESHD_ROUTES_H
#define MESHD_ROUTES_H

#include "http.h"

/* Finds the route for r, applies its access rule and runs its handler;
 * replies 404/405/413/503 itself when the request gets no further. */
void routes_dispatch(struct request *r);

#endif
