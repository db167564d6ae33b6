#pragma once
// The parsed form of one ConfigStore file, rebuilt only when the file's version changes.
//
// Two freshness modes:
// - get(): asks the store for the file on every call (one point read) and re-parses only when
//   the version moved. Always current; used for user.cfg, whose changes must take effect on the
//   very next request.
// - get_watched(): trusts the cached value until mark_stale() is called (from a store watch, or
//   by whoever just wrote the file). No store access on the hot path; used for the signing keys
//   and the CSRF secret, which only change when this service rotates them.
// Thread-safe. The parser sees std::nullopt when the file is missing; if it throws, nothing is
// cached and the exception propagates.
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "cluster/config_store.h"

namespace pvx::auth {

template <typename T>
class CachedFile {
 public:
  using Parser = std::function<T(const std::optional<cluster::FileEntry>&)>;

  CachedFile(std::string path, Parser parse) : path_(std::move(path)), parse_(std::move(parse)) {}

  const std::string& path() const { return path_; }

  std::shared_ptr<const T> get(cluster::ConfigStore& store) {
    // Nothing in the store changed since the last look: no read at all (permission checks of a
    // listing of 1000 guests ask 1000 times).
    const std::uint64_t revision = store.revision();
    {
      std::lock_guard lock(mutex_);
      if (value_ && checked_revision_ == revision) return value_;
    }
    auto entry = store.read(path_);
    std::uint64_t version = entry ? entry->version : 0;
    std::lock_guard lock(mutex_);
    checked_revision_ = revision;
    if (value_ && version_ == version) return value_;
    value_ = std::make_shared<const T>(parse_(entry));
    version_ = version;
    return value_;
  }

  std::shared_ptr<const T> get_watched(cluster::ConfigStore& store) {
    {
      std::lock_guard lock(mutex_);
      if (value_ && !stale_.load(std::memory_order_acquire)) return value_;
    }
    // Cleared before reading, so a change that lands during the read marks it stale again.
    stale_.store(false, std::memory_order_release);
    return get(store);
  }

  void mark_stale() { stale_.store(true, std::memory_order_release); }

 private:
  std::string path_;
  Parser parse_;
  std::mutex mutex_;
  std::shared_ptr<const T> value_;
  std::uint64_t version_ = 0;
  std::uint64_t checked_revision_ = 0;  // the store revision at which version_ was last confirmed
  std::atomic<bool> stale_{true};
};

}  // namespace pvx::auth
