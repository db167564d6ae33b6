#pragma once
// The QEMU guest agent (qemu-ga in the guest) over the VM's virtio-serial channel, which QEMU
// exposes as a unix socket (VmPaths::qga). Blocking, for worker threads: each call connects,
// syncs with guest-sync-delimited (so a reply left over from a timed-out call is never taken
// for this one), sends one command and waits for its reply.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "schema/schema.h"

namespace pvx::guest::qemu {

class AgentClient {
 public:
  AgentClient(std::filesystem::path socket, std::int64_t vmid);

  // The reply's "return". Throws Error 500 "QEMU guest agent is not running" when the socket is
  // missing or the agent does not answer the sync in time (at most sync_timeout()),
  // "VM <vmid> qga command '<cmd>' failed - got timeout" when the command's reply does not come
  // within `timeout`, and "Agent error: <desc>" on an error reply (PVE's check_agent_error).
  // guest-shutdown and guest-suspend-* may close the channel without a reply: null then.
  schema::Json execute(const std::string& command, const schema::Json& arguments = schema::Json::object(),
                       std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // The whole reply object ({"return": ...} or {"error": {"class", "desc"}}), errors not thrown:
  // what PVE's generic /agent/<command> methods wrap in {"result": ...}.
  schema::Json execute_raw(const std::string& command, const schema::Json& arguments = schema::Json::object(),
                           std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // How long the agent may take to answer the sync (PVE pings with 3 s before commands).
  std::chrono::milliseconds sync_timeout() const { return sync_timeout_; }
  void set_sync_timeout(std::chrono::milliseconds t) { sync_timeout_ = t; }

 private:
  std::filesystem::path socket_;
  std::int64_t vmid_;
  std::chrono::milliseconds sync_timeout_{std::chrono::seconds(3)};
};

// PVE's time limits per command: 1 h for guest-fsfreeze-freeze, 3 min for -thaw, 10 min for
// guest-fstrim and guest-shutdown, 5 s otherwise.
std::chrono::milliseconds agent_command_timeout(const std::string& command);

// /agent/exec: guest-exec with capture-output; `input_data` is sent base64-encoded. Returns
// {"pid": N}. Error 500 "command or input-data (or both) required" when both are empty.
schema::Json agent_exec(AgentClient& agent, const std::vector<std::string>& command,
                        const std::optional<std::string>& input_data = std::nullopt);
// /agent/exec-status: out-data/err-data decoded from base64, booleans as 1/0 (as PVE answers).
schema::Json agent_exec_status(AgentClient& agent, std::int64_t pid);

// /agent/file-read: guest-file-open/seek/read/close in 1 MiB chunks up to `count` bytes.
// Returns {"content", "bytes-read", "truncated": 1 when the end of the file was not reached};
// content stays base64 when `decode` is false.
schema::Json agent_file_read(AgentClient& agent, const std::string& path, std::size_t count = 16 << 20,
                             std::int64_t offset = 0, bool decode = true);
// /agent/file-write: guest-file-open (wb), write, close. `content` is raw bytes, or already
// base64 when `encoded`.
void agent_file_write(AgentClient& agent, const std::string& path, const std::string& content, bool encoded = false);

// Exposed for tests: takes the reply to guest-sync-delimited `id` out of `buffer` (bytes read
// from the channel). Everything before the agent's 0xFF sentinel is a stale reply and dropped,
// as are sync replies with other ids. True when found (the buffer then holds what followed);
// false when more input is needed.
bool take_sync_reply(std::string& buffer, std::int64_t id);

}  // namespace pvx::guest::qemu
