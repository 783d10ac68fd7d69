// Scratchpad and accumulator storage.  Every local access in the other units goes through
// check_rows/check_addr_bits first, so out-of-range addresses become a clear error instead
// of undefined behaviour (libgemmini aborts with std::out_of_range; the RTL wraps).
#include <cstdarg>
#include <cstdio>

#include "gemmini.h"

namespace gemmini {

void fail(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  throw GemminiError{buf};
}

Gemmini::Gemmini(const HwConfig& c)
    : cfg(c), dim(c.dim),
      spad(size_t(c.sp_rows()) * c.dim, 0),
      acc(size_t(c.acc_rows) * c.dim, 0),
      pe(size_t(c.dim) * c.dim, 0),
      weights(size_t(c.dim) * c.dim, 0),
      pre_tile(size_t(c.dim) * c.dim, 0),
      stat(c.norm_stat_ids), stat_ready(c.norm_stat_ids, 0) {
  for (auto& s : ld) s.block_stride = dim;
}

void Gemmini::check_rows(bool is_acc, int64_t first, int64_t last, const char* what) const {
  const int64_t n = is_acc ? cfg.acc_rows : cfg.sp_rows();
  if (first < 0) fail("%s: local row %lld is below row 0", what, (long long)first);
  if (last >= n)
    fail("%s: local rows %lld..%lld exceed the %s (%lld rows)", what, (long long)first, (long long)last,
         is_acc ? "accumulator" : "scratchpad", (long long)n);
}

void Gemmini::check_addr_bits(const LocalAddr& a, const char* what) const {
  if (a.junk)
    fail("%s=0x%08x sets address bits 25:14 (0x%x); only GARBAGE_ADDR=0xffffffff may", what, a.raw, a.junk);
}

}  // namespace gemmini
