/* taskq.c: see taskq.h. */
#include "pool/taskq.h"

#include <stdlib.h>
#include <string.h>

void
taskq_free(Taskq *q)
{
    free(q->b);
    memset(q, 0, sizeof(*q));
}

/* The bucket of prio, or where it would be inserted (*found = 0). */
static size_t
taskq_find(const Taskq *q, int prio, int *found)
{
    size_t lo = 0, hi = q->nb;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (q->b[mid].prio == prio) {
            *found = 1;
            return mid;
        }
        if (q->b[mid].prio > prio)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

static TaskqBucket *
taskq_bucket(Taskq *q, int prio)
{
    int found;
    size_t i = taskq_find(q, prio, &found);

    if (found)
        return &q->b[i];
    if (q->nb == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 4;
        TaskqBucket *grown = realloc(q->b, cap * sizeof(*grown));
        if (!grown)
            return NULL;
        q->b = grown;
        q->cap = cap;
    }
    memmove(&q->b[i + 1], &q->b[i], (q->nb - i) * sizeof(*q->b));
    q->b[i] = (TaskqBucket){.prio = prio};
    q->nb++;
    return &q->b[i];
}

/* Drops bucket i once it is empty, keeping "none empty" true. */
static void
taskq_prune(Taskq *q, size_t i)
{
    if (q->b[i].head)
        return;
    memmove(&q->b[i], &q->b[i + 1], (q->nb - i - 1) * sizeof(*q->b));
    q->nb--;
}

int
taskq_push(Taskq *q, TaskqNode *n)
{
    TaskqBucket *b = taskq_bucket(q, n->prio);

    if (!b)
        return -1;
    n->next = NULL;
    n->prev = b->tail;
    if (b->tail)
        b->tail->next = n;
    else
        b->head = n;
    b->tail = n;
    q->len++;
    return 0;
}

int
taskq_push_front(Taskq *q, TaskqNode *n)
{
    TaskqBucket *b = taskq_bucket(q, n->prio);

    if (!b)
        return -1;
    n->prev = NULL;
    n->next = b->head;
    if (b->head)
        b->head->prev = n;
    else
        b->tail = n;
    b->head = n;
    q->len++;
    return 0;
}

void
taskq_remove(Taskq *q, TaskqNode *n)
{
    int found;
    size_t i = taskq_find(q, n->prio, &found);
    TaskqBucket *b = &q->b[i];

    if (n->prev)
        n->prev->next = n->next;
    else
        b->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        b->tail = n->prev;
    n->next = n->prev = NULL;
    q->len--;
    taskq_prune(q, i);
}

TaskqNode *
taskq_pop(Taskq *q)
{
    TaskqNode *n = q->nb ? q->b[0].head : NULL;

    if (n)
        taskq_remove(q, n);
    return n;
}

TaskqNode *
taskq_first(const Taskq *q)
{
    return q->nb ? q->b[0].head : NULL;
}

TaskqNode *
taskq_next(const Taskq *q, const TaskqNode *n)
{
    int found;
    size_t i;

    if (n->next)
        return n->next;
    i = taskq_find(q, n->prio, &found);
    return found && i + 1 < q->nb ? q->b[i + 1].head : NULL;
}
