// /nodes/{node}/qemu/{vmid}/agent: the QEMU guest agent commands as PVE exposes them, one
// method per command (plus the old generic POST .../agent), exec and file access. Every call
// talks to the agent socket and blocks, so all of them run on the worker pool.
#include <algorithm>

#include "api/handlers/common.h"
#include "api/handlers/qemu_common.h"
#include "api/handlers/register.h"
#include "base/strings.h"
#include "guest/qemu/agent.h"
#include "guest/qemu/vm_service.h"

namespace pvx::api::handlers {
namespace {

using namespace schema;
using guest::qemu::AgentClient;

constexpr std::int64_t kMaxReadSize = 16 * 1024 * 1024;

// The commands that take no arguments: verb and the privilege that suffices besides
// VM.GuestAgent.Unrestricted (fsfreeze-status takes any of three).
struct SimpleCommand {
  const char* name;
  Verb verb;
  std::vector<std::string> privs;
};
const std::vector<SimpleCommand>& simple_commands() {
  static const std::vector<SimpleCommand> list = {
      {"fsfreeze-freeze", Verb::Post, {"VM.GuestAgent.FileSystemMgmt"}},
      {"fsfreeze-status", Verb::Post, {"VM.GuestAgent.Audit", "VM.GuestAgent.FileSystemMgmt"}},
      {"fsfreeze-thaw", Verb::Post, {"VM.GuestAgent.FileSystemMgmt"}},
      {"fstrim", Verb::Post, {"VM.GuestAgent.FileSystemMgmt"}},
      {"get-fsinfo", Verb::Get, {"VM.GuestAgent.Audit"}},
      {"get-host-name", Verb::Get, {"VM.GuestAgent.Audit"}},
      {"get-memory-block-info", Verb::Get, {"VM.GuestAgent.Audit"}},
      {"get-memory-blocks", Verb::Get, {"VM.GuestAgent.Audit"}},
      {"get-osinfo", Verb::Get, {"VM.GuestAgent.Audit"}},
      {"get-time", Verb::Get, {"VM.GuestAgent.Audit"}},
      {"get-timezone", Verb::Get, {"VM.GuestAgent.Audit"}},
      {"get-users", Verb::Get, {"VM.GuestAgent.Audit"}},
      {"get-vcpus", Verb::Get, {"VM.GuestAgent.Audit"}},
      {"info", Verb::Get, {"VM.GuestAgent.Audit"}},
      {"network-get-interfaces", Verb::Get, {"VM.GuestAgent.Audit"}},
      {"ping", Verb::Post, {"VM.GuestAgent.Audit"}},
      {"shutdown", Verb::Post, {"VM.PowerMgmt"}},
      {"suspend-disk", Verb::Post, {"VM.PowerMgmt"}},
      {"suspend-hybrid", Verb::Post, {"VM.PowerMgmt"}},
      {"suspend-ram", Verb::Post, {"VM.PowerMgmt"}},
  };
  return list;
}


// PVE's assert_agent_available: the VM exists, its config names an agent, and QEMU runs. Whether
// the agent in the guest answers is found by the sync of the first command.
AgentClient agent_of(RequestContext& ctx) {
  auto& svc = vm_service(ctx);
  const auto vmid = ctx.integer("vmid");
  auto loaded = svc.load_or_throw(vmid);
  if (!loaded.config.main.has("agent")) throw Error("No QEMU guest agent configured");
  if (!svc.runtime(vmid).running) throw Error("VM " + std::to_string(vmid) + " is not running");
  return AgentClient(svc.paths(vmid).qga(), vmid);
}

// PVE answers the reply's "return", or {"error": ...} when the agent refused the command.
Json run_simple(RequestContext& ctx, const std::string& command) {
  auto agent = agent_of(ctx);
  const std::string qga = "guest-" + command;
  Json reply = agent.execute_raw(qga, Json::object(), guest::qemu::agent_command_timeout(qga));
  Json result = reply.contains("return") ? reply["return"] : Json();
  if (result.is_null() && reply.contains("error")) result = Json{{"error", reply["error"]}};
  return Json{{"result", result}};
}

Json agent_index(RequestContext&) {
  std::vector<std::string> names;
  for (const auto& c : simple_commands()) names.emplace_back(c.name);
  for (const char* extra : {"exec", "exec-status", "file-read", "file-write", "set-user-password"}) names.emplace_back(extra);
  std::sort(names.begin(), names.end());
  return dir_index(names, "name");
}

Json set_user_password(RequestContext& ctx) {
  auto agent = agent_of(ctx);
  Json args = {{"username", ctx.str("username")},
               {"password", base64_encode(ctx.str("password"))},
               {"crypted", ctx.flag("crypted", false)}};
  return Json{{"result", agent.execute("guest-set-user-password", args,
                                       guest::qemu::agent_command_timeout("guest-set-user-password"))}};
}

Json agent_exec(RequestContext& ctx) {
  auto agent = agent_of(ctx);
  std::vector<std::string> command;
  const Json& c = ctx.params().contains("command") ? ctx.params()["command"] : Json();
  if (c.is_array()) {
    for (const auto& part : c) command.push_back(part.is_string() ? part.get<std::string>() : part.dump());
  } else if (c.is_string()) {
    command.push_back(c.get<std::string>());
  }
  return guest::qemu::agent_exec(agent, command, ctx.opt_str("input-data"));
}

Json agent_exec_status(RequestContext& ctx) {
  auto agent = agent_of(ctx);
  return guest::qemu::agent_exec_status(agent, ctx.integer("pid"));
}

// File content is bytes; JSON needs UTF-8. Invalid sequences are read as Latin-1, which is what
// PVE's JSON encoder does with byte strings.
std::string as_utf8(const std::string& bytes) {
  auto valid = [&] {
    std::size_t i = 0;
    while (i < bytes.size()) {
      unsigned char c = static_cast<unsigned char>(bytes[i]);
      std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
      if (n == 0 || i + n > bytes.size()) return false;
      for (std::size_t k = 1; k < n; ++k) {
        if ((static_cast<unsigned char>(bytes[i + k]) & 0xc0) != 0x80) return false;
      }
      i += n;
    }
    return true;
  };
  if (valid()) return bytes;
  std::string out;
  for (unsigned char c : bytes) {
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      out += static_cast<char>(0xc0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3f));
    }
  }
  return out;
}

Json file_read(RequestContext& ctx) {
  auto agent = agent_of(ctx);
  auto count = ctx.integer_or("count", kMaxReadSize);
  auto res = guest::qemu::agent_file_read(agent, ctx.str("file"), static_cast<std::size_t>(count),
                                          ctx.integer_or("offset", 0), ctx.flag("decode", true));
  res["content"] = as_utf8(res["content"].get<std::string>());
  res.erase("bytes-read");  // not part of the API's answer
  return res;
}

Json file_write(RequestContext& ctx) {
  auto agent = agent_of(ctx);
  guest::qemu::agent_file_write(agent, ctx.str("file"), ctx.str("content"), !ctx.flag("encode", true));
  return nullptr;
}

Schema result_object() { return object({}, "Returns an object with a single `result` property."); }

Permission vm_privs(std::vector<std::string> privs) {
  if (privs.size() == 1 && privs[0] == "VM.GuestAgent.Unrestricted") return perm("/vms/{vmid}", std::move(privs));
  privs.push_back("VM.GuestAgent.Unrestricted");
  return perm("/vms/{vmid}", std::move(privs), true);
}

}  // namespace

void register_qemu_agent(Router& r) {
  const std::string base = "/nodes/{node}/qemu/{vmid}/agent";
  auto vm_params = [](std::vector<std::pair<std::string, Schema>> extra = {}) {
    extra.push_back({"node", std_opt::node()});
    extra.push_back({"vmid", std_opt::vmid()});
    return ref(object(std::move(extra)));
  };

  r.add({
      .name = "index",
      .verb = Verb::Get,
      .path = base,
      .description = "QEMU Guest Agent command index.",
      .parameters = ref(object({{"node", std_opt::node()}, {"vmid", std_opt::vmid()}}).additional()),
      .returns = ref(array(object({})).desc("Returns the list of QEMU Guest Agent commands").link("{name}")),
      .permission = all(),
      .proxyto = "node",
      .handler = agent_index,
  });

  std::vector<std::string> command_names;
  for (const auto& c : simple_commands()) command_names.emplace_back(c.name);
  r.add({
      .name = "agent",
      .verb = Verb::Post,
      .path = base,
      .description = "Execute QEMU Guest Agent commands.",
      .parameters = vm_params({{"command", enumeration(command_names, "The QGA command.")}}),
      .returns = ref(result_object()),
      // As PVE declares it: the old generic endpoint needs the unrestricted privilege.
      .permission = perm("/vms/{vmid}", {"VM.GuestAgent.Unrestricted", "VM.GuestAgent.Unrestricted"}, true),
      .protected_ = true,
      .proxyto = "node",
      .handler = [](RequestContext& ctx) { return run_simple(ctx, ctx.str("command")); },
      .cli = {{"qm", "guest cmd", {"vmid", "command"}}, {"qm", "agent", {"vmid", "command"}}},
  });

  for (const auto& c : simple_commands()) {
    const std::string name = c.name;
    r.add({
        .name = name,
        .verb = c.verb,
        .path = base + "/" + name,
        .description = "Execute " + name + ".",
        .parameters = vm_params(),
        .returns = ref(result_object()),
        .permission = vm_privs(c.privs),
        .protected_ = true,
        .proxyto = "node",
        .blocking = true,
        .handler = [name](RequestContext& ctx) { return run_simple(ctx, name); },
    });
  }

  r.add({
      .name = "set-user-password",
      .verb = Verb::Post,
      .path = base + "/set-user-password",
      .description = "Sets the password for the given user to the given password",
      .parameters = vm_params({
          {"username", string("The user to set the password for.")},
          {"password", string("The new password.").min_len(5).max_len(1024)},
          {"crypted", boolean("set to 1 if the password has already been passed through crypt()").def(0).opt()},
      }),
      .returns = ref(result_object()),
      .permission = perm("/vms/{vmid}", {"VM.GuestAgent.Unrestricted"}),
      .protected_ = true,
      .proxyto = "node",
      .handler = set_user_password,
      .cli = {{"qm", "guest passwd", {"vmid", "username"}}},
  });

  r.add({
      .name = "exec",
      .verb = Verb::Post,
      .path = base + "/exec",
      .description = "Executes the given command in the vm via the guest-agent and returns an object with the pid.",
      .parameters = vm_params({
          {"command", array(string("A single part of the program + arguments."),
                            "The command as a list of program + arguments.")},
          {"input-data", string("Data to pass as 'input-data' to the guest. Usually treated as STDIN to 'command'.")
                             .max_len(65536).opt()},
      }),
      .returns = ref(object({{"pid", integer("The PID of the process started by the guest-agent.")}})),
      .permission = perm("/vms/{vmid}", {"VM.GuestAgent.Unrestricted"}),
      .protected_ = true,
      .proxyto = "node",
      .handler = agent_exec,
      .cli = {{"qm", "guest exec", {"vmid", "command"}}},
  });

  r.add({
      .name = "exec-status",
      .verb = Verb::Get,
      .path = base + "/exec-status",
      .description = "Gets the status of the given pid started by the guest-agent",
      .parameters = vm_params({{"pid", integer("The PID to query")}}),
      .returns = ref(object({
          {"exited", boolean("Tells if the given command has exited yet.")},
          {"exitcode", integer("process exit code if it was normally terminated.").opt()},
          {"signal", integer("signal number or exception code if the process was abnormally terminated.").opt()},
          {"out-data", string("stdout of the process").opt()},
          {"err-data", string("stderr of the process").opt()},
          {"out-truncated", boolean("true if stdout was not fully captured").opt()},
          {"err-truncated", boolean("true if stderr was not fully captured").opt()},
      })),
      .permission = perm("/vms/{vmid}", {"VM.GuestAgent.Unrestricted"}),
      .protected_ = true,
      .proxyto = "node",
      .blocking = true,
      .handler = agent_exec_status,
      .cli = {{"qm", "guest exec-status", {"vmid", "pid"}}},
  });

  r.add({
      .name = "file-read",
      .verb = Verb::Get,
      .path = base + "/file-read",
      .description = "Reads the given file via guest agent. Is limited to 16777216 bytes.",
      .parameters = vm_params({
          {"file", string("The path to the file")},
          {"count", integer("Number of bytes to read.").min(1).max(kMaxReadSize).def(kMaxReadSize).opt()},
          {"offset", integer("Offset to start reading at").min(0).def(0).opt()},
          {"decode", boolean("Data received from the QEMU Guest-Agent is base64 encoded. If this is set to true, the "
                             "data is decoded. Otherwise the content is forwarded with base64 encoding. Defaults to "
                             "true.").def(1).opt()},
      }),
      .returns = ref(object({
          {"content", string("The content of the file, maximum 16777216")},
          {"truncated", boolean("If set to 1, the read did not reach the end of the file.").opt()},
      }).desc("Returns an object with a `content` property.")),
      .permission = perm("/vms/{vmid}", {"VM.GuestAgent.FileRead", "VM.GuestAgent.Unrestricted"}, true),
      .protected_ = true,
      .proxyto = "node",
      .blocking = true,
      .handler = file_read,
  });

  r.add({
      .name = "file-write",
      .verb = Verb::Post,
      .path = base + "/file-write",
      .description = "Writes the given file via guest agent.",
      .parameters = vm_params({
          {"file", string("The path to the file.")},
          {"content", string("The content to write into the file.").max_len(61440)},
          {"encode", boolean("If set, the content will be encoded as base64 (required by QEMU).Otherwise the "
                             "content needs to be encoded beforehand - defaults to true.").def(1).opt()},
      }),
      .returns = ref(null_type()),
      .permission = perm("/vms/{vmid}", {"VM.GuestAgent.FileWrite", "VM.GuestAgent.Unrestricted"}, true),
      .protected_ = true,
      .proxyto = "node",
      .handler = file_write,
  });
}

}  // namespace pvx::api::handlers
