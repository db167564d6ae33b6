// WebSocket upgrades end to end: a Beast WebSocket client (over TLS and over the unix socket)
// talks to sessions that a handler hands to the server with its 101 answer.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <thread>

#include "http/server.h"
#include "http/websocket.h"

namespace pvx::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ws = boost::beast::websocket;
namespace ssl = boost::asio::ssl;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

std::atomic<int> g_sessions_ended{0};

// Echoes each message back with a prefix; "bye" makes the server close.
class EchoSession : public WebSocketSession {
 public:
  ~EchoSession() override { ++g_sessions_ended; }
  asio::awaitable<void> run(WebSocket& socket) override {
    std::string message;
    while (co_await socket.read(message)) {
      if (message == "bye") {
        co_await socket.close();
        continue;  // the read after close() ends with the peer's close reply
      }
      if (!co_await socket.write("echo:" + message)) break;
    }
  }
};

// Writes from one coroutine while another reads: three ticks pushed by the server, concurrently
// with echoing what the client sends. The session ends when the reader sees the close.
class TickerSession : public WebSocketSession {
 public:
  std::string choose_subprotocol(std::string_view) const override { return "ticker"; }
  asio::awaitable<void> run(WebSocket& socket) override {
    auto executor = co_await asio::this_coro::executor;
    auto done = std::make_shared<asio::steady_timer>(executor, asio::steady_timer::time_point::max());
    auto finished = std::make_shared<bool>(false);
    asio::co_spawn(
        executor,
        [&socket, done, finished]() -> asio::awaitable<void> {
          asio::steady_timer pause(co_await asio::this_coro::executor);
          for (int i = 0; i < 3; ++i) {
            pause.expires_after(10ms);
            co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
            if (!co_await socket.write("tick" + std::to_string(i))) break;
          }
          *finished = true;
          done->cancel();
        },
        asio::detached);
    std::string message;
    while (co_await socket.read(message)) {
    }
    // The writer uses `socket`: do not return before it is done.
    while (!*finished) co_await done->async_wait(asio::as_tuple(asio::use_awaitable));
  }
};

void handler(Request req, Respond respond) {
  Response r;
  if (req.target == "/echo" || req.target == "/ticker") {
    r.status = 101;
    if (req.target == "/echo") {
      r.websocket = std::make_shared<EchoSession>();
    } else {
      r.websocket = std::make_shared<TickerSession>();
    }
    r.body = is_websocket_upgrade(req) ? "" : "not an upgrade";
  } else {
    r.body = "plain";
  }
  respond(std::move(r));
}

class WebSocketTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/pvx_ws_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ensure_self_signed_cert(dir_ / "cert.pem", dir_ / "key.pem", "localhost");
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  void SetUp() override {
    ServerOptions o;
    o.listen_host = "127.0.0.1";
    o.port = 0;
    o.cert_file = dir_ / "cert.pem";
    o.key_file = dir_ / "key.pem";
    o.unix_socket = dir_ / "pvxd.sock";
    server_ = std::make_unique<Server>(o, handler);
    server_->start();
    runner_ = std::thread([this] { server_->run(); });
  }
  void TearDown() override {
    server_->stop();
    runner_.join();
    server_.reset();
  }

  static inline fs::path dir_;
  std::unique_ptr<Server> server_;
  std::thread runner_;
};

using TlsWs = ws::stream<beast::ssl_stream<beast::tcp_stream>>;

std::unique_ptr<TlsWs> connect_tls(asio::io_context& ioc, ssl::context& ctx, unsigned short port,
                                   const std::string& target, const std::string& protocols,
                                   ws::response_type* response = nullptr) {
  auto s = std::make_unique<TlsWs>(ioc, ctx);
  beast::get_lowest_layer(*s).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  s->next_layer().handshake(ssl::stream_base::client);
  s->set_option(ws::stream_base::decorator([protocols](ws::request_type& req) {
    if (!protocols.empty()) req.set(bhttp::field::sec_websocket_protocol, protocols);
  }));
  ws::response_type res;
  s->handshake(res, "localhost", target);
  if (response) *response = res;
  return s;
}

std::string read_text(TlsWs& s) {
  beast::flat_buffer buffer;
  s.read(buffer);
  return beast::buffers_to_string(buffer.data());
}

TEST_F(WebSocketTest, EchoOverTlsWithSubprotocolAndBinaryFrames) {
  asio::io_context ioc;
  ssl::context ctx{ssl::context::tls_client};
  ws::response_type res;
  int ended_before = g_sessions_ended.load();
  auto s = connect_tls(ioc, ctx, server_->port(), "/echo", "base64, binary", &res);
  EXPECT_EQ(res.result_int(), 101u);
  EXPECT_EQ(res[bhttp::field::sec_websocket_protocol], "binary");
  EXPECT_EQ(res[bhttp::field::server], "pvxd/0.1");

  s->text(true);
  s->write(asio::buffer(std::string("hello")));
  EXPECT_EQ(read_text(*s), "echo:hello");
  EXPECT_TRUE(s->got_binary()) << "the server answers with binary frames";
  // A message larger than one read of the socket, in binary.
  std::string big(300 * 1024, 'x');
  big.back() = 'y';
  s->binary(true);
  s->write(asio::buffer(big));
  EXPECT_EQ(read_text(*s), "echo:" + big);

  // The server closes on request; the client sees a normal close.
  s->write(asio::buffer(std::string("bye")));
  beast::flat_buffer buffer;
  boost::system::error_code ec;
  s->read(buffer, ec);
  EXPECT_EQ(ec, ws::error::closed);
  EXPECT_EQ(s->reason().code, ws::close_code::normal);
  for (int i = 0; i < 100 && g_sessions_ended.load() == ended_before; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(g_sessions_ended.load(), ended_before + 1) << "the session object is released after the close";
}

TEST_F(WebSocketTest, ClientCloseEndsSessionAndConcurrentWritesWork) {
  asio::io_context ioc;
  ssl::context ctx{ssl::context::tls_client};
  ws::response_type res;
  auto s = connect_tls(ioc, ctx, server_->port(), "/ticker", "", &res);
  EXPECT_EQ(res[bhttp::field::sec_websocket_protocol], "ticker");
  s->write(asio::buffer(std::string("ignored")));
  EXPECT_EQ(read_text(*s), "tick0");
  EXPECT_EQ(read_text(*s), "tick1");
  EXPECT_EQ(read_text(*s), "tick2");
  s->close(ws::close_code::normal);
}

TEST_F(WebSocketTest, EchoOverUnixSocketWithoutSubprotocol) {
  asio::io_context ioc;
  ws::stream<asio::local::stream_protocol::socket> s(ioc);
  s.next_layer().connect(asio::local::stream_protocol::endpoint((dir_ / "pvxd.sock").string()));
  ws::response_type res;
  s.handshake(res, "localhost", "/echo");
  EXPECT_EQ(res.result_int(), 101u);
  EXPECT_EQ(res.count(bhttp::field::sec_websocket_protocol), 0u);
  s.write(asio::buffer(std::string("over unix")));
  beast::flat_buffer buffer;
  s.read(buffer);
  EXPECT_EQ(beast::buffers_to_string(buffer.data()), "echo:over unix");
  s.close(ws::close_code::normal);
}

TEST_F(WebSocketTest, SessionWithoutUpgradeRequestIs500AndPlainRequestsStillWork) {
  asio::io_context ioc;
  ssl::context ctx{ssl::context::tls_client};
  beast::ssl_stream<beast::tcp_stream> s(ioc, ctx);
  beast::get_lowest_layer(s).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
  s.handshake(ssl::stream_base::client);
  bhttp::request<bhttp::string_body> req{bhttp::verb::get, "/echo", 11};
  req.set(bhttp::field::host, "localhost");
  bhttp::write(s, req);
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(s, buffer, res);
  EXPECT_EQ(res.result_int(), 500u);

  // A handshake with a wrong version is refused by the server's handshake, not the session.
  beast::ssl_stream<beast::tcp_stream> s2(ioc, ctx);
  beast::get_lowest_layer(s2).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
  s2.handshake(ssl::stream_base::client);
  bhttp::request<bhttp::string_body> bad{bhttp::verb::get, "/echo", 11};
  bad.set(bhttp::field::host, "localhost");
  bad.set(bhttp::field::connection, "Upgrade");
  bad.set(bhttp::field::upgrade, "websocket");
  bad.set(bhttp::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
  bad.set(bhttp::field::sec_websocket_version, "8");
  bhttp::write(s2, bad);
  beast::flat_buffer buffer2;
  bhttp::response<bhttp::string_body> res2;
  bhttp::read(s2, buffer2, res2);
  EXPECT_GE(res2.result_int(), 400u);
}

TEST(WebSocketHelpers, UpgradeDetectionAndSubprotocolChoice) {
  Request r;
  r.method = "GET";
  r.headers = {{"upgrade", "WebSocket"}, {"connection", "keep-alive, Upgrade"}};
  EXPECT_TRUE(is_websocket_upgrade(r));
  r.method = "POST";
  EXPECT_FALSE(is_websocket_upgrade(r));
  r.method = "GET";
  r.headers = {{"upgrade", "websocket"}, {"connection", "keep-alive"}};
  EXPECT_FALSE(is_websocket_upgrade(r));

  EchoSession session;
  EXPECT_EQ(session.choose_subprotocol(""), "");
  EXPECT_EQ(session.choose_subprotocol("binary"), "binary");
  EXPECT_EQ(session.choose_subprotocol("base64, binary"), "binary");
  EXPECT_EQ(session.choose_subprotocol(" base64 "), "base64");
}

}  // namespace
}  // namespace pvx::http
