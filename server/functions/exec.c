/*
 * exec.c: running an exec function, in a worker: the command forked in its
 * own process group with the call's args on its stdin, its stdout and the
 * tail of its stderr gathered under its deadline, then the group killed and
 * the command reaped. Loading the --functions file is exec_load.c's.
 */
#include "functions/exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/jtext.h"
#include "functions/spawn.h"

#define EXEC_STDERR_TAIL 2048
/* How often, without a pidfd, a worker looks whether its command exited. */
#define EXEC_POLL_MS 20

/* The process group of the command running, for the SIGTERM handler. */
static volatile sig_atomic_t exec_group;
/* The handler the worker had before (a warm runtime's, or the default):
 * put back when the command ends, and called after ours. */
static struct sigaction exec_old_term;

/* The worker is being stopped (its task ran past the call's timeout): take
 * the command's whole group down with it, then die of the same signal
 * (through the worker's own handler, which takes its runtimes' groups). */
static void
exec_on_term(int sig)
{
    if (exec_group > 0)
        kill(-exec_group, SIGKILL);
    sigaction(sig, &exec_old_term, NULL);
    raise(sig);
}

typedef struct ExecIo {
    const char *in;        /* the args, as JSON */
    size_t in_len, in_off;
    char *out;             /* stdout so far */
    size_t out_len, out_cap;
    char tail[EXEC_STDERR_TAIL + 1]; /* the last of stderr */
    size_t tail_len;
    int cut;               /* the tail lost bytes before it */
    int over;              /* stdout passed max_result */
} ExecIo;

/* Keeps the last EXEC_STDERR_TAIL bytes of stderr. */
static void
exec_tail(ExecIo *io, const char *buf, size_t n)
{
    if (n >= EXEC_STDERR_TAIL) {
        memcpy(io->tail, buf + n - EXEC_STDERR_TAIL, EXEC_STDERR_TAIL);
        io->cut |= n > EXEC_STDERR_TAIL || io->tail_len > 0;
        io->tail_len = EXEC_STDERR_TAIL;
        return;
    }
    if (io->tail_len + n > EXEC_STDERR_TAIL) {
        size_t drop = io->tail_len + n - EXEC_STDERR_TAIL;
        memmove(io->tail, io->tail + drop, io->tail_len - drop);
        io->tail_len -= drop;
        io->cut = 1;
    }
    memcpy(io->tail + io->tail_len, buf, n);
    io->tail_len += n;
}

/* The length of the UTF-8 character at t (n bytes on), by RFC 3629's
 * table (section 4), so that jansson takes the text: 0 when it is none (a
 * lead byte C0, C1 or F5-FF, an overlong form, a surrogate, a value past
 * U+10FFFF, a character cut short) and for NUL, which would end the
 * message. */
static size_t
exec_utf8_len(const unsigned char *t, size_t n)
{
    unsigned char lo = 0x80, hi = 0xBF; /* the second byte's range */
    size_t len;

    if (t[0] < 0x80)
        return t[0] != 0;
    if (t[0] < 0xC2 || t[0] > 0xF4)
        return 0;
    len = t[0] < 0xE0 ? 2 : t[0] < 0xF0 ? 3 : 4;
    if (t[0] == 0xE0)
        lo = 0xA0; /* below: overlong */
    else if (t[0] == 0xED)
        hi = 0x9F; /* above: a surrogate */
    else if (t[0] == 0xF0)
        lo = 0x90; /* below: overlong */
    else if (t[0] == 0xF4)
        hi = 0x8F; /* above: past U+10FFFF */
    if (n < len || t[1] < lo || t[1] > hi)
        return 0;
    for (size_t k = 2; k < len; k++)
        if ((t[k] & 0xC0) != 0x80)
            return 0;
    return len;
}

/* Makes the stderr tail valid UTF-8 in place, for the client's JSON: the
 * rest of a character the tail cut at its start is dropped, any other
 * byte that is not part of a valid character becomes '?'. */
static void
exec_tail_text(ExecIo *io)
{
    unsigned char *t = (unsigned char *)io->tail;
    size_t i = 0, n = io->tail_len, start = 0;

    while (io->cut && start < n && start < 3 && (t[start] & 0xC0) == 0x80)
        start++;
    memmove(t, t + start, n - start);
    n -= start;
    while (i < n) {
        size_t len = exec_utf8_len(t + i, n - i);
        if (len == 0) {
            t[i] = '?';
            len = 1;
        }
        i += len;
    }
    io->tail_len = n;
    io->tail[n] = '\0';
}

/* Reads what fd has now into io (k: 1 stdout, 2 stderr). Returns 0 at
 * EOF, 1 when it may have more, -1 when stdout passed max_result. */
static int
exec_read(ExecIo *io, int k, int fd, size_t max_result)
{
    char buf[65536];
    ssize_t n = read(fd, buf, sizeof(buf));

    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 1 : 0;
    if (n == 0)
        return 0;
    if (k == 2) {
        exec_tail(io, buf, (size_t)n);
        return 1;
    }
    if (io->out_len + (size_t)n > max_result)
        return -1;
    if (io->out_len + (size_t)n > io->out_cap) {
        size_t cap = (io->out_len + (size_t)n) * 2;
        char *grown = realloc(io->out, cap + 1);
        if (!grown)
            return -1;
        io->out = grown;
        io->out_cap = cap;
    }
    memcpy(io->out + io->out_len, buf, (size_t)n);
    io->out_len += (size_t)n;
    return 1;
}

/* Milliseconds to the deadline for poll (-1: none), at most an hour; 0
 * only once it has passed. Without a pidfd, whose poll would wake at the
 * command's exit, at most EXEC_POLL_MS. */
static int
exec_ms(double deadline, int pidfd)
{
    double left;
    int ms;

    if (deadline <= 0) {
        ms = -1;
    } else {
        left = deadline - clock_mono();
        ms = left <= 0 ? 0 : left > 3600 ? 3600 * 1000 : (int)(left * 1000) + 1;
    }
    return pidfd < 0 && (ms < 0 || ms > EXEC_POLL_MS) ? EXEC_POLL_MS : ms;
}

/* 1 when the command has exited, which leaves it unreaped: until
 * exec_reap, neither its pid nor its process group's number can name
 * another. Also 1 when it cannot be waited for (exec_reap says why). */
static int
exec_exited(pid_t pid)
{
    siginfo_t si = {0};

    if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
        return errno != EINTR;
    return si.si_pid == pid;
}

/*
 * Moves bytes between the pipes until the command (pid) has exited (its
 * pidfd, fds[3], or, with none, exec_exited) and stdout and stderr are
 * drained, or both are closed, or the deadline passes. fds: stdin (-1 once
 * closed), stdout, stderr, pidfd (-1: none). Returns 0, or -1 on the
 * deadline. Sets io->over on too much output.
 */
static int
exec_pump(ExecIo *io, int fds[4], pid_t pid, size_t max_result, double deadline)
{
    int exited = 0;

    while (fds[1] >= 0 || fds[2] >= 0) {
        struct pollfd pf[4] = {{fds[0], POLLOUT, 0}, {fds[1], POLLIN, 0}, {fds[2], POLLIN, 0},
                               {exited ? -1 : fds[3], POLLIN, 0}};
        int ms = exited ? 0 : exec_ms(deadline, fds[3]);
        if (deadline > 0 && !exited && ms == 0)
            return -1;
        int n = poll(pf, 4, ms);
        if (n < 0 && errno != EINTR)
            return -1;
        if (n == 0 && exited)
            return 0; /* exited, and nothing more to read now: what a
                       * background child still holds is not its output */
        if (pf[0].revents) {
            ssize_t w = write(fds[0], io->in + io->in_off, io->in_len - io->in_off);
            if (w > 0)
                io->in_off += (size_t)w;
            if (w < 0 ? errno != EAGAIN && errno != EINTR : io->in_off == io->in_len) {
                close(fds[0]); /* all written, or the command will not read */
                fds[0] = -1;
            }
        }
        for (int k = 1; k <= 2; k++) {
            int rc = pf[k].revents ? exec_read(io, k, fds[k], max_result) : 1;
            if (rc < 0) {
                io->over = 1;
                return 0;
            }
            if (rc == 0) {
                close(fds[k]);
                fds[k] = -1;
            }
        }
        if (!exited)
            exited = fds[3] >= 0 ? pf[3].revents != 0 : exec_exited(pid);
    }
    return 0;
}

/* Waits until the command has exited or the deadline passes, and leaves
 * it unreaped (exec_exited). With no pidfd (pidfd_open failed: an old
 * kernel, no descriptor left) it looks every EXEC_POLL_MS, so the
 * deadline holds all the same. Returns 0, or -1 on the deadline. */
static int
exec_wait(pid_t pid, int pidfd, double deadline)
{
    while (!exec_exited(pid)) {
        struct pollfd pf = {pidfd, POLLIN, 0};
        int ms = exec_ms(deadline, pidfd);
        if (deadline > 0 && ms == 0)
            return -1;
        poll(&pf, 1, ms); /* a pf of -1 is no descriptor: a sleep */
    }
    return 0;
}

/* Reaps the command. Returns its wait status, or -1 (errno) when it
 * cannot. */
static int
exec_reap(pid_t pid)
{
    int st;

    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return st;
}

/* Stdout of a command that exited 0: JSON when it parses, else the text
 * without its final newline. */
static json_t *
exec_result(const ExecIo *io, PooldError *err)
{
    const char *out = io->out ? io->out : ""; /* NULL when the command wrote nothing */
    json_t *v = json_loadb(out, io->out_len, JSON_DECODE_ANY, NULL);
    size_t n = io->out_len;

    if (v)
        return v;
    if (n > 0 && out[n - 1] == '\n')
        n--;
    if (!(v = json_stringn(out, n)))
        return poold_error(err, "ValueError", "the command's output is neither JSON nor UTF-8 text");
    return v;
}

/*
 * Starts the command: its stdio on pipes, its own process group published
 * in *group (may be NULL) and to the SIGTERM handler. fds gets our ends of
 * the pipes (stdin, stdout, stderr; non-blocking) and its pidfd (-1: none).
 * Returns its pid, or -1 with err filled and fds untouched.
 */
static pid_t
exec_start(const ExecSpec *x, int64_t *group, int fds[4], PooldError *err)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, er[2] = {-1, -1};
    sigset_t term, old;
    pid_t pid = -1, self = getpid();

    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(er, O_CLOEXEC) < 0) {
        poold_error(err, "OSError", "cannot start %s: %s", x->name, strerror(errno));
        goto cleanup;
    }
    signal(SIGPIPE, SIG_IGN);
    /* A SIGTERM between the fork and the handler would leave the group. */
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_BLOCK, &term, &old);
    if ((pid = fork()) < 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        poold_error(err, "OSError", "cannot start %s: %s", x->name, strerror(errno));
        goto cleanup;
    }
    if (pid == 0) {
        SpawnSpec s = {.argv = x->argv, .env = x->env, .cwd = x->cwd};
        spawn_exec(&s, self, (int[3]){in[0], out[1], er[1]});
    }
    setpgid(pid, pid); /* as the child does: whichever runs first */
    exec_group = pid;
    if (group)
        __atomic_store_n(group, (int64_t)pid, __ATOMIC_RELEASE);
    sigaction(SIGTERM, &(struct sigaction){.sa_handler = exec_on_term}, &exec_old_term);
    sigprocmask(SIG_SETMASK, &old, NULL);
    fds[0] = in[1];
    fds[1] = out[0];
    fds[2] = er[0];
    fds[3] = pidfd_open(pid, 0);
    in[1] = out[0] = er[0] = -1; /* now in fds */
    for (int k = 0; k < 3; k++)
        fcntl(fds[k], F_SETFL, O_NONBLOCK);
cleanup: /* the child's ends, and ours when it did not start */
    for (int k = 0; k < 2; k++) {
        if (in[k] >= 0)
            close(in[k]);
        if (out[k] >= 0)
            close(out[k]);
        if (er[k] >= 0)
            close(er[k]);
    }
    return pid;
}

/*
 * Ends the command's run. Whatever is left of its process group goes: on a
 * timeout or an overflow, the command itself; always, what it left behind.
 * This, and unpublishing the group, come before the reap: until then no
 * other process or group can have its number. The pid as well, should the
 * command have left its group: the reap would wait for it. Closes fds.
 * Returns its wait status, or -1 with errno when it cannot be reaped.
 */
static int
exec_end(pid_t pid, int64_t *group, int fds[4])
{
    int st, e;

    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    if (group)
        __atomic_store_n(group, 0, __ATOMIC_RELEASE);
    sigaction(SIGTERM, &exec_old_term, NULL);
    exec_group = 0;
    st = exec_reap(pid);
    e = errno;
    for (int k = 0; k < 4; k++)
        if (fds[k] >= 0)
            close(fds[k]);
    errno = e;
    return st;
}

/* What the call returns once the command is reaped (wait status st, or -1
 * with wait_errno): its result, or NULL with err filled. */
static json_t *
exec_outcome(const ExecSpec *x, ExecIo *io, int timed_out, int st, int wait_errno, PooldError *err)
{
    exec_tail_text(io);
    if (timed_out)
        return poold_error(err, "TimedOut", "%s ran past its timeout of %g s; its process group was killed",
                           x->name, x->timeout);
    if (io->over)
        return poold_error(err, "ValueError", "%s wrote more than --max-result (%zu bytes)", x->name,
                           x->max_result);
    if (st < 0)
        return poold_error(err, "OSError", "%s: cannot wait for the command: %s", x->name,
                           strerror(wait_errno));
    if (WIFSIGNALED(st))
        return poold_error(err, "ExecError", "%s was killed by signal %d (SIG%s): %s", x->name, WTERMSIG(st),
                           sigabbrev_np(WTERMSIG(st)) ?: "?", io->tail);
    if (WEXITSTATUS(st) != 0)
        return poold_error(err, "ExecError", "%s exited with status %d: %s", x->name, WEXITSTATUS(st),
                           io->tail);
    return exec_result(io, err);
}

json_t *
exec_run(const ExecSpec *x, const json_t *args, const json_t *kwds, int64_t *group, PooldError *err)
{
    int fds[4] = {-1, -1, -1, -1}, timed_out, st;
    double deadline = x->timeout > 0 ? clock_mono() + x->timeout : 0;
    ExecIo io = {0};
    json_t *r = NULL;
    char *text;
    pid_t pid;

    if (json_object_size(kwds) > 0)
        return poold_error(err, "TypeError", "%s() takes positional arguments only (args)", x->name);
    if (!(text = jtext_dumps(args, JSON_COMPACT)))
        return poold_error(err, "OSError", "cannot start %s: %s", x->name, strerror(errno));
    io.in = text;
    io.in_len = strlen(text);
    if ((pid = exec_start(x, group, fds, err)) > 0) {
        timed_out = exec_pump(&io, fds, pid, x->max_result, deadline) < 0;
        if (!timed_out && !io.over)
            timed_out = exec_wait(pid, fds[3], deadline) < 0;
        st = exec_end(pid, group, fds);
        r = exec_outcome(x, &io, timed_out, st, st < 0 ? errno : 0, err);
    }
    free(io.out);
    free(text);
    return r;
}
