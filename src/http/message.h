#pragma once
// The HTTP request and response as the API layer sees them: plain data, no Beast types, so only
// the server's translation units pay for Beast's templates.
#include <functional>
#include <memory>
#include <string>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace pvx::http {

class WebSocketSession;  // websocket.h

// A request body taken to disk while it arrives (uploads), instead of into Request::body. The
// file is removed when the last owner lets go, unless the handler moved it away first.
struct SpooledFile {
  std::string path;
  std::string digest_algorithm;  // set when the digest below was computed while streaming
  std::string digest_hex;
  std::uint64_t size = 0;
  SpooledFile() = default;
  SpooledFile(const SpooledFile&) = delete;
  SpooledFile& operator=(const SpooledFile&) = delete;
  ~SpooledFile();
};

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // raw request target: path and query, not decoded
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::string peer;          // "ip:port" or "unix"
  bool local_socket = false; // came over DIR/pvxd.sock: the caller is root@pam
  std::shared_ptr<SpooledFile> spooled;  // streamed upload (Request::body then holds the form fields)

  // First header with this lower-case name, or empty.
  const std::string& header(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string reason;  // reason phrase; the error text for errors (first line only)
  std::string content_type = "application/json;charset=UTF-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  // Set (with status 101) to accept a WebSocket upgrade: after the handshake the server runs this
  // session on the connection instead of sending a body. Only for requests that asked to upgrade
  // (is_websocket_upgrade); otherwise the client gets 500.
  std::shared_ptr<WebSocketSession> websocket;
};

// Consumes a request body as it arrives. Chosen per request from its head (BodySinkFactory);
// write() runs on a blocking-work thread, never on an I/O thread, in order. Throwing pvx::Error
// from any call answers the request with that error and closes the connection.
class BodySink {
 public:
  virtual ~BodySink() = default;
  virtual void write(std::string_view chunk) = 0;
  // The whole body arrived: turn `request` (its head, empty body) into what the handler gets.
  virtual void finish(Request& request) = 0;
};
// nullptr = buffer the body as usual (up to the body limit). May throw pvx::Error to refuse the
// request before its body is read (401/403 before a 4 GiB upload). Runs on a blocking-work
// thread and only for multipart/form-data requests.
using BodySinkFactory = std::function<std::unique_ptr<BodySink>(const Request& head)>;

// Called by the server for every request. It must call `respond` exactly once, from any thread;
// the server takes the response back to the connection's own executor.
using Respond = std::function<void(Response)>;
using RequestHandler = std::function<void(Request, Respond)>;

}  // namespace pvx::http
