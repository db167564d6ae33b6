#include "storage/stream_util.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "base/error.h"

namespace pvx::storage {
namespace {

std::string errno_text() { return std::strerror(errno); }

}  // namespace

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

void write_all(int fd, const void* data, std::size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) throw Error("write failed: " + errno_text(), 500);
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

std::size_t read_full(int fd, void* buf, std::size_t n) {
  char* p = static_cast<char*>(buf);
  std::size_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd, p + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw Error("read failed: " + errno_text(), 500);
    if (r == 0) break;
    got += static_cast<std::size_t>(r);
  }
  return got;
}

std::int64_t copy_bytes(int in, int out, std::int64_t count, bool sparse) {
  std::vector<char> buf(1 << 20);
  std::int64_t done = 0;
  while (count < 0 || done < count) {
    std::size_t want = buf.size();
    if (count >= 0) want = static_cast<std::size_t>(std::min<std::int64_t>(want, count - done));
    std::size_t got = read_full(in, buf.data(), want);
    if (got == 0) break;
    bool zero = sparse && std::all_of(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(got),
                                      [](char c) { return c == 0; });
    if (zero) {
      if (::lseek(out, static_cast<off_t>(got), SEEK_CUR) < 0) throw Error("seek failed: " + errno_text(), 500);
    } else {
      write_all(out, buf.data(), got);
    }
    done += static_cast<std::int64_t>(got);
  }
  if (count >= 0 && done != count)
    throw Error("stream ended after " + std::to_string(done) + " of " + std::to_string(count) + " bytes", 400);
  return done;
}

void write_size_header(int fd, std::int64_t size) {
  unsigned char b[8];
  auto v = static_cast<std::uint64_t>(size);
  for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
  write_all(fd, b, sizeof b);
}

std::int64_t read_size_header(int fd) {
  unsigned char b[8];
  if (read_full(fd, b, sizeof b) != sizeof b)
    throw Error("import stream too short: missing the 8-byte size header", 400);
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b[i];
  return static_cast<std::int64_t>(v);
}

}  // namespace pvx::storage
