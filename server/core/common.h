/*
 * common.h: forward typedefs and return codes shared by every module.
 *
 * Return codes follow nginx's NGX_OK / NGX_ERROR: SVC_OK is zero, each cause
 * of failure is a distinct negative value. HTTP statuses never appear here:
 * an outcome (outcome.h) becomes a status only through http/http_status.c.
 */
#ifndef POOLD_COMMON_H
#define POOLD_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define SVC_OK        0
#define SVC_ERROR    -1   /* system error; errno says why */
#define SVC_EINVAL   -2   /* the caller's input is malformed */
#define SVC_ENOFUNC  -3   /* no function of that name */
#define SVC_EFULL    -4   /* a bound was reached (queue, table) */
#define SVC_ENOMEM   -5
#define SVC_ESTOPPED -6   /* the module is shutting down */
#define SVC_E2BIG    -7   /* over a bound that waiting cannot help */
#define SVC_ETOOLARGE -8  /* one piece is larger than can be sent */
#define SVC_EUNAVAIL -9   /* nothing can serve it now (workers cannot start) */
#define SVC_ESTORE  -10   /* the durable store cannot write it */
#define SVC_EFORBIDDEN -11 /* well-formed, but a policy refuses it */
#define SVC_EAGAIN  -12   /* not this way: take the general path */

typedef struct Config Config;
typedef struct Registry Registry;
typedef struct Pool Pool;
typedef struct PoolTask PoolTask;
typedef struct Call Call;
typedef struct Batch Batch;
typedef struct HttpReq HttpReq;
typedef struct HttpWaiter HttpWaiter;
typedef struct JobTable JobTable;
typedef struct Route Route;
typedef struct Webhooks Webhooks;

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* jansson's flags for a request body, wherever one is parsed: by the HTTP
 * thread, from the store after a restart, and by the worker an apply's
 * body is sent to as its task (WIRE_MODE_APPLY_BODY), which must read the
 * values the HTTP thread checked. (Expands where jansson is included.) */
#define POOLD_BODY_JSON_FLAGS JSON_REJECT_DUPLICATES

#endif
