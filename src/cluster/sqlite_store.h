#pragma once
// The embedded single-node ConfigStore: one SQLite database (WAL) at the given path. Every write
// is one transaction, committed with synchronous=FULL before the call returns, so an
// acknowledged write survives SIGKILL and power loss. Locks are held in-process (pvxd is the
// only writer; the CLI goes through pvxd's socket).
#include <filesystem>
#include <memory>

#include "cluster/config_store.h"

namespace pvx::cluster {

class SqliteStore final : public ConfigStore {
 public:
  // Opens or creates the database; throws pvx::Error when it cannot.
  explicit SqliteStore(const std::filesystem::path& db_path, std::string node_name);
  ~SqliteStore() override;

  // ConfigStore (defaults repeated from the interface so a SqliteStore& reads the same)
  std::optional<FileEntry> read(std::string_view path) override;
  std::vector<std::string> list(std::string_view prefix) override;
  std::uint64_t revision() override;
  std::optional<std::uint64_t> write(std::string_view path, std::string_view data,
                                     std::optional<std::uint64_t> expected_version = std::nullopt) override;
  bool remove(std::string_view path, std::optional<std::uint64_t> expected_version = std::nullopt) override;
  bool move(std::string_view from, std::string_view to) override;
  SubscriptionPtr watch(std::string_view prefix,
                        std::function<void(const std::string&, std::uint64_t)> fn) override;
  LockGuardPtr lock(std::string_view name, std::chrono::milliseconds timeout) override;
  bool quorate() override { return true; }
  std::vector<std::string> members() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pvx::cluster
