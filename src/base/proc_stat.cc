#include "base/proc_stat.h"

#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>
#include <vector>

#include "base/atomic_file.h"

namespace pvx {
namespace {

std::int64_t boot_time_unix() {
  // btime does not change while the system runs.
  static const std::int64_t btime = [] {
    std::ifstream in("/proc/stat");
    std::string key;
    while (in >> key) {
      if (key == "btime") {
        std::int64_t value = 0;
        in >> value;
        return value;
      }
      in.ignore(1 << 20, '\n');
    }
    return std::int64_t{0};
  }();
  return btime;
}

}  // namespace

std::optional<ProcStat> read_proc_stat(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  auto text = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (!text) return std::nullopt;
  // "pid (comm) state ppid ..." where comm may itself hold spaces and parentheses.
  auto open = text->find('(');
  auto close = text->rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return std::nullopt;
  ProcStat st;
  st.pid = pid;
  st.comm = text->substr(open + 1, close - open - 1);
  std::istringstream fields(text->substr(close + 1));
  std::vector<std::string> f;
  for (std::string field; fields >> field;) f.push_back(std::move(field));
  // After the comm: f[0] = field 3 (state), f[1] = 4 (ppid), f[11] = 14 (utime), f[12] = 15
  // (stime), f[19] = 22 (starttime).
  if (f.size() < 20 || f[0].empty()) return std::nullopt;
  auto number = [&](std::size_t i, auto& out) {
    const auto& s = f[i];
    return std::from_chars(s.data(), s.data() + s.size(), out).ec == std::errc();
  };
  st.state = f[0][0];
  if (!number(1, st.ppid) || !number(11, st.utime) || !number(12, st.stime) || !number(19, st.starttime)) {
    return std::nullopt;
  }
  return st;
}

long clock_ticks_per_second() {
  static const long ticks = [] {
    long t = ::sysconf(_SC_CLK_TCK);
    return t > 0 ? t : 100L;
  }();
  return ticks;
}

std::int64_t start_time_unix(std::uint64_t starttime) {
  return boot_time_unix() + static_cast<std::int64_t>(starttime / static_cast<std::uint64_t>(clock_ticks_per_second()));
}

}  // namespace pvx
