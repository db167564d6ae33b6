#pragma once
// The HTTPS server (port 8006) and the local unix-socket server (DIR/pvxd.sock, mode 0600), on
// Boost.Beast. HTTP/1.1 keep-alive, gzip for bodies over 1 KiB when the client accepts it,
// body limit, plain HTTP on the TLS port answered with 301/308 to https, and timeouts against
// slow clients. Requests go to one RequestHandler.
#include <filesystem>
#include <memory>
#include <functional>
#include <string>
#include <string_view>

#include "http/message.h"

namespace pvx::http {

struct ServerOptions {
  std::string listen_host = "::";  // all addresses (v4 mapped)
  unsigned short port = 8006;      // 0 = pick a free port (tests)
  std::filesystem::path cert_file, key_file;  // PEM
  std::filesystem::path unix_socket;          // empty = none
  unsigned io_threads = 2;
  std::size_t body_limit = 512 * 1024;  // larger bodies: 501 (PVE's limit)
  // Optional per-request limit chosen from the request line (e.g. an upload endpoint); empty =
  // body_limit for every request. Called on an I/O thread: keep it cheap and non-blocking.
  std::function<std::size_t(std::string_view method, std::string_view target)> body_limit_for;
  // Streams chosen request bodies (uploads) to a sink instead of memory; see BodySink. Asked
  // only for multipart/form-data requests, on a blocking-work thread.
  BodySinkFactory body_sink_for;
  unsigned blocking_threads = 4;  // threads that run the sink factory and BodySink calls
};

// Lifecycle: construct, start() (binds; throws pvx::Error on failure), run() blocks until
// stop() (from any thread or a signal handler via the daemon).
class Server {
 public:
  Server(ServerOptions options, RequestHandler handler);
  ~Server();
  void start();
  unsigned short port() const;  // the bound TCP port
  void run();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Creates a self-signed certificate and key (RSA 2048 or EC) for `hostname` if they don't exist.
void ensure_self_signed_cert(const std::filesystem::path& cert, const std::filesystem::path& key,
                             const std::string& hostname);

}  // namespace pvx::http
