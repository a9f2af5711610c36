/* badabi.c: a plugin built for another ABI version, which poold must
 * refuse before it runs anything of it. */
#include <poold.h>

const unsigned poold_plugin_abi = POOLD_ABI_VERSION + 1;
int poold_plugin_init(PooldHost *host);

int
poold_plugin_init(PooldHost *host)
{
    (void)host;
    return 0;
}
