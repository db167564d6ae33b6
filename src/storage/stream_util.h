#pragma once
// Byte-stream helpers shared by the storage types' export/import paths: an owning file
// descriptor, complete writes and reads, counted copies, and the 8-byte little-endian size
// header that starts PVE's "raw+size"/"tar+size" transfer streams.
#include <cstddef>
#include <cstdint>

namespace pvx::storage {

// Closes the descriptor it owns (a negative one is allowed: failed open).
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd();
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Writes all `n` bytes, retrying on EINTR; throws Error 500 on failure.
void write_all(int fd, const void* data, std::size_t n);
// Reads until `n` bytes or end of file; returns how many were read. Throws Error 500 on failure.
std::size_t read_full(int fd, void* buf, std::size_t n);

// Copies exactly `count` bytes (count < 0: until end of file) and returns how many. A stream that
// ends early is bad input (Error 400). With `sparse`, all-zero blocks are skipped with lseek so
// the output file gets holes (the caller sets the final size with ftruncate).
std::int64_t copy_bytes(int in, int out, std::int64_t count, bool sparse = false);

void write_size_header(int fd, std::int64_t size);
// Throws Error 400 when the stream ends before the 8 bytes.
std::int64_t read_size_header(int fd);

}  // namespace pvx::storage
