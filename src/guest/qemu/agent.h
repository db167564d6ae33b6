#pragma once
// The QEMU guest agent (qemu-ga in the guest) over the VM's virtio-serial channel, which QEMU
// exposes as a unix socket (VmPaths::qga). Blocking, for worker threads: each call syncs with
// guest-sync-delimited (so a reply left over from a timed-out call is never taken for this
// one), sends one command and waits for its reply.
#include <chrono>
#include <filesystem>
#include <string>

#include "schema/schema.h"

namespace pvx::guest::qemu {

class AgentClient {
 public:
  AgentClient(std::filesystem::path socket, std::int64_t vmid);

  // Throws Error 500 "QEMU guest agent is not running" when the agent does not answer the sync
  // in `timeout`; "agent command '<cmd>' failed - <desc>" on an error reply.
  schema::Json execute(const std::string& command, const schema::Json& arguments = schema::Json::object(),
                       std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  std::filesystem::path socket_;
  std::int64_t vmid_;
};

// What the /agent/exec API wraps: guest-exec with capture-output, input-data base64.
// /agent/file-read and /file-write: guest-file-open/read/write/close loops with base64.
schema::Json agent_file_read(AgentClient& agent, const std::string& path, std::size_t max_bytes = 16 << 20);
void agent_file_write(AgentClient& agent, const std::string& path, const std::string& content);

}  // namespace pvx::guest::qemu
