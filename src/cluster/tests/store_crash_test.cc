// Durability under SIGKILL: a child process writes a burst of files and acknowledges each write on
// a pipe after write() returned; the parent kills it mid-burst and checks that every acknowledged
// write is in the reopened database, whole and exact, and that nothing in it is torn.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <map>
#include <sstream>

#include "cluster/sqlite_store.h"
#include "cluster/tests/temp_dir.h"

namespace pvx::cluster {
namespace {

constexpr int kAcksBeforeKill = 150;
constexpr int kMaxWrites = 100000;  // never reached: the child is killed first

// Deterministic content of write i: a body of varying size (up to ~48 KiB, so a write spans many
// pages) followed by a line with the body's length and hash, so a torn file is recognisable.
std::string content_for(int i) {
  std::string body = "write " + std::to_string(i) + "\n";
  std::size_t size = 100 + static_cast<std::size_t>(i * 7919) % (48 * 1024);
  while (body.size() < size) body += static_cast<char>('a' + (body.size() * 31 + i) % 26);
  return body + "\n#check " + std::to_string(body.size()) + " " + std::to_string(std::hash<std::string>{}(body)) + "\n";
}

bool self_consistent(const std::string& data) {
  auto pos = data.rfind("\n#check ");
  if (pos == std::string::npos) return false;
  std::string body = data.substr(0, pos);
  std::istringstream tail(data.substr(pos + 8));
  std::size_t size = 0, hash = 0;
  tail >> size >> hash;
  return size == body.size() && hash == std::hash<std::string>{}(body);
}

std::string path_for(int i) { return "burst/" + std::to_string(i % 97) + "/f" + std::to_string(i); }

[[noreturn]] void child_main(const std::filesystem::path& db, int ack_fd) {
  try {
    SqliteStore store(db, "pve1");
    for (int i = 0; i < kMaxWrites; ++i) {
      auto v = store.write(path_for(i), content_for(i));
      if (!v) ::_exit(3);
      std::string ack = std::to_string(i) + " " + std::to_string(*v) + "\n";
      if (::write(ack_fd, ack.data(), ack.size()) != static_cast<ssize_t>(ack.size())) ::_exit(4);
    }
  } catch (...) {
    ::_exit(2);
  }
  ::_exit(0);
}

TEST(StoreCrashTest, AcknowledgedWritesSurviveSigkill) {
  testing::TempDir dir;
  {
    // Seed the database so the child opens an existing one, as pvxd does after a restart.
    SqliteStore store(dir.db(), "pve1");
    store.write("seed", "x");
  }
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    child_main(dir.db(), fds[1]);
  }
  ::close(fds[1]);

  std::map<int, std::uint64_t> acked;  // write index -> acknowledged version
  FILE* in = ::fdopen(fds[0], "r");
  ASSERT_NE(in, nullptr);
  int idx = 0;
  unsigned long long ver = 0;
  bool killed = false;
  while (std::fscanf(in, "%d %llu", &idx, &ver) == 2) {
    acked[idx] = ver;
    if (!killed && acked.size() >= kAcksBeforeKill) {
      ::kill(pid, SIGKILL);
      killed = true;  // keep reading: acks already in the pipe count as acknowledged
    }
  }
  std::fclose(in);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child ended on its own, status " << status;
  ASSERT_EQ(WTERMSIG(status), SIGKILL);
  ASSERT_GE(acked.size(), static_cast<std::size_t>(kAcksBeforeKill));

  SqliteStore store(dir.db(), "pve1");
  for (const auto& [i, v] : acked) {
    auto e = store.read(path_for(i));
    ASSERT_TRUE(e) << "acknowledged write " << i << " is lost";
    EXPECT_EQ(e->version, v) << i;
    EXPECT_EQ(e->data, content_for(i)) << i;
  }
  // At most the one write in flight at the kill may be there unacknowledged, and whole.
  auto files = store.list("burst/");
  EXPECT_GE(files.size(), acked.size());
  EXPECT_LE(files.size(), acked.size() + 1);
  for (const auto& p : files) {
    auto e = store.read(p);
    ASSERT_TRUE(e);
    EXPECT_TRUE(self_consistent(e->data)) << p << " is torn";
  }
  EXPECT_EQ(store.read("seed")->data, "x");
  // The store keeps working after recovery, with revisions continuing past the crash.
  auto next = store.write("after", "y");
  ASSERT_TRUE(next);
  EXPECT_GT(*next, acked.rbegin()->second);
}

}  // namespace
}  // namespace pvx::cluster
