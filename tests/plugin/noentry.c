/* noentry.c: a shared object that is not a poold plugin (it has no
 * POOLD_PLUGIN entry point), for the start-up error tests. */
int noentry_value(void);

int
noentry_value(void)
{
    return 1;
}
