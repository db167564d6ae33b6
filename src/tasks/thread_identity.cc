#include "tasks/thread_identity.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <iterator>
#include <string>

namespace pvx::tasks {

std::uint32_t current_tid() { return static_cast<std::uint32_t>(::syscall(SYS_gettid)); }

std::optional<std::uint64_t> thread_start_ticks(std::uint32_t tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/stat");
  if (!in) return std::nullopt;
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Field 2 is "(comm)" and comm may hold spaces or parentheses, so count from the last ')'.
  auto close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  // After ')' come fields 3, 4, ...; field 22 is the 20th of them.
  std::size_t pos = close + 1;
  for (int field = 3; field <= 22; ++field) {
    pos = stat.find_first_not_of(' ', pos);
    if (pos == std::string::npos) return std::nullopt;
    auto end = stat.find(' ', pos);
    if (end == std::string::npos) end = stat.size();
    if (field == 22) {
      std::uint64_t value = 0;
      auto [ptr, ec] = std::from_chars(stat.data() + pos, stat.data() + end, value);
      if (ec != std::errc() || ptr != stat.data() + end) return std::nullopt;
      return value;
    }
    pos = end;
  }
  return std::nullopt;
}

}  // namespace pvx::tasks
