#include "cli/output.h"

#include <chrono>
#include <iostream>
#include <thread>

#include "base/error.h"
#include "tasks/upid.h"

namespace pvx::cli {

void check_reply(const ApiReply& reply) {
  if (reply.status == 200) return;
  Error::ParamErrors params;
  if (reply.body.is_object() && reply.body.contains("errors") && reply.body["errors"].is_object()) {
    for (auto it = reply.body["errors"].begin(); it != reply.body["errors"].end(); ++it) {
      params[it.key()] = it.value().is_string() ? it.value().get<std::string>() : it.value().dump();
    }
  }
  std::string message = reply.reason;
  if (reply.body.is_object() && reply.body.contains("message") && reply.body["message"].is_string()) {
    message = reply.body["message"].get<std::string>();
    while (!message.empty() && message.back() == '\n') message.pop_back();
  }
  throw Error(reply.status, message, params);
}

int follow_task(const Client& client, const std::string& upid_text) {
  auto upid = tasks::Upid::parse(upid_text);
  if (!upid) throw Error("invalid task id '" + upid_text + "'");
  std::string base = "/nodes/" + upid->node + "/tasks/" + upid_text;
  std::int64_t printed = 0;
  for (;;) {
    ApiReply status = client.call("GET", base + "/status", nlohmann::json::object());
    check_reply(status);
    bool stopped = status.body["data"].value("status", "") == "stopped";
    ApiReply log = client.call("GET", base + "/log", {{"start", printed}, {"limit", 1000}});
    check_reply(log);
    for (const auto& line : log.body["data"]) {
      // An empty log answers a placeholder line 1, as PVE's does; the real line 1 comes later.
      if (log.body.value("total", 0) == 1 && line.value("t", "") == "no content") continue;
      if (line.value("n", 0) > printed) {
        std::cout << line.value("t", "") << "\n";
        printed = line.value("n", printed);
      }
    }
    if (stopped && log.body["data"].size() < 1000) {
      return status.body["data"].value("exitstatus", "") == "OK" ? 0 : 255;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

std::string local_node(const Client& client) {
  ApiReply reply = client.call("GET", "/cluster/status", nlohmann::json::object());
  check_reply(reply);
  for (const auto& e : reply.body["data"]) {
    if (e.value("type", "") == "node" && e.value("local", 0) == 1) return e.value("name", "");
  }
  throw Error("unable to find the local node name");
}

}  // namespace pvx::cli
