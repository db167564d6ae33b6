#pragma once
// A cluster-wide tree of small files: what Proxmox keeps in /etc/pve, at the same relative paths
// and in the same formats ("user.cfg", "storage.cfg", "nodes/<node>/qemu-server/<vmid>.conf").
//
// Every change bumps one store-wide revision; a file's version is the revision that last wrote
// it, so compare-and-swap works per file and watchers can resume from a revision.
// Implementations: SqliteStore (embedded single node), EtcdStore (cluster, later).
// All methods are thread-safe and may block briefly (disk I/O): call them from handlers and task
// threads, not from inside a watch callback that holds a lock.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace pvx::cluster {

struct FileEntry {
  std::string data;
  std::uint64_t version = 0;  // store revision of the last write
  std::int64_t mtime = 0;     // unix time of the last write
  // SHA-1 hex of the data: the `digest` the PVE API exposes for optimistic concurrency.
  std::string digest() const;
};

// Unsubscribes when destroyed.
class Subscription {
 public:
  virtual ~Subscription() = default;
};
using SubscriptionPtr = std::unique_ptr<Subscription>;

// Releases the named lock when destroyed.
class LockGuard {
 public:
  virtual ~LockGuard() = default;
};
using LockGuardPtr = std::unique_ptr<LockGuard>;

class ConfigStore {
 public:
  virtual ~ConfigStore() = default;

  // ---- reading ----
  virtual std::optional<FileEntry> read(std::string_view path) = 0;
  // Paths of all files below `prefix` (a directory path, "" for all), recursively, sorted.
  virtual std::vector<std::string> list(std::string_view prefix) = 0;
  virtual std::uint64_t revision() = 0;

  // ---- writing (atomic and durable when they return) ----
  // expected_version: nullopt = unconditional, 0 = the file must not exist, n = must be at n.
  // Returns the new version, or nullopt when expected_version did not match (nothing written).
  virtual std::optional<std::uint64_t> write(std::string_view path, std::string_view data,
                                             std::optional<std::uint64_t> expected_version = std::nullopt) = 0;
  // Returns false when the file did not exist or the version did not match.
  virtual bool remove(std::string_view path, std::optional<std::uint64_t> expected_version = std::nullopt) = 0;
  // Atomic rename; false when `from` is missing or `to` exists.
  virtual bool move(std::string_view from, std::string_view to) = 0;

  // ---- watching ----
  // Calls `fn(path, version)` (version 0 = removed) after each change below `prefix`, from a
  // store-owned thread, in revision order.
  virtual SubscriptionPtr watch(std::string_view prefix,
                                std::function<void(const std::string& path, std::uint64_t version)> fn) = 0;

  // ---- locking ----
  // A named cluster-wide lock ("vm-100", "storage-local"). Waits up to `timeout`; on timeout
  // throws pvx::Error "can't lock '<name>' - got timeout".
  virtual LockGuardPtr lock(std::string_view name, std::chrono::milliseconds timeout) = 0;

  // ---- cluster state ----
  virtual bool quorate() = 0;
  virtual std::vector<std::string> members() = 0;
};

// Runs fn while holding the named lock.
template <typename Fn>
auto with_lock(ConfigStore& store, std::string_view name, std::chrono::milliseconds timeout, Fn&& fn) {
  auto guard = store.lock(name, timeout);
  return fn();
}

// Read-modify-write with compare-and-swap under the file's store lock ("file-<path>"). `change`
// gets the current entry (or nullopt) and returns the new text, or nullopt to leave the file alone.
template <typename Fn>
void update_file(ConfigStore& store, const std::string& path, Fn&& change,
                 std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  std::string lock_name = "file-" + path;
  for (auto& c : lock_name) {
    if (c == '.' || c == '/') c = '_';
  }
  auto guard = store.lock(lock_name, timeout);
  for (int attempt = 0; attempt < 8; ++attempt) {
    auto current = store.read(path);
    std::optional<std::string> next = change(current);
    if (!next) return;
    if (store.write(path, *next, current ? current->version : 0)) return;
  }
  throw Error("unable to update '" + path + "' - too many concurrent changes", 500);
}

}  // namespace pvx::cluster
