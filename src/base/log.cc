#include "base/log.h"

#include <atomic>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace pvx::log {
namespace {
std::atomic<Level> g_level{Level::info};
std::mutex g_mutex;
constexpr const char* kNames[] = {"debug", "info", "warning", "error"};
}  // namespace

void set_level(Level level) { g_level = level; }

void write(Level level, std::string_view message) {
  if (level < g_level.load(std::memory_order_relaxed)) return;
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
  std::lock_guard lock(g_mutex);
  std::fprintf(stderr, "%s pvxd[%s]: %.*s\n", stamp, kNames[static_cast<int>(level)],
               static_cast<int>(message.size()), message.data());
}

}  // namespace pvx::log
