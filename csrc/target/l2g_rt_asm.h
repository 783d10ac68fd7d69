/* Constants shared between crt0.S, the C runtime and the host (l2g/runtime/spike.py). */
#ifndef L2G_RT_ASM_H
#define L2G_RT_ASM_H
/* Exit code a program reports when it takes an unexpected trap. */
#define L2G_EXIT_TRAP 111
#endif
