/* l2g target runtime: the services a bare-metal program on Spike gets from the host.
 *
 *  - console: stdout/stderr are bound to the host's stdout/stderr (buffered, HTIF syscalls)
 *  - exit:    returning from main() or calling exit()/l2g_exit() ends the simulation
 *  - traps:   an unexpected trap prints "L2G-TRAP mcause=... mepc=... mtval=..." and exits
 *             with L2G_EXIT_TRAP
 *  - tensors: l2g_output_tensor() streams named arrays to the host file l2g_outputs.bin and
 *             l2g_input_tensor() reads named arrays from l2g_inputs.bin (host side:
 *             l2g.runtime.tensorio).  Both go through HTIF file syscalls, which copy guest
 *             memory in bulk, so megabytes move in milliseconds.
 *  - counters: l2g_rdcycle() / l2g_rdinstret().
 */
#ifndef L2G_RT_H
#define L2G_RT_H

#include <stddef.h>
#include <stdint.h>

#include "l2g_rt_asm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  L2G_INT8 = 0,
  L2G_UINT8 = 1,
  L2G_INT16 = 2,
  L2G_INT32 = 3,
  L2G_INT64 = 4,
  L2G_FLOAT32 = 5,
  L2G_FLOAT64 = 6,
} l2g_dtype_t;

/* Ends the simulation with `code` (0 = success).  Flushes the console and output file. */
void l2g_exit(int code) __attribute__((noreturn));

/* Appends a named tensor to the host's output file.  Returns 0, or -1 on a host I/O error. */
int l2g_output_tensor(const char *name, l2g_dtype_t dtype, int ndim, const int64_t *shape,
                      const void *data);

/* Reads the named tensor from the host's input file into dst.  The dtype and shape must
 * match what the host wrote; on any mismatch or absence the program exits with a message. */
void l2g_input_tensor(const char *name, l2g_dtype_t dtype, int ndim, const int64_t *shape,
                      void *dst);

/* Raw HTIF file access (host file system relative to Spike's working directory). */
long l2g_host_open(const char *path, int flags, int mode);
long l2g_host_read(int fd, void *buf, size_t len);
long l2g_host_write(int fd, const void *buf, size_t len);
long l2g_host_lseek(int fd, long offset, int whence);
long l2g_host_close(int fd);

static inline uint64_t l2g_rdcycle(void) {
  uint64_t c;
  __asm__ volatile("rdcycle %0" : "=r"(c));
  return c;
}

static inline uint64_t l2g_rdinstret(void) {
  uint64_t c;
  __asm__ volatile("rdinstret %0" : "=r"(c));
  return c;
}

#ifdef __cplusplus
}
#endif
#endif /* L2G_RT_H */
