/*
 * builtins.c: the C functions every poold has.
 *
 * Each follows its Python twin where JSON allows: arguments bind by position
 * or keyword, a wrong call is a TypeError, integers are exact (64-bit; past
 * that an OverflowError, never a wrong number) and mix with reals as Python
 * mixes int and float. They run in workers; nothing here knows the pool.
 */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include <nettle/sha2.h>

#include "functions/registry.h"

#define BUILTIN_MAX_PARAMS 4

/*
 * Binds args and kwds to the parameter names, like a Python call would:
 * out[i] is the borrowed value of params[i], or NULL for an optional one
 * left out. The first nreq parameters are required. Returns 0, or -1 with
 * err set to the TypeError Python would raise.
 */
static int
builtin_bind(const char *fname, const json_t *args, const json_t *kwds,
             const char *const *params, size_t nparams, size_t nreq,
             const json_t **out, PooldError *err)
{
    size_t nargs = json_array_size(args);
    const char *key;
    json_t *val;

    if (nargs > nparams) {
        poold_error(err, "TypeError", "%s() takes at most %zu argument%s (%zu given)",
                    fname, nparams, nparams == 1 ? "" : "s", nargs);
        return -1;
    }
    for (size_t i = 0; i < nparams; i++)
        out[i] = i < nargs ? json_array_get(args, i) : NULL;
    json_object_foreach((json_t *)kwds, key, val) {
        size_t i = 0;
        while (i < nparams && strcmp(params[i], key) != 0)
            i++;
        if (i == nparams) {
            poold_error(err, "TypeError", "%s() got an unexpected keyword argument '%s'", fname, key);
            return -1;
        }
        if (out[i]) {
            poold_error(err, "TypeError", "%s() got multiple values for argument '%s'", fname, key);
            return -1;
        }
        out[i] = val;
    }
    for (size_t i = 0; i < nreq; i++)
        if (!out[i]) {
            poold_error(err, "TypeError", "%s() missing required argument '%s' (pos %zu)",
                        fname, params[i], i + 1);
            return -1;
        }
    return 0;
}

static int
builtin_want_number(const char *fname, const char *param, const json_t *v,
                    PooldError *err)
{
    if (json_is_number(v))
        return 0;
    poold_error(err, "TypeError", "%s(): '%s' must be a number", fname, param);
    return -1;
}

/* A finite double as a JSON real; inf or nan (which JSON cannot carry)
 * becomes the OverflowError or ValueError Python would raise. */
static json_t *
builtin_real(double d, PooldError *err)
{
    if (isnan(d))
        return poold_error(err, "ValueError", "math domain error");
    if (isinf(d))
        return poold_error(err, "OverflowError", "(34, 'Numerical result out of range')");
    return json_real(d);
}

/* base ** exp, as Python's int and float pow. */
static json_t *
builtin_power(const json_t *base, const json_t *exp, PooldError *err)
{
    if (json_is_integer(base) && json_is_integer(exp) && json_integer_value(exp) >= 0) {
        long long b = json_integer_value(base), e = json_integer_value(exp), r = 1;
        while (e > 0) {
            if ((e & 1) && __builtin_mul_overflow(r, b, &r))
                goto overflow;
            e >>= 1;
            if (e > 0 && __builtin_mul_overflow(b, b, &b))
                goto overflow;
        }
        return json_integer(r);
    overflow:
        return poold_error(err, "OverflowError", "integer result does not fit in 64 bits");
    }
    double b = json_number_value(base), e = json_number_value(exp);
    if (b == 0.0 && e < 0)
        return poold_error(err, "ZeroDivisionError", "0.0 cannot be raised to a negative power");
    if (b < 0 && e != floor(e))
        return poold_error(err, "ValueError", "a negative number to a fractional power is complex");
    return builtin_real(pow(b, e), err);
}

static json_t *
builtin_pow(const json_t *args, const json_t *kwds, PooldError *err)
{
    static const char *const params[] = {"base", "exp"};
    const json_t *v[2];

    if (builtin_bind("pow", args, kwds, params, 2, 2, v, err) < 0 ||
        builtin_want_number("pow", "base", v[0], err) < 0 ||
        builtin_want_number("pow", "exp", v[1], err) < 0)
        return NULL;
    return builtin_power(v[0], v[1], err);
}

/* Sleeps the whole duration even when a signal interrupts it. */
static void
builtin_nap(double seconds)
{
    struct timespec ts;

    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* The seed's calc: one second of "work", then value**10. */
static json_t *
builtin_calc(const json_t *args, const json_t *kwds, PooldError *err)
{
    static const char *const params[] = {"value"};
    const json_t *v[1];
    json_t *ten, *r;

    if (builtin_bind("calc", args, kwds, params, 1, 1, v, err) < 0 ||
        builtin_want_number("calc", "value", v[0], err) < 0)
        return NULL;
    builtin_nap(1.0);
    ten = json_integer(10);
    r = builtin_power(v[0], ten, err);
    json_decref(ten);
    return r;
}

static json_t *
builtin_sleep(const json_t *args, const json_t *kwds, PooldError *err)
{
    static const char *const params[] = {"seconds"};
    const json_t *v[1];

    if (builtin_bind("sleep", args, kwds, params, 1, 1, v, err) < 0 ||
        builtin_want_number("sleep", "seconds", v[0], err) < 0)
        return NULL;
    double s = json_number_value(v[0]);
    if (!(s >= 0) || s > 1e9)
        return poold_error(err, "ValueError", "sleep length must be between 0 and 1e9 seconds");
    builtin_nap(s);
    return json_deep_copy(v[0]);
}

static json_t *
builtin_echo(const json_t *args, const json_t *kwds, PooldError *err)
{
    static const char *const params[] = {"x"};
    const json_t *v[1];

    if (builtin_bind("echo", args, kwds, params, 1, 1, v, err) < 0)
        return NULL;
    return json_incref((json_t *)v[0]);
}

static json_t *
builtin_sum(const json_t *args, const json_t *kwds, PooldError *err)
{
    static const char *const params[] = {"iterable", "start"};
    const json_t *v[2], *item;
    long long isum = 0;
    double dsum = 0;
    int real = 0;
    size_t i;

    if (builtin_bind("sum", args, kwds, params, 2, 1, v, err) < 0)
        return NULL;
    if (!json_is_array(v[0]))
        return poold_error(err, "TypeError", "sum(): 'iterable' must be an array");
    if (v[1] && builtin_want_number("sum", "start", v[1], err) < 0)
        return NULL;
    if (v[1] && json_is_real(v[1])) {
        real = 1;
        dsum = json_real_value(v[1]);
    } else if (v[1]) {
        isum = json_integer_value(v[1]);
    }
    json_array_foreach(v[0], i, item) {
        if (!json_is_number(item))
            return poold_error(err, "TypeError", "sum(): item %zu is not a number", i);
        if (!real && json_is_real(item)) {
            real = 1;
            dsum = (double)isum;
        }
        if (real)
            dsum += json_number_value(item);
        else if (__builtin_add_overflow(isum, json_integer_value(item), &isum))
            return poold_error(err, "OverflowError", "integer sum does not fit in 64 bits");
    }
    return real ? builtin_real(dsum, err) : json_integer(isum);
}

static json_t *
builtin_fib(const json_t *args, const json_t *kwds, PooldError *err)
{
    static const char *const params[] = {"n"};
    const json_t *v[1];
    long long a = 0, b = 1, n;

    if (builtin_bind("fib", args, kwds, params, 1, 1, v, err) < 0)
        return NULL;
    if (!json_is_integer(v[0]))
        return poold_error(err, "TypeError", "fib(): 'n' must be an integer");
    n = json_integer_value(v[0]);
    if (n < 0)
        return poold_error(err, "ValueError", "fib(): 'n' must not be negative");
    if (n > 92) /* fib(93) > 2^63 - 1 */
        return poold_error(err, "OverflowError", "fib(%lld) does not fit in 64 bits", n);
    if (n == 0)
        return json_integer(0);
    for (long long i = 1; i < n; i++) { /* stops at fib(n): fib(93) would overflow */
        long long t = a + b;
        a = b;
        b = t;
    }
    return json_integer(b);
}

static json_t *
builtin_sha256(const json_t *args, const json_t *kwds, PooldError *err)
{
    static const char *const params[] = {"data"};
    const json_t *v[1];
    struct sha256_ctx ctx;
    uint8_t digest[SHA256_DIGEST_SIZE];
    char hex[2 * SHA256_DIGEST_SIZE + 1];

    if (builtin_bind("sha256", args, kwds, params, 1, 1, v, err) < 0)
        return NULL;
    if (!json_is_string(v[0]))
        return poold_error(err, "TypeError", "sha256(): 'data' must be a string");
    sha256_init(&ctx);
    sha256_update(&ctx, json_string_length(v[0]), (const uint8_t *)json_string_value(v[0]));
    sha256_digest(&ctx, sizeof(digest), digest);
    for (size_t i = 0; i < sizeof(digest); i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    return json_string(hex);
}

int
builtins_register(Registry *r)
{
    static const struct {
        const char *name;
        PooldFn fn;
        const char *doc;
    } fns[] = {
        {"pow", builtin_pow, "pow(base, exp): base**exp; exact 64-bit integers, a real for a negative exp"},
        {"calc", builtin_calc, "calc(value): sleeps one second, then returns value**10"},
        {"sleep", builtin_sleep, "sleep(seconds): sleeps, then returns seconds"},
        {"echo", builtin_echo, "echo(x): returns x"},
        {"sum", builtin_sum, "sum(iterable, start=0): the sum of the numbers"},
        {"fib", builtin_fib, "fib(n): the n-th Fibonacci number, n <= 92"},
        {"sha256", builtin_sha256, "sha256(data): the hex SHA-256 digest of the UTF-8 string"},
    };
    for (size_t i = 0; i < ARRAY_LEN(fns); i++) {
        int rc = registry_add(r, fns[i].name, fns[i].doc, "builtin", fns[i].fn);
        if (rc != SVC_OK)
            return rc;
    }
    return SVC_OK;
}
