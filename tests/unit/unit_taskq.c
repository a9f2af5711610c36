/* unit_taskq.c: the priority queue of tasks. */
#include "harness.h"
#include "pool/taskq.h"

typedef struct Item {
    TaskqNode node; /* first: a node is its item */
    int id;
} Item;

static int
pop_id(Taskq *q)
{
    Item *it = (Item *)taskq_pop(q);

    return it ? it->id : -1;
}

TEST(test_taskq_fifo_within_one_priority)
{
    Taskq q = {0};
    Item it[5];

    for (int i = 0; i < 5; i++) {
        it[i] = (Item){.node.prio = 0, .id = i};
        CHECK_INT(taskq_push(&q, &it[i].node), 0);
    }
    CHECK_INT(q.len, 5);
    for (int i = 0; i < 5; i++)
        CHECK_INT(pop_id(&q), i);
    CHECK_INT(pop_id(&q), -1);
    CHECK_INT(q.len, 0);
    CHECK_INT(q.nb, 0);
    taskq_free(&q);
}

TEST(test_taskq_higher_priority_first)
{
    static const int prios[] = {0, 5, -3, 5, 0, 10, -3};
    static const int order[] = {5, 1, 3, 0, 4, 2, 6};
    Taskq q = {0};
    Item it[7];

    for (int i = 0; i < 7; i++) {
        it[i] = (Item){.node.prio = prios[i], .id = i};
        CHECK_INT(taskq_push(&q, &it[i].node), 0);
    }
    for (int i = 0; i < 7; i++)
        CHECK_INT(pop_id(&q), order[i]);
    taskq_free(&q);
}

TEST(test_taskq_push_front_runs_first_in_its_priority)
{
    Taskq q = {0};
    Item a = {.node.prio = 1, .id = 1}, b = {.node.prio = 1, .id = 2}, c = {.node.prio = 9, .id = 3};

    taskq_push(&q, &a.node);
    taskq_push(&q, &c.node);
    taskq_push_front(&q, &b.node);
    CHECK_INT(pop_id(&q), 3); /* a higher priority still wins */
    CHECK_INT(pop_id(&q), 2);
    CHECK_INT(pop_id(&q), 1);
    taskq_free(&q);
}

TEST(test_taskq_remove_and_iterate)
{
    Taskq q = {0};
    Item it[6];
    int seen[6], n = 0;

    for (int i = 0; i < 6; i++) {
        it[i] = (Item){.node.prio = i % 3, .id = i};
        taskq_push(&q, &it[i].node);
    }
    /* Running order: prio 2 (2, 5), prio 1 (1, 4), prio 0 (0, 3). Remove
     * the odd ids while iterating. */
    for (TaskqNode *cur = taskq_first(&q), *next; cur; cur = next) {
        next = taskq_next(&q, cur);
        seen[n++] = ((Item *)cur)->id;
        if (((Item *)cur)->id % 2)
            taskq_remove(&q, cur);
    }
    CHECK_INT(n, 6);
    CHECK_INT(seen[0], 2);
    CHECK_INT(seen[1], 5);
    CHECK_INT(seen[2], 1);
    CHECK_INT(seen[3], 4);
    CHECK_INT(seen[4], 0);
    CHECK_INT(seen[5], 3);
    CHECK_INT(q.len, 3);
    CHECK_INT(q.nb, 3); /* 2, 4 and 0 remain, one per priority */
    CHECK_INT(pop_id(&q), 2);
    CHECK_INT(q.nb, 2); /* an emptied priority is dropped */
    CHECK_INT(pop_id(&q), 4);
    CHECK_INT(pop_id(&q), 0);
    CHECK_INT(q.nb, 0);
    taskq_free(&q);
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
