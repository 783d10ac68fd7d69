/* l2g target runtime: HTIF console, exit, traps and tensor I/O (see l2g_rt.h). */
#include "l2g_rt.h"

#include <stdio.h>
#include <string.h>

/* ---- HTIF mailbox -------------------------------------------------------------------- */
volatile uint64_t tohost __attribute__((section(".tohost"), aligned(64)));
volatile uint64_t fromhost __attribute__((section(".tohost"), aligned(64)));

/* Spike's front end reads syscall arguments from this block when tohost holds its address
 * (device 0, command 0) and writes the return value back into word 0. */
static volatile uint64_t magic_mem[8] __attribute__((aligned(64)));

enum {
  SYS_openat = 56, SYS_close = 57, SYS_lseek = 62, SYS_read = 63, SYS_write = 64,
};
#define HOST_AT_FDCWD (-100)

static long htif_syscall(long n, long a0, long a1, long a2, long a3, long a4) {
  magic_mem[0] = (uint64_t)n;
  magic_mem[1] = (uint64_t)a0;
  magic_mem[2] = (uint64_t)a1;
  magic_mem[3] = (uint64_t)a2;
  magic_mem[4] = (uint64_t)a3;
  magic_mem[5] = (uint64_t)a4;
  __sync_synchronize();
  while (tohost) {}
  tohost = (uint64_t)(uintptr_t)magic_mem;
  while (fromhost == 0) {}
  fromhost = 0;
  __sync_synchronize();
  return (long)magic_mem[0];
}

long l2g_host_open(const char *path, int flags, int mode) {
  return htif_syscall(SYS_openat, HOST_AT_FDCWD, (long)path, (long)strlen(path) + 1, flags, mode);
}
long l2g_host_read(int fd, void *buf, size_t len) { return htif_syscall(SYS_read, fd, (long)buf, (long)len, 0, 0); }
long l2g_host_write(int fd, const void *buf, size_t len) { return htif_syscall(SYS_write, fd, (long)buf, (long)len, 0, 0); }
long l2g_host_lseek(int fd, long off, int whence) { return htif_syscall(SYS_lseek, fd, off, whence, 0, 0); }
long l2g_host_close(int fd) { return htif_syscall(SYS_close, fd, 0, 0, 0, 0); }

/* ---- console: line-buffered, one HTIF round trip per line rather than per character ---- */
typedef struct {
  int fd;
  size_t len;
  char buf[512];
} console_t;

static console_t console_out = {1, 0, {0}};
static console_t console_err = {2, 0, {0}};

static void console_flush(console_t *c) {
  if (c->len) {
    l2g_host_write(c->fd, c->buf, c->len);
    c->len = 0;
  }
}

static int console_put(console_t *c, char ch) {
  c->buf[c->len++] = ch;
  if (ch == '\n' || c->len == sizeof c->buf) console_flush(c);
  return (unsigned char)ch;
}

static int put_out(char ch, FILE *f) { (void)f; return console_put(&console_out, ch); }
static int put_err(char ch, FILE *f) { (void)f; return console_put(&console_err, ch); }
static int flush_out(FILE *f) { (void)f; console_flush(&console_out); return 0; }
static int flush_err(FILE *f) { (void)f; console_flush(&console_err); return 0; }

static FILE stdout_stream = FDEV_SETUP_STREAM(put_out, NULL, flush_out, _FDEV_SETUP_WRITE);
static FILE stderr_stream = FDEV_SETUP_STREAM(put_err, NULL, flush_err, _FDEV_SETUP_WRITE);
FILE *const stdout = &stdout_stream;
FILE *const stderr = &stderr_stream;
FILE *const stdin = NULL;

/* ---- tensor files ----------------------------------------------------------------------- */
#define OUTPUTS_FILE "l2g_outputs.bin"
#define INPUTS_FILE "l2g_inputs.bin"
#define HOST_O_RDONLY 0
#define HOST_O_WRONLY 1
#define HOST_O_CREAT 0100
#define HOST_O_TRUNC 01000
#define RECORD_MAGIC 0x524e5354u /* "TSNR" little-endian; one per record */

static const size_t dtype_size[] = {1, 1, 2, 4, 8, 4, 8};
static int outputs_fd = -1;

/* Record layout (little-endian): u32 magic, u16 name_len, u8 dtype, u8 ndim, i64 shape[ndim],
 * u64 nbytes, name bytes, data bytes.  Parsed by l2g.runtime.tensorio. */
typedef struct __attribute__((packed)) {
  uint32_t magic;
  uint16_t name_len;
  uint8_t dtype;
  uint8_t ndim;
} record_head_t;

static size_t tensor_nbytes(l2g_dtype_t dtype, int ndim, const int64_t *shape) {
  size_t n = dtype_size[dtype];
  for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
  return n;
}

static void fail(const char *what, const char *name) {
  printf("l2g runtime: %s: %s\n", what, name);
  l2g_exit(2);
}

int l2g_output_tensor(const char *name, l2g_dtype_t dtype, int ndim, const int64_t *shape, const void *data) {
  if ((unsigned)dtype > L2G_FLOAT64 || ndim < 0 || ndim > 8) fail("bad dtype or rank for output tensor", name);
  if (outputs_fd < 0) {
    outputs_fd = (int)l2g_host_open(OUTPUTS_FILE, HOST_O_WRONLY | HOST_O_CREAT | HOST_O_TRUNC, 0644);
    if (outputs_fd < 0) return -1;
  }
  record_head_t head = {RECORD_MAGIC, (uint16_t)strlen(name), (uint8_t)dtype, (uint8_t)ndim};
  uint64_t nbytes = tensor_nbytes(dtype, ndim, shape);
  if (l2g_host_write(outputs_fd, &head, sizeof head) != (long)sizeof head) return -1;
  if (ndim && l2g_host_write(outputs_fd, shape, 8 * (size_t)ndim) != 8 * ndim) return -1;
  if (l2g_host_write(outputs_fd, &nbytes, 8) != 8) return -1;
  if (l2g_host_write(outputs_fd, name, head.name_len) != head.name_len) return -1;
  /* The host front end copies through a bounce buffer; chunk to keep its allocation bounded. */
  const uint8_t *p = (const uint8_t *)data;
  for (uint64_t done = 0; done < nbytes;) {
    size_t chunk = (nbytes - done) > (16u << 20) ? (16u << 20) : (size_t)(nbytes - done);
    long w = l2g_host_write(outputs_fd, p + done, chunk);
    if (w <= 0) return -1;
    done += (uint64_t)w;
  }
  return 0;
}

void l2g_input_tensor(const char *name, l2g_dtype_t dtype, int ndim, const int64_t *shape, void *dst) {
  int fd = (int)l2g_host_open(INPUTS_FILE, HOST_O_RDONLY, 0);
  if (fd < 0) fail("cannot open host input file " INPUTS_FILE " for tensor", name);
  size_t want = strlen(name);
  for (;;) {
    record_head_t head;
    if (l2g_host_read(fd, &head, sizeof head) != (long)sizeof head) break;
    if (head.magic != RECORD_MAGIC || head.ndim > 8) fail("corrupt host input file at tensor", name);
    int64_t rshape[8];
    uint64_t nbytes;
    char rname[256];
    l2g_host_read(fd, rshape, 8 * (size_t)head.ndim);
    l2g_host_read(fd, &nbytes, 8);
    if (head.name_len >= sizeof rname) fail("tensor name too long in host input file near", name);
    l2g_host_read(fd, rname, head.name_len);
    rname[head.name_len] = 0;
    if (head.name_len == want && memcmp(rname, name, want) == 0) {
      if (head.dtype != (uint8_t)dtype || head.ndim != ndim) fail("dtype/rank mismatch for input tensor", name);
      for (int i = 0; i < ndim; i++)
        if (rshape[i] != shape[i]) fail("shape mismatch for input tensor", name);
      if (nbytes != tensor_nbytes(dtype, ndim, shape)) fail("size mismatch for input tensor", name);
      uint8_t *p = (uint8_t *)dst;
      for (uint64_t done = 0; done < nbytes;) {
        long r = l2g_host_read(fd, p + done, (size_t)(nbytes - done));
        if (r <= 0) fail("short read for input tensor", name);
        done += (uint64_t)r;
      }
      l2g_host_close(fd);
      return;
    }
    l2g_host_lseek(fd, (long)nbytes, 1 /* SEEK_CUR */);
  }
  l2g_host_close(fd);
  fail("input tensor not found in " INPUTS_FILE, name);
}

/* ---- start-up, exit, traps --------------------------------------------------------------- */
void l2g_runtime_init(void) {}

void l2g_exit(int code) {
  console_flush(&console_out);
  console_flush(&console_err);
  if (outputs_fd >= 0) {
    l2g_host_close(outputs_fd);
    outputs_fd = -1;
  }
  while (tohost) {}
  tohost = ((uint64_t)(unsigned)code << 1) | 1;
  for (;;) {}
}

void _exit(int code) { l2g_exit(code); }

static char *put_hex(char *p, uint64_t v) {
  *p++ = '0';
  *p++ = 'x';
  for (int s = 60; s >= 0; s -= 4) *p++ = "0123456789abcdef"[(v >> s) & 15];
  return p;
}

/* Called from the trap vector.  Formats by hand: the trap may have hit inside stdio. */
void l2g_trap_handler(uint64_t mcause, uint64_t mepc, uint64_t mtval) {
  console_flush(&console_out);
  char line[128], *p = line;
  static const char tag[] = "L2G-TRAP mcause=";
  memcpy(p, tag, sizeof tag - 1);
  p += sizeof tag - 1;
  p = put_hex(p, mcause);
  memcpy(p, " mepc=", 6);
  p = put_hex(p + 6, mepc);
  memcpy(p, " mtval=", 7);
  p = put_hex(p + 7, mtval);
  *p++ = '\n';
  l2g_host_write(2, line, (size_t)(p - line));
  l2g_exit(L2G_EXIT_TRAP);
}
