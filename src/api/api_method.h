#pragma once
// One API method, declared once. The router, validation, permission check, CLI, completion,
// man pages, `pvx schema dump` and the OpenAPI document are all derived from these.
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "api/permission.h"
#include "schema/schema.h"

namespace pvx::api {

class RequestContext;
struct Services;

enum class Verb { Get, Post, Put, Delete };
const char* verb_name(Verb v);  // "GET", ...

// Handlers run synchronously. GET handlers (in-memory data, store reads) run on the I/O thread;
// writes, and any method marked `blocking`, run on the worker pool. Long work starts a task and
// returns its UPID.
using Handler = std::function<schema::Json(RequestContext&)>;

// A CLI alias: `qm start VMID` = POST /nodes/{node}/qemu/{vmid}/status/start with the given
// positional parameters; {node} defaults to the local node.
struct CliAlias {
  std::string tool;                     // "qm"
  std::string command;                  // "start", or "snapshot list" style two words
  std::vector<std::string> positional;  // parameter names taken from positional arguments
  std::vector<std::pair<std::string, std::string>> fixed = {};  // parameters the command sets itself
  std::string field = {};  // print only this member of the answer (`pvesm path` prints "path")
  std::string printer = {};  // text output in PVE's own layout (cli/printers.h), e.g. "storage-status"
};

struct ApiMethod {
  std::string name;  // PVE's method name, e.g. "node_tasks"
  Verb verb = Verb::Get;
  std::string path;  // "/nodes/{node}/tasks/{upid}"
  std::string description;
  schema::SchemaRef parameters;  // Object schema
  schema::SchemaRef returns;
  Permission permission;
  bool protected_ = false;   // PVE runs these in the privileged daemon; recorded for the dump
  std::string proxyto;       // parameter naming the node that must run it ("node"), or empty
  bool allowtoken = true;    // false: API tokens get 403
  bool blocking = false;     // a GET that must run on the worker pool, not the I/O thread
  bool csrf_exempt = false;  // the multipart upload endpoint
  // A GET that may be upgraded to a WebSocket (vncwebsocket): for a request that asks to
  // upgrade, the handler runs as usual (its checks may refuse with any error) and accepts with
  // RequestContext::accept_websocket; the client then gets 101 and the session runs.
  bool websocket = false;
  Handler handler;
  std::vector<CliAlias> cli;
  // Upload methods: where the request body is streamed to (a directory on the target storage),
  // chosen from the path parameters after authentication and the permission check. The handler
  // then gets the form fields plus `tmpfilename`, the spooled file.
  std::function<std::filesystem::path(Services&, const std::map<std::string, std::string>& path_params)> spool_dir = {};
};

}  // namespace pvx::api
