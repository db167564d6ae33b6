// The HTTPS and unix-socket server. Every Beast/Asio/OpenSSL template lives in this file so that
// the rest of pvx compiles against the plain structs of message.h.
//
// Shape: one io_context run by `io_threads` threads. The acceptors and the shutdown logic share
// one strand (the control strand); every connection gets its own strand and one coroutine that
// loops read request -> call handler -> wait for the response -> write it. A handler may answer
// from any thread: the Respond callback posts the response to the connection's strand, where a
// timer that the coroutine waits on is cancelled to wake it. A response that carries a
// WebSocketSession turns the connection into a WebSocket: the coroutine does the handshake and
// then runs the session in place of the request loop.
#include "http/server.h"

#include <sys/stat.h>
#include <zlib.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <atomic>
#include <chrono>
#include <ctime>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/log.h"
#include "base/strings.h"
#include "http/websocket.h"

namespace pvx::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using unix_stream = asio::local::stream_protocol;
using namespace std::chrono_literals;

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

// Timeouts against slow or silent clients (slowloris): each phase has its own budget.
constexpr auto kHandshakeTimeout = 20s;  // from accept to a finished TLS handshake
constexpr auto kIdleTimeout = 60s;       // keep-alive: waiting for the next request to start
constexpr auto kHeaderTimeout = 20s;     // from the first byte to the end of the header
constexpr auto kBodyTimeout = 60s;       // the whole body
constexpr auto kStreamIdleTimeout = 60s; // streamed bodies: between two pieces
constexpr auto kWriteTimeout = 60s;      // the whole response
constexpr auto kLingerTimeout = 2s;      // draining an unread body before closing
constexpr auto kDrainTimeout = 3s;       // stop(): how long in-flight requests may still finish
// WebSockets: a peer silent for half of this gets a ping; silent for all of it, it is dropped.
constexpr auto kWebSocketIdleTimeout = 60s;

constexpr std::size_t kHeaderLimit = 32 * 1024;
constexpr std::size_t kBufferLimit = 64 * 1024;  // per connection; bodies go into the request
constexpr std::size_t kReadChunk = 4 * 1024;
constexpr std::size_t kLingerLimit = 1024 * 1024;
constexpr std::size_t kStreamChunk = 1024 * 1024;
constexpr std::size_t kMaxDiscard = std::size_t(64) << 30;  // the most of a failed upload read and dropped  // streamed bodies reach the sink in pieces of this size
constexpr std::size_t kGzipThreshold = 1024;
constexpr std::size_t kWebSocketMessageLimit = 1024 * 1024;  // PVE's proxy takes 128 KiB frames
constexpr std::size_t kWebSocketKeepBuffer = 64 * 1024;     // read buffer kept between messages
constexpr unsigned kMaxRequestsPerConnection = 10000;
constexpr int kMaxConnections = 1000;

// ---- small pure helpers -----------------------------------------------------------------------

// Header values and reason phrases must not smuggle line breaks (response splitting).
std::string sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\r' || c == '\n' || c == '\0') continue;
    out.push_back(c);
  }
  return out;
}

std::string reason_phrase(std::string_view reason, unsigned status) {
  std::string_view first = reason.substr(0, reason.find_first_of("\r\n"));
  std::string out = sanitize(first);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  if (!out.empty()) return out;
  if (bhttp::int_to_status(status) == bhttp::status::unknown) return "Unknown";
  return std::string(bhttp::obsolete_reason(bhttp::int_to_status(status)));
}

std::string http_date() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char buf[64];
  std::size_t n = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string(buf, n);
}

// zlib deflate with the gzip wrapper; nullopt if zlib fails (the body then goes uncompressed).
std::optional<std::string> gzip(std::string_view in) {
  if (in.size() > 0xffffffffu) return std::nullopt;
  z_stream zs{};
  // Level 1: API answers are small or highly repetitive JSON; speed matters more than the last 10%.
  if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return std::nullopt;
  }
  std::string out(deflateBound(&zs, static_cast<uLong>(in.size())), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return std::nullopt;
  return out;
}

bool accepts_gzip(std::string_view accept_encoding) {
  return to_lower(accept_encoding).find("gzip") != std::string::npos;
}

std::string endpoint_name(const tcp::endpoint& ep) {
  asio::ip::address addr = ep.address();
  if (addr.is_v6() && addr.to_v6().is_v4_mapped()) {
    addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
  }
  if (addr.is_v6()) return "[" + addr.to_string() + "]:" + std::to_string(ep.port());
  return addr.to_string() + ":" + std::to_string(ep.port());
}

Response error_response(int status, std::string message) {
  Response r;
  r.status = status;
  r.reason = std::move(message);
  r.content_type.clear();
  return r;
}

// Errors of streamed bodies come from the API layer (refused upload, disk full): they carry the
// API's JSON error body, as every other API answer does.
Response api_error_response(int status, const std::string& message, const Error::ParamErrors& errors = {}) {
  Response r = error_response(status, message);
  r.content_type = "application/json;charset=UTF-8";
  nlohmann::json body = {{"data", nullptr}, {"message", message + "\n"}};
  if (!errors.empty()) body["errors"] = errors;
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

// ---- the hand-over of a response from any thread to the connection's strand --------------------

// Cleared when the server goes away, so a Respond kept by some worker after that posts nothing.
struct Liveness {
  std::mutex mutex;
  bool alive = true;
};

// One request waiting for its response; owned by the connection coroutine, only touched on its
// strand. The timer never fires by itself: cancelling it is the wake-up.
struct Exchange {
  explicit Exchange(const asio::any_io_executor& strand) : wake(strand, asio::steady_timer::time_point::max()) {}
  asio::steady_timer wake;
  std::optional<Response> response;
};

// Shared by all copies of one Respond callback. It holds the exchange weakly: a response for a
// connection that has gone is dropped. If every copy is destroyed without an answer, the client
// gets a 500 instead of waiting forever.
class ResponseSlot {
 public:
  ResponseSlot(std::weak_ptr<Exchange> exchange, std::shared_ptr<Liveness> liveness)
      : exchange_(std::move(exchange)), liveness_(std::move(liveness)) {}
  ResponseSlot(const ResponseSlot&) = delete;
  ResponseSlot& operator=(const ResponseSlot&) = delete;
  ~ResponseSlot() {
    if (!done_.load()) deliver(error_response(500, "request handler did not respond"));
  }

  void deliver(Response response) {
    if (done_.exchange(true)) return;  // exactly once; later calls are ignored
    std::lock_guard lock(liveness_->mutex);
    if (!liveness_->alive) return;
    auto exchange = exchange_.lock();
    if (!exchange) return;
    auto executor = exchange->wake.get_executor();
    asio::post(executor, [exchange = std::move(exchange), response = std::move(response)]() mutable {
      exchange->response = std::move(response);
      exchange->wake.cancel();
    });
  }

 private:
  std::weak_ptr<Exchange> exchange_;
  std::shared_ptr<Liveness> liveness_;
  std::atomic<bool> done_{false};
};

// ---- WebSocket over Beast -----------------------------------------------------------------------

// The WebSocket a session gets: a Beast stream over the connection's (TLS or unix) stream, which
// the connection coroutine keeps owning.
template <class Stream>
class BeastWebSocket final : public WebSocket {
 public:
  explicit BeastWebSocket(Stream& next) : ws_(next) {}
  websocket::stream<Stream&>& stream() { return ws_; }

  asio::awaitable<bool> read(std::string& out) override {
    out.clear();
    if (closing_ && !ws_.is_open()) co_return false;
    auto [ec, n] = co_await ws_.async_read(buffer_, kNoThrow);
    if (ec) co_return false;
    out = beast::buffers_to_string(buffer_.data());
    buffer_.consume(buffer_.size());
    // A large paste or frame does not pin its buffer for the rest of the session.
    if (buffer_.capacity() > kWebSocketKeepBuffer) buffer_.shrink_to_fit();
    co_return true;
  }

  asio::awaitable<bool> write(std::string_view data) override {
    if (closing_ || !ws_.is_open()) co_return false;
    ws_.binary(true);
    auto [ec, n] = co_await ws_.async_write(asio::buffer(data.data(), data.size()), kNoThrow);
    co_return !ec;
  }

  asio::awaitable<void> close() override {
    if (closing_) co_return;
    closing_ = true;
    if (!ws_.is_open()) co_return;
    auto [ec] = co_await ws_.async_close(websocket::close_code::normal, kNoThrow);
    (void)ec;  // the peer may already be gone
  }

 private:
  websocket::stream<Stream&> ws_;
  beast::flat_buffer buffer_;
  bool closing_ = false;
};

}  // namespace

// ---- the server -----------------------------------------------------------------------------------

struct Server::Impl {
  Impl(ServerOptions o, RequestHandler h) : options(std::move(o)), handler(std::move(h)) {}
  ~Impl() {
    std::lock_guard lock(liveness->mutex);
    liveness->alive = false;
  }

  // Declared before the io_context: coroutine frames destroyed with it still touch these.
  ServerOptions options;
  RequestHandler handler;
  asio::thread_pool blocking{options.blocking_threads == 0 ? 1 : options.blocking_threads};
  std::shared_ptr<Liveness> liveness = std::make_shared<Liveness>();
  std::atomic<int> connections{0};
  std::atomic<int> in_flight{0};
  std::atomic<bool> stop_requested{false};
  std::atomic<bool> stopping{false};
  unsigned short bound_port = 0;
  ssl::context ssl_ctx{ssl::context::tls_server};

  asio::io_context ioc;
  asio::executor_work_guard<asio::io_context::executor_type> work{ioc.get_executor()};
  asio::strand<asio::io_context::executor_type> control{ioc.get_executor()};
  std::optional<tcp::acceptor> tcp_acceptor;
  std::optional<unix_stream::acceptor> unix_acceptor;

  void load_certificate();
  void listen_tcp();
  void listen_unix();
  void begin_shutdown();

  asio::awaitable<void> accept_tcp();
  asio::awaitable<void> accept_unix();
  asio::awaitable<void> serve_tcp(tcp::socket socket);
  asio::awaitable<void> serve_unix(unix_stream::socket socket);
  asio::awaitable<void> redirect_plain(beast::tcp_stream& stream, beast::flat_buffer& buffer);
  asio::awaitable<void> drain_and_stop();
  asio::awaitable<Response> call_handler(Request request);

  template <class Stream>
  asio::awaitable<void> serve_http(Stream& stream, beast::flat_buffer& buffer, std::string peer, bool local);
  template <class Stream>
  asio::awaitable<bool> write_response(Stream& stream, Response response, unsigned version, bool keep_alive,
                                       bool head_only, bool gzip_ok);
  template <class Stream>
  asio::awaitable<void> linger_close(Stream& stream, std::size_t limit = kLingerLimit);
  // The handshake for an accepted upgrade, then the session until it ends.
  template <class Stream>
  asio::awaitable<void> run_websocket(Stream& stream, const bhttp::request<bhttp::string_body>& request,
                                      std::shared_ptr<WebSocketSession> session);
  // Feeds the body to `sink`; returns an error response when the sink refused it, or nullopt.
  // Sets `broken` when the connection failed (nothing can be answered then).
  template <class Stream>
  asio::awaitable<std::optional<Response>> stream_body(Stream& stream, beast::flat_buffer& buffer,
                                                       bhttp::request_parser<bhttp::buffer_body>& parser,
                                                       BodySink& sink, bool& broken);
};

namespace {

// Counts a live connection (or request) for the whole life of a coroutine frame.
struct CountGuard {
  explicit CountGuard(std::atomic<int>& c) : count(c) { ++count; }
  ~CountGuard() { --count; }
  CountGuard(const CountGuard&) = delete;
  CountGuard& operator=(const CountGuard&) = delete;
  std::atomic<int>& count;
};

template <class Fields>
Request head_request(const bhttp::request_header<Fields>& msg, std::string peer, bool local) {
  Request r;
  r.method = std::string(msg.method_string());
  r.target = std::string(msg.target());
  for (const auto& field : msg) r.headers.emplace_back(to_lower(field.name_string()), std::string(field.value()));
  r.peer = std::move(peer);
  r.local_socket = local;
  return r;
}

// Moves the body out; the head stays usable.
Request to_request(bhttp::request<bhttp::string_body>&& msg, std::string peer, bool local) {
  Request r;
  r.method = std::string(msg.method_string());
  r.target = std::string(msg.target());
  r.headers.reserve(16);
  for (const auto& field : msg) r.headers.emplace_back(to_lower(field.name_string()), std::string(field.value()));
  r.body = std::move(msg.body());
  r.peer = std::move(peer);
  r.local_socket = local;
  return r;
}

}  // namespace

void Server::Impl::load_certificate() {
  SSL_CTX* native = ssl_ctx.native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  // Idle keep-alive connections give their OpenSSL read/write buffers back (~34 KiB each).
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  // TLS 1.2 resumption keeps sessions server-side; bound that cache (TLS 1.3 tickets are stateless).
  SSL_CTX_sess_set_cache_size(native, 1024);
  ssl_ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                      ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_cipher_list(native, "HIGH:!aNULL:!MD5:!3DES:!CAMELLIA:!SEED");
  boost::system::error_code ec;
  ssl_ctx.use_certificate_chain_file(options.cert_file.string(), ec);
  if (ec) throw Error("unable to load certificate '" + options.cert_file.string() + "': " + ec.message());
  ssl_ctx.use_private_key_file(options.key_file.string(), ssl::context::pem, ec);
  if (ec) throw Error("unable to load private key '" + options.key_file.string() + "': " + ec.message());
}

void Server::Impl::listen_tcp() {
  boost::system::error_code ec;
  asio::ip::address addr = asio::ip::make_address(options.listen_host, ec);
  if (ec) throw Error("invalid listen address '" + options.listen_host + "'");
  tcp::endpoint ep(addr, options.port);
  tcp_acceptor.emplace(control);
  tcp_acceptor->open(ep.protocol(), ec);
  if (ec && options.listen_host == "::") {
    // A kernel without IPv6: the wildcard falls back to all IPv4 addresses.
    ep = tcp::endpoint(tcp::v4(), options.port);
    ec.clear();
    tcp_acceptor->open(ep.protocol(), ec);
  }
  auto where = [&] { return "[" + ep.address().to_string() + "]:" + std::to_string(ep.port()); };
  if (ec) throw Error("unable to open socket for " + where() + ": " + ec.message());
  tcp_acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (ep.address().is_v6()) tcp_acceptor->set_option(asio::ip::v6_only(false), ec);  // dual-stack
  tcp_acceptor->bind(ep, ec);
  if (ec) throw Error("unable to listen on " + where() + ": " + ec.message());
  tcp_acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw Error("unable to listen on " + where() + ": " + ec.message());
  bound_port = tcp_acceptor->local_endpoint().port();
}

void Server::Impl::listen_unix() {
  const std::string path = options.unix_socket.string();
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    // Left behind by a previous run; anything that is not a socket is not ours to delete.
    if (!S_ISSOCK(st.st_mode)) throw Error("'" + path + "' exists and is not a socket");
    ::unlink(path.c_str());
  }
  boost::system::error_code ec;
  unix_acceptor.emplace(control);
  unix_acceptor->open(unix_stream(), ec);
  if (!ec) unix_acceptor->bind(unix_stream::endpoint(path), ec);
  if (ec) throw Error("unable to bind unix socket '" + path + "': " + ec.message());
  if (::chmod(path.c_str(), 0600) != 0) throw Error("unable to chmod unix socket '" + path + "'");
  unix_acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw Error("unable to listen on unix socket '" + path + "': " + ec.message());
}

asio::awaitable<void> Server::Impl::accept_tcp() {
  asio::steady_timer backoff(control);
  while (tcp_acceptor && tcp_acceptor->is_open()) {
    auto [ec, socket] = co_await tcp_acceptor->async_accept(asio::any_io_executor(asio::make_strand(ioc)), kNoThrow);
    if (stopping) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      // Out of descriptors and the like: wait a little instead of spinning.
      log::warn("accept failed: " + ec.message());
      backoff.expires_after(100ms);
      co_await backoff.async_wait(kNoThrow);
      continue;
    }
    if (connections.load() >= kMaxConnections) continue;  // the socket closes as it goes out of scope
    auto executor = socket.get_executor();
    asio::co_spawn(executor, serve_tcp(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> Server::Impl::accept_unix() {
  asio::steady_timer backoff(control);
  while (unix_acceptor && unix_acceptor->is_open()) {
    auto [ec, socket] = co_await unix_acceptor->async_accept(asio::any_io_executor(asio::make_strand(ioc)), kNoThrow);
    if (stopping) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      log::warn("accept on unix socket failed: " + ec.message());
      backoff.expires_after(100ms);
      co_await backoff.async_wait(kNoThrow);
      continue;
    }
    if (connections.load() >= kMaxConnections) continue;
    auto executor = socket.get_executor();
    asio::co_spawn(executor, serve_unix(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> Server::Impl::serve_tcp(tcp::socket socket) {
  CountGuard count(connections);
  try {
    boost::system::error_code ec;
    std::string peer = endpoint_name(socket.remote_endpoint(ec));
    // A response leaves in more than one write (TLS records, header and body): with Nagle's
    // algorithm the last one would wait for the client's delayed ACK, 40 ms on keep-alive.
    socket.set_option(tcp::no_delay(true), ec);
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer(kBufferLimit);
    stream.expires_after(kHandshakeTimeout);
    auto [dec, is_tls] = co_await beast::async_detect_ssl(stream, buffer, kNoThrow);
    if (dec) co_return;
    if (!is_tls) {
      co_await redirect_plain(stream, buffer);
      co_return;
    }
    beast::ssl_stream<beast::tcp_stream> tls(std::move(stream), ssl_ctx);
    auto [hec, used] = co_await tls.async_handshake(ssl::stream_base::server, buffer.data(), kNoThrow);
    if (hec) co_return;
    buffer.consume(used);
    co_await serve_http(tls, buffer, std::move(peer), false);
    // No TLS close_notify exchange: HTTP framing already tells the client where the data ends,
    // and waiting for the peer's reply would keep the connection around for nothing.
    beast::get_lowest_layer(tls).socket().shutdown(tcp::socket::shutdown_both, ec);
  } catch (const std::exception& e) {
    log::debug(std::string("connection error: ") + e.what());
  }
}

asio::awaitable<void> Server::Impl::serve_unix(unix_stream::socket socket) {
  CountGuard count(connections);
  try {
    beast::basic_stream<unix_stream> stream(std::move(socket));
    beast::flat_buffer buffer(kBufferLimit);
    co_await serve_http(stream, buffer, "unix", true);
    boost::system::error_code ec;
    stream.socket().shutdown(unix_stream::socket::shutdown_both, ec);
  } catch (const std::exception& e) {
    log::debug(std::string("unix connection error: ") + e.what());
  }
}

// Plain HTTP on the TLS port: read the request head and send the client to the https URL.
// GET and HEAD get 301; other methods 308 so that clients repeat the method and body.
asio::awaitable<void> Server::Impl::redirect_plain(beast::tcp_stream& stream, beast::flat_buffer& buffer) {
  bhttp::request_parser<bhttp::empty_body> parser;
  parser.header_limit(kHeaderLimit);
  stream.expires_after(kHeaderTimeout);
  auto [ec, n] = co_await bhttp::async_read_header(stream, buffer, parser, kNoThrow);
  if (ec) co_return;
  const auto& req = parser.get();
  std::string host = sanitize(req[bhttp::field::host]);
  if (host.empty()) {
    boost::system::error_code lec;
    host = endpoint_name(stream.socket().local_endpoint(lec));
  }
  bool get_like = req.method() == bhttp::verb::get || req.method() == bhttp::verb::head;
  Response r = error_response(get_like ? 301 : 308, "");
  r.headers.emplace_back("Location", "https://" + host + std::string(req.target()));
  bool unread_body = !parser.is_done();
  if (co_await write_response(stream, std::move(r), req.version(), false, true, false) && unread_body) {
    co_await linger_close(stream);
  }
}

template <class Stream>
asio::awaitable<void> Server::Impl::serve_http(Stream& stream, beast::flat_buffer& buffer, std::string peer,
                                               bool local) {
  auto& lowest = beast::get_lowest_layer(stream);
  for (unsigned served = 0; served < kMaxRequestsPerConnection && !stopping; ++served) {
    if (buffer.size() == 0) {
      // Between requests an idle connection keeps no buffer memory.
      buffer.shrink_to_fit();
      lowest.expires_after(kIdleTimeout);
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(kReadChunk), kNoThrow);
      if (ec) co_return;
      buffer.commit(n);
    }

    bhttp::request_parser<bhttp::empty_body> head_parser;
    head_parser.header_limit(kHeaderLimit);
    // Body limits are decided after the head is known (streamed uploads have none); Beast
    // would otherwise check its 1 MiB default against Content-Length while reading the head.
    head_parser.body_limit(boost::none);
    lowest.expires_after(kHeaderTimeout);
    auto [hec, hn] = co_await bhttp::async_read_header(stream, buffer, head_parser, kNoThrow);
    if (hec) {
      // The client may still be sending the rest of its oversized head: answer, then swallow
      // what follows for a moment so that the answer is not lost to a connection reset.
      if (hec == bhttp::error::header_limit) {
        if (co_await write_response(stream, error_response(431, "Request Header Fields Too Large"), 11, false, false,
                                    false)) {
          co_await linger_close(stream);
        }
      } else if (hec.category() == bhttp::make_error_code(bhttp::error::bad_target).category() && hec != bhttp::error::end_of_stream &&
                 hec != bhttp::error::partial_message) {
        if (co_await write_response(stream, error_response(400, "Bad Request"), 11, false, false, false)) {
          co_await linger_close(stream);
        }
      }
      co_return;
    }

    const unsigned version = head_parser.get().version();
    auto send_continue = [&](const auto& head) -> asio::awaitable<bool> {
      if (!beast::iequals(head[bhttp::field::expect], "100-continue")) co_return true;
      bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, version};
      lowest.expires_after(kWriteTimeout);
      auto [cec, cn] = co_await bhttp::async_write(stream, cont, kNoThrow);
      co_return !cec;
    };

    if (options.body_sink_for && !head_parser.is_done() &&
        beast::iequals(head_parser.get()[bhttp::field::content_type].substr(0, 19), "multipart/form-data")) {
      Request request = head_request(head_parser.get(), peer, local);
      std::unique_ptr<BodySink> sink;
      std::optional<Response> refused;
      // The factory may wait on storage (activation, a slow mount): never on an I/O thread.
      auto home = co_await asio::this_coro::executor;
      co_await asio::post(asio::bind_executor(blocking.get_executor(), asio::use_awaitable));
      try {
        sink = options.body_sink_for(request);
      } catch (const Error& e) {
        refused = api_error_response(e.status(), e.what(), e.params());
      } catch (const std::exception& e) {
        refused = api_error_response(500, e.what());
      }
      co_await asio::post(asio::bind_executor(home, asio::use_awaitable));
      if (refused) {
        // A refused upload (401, 403) is answered at once; its body is still read and dropped
        // so that a client that sends everything before reading sees the answer.
        std::size_t rest = head_parser.content_length().value_or(0);
        if (co_await write_response(stream, std::move(*refused), version, false, false, false)) {
          co_await linger_close(stream, std::min<std::size_t>(rest + kLingerLimit, kMaxDiscard));
        }
        co_return;
      }
      if (sink) {
        CountGuard busy(in_flight);
        bhttp::request_parser<bhttp::buffer_body> body_parser{std::move(head_parser)};
        body_parser.body_limit(boost::none);  // the sink decides (disk space, quotas)
        const bool keep_alive = body_parser.get().keep_alive();
        if (!co_await send_continue(body_parser.get())) co_return;
        bool broken = false;
        auto failed = co_await stream_body(stream, buffer, body_parser, *sink, broken);
        if (broken) co_return;
        if (failed) {
          sink.reset();  // the partial file goes before the client hears of the failure
          // Whatever the client still sends is read and dropped (up to what it announced).
          std::size_t rest = body_parser.content_length_remaining().value_or(kMaxDiscard);
          if (co_await write_response(stream, std::move(*failed), version, false, false, false)) {
            co_await linger_close(stream, std::min<std::size_t>(rest + kLingerLimit, kMaxDiscard));
          }
          co_return;
        }
        lowest.expires_never();
        Response response;
        std::optional<Response> unfinished;
        co_await asio::post(asio::bind_executor(blocking.get_executor(), asio::use_awaitable));
        try {
          sink->finish(request);  // fsync: off the I/O threads too
        } catch (const Error& e) {
          unfinished = api_error_response(e.status(), e.what(), e.params());
        } catch (const std::exception& e) {
          unfinished = api_error_response(500, e.what());
        }
        sink.reset();
        co_await asio::post(asio::bind_executor(home, asio::use_awaitable));
        if (unfinished) {
          response = std::move(*unfinished);
        } else {
          response = co_await call_handler(std::move(request));
        }
        bool keep = keep_alive && !stopping;
        if (!co_await write_response(stream, std::move(response), version, keep, false, false)) co_return;
        if (!keep) co_return;
        continue;
      }
    }

    bhttp::request_parser<bhttp::string_body> parser{std::move(head_parser)};
    const auto& head = parser.get();
    std::size_t limit = options.body_limit;
    if (options.body_limit_for) limit = options.body_limit_for(head.method_string(), head.target());
    if (parser.content_length() && *parser.content_length() > limit) {
      if (co_await write_response(stream, error_response(501, "request entity too large"), version, false, false,
                                  false)) {
        co_await linger_close(stream);
      }
      co_return;
    }
    parser.body_limit(limit);

    if (!parser.is_done()) {
      if (!co_await send_continue(head)) co_return;
      lowest.expires_after(kBodyTimeout);
      auto [bec, bn] = co_await bhttp::async_read(stream, buffer, parser, kNoThrow);
      if (bec == bhttp::error::body_limit) {
        if (co_await write_response(stream, error_response(501, "request entity too large"), version, false, false,
                                    false)) {
          co_await linger_close(stream);
        }
        co_return;
      }
      if (bec && bec.category() == bhttp::make_error_code(bhttp::error::bad_chunk).category() &&
          bec != bhttp::error::end_of_stream && bec != bhttp::error::partial_message) {
        // A malformed body (bad chunk size, bad encoding): answer it, then close.
        co_await write_response(stream, error_response(400, "malformed request body"), version, false, false, false);
        co_return;
      }
      if (bec) co_return;
    }
    lowest.expires_never();

    std::optional<CountGuard> busy(std::in_place, in_flight);
    auto msg = parser.release();
    const bool keep_alive = msg.keep_alive();
    const bool head_only = msg.method() == bhttp::verb::head;
    const bool gzip_ok = accepts_gzip(msg[bhttp::field::accept_encoding]);
    // to_request takes the body only: the head stays for a WebSocket handshake.
    Response response = co_await call_handler(to_request(std::move(msg), peer, local));
    if (response.websocket) {
      busy.reset();  // a long-lived session is not a request that stop() should wait for
      co_await run_websocket(stream, msg, std::move(response.websocket));
      co_return;
    }
    bool keep = keep_alive && !stopping;
    if (!co_await write_response(stream, std::move(response), version, keep, head_only, gzip_ok)) co_return;
    if (!keep) co_return;
  }
}

// One sink write in flight on a blocking-work thread while the coroutine reads the next piece.
// The writer marks it done and wakes the coroutine by posting to the connection's strand, so
// the check-then-wait in wait() cannot miss the wake-up.
struct InflightWrite {
  explicit InflightWrite(const asio::any_io_executor& strand) : wake(strand) {
    wake.expires_at(asio::steady_timer::time_point::max());
  }
  std::mutex mutex;
  bool done = true;
  std::optional<Response> failure;
  asio::steady_timer wake;

  asio::awaitable<void> wait() {
    for (;;) {
      {
        std::lock_guard lock(mutex);
        if (done) co_return;
      }
      auto [ec] = co_await wake.async_wait(kNoThrow);
      (void)ec;  // operation_aborted is the wake-up
    }
  }
};

template <class Stream>
asio::awaitable<std::optional<Response>> Server::Impl::stream_body(Stream& stream, beast::flat_buffer& buffer,
                                                                   bhttp::request_parser<bhttp::buffer_body>& parser,
                                                                   BodySink& sink, bool& broken) {
  auto& lowest = beast::get_lowest_layer(stream);
  auto home = co_await asio::this_coro::executor;
  // Two pieces: the socket fills one while a blocking-work thread writes the other, so reading
  // (TLS decryption) and writing (the disk) overlap and a slow disk never stalls an I/O thread.
  std::vector<char> pieces[2] = {std::vector<char>(kStreamChunk), std::vector<char>(kStreamChunk)};
  int current = 0;
  // Shared: the writer's wake-up may still be queued on the strand when this frame is gone.
  auto inflight = std::make_shared<InflightWrite>(home);
  std::optional<Response> result;
  while (!parser.is_done() && !result && !broken) {
    auto& chunk = pieces[current];
    std::size_t filled = 0;
    while (filled < chunk.size() && !parser.is_done()) {
      parser.get().body().data = chunk.data() + filled;
      parser.get().body().size = chunk.size() - filled;
      lowest.expires_after(kStreamIdleTimeout);
      auto [ec, n] = co_await bhttp::async_read_some(stream, buffer, parser, kNoThrow);
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec) {
        if (ec.category() == bhttp::make_error_code(bhttp::error::bad_chunk).category() &&
            ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
          result = error_response(400, "malformed request body");
        } else {
          broken = true;
        }
        break;
      }
      filled = chunk.size() - parser.get().body().size;
    }
    if (result || broken) break;
    co_await inflight->wait();  // the previous piece is written (its buffer is free again)
    if (inflight->failure) break;
    if (filled == 0) continue;
    {
      std::lock_guard lock(inflight->mutex);
      inflight->done = false;
    }
    asio::post(blocking, [&sink, inflight, home, data = chunk.data(), filled] {
      std::optional<Response> failure;
      try {
        sink.write(std::string_view(data, filled));
      } catch (const Error& e) {
        failure = api_error_response(e.status(), e.what(), e.params());
      } catch (const std::exception& e) {
        failure = api_error_response(500, e.what());
      }
      {
        std::lock_guard lock(inflight->mutex);
        inflight->failure = std::move(failure);
        inflight->done = true;
      }
      asio::post(home, [inflight] { inflight->wake.cancel(); });
    });
    current = 1 - current;
  }
  // Never leave with a write in flight: it uses this frame's buffers and the sink.
  co_await inflight->wait();
  if (inflight->failure) co_return std::move(inflight->failure);
  co_return result;
}

asio::awaitable<Response> Server::Impl::call_handler(Request request) {
  auto exchange = std::make_shared<Exchange>(co_await asio::this_coro::executor);
  {
    auto slot = std::make_shared<ResponseSlot>(exchange, liveness);
    try {
      handler(std::move(request), [slot](Response r) { slot->deliver(std::move(r)); });
    } catch (const Error& e) {
      slot->deliver(error_response(e.status(), e.what()));
    } catch (const std::exception& e) {
      slot->deliver(error_response(500, e.what()));
    }
  }
  while (!exchange->response) {
    auto [ec] = co_await exchange->wake.async_wait(kNoThrow);
    (void)ec;  // operation_aborted is the wake-up
  }
  co_return std::move(*exchange->response);
}

template <class Stream>
asio::awaitable<bool> Server::Impl::write_response(Stream& stream, Response response, unsigned version,
                                                   bool keep_alive, bool head_only, bool gzip_ok) {
  unsigned status = response.status >= 100 && response.status <= 999 ? static_cast<unsigned>(response.status) : 500;
  bhttp::response<bhttp::string_body> res;
  res.version(version == 10 ? 10 : 11);
  res.result(status);
  res.reason(reason_phrase(response.reason, status));
  res.set(bhttp::field::server, "pvxd/0.1");
  res.set(bhttp::field::date, http_date());
  if (!response.content_type.empty()) res.set(bhttp::field::content_type, sanitize(response.content_type));
  bool encoded = false;
  for (const auto& [name, value] : response.headers) {
    if (beast::iequals(name, "content-encoding")) encoded = true;
    res.insert(sanitize(name), sanitize(value));
  }
  if (gzip_ok && !encoded && response.body.size() > kGzipThreshold) {
    if (auto packed = gzip(response.body)) {
      response.body = std::move(*packed);
      res.set(bhttp::field::content_encoding, "gzip");
      res.set(bhttp::field::vary, "Accept-Encoding");
    }
  }
  res.set(bhttp::field::connection, keep_alive ? "Keep-Alive" : "close");
  res.content_length(response.body.size());
  res.body() = std::move(response.body);

  beast::get_lowest_layer(stream).expires_after(kWriteTimeout);
  boost::system::error_code ec;
  if (head_only) {
    bhttp::response_serializer<bhttp::string_body> sr{res};
    std::tie(ec, std::ignore) = co_await bhttp::async_write_header(stream, sr, kNoThrow);
  } else {
    std::tie(ec, std::ignore) = co_await bhttp::async_write(stream, res, kNoThrow);
  }
  beast::get_lowest_layer(stream).expires_never();
  co_return !ec;
}

template <class Stream>
asio::awaitable<void> Server::Impl::run_websocket(Stream& stream, const bhttp::request<bhttp::string_body>& request,
                                                  std::shared_ptr<WebSocketSession> session) {
  if (!websocket::is_upgrade(request)) {
    co_await write_response(stream, error_response(500, "websocket session for a request without upgrade"),
                            request.version(), false, false, false);
    co_return;
  }
  BeastWebSocket<Stream> ws(stream);
  auto& beast_ws = ws.stream();
  std::string protocol = sanitize(session->choose_subprotocol(request[bhttp::field::sec_websocket_protocol]));
  beast_ws.set_option(websocket::stream_base::decorator([protocol](websocket::response_type& res) {
    res.set(bhttp::field::server, "pvxd/0.1");
    if (!protocol.empty()) res.set(bhttp::field::sec_websocket_protocol, protocol);
  }));
  websocket::stream_base::timeout timeouts;
  timeouts.handshake_timeout = kWriteTimeout;
  timeouts.idle_timeout = kWebSocketIdleTimeout;
  timeouts.keep_alive_pings = true;
  beast_ws.set_option(timeouts);
  beast_ws.read_message_max(kWebSocketMessageLimit);
  beast_ws.auto_fragment(false);
  // From here the WebSocket's own timers watch the connection.
  beast::get_lowest_layer(stream).expires_never();
  // A bad handshake (version, key) is answered by Beast with 400/426.
  auto [ec] = co_await beast_ws.async_accept(request, kNoThrow);
  if (ec) co_return;
  try {
    co_await session->run(ws);
  } catch (const std::exception& e) {
    log::debug(std::string("websocket session: ") + e.what());
  }
  co_await ws.close();
}

// After an early answer (body too large, redirect) the client may still be sending; closing at
// once would reset the connection and could destroy the answer in flight. So: stop sending,
// swallow what arrives for a moment, then close.
template <class Stream>
asio::awaitable<void> Server::Impl::linger_close(Stream& stream, std::size_t limit) {
  auto& lowest = beast::get_lowest_layer(stream);
  boost::system::error_code ec;
  lowest.socket().shutdown(asio::socket_base::shutdown_send, ec);
  // A short linger swallows a small body in one budget; a failed upload (limit > default) keeps
  // swallowing while the client keeps sending, so that it gets to read the answer at the end.
  const bool long_linger = limit > kLingerLimit;
  lowest.expires_after(long_linger ? kStreamIdleTimeout : kLingerTimeout);
  std::vector<char> sink(long_linger ? 256 * 1024 : 4096);
  std::size_t drained = 0;
  while (drained < limit) {
    auto [rec, n] = co_await lowest.async_read_some(asio::buffer(sink), kNoThrow);
    if (rec) break;
    drained += n;
    if (long_linger) lowest.expires_after(kStreamIdleTimeout);
  }
  lowest.socket().close(ec);
}

void Server::Impl::begin_shutdown() {
  stopping = true;
  boost::system::error_code ec;
  if (tcp_acceptor) tcp_acceptor->close(ec);
  if (unix_acceptor) {
    unix_acceptor->close(ec);
    ::unlink(options.unix_socket.c_str());
  }
  asio::co_spawn(control, drain_and_stop(), asio::detached);
}

asio::awaitable<void> Server::Impl::drain_and_stop() {
  asio::steady_timer tick(control);
  auto deadline = std::chrono::steady_clock::now() + kDrainTimeout;
  while (in_flight.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    tick.expires_after(20ms);
    co_await tick.async_wait(kNoThrow);
  }
  work.reset();
  ioc.stop();
}

Server::Server(ServerOptions options, RequestHandler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {}

Server::~Server() = default;

void Server::start() {
  impl_->load_certificate();
  impl_->listen_tcp();
  if (!impl_->options.unix_socket.empty()) impl_->listen_unix();
  asio::co_spawn(impl_->control, impl_->accept_tcp(), asio::detached);
  if (impl_->unix_acceptor) asio::co_spawn(impl_->control, impl_->accept_unix(), asio::detached);
}

unsigned short Server::port() const { return impl_->bound_port; }

void Server::run() {
  auto run_loop = [this] {
    for (;;) {
      try {
        impl_->ioc.run();
        return;
      } catch (const std::exception& e) {
        log::error(std::string("http server: ") + e.what());
      }
    }
  };
  unsigned n = impl_->options.io_threads == 0 ? 1 : impl_->options.io_threads;
  std::vector<std::thread> threads;
  threads.reserve(n - 1);
  for (unsigned i = 1; i < n; ++i) threads.emplace_back(run_loop);
  run_loop();
  for (auto& t : threads) t.join();
}

// Only posts: safe from any thread, including one that was just woken by sigwait().
void Server::stop() {
  if (impl_->stop_requested.exchange(true)) return;
  Impl* impl = impl_.get();
  asio::post(impl->control, [impl] { impl->begin_shutdown(); });
}

}  // namespace pvx::http
