#pragma once
// The HTTP request and response as the API layer sees them: plain data, no Beast types, so only
// the server's translation units pay for Beast's templates.
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace pvx::http {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // raw request target: path and query, not decoded
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::string peer;          // "ip:port" or "unix"
  bool local_socket = false; // came over DIR/pvxd.sock: the caller is root@pam

  // First header with this lower-case name, or empty.
  const std::string& header(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string reason;  // reason phrase; the error text for errors (first line only)
  std::string content_type = "application/json;charset=UTF-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
};

// Called by the server for every request. It must call `respond` exactly once, from any thread;
// the server takes the response back to the connection's own executor.
using Respond = std::function<void(Response)>;
using RequestHandler = std::function<void(Request, Respond)>;

}  // namespace pvx::http
