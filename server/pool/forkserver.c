/* forkserver.c: see forkserver.h. */
#include "pool/forkserver.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"

/* One record on the control socket (SOCK_SEQPACKET keeps records whole and
 * carries the worker's fd with the record that names it). */
typedef struct FsMsg {
    int type;
    unsigned number;
    int pid;
    int status;
} FsMsg;

/* Sends m, with nfds descriptors (0 to 2) attached. */
static int
fs_send(int fd, const FsMsg *m, const int *fds, int nfds)
{
    char ctrl[CMSG_SPACE(2 * sizeof(int))];
    struct iovec iov = {.iov_base = (void *)m, .iov_len = sizeof(*m)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

    if (nfds > 0) {
        memset(ctrl, 0, sizeof(ctrl));
        mh.msg_control = ctrl;
        mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
        memcpy(CMSG_DATA(cm), fds, (size_t)nfds * sizeof(int));
    }
    while (sendmsg(fd, &mh, MSG_NOSIGNAL) < 0)
        if (errno != EINTR)
            return -1;
    return 0;
}

/* The workers forked and not yet reaped, for fs_on_parent_death: since
 * only this server reaps them, none of these numbers names another
 * process. SIGUSR1, the parent-death signal, is held while it changes. */
static pid_t *fs_workers;
static size_t fs_nworkers, fs_cap;

/* The main process died: clean up, then go. */
static ForkserverCleanupFn fs_cleanup;
static void *fs_cleanup_arg;

static void
fs_on_parent_death(int sig)
{
    (void)sig;
    /* The workers first (they would follow by their PR_SET_PDEATHSIG, but
     * only once this server is gone): one still running could start an
     * exec group after the cleanup read the claims. A worker sent SIGKILL
     * runs no more code. */
    for (size_t i = 0; i < fs_nworkers; i++)
        kill(fs_workers[i], SIGKILL);
    if (fs_cleanup)
        fs_cleanup(fs_cleanup_arg);
    _exit(0);
}

/* Holds (SIG_BLOCK) or releases (SIG_UNBLOCK) the parent-death signal
 * while fs_workers changes. */
static void
fs_hold(int how)
{
    sigset_t usr1;

    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(how, &usr1, NULL);
}

/* Makes room in fs_workers for one more (SIGUSR1 held). Returns 0 or -1. */
static int
fs_workers_room(void)
{
    size_t cap = fs_cap ? fs_cap * 2 : 16;
    pid_t *grown;

    if (fs_nworkers < fs_cap)
        return 0;
    if (!(grown = realloc(fs_workers, cap * sizeof(*grown))))
        return -1;
    fs_workers = grown;
    fs_cap = cap;
    return 0;
}

/* Drops pid from fs_workers, if it is there (SIGUSR1 held). */
static void
fs_workers_forget(pid_t pid)
{
    for (size_t i = 0; i < fs_nworkers; i++)
        if (fs_workers[i] == pid) {
            fs_workers[i] = fs_workers[--fs_nworkers];
            return;
        }
}

/* A request for a worker: its number, and the CPU it is to run on (-1:
 * any the fork server may use). */
typedef struct FsAsk {
    unsigned number;
    int cpu;
} FsAsk;

/* In the new worker: undo what the fork server set up for itself, and die
 * with it, so that no worker outlives poold; on its CPU, when it has one
 * (the processes it starts inherit it). */
static void
fs_child(int ctl, int sfd, int sock, FsAsk ask, ForkserverWorkerFn fn, void *arg)
{
    sigset_t none;
    cpu_set_t one;

    close(ctl);
    close(sfd);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGCHLD, SIG_DFL);
    signal(SIGTERM, SIG_DFL); /* a timeout's first, polite kill */
    signal(SIGUSR1, SIG_DFL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (ask.cpu >= 0) {
        CPU_ZERO(&one);
        CPU_SET(ask.cpu, &one);
        if (sched_setaffinity(0, sizeof(one), &one) < 0)
            log_errno(LOG_WARN, errno, "ForkPoolWorker-%u: cannot run on CPU %d; it runs on any", ask.number,
                      ask.cpu);
    }
    fn(ask.number, sock, arg);
    _exit(0);
}

static void
fs_spawn(int ctl, int sfd, FsAsk ask, ForkserverWorkerFn fn, void *arg)
{
    FsMsg m = {.type = FS_SPAWNED, .number = ask.number};
    int sv[2];
    pid_t pid;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        m.type = FS_SPAWN_FAILED;
        m.status = errno;
        fs_send(ctl, &m, NULL, 0);
        return;
    }
    /* Held from before the fork until the worker is in fs_workers: no
     * parent-death cleanup runs without it. */
    fs_hold(SIG_BLOCK);
    if (fs_workers_room() < 0) {
        pid = -1;
        m.status = ENOMEM;
    } else if ((pid = fork()) == 0) {
        close(sv[0]);
        fs_child(ctl, sfd, sv[1], ask, fn, arg);
    } else if (pid < 0) {
        m.status = errno;
    } else {
        fs_workers[fs_nworkers++] = pid;
    }
    fs_hold(SIG_UNBLOCK);
    if (pid < 0) {
        m.type = FS_SPAWN_FAILED;
        fs_send(ctl, &m, NULL, 0);
    } else {
        /* A pidfd names this process and no later one with its number:
         * this server reaps on its own, and a signal the main process
         * sends by pid could reach a stranger that reused it. */
        int fds[2] = {sv[0], pidfd_open(pid, 0)};
        m.pid = pid;
        fs_send(ctl, &m, fds, fds[1] >= 0 ? 2 : 1);
        if (fds[1] >= 0)
            close(fds[1]);
    }
    close(sv[0]);
    close(sv[1]);
}

static void
fs_reap(int ctl)
{
    FsMsg m = {.type = FS_EXITED};
    int st;
    pid_t pid;

    /* Held: a reaped pid must leave fs_workers before a cleanup can see
     * it, as the kernel may give its number to another process. */
    fs_hold(SIG_BLOCK);
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        fs_workers_forget(pid);
        m.pid = pid;
        m.status = st;
        fs_send(ctl, &m, NULL, 0);
    }
    fs_hold(SIG_UNBLOCK);
}

/* The fork server's whole life: wait for requests and for dead children. */
static void
fs_main(int ctl, ForkserverWorkerFn fn, ForkserverCleanupFn cleanup, void *arg, pid_t parent)
{
    sigset_t mask;
    int sfd;

    /* The main process decides how workers stop. So the server and its
     * workers leave poold's process group, which Ctrl-C, `timeout` and
     * `kill -- -PGID` signal as a whole, and the server ignores the stop
     * signals: it ends when its control socket closes. */
    setpgid(0, 0);
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    /* Now a background group on poold's terminal: under `stty tostop` a
     * worker's log line would stop it. */
    signal(SIGTTOU, SIG_IGN);
    fs_cleanup = cleanup;
    fs_cleanup_arg = arg;
    signal(SIGUSR1, fs_on_parent_death);
    prctl(PR_SET_PDEATHSIG, SIGUSR1);
    if (getppid() != parent) /* it died before the line above */
        fs_on_parent_death(SIGUSR1);
    prctl(PR_SET_NAME, "poold-forksrv");
    /* What a worker forks and leaves behind is reparented here, not to
     * poold, which may be PID 1 in a container and reaps nothing: fs_reap
     * reaps it (its exit report names no worker, and the pool drops it). */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    if ((sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0)
        _exit(1);
    for (;;) {
        struct pollfd pf[2] = {{.fd = ctl, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            _exit(1);
        }
        if (pf[1].revents) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof(si)) < 0 && errno == EINTR)
                ;
            fs_reap(ctl);
        }
        if (pf[0].revents & POLLIN) {
            FsAsk ask;
            ssize_t n = recv(ctl, &ask, sizeof(ask), 0);
            if (n == 0 || (n < 0 && errno != EINTR))
                fs_on_parent_death(0); /* the main process is done with us */
            if (n == (ssize_t)sizeof(ask))
                fs_spawn(ctl, sfd, ask, fn, arg);
        } else if (pf[0].revents) {
            fs_on_parent_death(0); /* the main process is gone */
        }
    }
}

int
forkserver_start(Forkserver *fs, ForkserverWorkerFn fn, ForkserverCleanupFn cleanup, void *arg)
{
    pid_t parent = getpid();
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    fflush(NULL); /* so buffered output is not written twice */
    if ((fs->pid = fork()) < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        errno = e;
        return -1;
    }
    if (fs->pid == 0) {
        close(sv[0]);
        fs_main(sv[1], fn, cleanup, arg, parent);
    }
    close(sv[1]);
    fs->fd = sv[0];
    return fcntl(fs->fd, F_SETFL, O_NONBLOCK);
}

int
forkserver_spawn(Forkserver *fs, unsigned number, int cpu)
{
    FsAsk ask = {number, cpu};

    while (send(fs->fd, &ask, sizeof(ask), MSG_NOSIGNAL) < 0)
        if (errno != EINTR)
            return -1;
    return 0;
}

int
forkserver_read(Forkserver *fs, ForkserverEvent *ev)
{
    FsMsg m;
    char ctrl[CMSG_SPACE(2 * sizeof(int))];
    struct iovec iov = {.iov_base = &m, .iov_len = sizeof(m)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl,
                        .msg_controllen = sizeof(ctrl)};
    ssize_t n;

    while ((n = recvmsg(fs->fd, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
        ;
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    if (n != (ssize_t)sizeof(m))
        return -1;
    memset(ev, 0, sizeof(*ev));
    ev->type = m.type;
    ev->number = m.number;
    ev->pid = m.pid;
    ev->status = m.status;
    ev->fd = ev->pidfd = -1;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
            size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            if (n >= 1)
                memcpy(&ev->fd, CMSG_DATA(cm), sizeof(int));
            if (n >= 2)
                memcpy(&ev->pidfd, CMSG_DATA(cm) + sizeof(int), sizeof(int));
        }
    if (m.type == FS_SPAWNED && ev->fd < 0)
        return -1;
    return 1;
}

void
forkserver_stop(Forkserver *fs)
{
    if (fs->fd >= 0)
        close(fs->fd);
    fs->fd = -1;
    if (fs->pid > 0)
        while (waitpid(fs->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    fs->pid = 0;
}
