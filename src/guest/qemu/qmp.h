#pragma once
// A blocking QMP client over a unix socket, used from task and worker threads: connects,
// negotiates capabilities, runs commands with a time limit and collects events that arrive
// meanwhile. One client per caller; connecting is cheap (a few hundred microseconds).
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "schema/schema.h"

namespace pvx::guest::qemu {

class QmpClient {
 public:
  // Throws Error 500 "unable to connect to VM <vmid> qmp socket - <reason>".
  QmpClient(const std::filesystem::path& socket, std::int64_t vmid,
            std::chrono::milliseconds timeout = std::chrono::seconds(3));
  ~QmpClient();
  QmpClient(const QmpClient&) = delete;
  QmpClient& operator=(const QmpClient&) = delete;

  // Returns "return"; throws Error 500 "VM <vmid> qmp command '<cmd>' failed - <desc>" on an
  // error reply and "... got timeout" on timeout.
  schema::Json execute(const std::string& command, const schema::Json& arguments = schema::Json::object(),
                       std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Human monitor command through QMP (human-monitor-command), its text output.
  std::string hmp(const std::string& command_line, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Waits for an event by name (already received ones count); returns its data or throws on timeout.
  schema::Json wait_event(const std::string& name, std::chrono::milliseconds timeout);
  // Events received so far and not yet taken by wait_event.
  std::vector<schema::Json> take_events();

 private:
  int fd_ = -1;
  std::int64_t vmid_ = 0;
  std::string buffer_;
  std::vector<schema::Json> events_;
  schema::Json read_message(std::chrono::steady_clock::time_point deadline);
};

}  // namespace pvx::guest::qemu
