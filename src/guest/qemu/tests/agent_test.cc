// The guest agent client against the real qemu-ga, run on this host in unix-listen mode (the
// same protocol QEMU's virtio-serial chardev carries). Commands that would act on the host
// (shutdown, suspend, fsfreeze, set-time, passwords, ...) are blocked with -b.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "base/error.h"
#include "base/supervised_process.h"
#include "guest/qemu/agent.h"

namespace pvx::guest::qemu {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using schema::Json;

constexpr const char* kQemuGa = "/usr/sbin/qemu-ga";
constexpr const char* kBlocked =
    "guest-shutdown,guest-suspend-disk,guest-suspend-ram,guest-suspend-hybrid,guest-fsfreeze-freeze,"
    "guest-fsfreeze-freeze-list,guest-fsfreeze-thaw,guest-fstrim,guest-set-time,guest-set-user-password,"
    "guest-set-vcpus,guest-set-memory-blocks,guest-ssh-add-authorized-keys,guest-ssh-remove-authorized-keys";

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(kQemuGa, X_OK) != 0) GTEST_SKIP() << "qemu-ga is not installed";
    std::string t = "/tmp/pvx-qga-XXXXXX";
    dir_ = ::mkdtemp(t.data());
    socket_ = dir_ / "qga.sock";
    agent_ = std::make_unique<SupervisedProcess>(SupervisedOptions{
        .name = "qemu-ga test",
        .argv = {kQemuGa, "-m", "unix-listen", "-p", socket_.string(), "-t", dir_.string(), "-f",
                 (dir_ / "qga.pid").string(), "-l", (dir_ / "qga.log").string(), "-b", kBlocked},
    });
    for (int i = 0; i < 100 && !fs::exists(socket_); ++i) std::this_thread::sleep_for(50ms);
    ASSERT_TRUE(fs::exists(socket_)) << slurp(dir_ / "qga.log");
  }
  void TearDown() override {
    agent_.reset();
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  AgentClient client() { return AgentClient(socket_, 100); }

  // Polls exec-status until the process has exited.
  Json wait_exited(AgentClient& a, std::int64_t pid) {
    for (int i = 0; i < 100; ++i) {
      auto st = agent_exec_status(a, pid);
      if (st.value("exited", 0) == 1) return st;
      std::this_thread::sleep_for(50ms);
    }
    ADD_FAILURE() << "process " << pid << " did not exit";
    return {};
  }

  fs::path dir_, socket_;
  std::unique_ptr<SupervisedProcess> agent_;
};

TEST_F(AgentTest, PingAndInfo) {
  auto a = client();
  EXPECT_EQ(a.execute("guest-ping"), Json::object());
  auto info = a.execute("guest-info");
  EXPECT_TRUE(info.value("version", "").starts_with("7.")) << info.dump();
  bool has_exec = false;
  for (const auto& c : info["supported_commands"]) {
    if (c["name"] == "guest-exec") has_exec = c["enabled"].get<bool>();
  }
  EXPECT_TRUE(has_exec);
  // Many calls in a row: each syncs on its own connection.
  for (int i = 0; i < 20; ++i) EXPECT_EQ(a.execute("guest-ping"), Json::object());
}

TEST_F(AgentTest, OsInfoAndHostName) {
  auto a = client();
  auto os = a.execute("guest-get-osinfo");
  std::string release = slurp("/etc/os-release");
  ASSERT_TRUE(os.contains("id")) << os.dump();
  EXPECT_NE(release.find("ID=" + os["id"].get<std::string>()), std::string::npos) << os.dump();
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  EXPECT_EQ(a.execute("guest-get-host-name")["host-name"], host);
  EXPECT_GT(a.execute("guest-get-time").get<std::int64_t>(), 0);
}

TEST_F(AgentTest, ExecCapturesOutputAndExitCode) {
  auto a = client();
  auto started = agent_exec(a, {"/bin/sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(started.contains("pid")) << started.dump();
  auto st = wait_exited(a, started["pid"].get<std::int64_t>());
  EXPECT_EQ(st["exitcode"], 3);
  EXPECT_EQ(st["out-data"], "out\n");
  EXPECT_EQ(st["err-data"], "err\n");
  EXPECT_EQ(st["exited"], 1);  // PVE answers booleans as 1/0

  auto cat = agent_exec(a, {"/bin/cat"}, std::string("via stdin\n"));
  auto cst = wait_exited(a, cat["pid"].get<std::int64_t>());
  EXPECT_EQ(cst["out-data"], "via stdin\n");
  EXPECT_EQ(cst["exitcode"], 0);

  EXPECT_THROW(agent_exec(a, {}), Error);
}

TEST_F(AgentTest, FileWriteReadRoundTrip) {
  auto a = client();
  const fs::path file = dir_ / "guest-file.txt";
  const std::string content = std::string("line1\nline2\n") + std::string("\x01\x02\xff\x00 binary", 10);
  agent_file_write(a, file.string(), content);
  EXPECT_EQ(slurp(file), content);

  auto all = agent_file_read(a, file.string());
  EXPECT_EQ(all["content"], content);
  EXPECT_EQ(all["bytes-read"], content.size());
  EXPECT_FALSE(all.contains("truncated"));

  auto head = agent_file_read(a, file.string(), 5);
  EXPECT_EQ(head["content"], "line1");
  EXPECT_EQ(head["truncated"], 1);

  auto tail = agent_file_read(a, file.string(), 16 << 20, 6);
  EXPECT_EQ(tail["content"], content.substr(6));

  auto raw = agent_file_read(a, file.string(), 5, 0, false);
  EXPECT_EQ(raw["content"], "bGluZTE=");  // base64 of "line1", passed through

  agent_file_write(a, file.string(), "aGVsbG8=", true);
  EXPECT_EQ(slurp(file), "hello");
}

TEST_F(AgentTest, ErrorsAreMappedAsPveDoes) {
  auto a = client();
  try {
    agent_file_read(a, (dir_ / "does-not-exist").string());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_TRUE(std::string(e.what()).starts_with("Agent error: ")) << e.what();
  }
  // A command disabled in the agent: execute throws, execute_raw hands back the error object.
  EXPECT_THROW(a.execute("guest-set-time", Json::object()), Error);
  auto raw = a.execute_raw("guest-set-time");
  ASSERT_TRUE(raw.contains("error")) << raw.dump();
  EXPECT_TRUE(raw["error"].contains("desc"));

  AgentClient missing(dir_ / "no-such.sock", 100);
  try {
    missing.execute("guest-ping");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "QEMU guest agent is not running");
  }
}

// QEMU accepts on the channel even when no agent runs in the guest: the sync then times out.
TEST_F(AgentTest, SilentChannelMeansTheAgentIsNotRunning) {
  const fs::path silent = dir_ / "silent.sock";
  int srv = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, silent.c_str());
  ASSERT_EQ(::bind(srv, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(srv, 4), 0);
  AgentClient a(silent, 100);
  a.set_sync_timeout(300ms);
  auto t0 = std::chrono::steady_clock::now();
  try {
    a.execute("guest-ping");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "QEMU guest agent is not running");
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  ::close(srv);
}

// A call that timed out left its sync and command queued in a stopped agent; once the agent runs
// again the next call syncs with its own id and gets its own reply.
TEST_F(AgentTest, CallAfterATimedOutCall) {
  auto a = client();
  a.set_sync_timeout(300ms);
  const int pid = agent_->pid();
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGSTOP), 0);
  try {
    a.execute("guest-ping");
    ::kill(pid, SIGCONT);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "QEMU guest agent is not running");
  }
  ASSERT_EQ(::kill(pid, SIGCONT), 0);
  a.set_sync_timeout(3s);
  EXPECT_EQ(a.execute("guest-ping"), Json::object());
  EXPECT_TRUE(a.execute("guest-info").contains("version"));
}

// An agent that answers the sync but not the command (stuck in a slow command), with a stale
// reply of an earlier call still in the channel: a stand-in peer, since qemu-ga cannot be made
// to do this on demand.
class StuckAgent {
 public:
  StuckAgent(const fs::path& path, bool answer) {
    srv_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path.c_str());
    if (::bind(srv_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(srv_, 1) != 0) {
      throw std::runtime_error("cannot listen");
    }
    thread_ = std::thread([this, answer] { serve(answer); });
  }
  ~StuckAgent() {
    ::shutdown(srv_, SHUT_RDWR);
    thread_.join();
    ::close(srv_);
  }

 private:
  void serve(bool answer) {
    int c = ::accept(srv_, nullptr, nullptr);
    if (c < 0) return;
    std::string in;
    auto read_line = [&]() -> std::string {
      for (;;) {
        if (auto nl = in.find('\n'); nl != std::string::npos) {
          std::string line = in.substr(0, nl);
          in.erase(0, nl + 1);
          return line;
        }
        char buf[4096];
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) return {};
        in.append(buf, static_cast<std::size_t>(n));
      }
    };
    std::string sync = read_line();
    auto brace = sync.find('{');
    auto id = Json::parse(sync.substr(brace == std::string::npos ? 0 : brace))["arguments"]["id"].get<std::int64_t>();
    std::string out = "{\"return\": {\"stale\": true}}\n\xff{\"return\": " + std::to_string(id) + "}\n";
    ::send(c, out.data(), out.size(), MSG_NOSIGNAL);
    read_line();  // the command
    if (answer) {
      std::string reply = "{\"return\": {\"answered\": 1}}\n";
      ::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
    }
    read_line();  // until the client hangs up
    ::close(c);
  }

  int srv_ = -1;
  std::thread thread_;
};

TEST_F(AgentTest, CommandTimeoutAndStaleReplies) {
  {
    StuckAgent peer(dir_ / "stuck.sock", false);
    AgentClient a(dir_ / "stuck.sock", 100);
    try {
      a.execute("guest-get-fsinfo", Json::object(), 400ms);
      FAIL() << "expected a timeout";
    } catch (const Error& e) {
      EXPECT_STREQ(e.what(), "VM 100 qga command 'guest-get-fsinfo' failed - got timeout");
    }
  }
  {
    StuckAgent peer(dir_ / "answering.sock", true);
    AgentClient a(dir_ / "answering.sock", 100);
    EXPECT_EQ(a.execute("guest-ping"), Json({{"answered", 1}}));  // not the stale reply
  }
}

TEST(AgentSync, StaleRepliesBeforeTheSentinelAreSkipped) {
  std::string buf = "{\"return\": {\"stale\": 1}}\n\xff{\"return\": 41}\n";
  EXPECT_FALSE(take_sync_reply(buf, 42));  // an older sync's reply
  EXPECT_TRUE(buf.empty());
  buf = "garbage\xff{\"return\": 4";
  EXPECT_FALSE(take_sync_reply(buf, 42));
  EXPECT_EQ(buf, "\xff{\"return\": 4");  // kept: the rest of the line is still to come
  buf += "2}\n{\"return\": {}}\n";
  EXPECT_TRUE(take_sync_reply(buf, 42));
  EXPECT_EQ(buf, "{\"return\": {}}\n");  // the command's reply stays for the caller
}

TEST(AgentTimeouts, AsPveSetsThem) {
  EXPECT_EQ(agent_command_timeout("guest-fsfreeze-freeze"), std::chrono::hours(1));
  EXPECT_EQ(agent_command_timeout("guest-fsfreeze-thaw"), std::chrono::minutes(3));
  EXPECT_EQ(agent_command_timeout("guest-fstrim"), std::chrono::minutes(10));
  EXPECT_EQ(agent_command_timeout("guest-ping"), std::chrono::seconds(5));
}

}  // namespace
}  // namespace pvx::guest::qemu
