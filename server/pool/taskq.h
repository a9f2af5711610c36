/*
 * taskq.h: a queue of tasks by priority: higher first, first in first out
 * within one priority. Intrusive (the node lives in the task) and pure: it
 * allocates only its small table of priorities, and takes no lock; the
 * pool holds its own around it.
 *
 * Priorities are few in practice (most calls use 0), so they are kept as a
 * sorted array of buckets, each a doubly-linked list: push, pop and remove
 * are O(1) but for the bucket lookup, which is O(number of priorities).
 */
#ifndef POOLD_TASKQ_H
#define POOLD_TASKQ_H

#include <stddef.h>

typedef struct TaskqNode {
    struct TaskqNode *next, *prev;
    int prio;
} TaskqNode;

typedef struct TaskqBucket {
    int prio;
    TaskqNode *head, *tail;
} TaskqBucket;

typedef struct Taskq {
    TaskqBucket *b;  /* sorted by prio, highest first; none empty */
    size_t nb, cap;
    size_t len;      /* nodes held */
} Taskq;

void taskq_free(Taskq *q); /* frees the table, not the nodes */

/* Appends n at the tail of its priority (n->prio). Returns 0, or -1 when
 * out of memory for a new priority (n is then not queued). */
int taskq_push(Taskq *q, TaskqNode *n);

/* Puts n back at the head of its priority: it was taken out to run and
 * must go first again. Returns 0 or -1 as taskq_push. */
int taskq_push_front(Taskq *q, TaskqNode *n);

/* Removes and returns the next node to run, or NULL. */
TaskqNode *taskq_pop(Taskq *q);

/* Removes n, which must be queued in q. */
void taskq_remove(Taskq *q, TaskqNode *n);

/* Iteration in running order: first, then next until NULL. Removing the
 * current node is allowed once its successor has been fetched. */
TaskqNode *taskq_first(const Taskq *q);
TaskqNode *taskq_next(const Taskq *q, const TaskqNode *n);

#endif
