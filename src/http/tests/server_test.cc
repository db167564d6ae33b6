// The server end to end over real sockets: a blocking Beast client (TLS and plain TCP) and a
// unix-socket client talk to a Server on an ephemeral port with a freshly made certificate.
#include "http/server.h"

#include <sys/stat.h>
#include <zlib.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "base/error.h"

namespace pvx::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

using HttpResponse = bhttp::response<bhttp::string_body>;

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string gunzip(const std::string& in) {
  z_stream zs{};
  EXPECT_EQ(inflateInit2(&zs, 15 + 32), Z_OK);
  std::string out(1 << 20, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  inflateEnd(&zs);
  return out;
}

bhttp::request<bhttp::string_body> make_request(bhttp::verb verb, std::string target, std::string body = {}) {
  bhttp::request<bhttp::string_body> req{verb, target, 11};
  req.set(bhttp::field::host, "localhost");
  if (!body.empty()) {
    req.set(bhttp::field::content_type, "application/x-www-form-urlencoded");
    req.body() = std::move(body);
  }
  req.prepare_payload();
  return req;
}

// A blocking HTTPS client that verifies the server certificate against the generated PEM.
class TlsClient {
 public:
  TlsClient(unsigned short port, const fs::path& ca, const std::string& verify_host = "localhost") {
    ctx_.load_verify_file(ca.string());
    stream_.set_verify_mode(ssl::verify_peer);  // the SSL object already copied the context's mode
    stream_.set_verify_callback(ssl::host_name_verification(verify_host));
    beast::get_lowest_layer(stream_).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    stream_.handshake(ssl::stream_base::client);
  }

  HttpResponse send(bhttp::request<bhttp::string_body> req) {
    bhttp::write(stream_, req);
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(16 * 1024 * 1024);
    if (req.method() == bhttp::verb::head) parser.skip(true);
    bhttp::read(stream_, buffer_, parser);
    return parser.release();
  }

  // Sends bytes as they are (malformed requests) and reads one response.
  HttpResponse send_raw(const std::string& raw) {
    asio::write(stream_, asio::buffer(raw));
    HttpResponse res;
    bhttp::read(stream_, buffer_, res);
    return res;
  }

  // True if the server closed the connection (a read ends with an error instead of data).
  bool closed_by_server() {
    beast::get_lowest_layer(stream_).expires_after(5s);
    char c;
    boost::system::error_code ec;
    stream_.read_some(asio::buffer(&c, 1), ec);
    return static_cast<bool>(ec);
  }

 private:
  asio::io_context ioc_;
  ssl::context ctx_{ssl::context::tls_client};
  beast::ssl_stream<beast::tcp_stream> stream_{ioc_, ctx_};
  beast::flat_buffer buffer_;
};

// Sends raw bytes over plain TCP and parses the answer.
HttpResponse plain_exchange(unsigned short port, const std::string& raw) {
  asio::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  asio::write(sock, asio::buffer(raw));
  beast::flat_buffer buffer;
  HttpResponse res;
  bhttp::read(sock, buffer, res);
  return res;
}

// The handler: behaviour chosen by the path.
void test_handler(Request req, Respond respond) {
  std::string path = req.target.substr(0, req.target.find('?'));
  Response r;
  r.content_type = "text/plain";
  if (path == "/hello") {
    r.body = "hello";
  } else if (path == "/big") {
    r.body = std::string(4000, 'a') + "end";
  } else if (path == "/error") {
    r.status = 500;
    r.reason = "VM 100 not running\r\nInjected: header";
    r.body = "{}";
  } else if (path == "/headers") {
    r.headers.emplace_back("X-Custom", "one");
    r.headers.emplace_back("Set-Cookie", "a=1");
    r.headers.emplace_back("Set-Cookie", "b=2");
  } else if (path == "/echo") {
    r.body = req.method + " " + req.target + " peer=" + req.peer + " local=" + (req.local_socket ? "1" : "0") +
             " x-test=" + req.header("x-test") + " host=" + req.header("Host") + " body=" + req.body;
  } else if (path == "/thread") {
    std::thread([respond = std::move(respond)] {
      std::this_thread::sleep_for(30ms);
      Response late;
      late.body = "from another thread";
      respond(std::move(late));
    }).detach();
    return;
  } else if (path == "/throw") {
    throw Error("Permission check failed", 403);
  } else if (path == "/drop") {
    return;  // never responds: the server answers 500 once the callback is gone
  } else {
    r.status = 501;
    r.reason = "no such uri";
  }
  respond(std::move(r));
}

class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/pvx_http_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ensure_self_signed_cert(dir_ / "ssl" / "cert.pem", dir_ / "ssl" / "key.pem", "testnode.example");
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  void SetUp() override { start_server(test_handler); }

  void TearDown() override {
    if (!server_) return;
    auto t0 = std::chrono::steady_clock::now();
    server_->stop();
    runner_.join();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s) << "stop() took too long";
    server_.reset();
  }

  void start_server(RequestHandler handler, std::string host = "::") {
    ServerOptions o;
    o.listen_host = std::move(host);
    o.port = 0;
    o.cert_file = dir_ / "ssl" / "cert.pem";
    o.key_file = dir_ / "ssl" / "key.pem";
    o.unix_socket = socket_path();
    o.io_threads = 2;
    o.body_limit = 4096;
    server_ = std::make_unique<Server>(o, std::move(handler));
    server_->start();
    runner_ = std::thread([this] { server_->run(); });
  }

  static fs::path socket_path() { return dir_ / "pvxd.sock"; }
  unsigned short port() const { return server_->port(); }
  fs::path cert() const { return dir_ / "ssl" / "cert.pem"; }

  static inline fs::path dir_;
  std::unique_ptr<Server> server_;
  std::thread runner_;
};

TEST_F(ServerTest, CertificateFilesAndModes) {
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "ssl" / "key.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string cert_before = read_all(cert());
  EXPECT_NE(cert_before.find("BEGIN CERTIFICATE"), std::string::npos);
  // Existing files are left alone.
  ensure_self_signed_cert(cert(), dir_ / "ssl" / "key.pem", "other");
  EXPECT_EQ(read_all(cert()), cert_before);
}

TEST_F(ServerTest, HttpsGetWithStatusReasonAndContentType) {
  ASSERT_NE(port(), 0);
  TlsClient client(port(), cert());
  auto res = client.send(make_request(bhttp::verb::get, "/hello"));
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.reason(), "OK");
  EXPECT_EQ(res[bhttp::field::content_type], "text/plain");
  EXPECT_EQ(res.body(), "hello");
  EXPECT_EQ(res[bhttp::field::content_length], "5");
}

TEST_F(ServerTest, CertificateValidForHostnameAndLoopbackIp) {
  // Each client verifies the chain and the subject alternative name it asks for.
  EXPECT_NO_THROW(TlsClient(port(), cert(), "testnode.example"));
  EXPECT_NO_THROW(TlsClient(port(), cert(), "127.0.0.1"));
  EXPECT_ANY_THROW(TlsClient(port(), cert(), "wrong.example"));
}

TEST_F(ServerTest, ReasonPhraseIsFirstLineOfErrorText) {
  TlsClient client(port(), cert());
  auto res = client.send(make_request(bhttp::verb::get, "/error"));
  EXPECT_EQ(res.result_int(), 500u);
  EXPECT_EQ(res.reason(), "VM 100 not running");
  EXPECT_EQ(res.count("Injected"), 0u);
}

TEST_F(ServerTest, ExtraHeadersIncludingRepeatedOnes) {
  TlsClient client(port(), cert());
  auto res = client.send(make_request(bhttp::verb::get, "/headers"));
  EXPECT_EQ(res["X-Custom"], "one");
  EXPECT_EQ(res.count(bhttp::field::set_cookie), 2u);
}

TEST_F(ServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  TlsClient client(port(), cert());
  auto a = client.send(make_request(bhttp::verb::get, "/hello"));
  EXPECT_EQ(a[bhttp::field::connection], "Keep-Alive");
  auto b = client.send(make_request(bhttp::verb::post, "/echo?x=1", "a=b"));
  EXPECT_EQ(b.result_int(), 200u);
  EXPECT_EQ(b.body().rfind("POST /echo?x=1 peer=127.0.0.1:", 0), 0u) << b.body();
  EXPECT_NE(b.body().find("local=0"), std::string::npos);
  EXPECT_NE(b.body().find("body=a=b"), std::string::npos);

  auto req = make_request(bhttp::verb::get, "/hello");
  req.set(bhttp::field::connection, "close");
  auto c = client.send(std::move(req));
  EXPECT_EQ(c[bhttp::field::connection], "close");
  EXPECT_TRUE(client.closed_by_server());
}

TEST_F(ServerTest, HeadersAreLowerCasedForTheHandler) {
  TlsClient client(port(), cert());
  auto req = make_request(bhttp::verb::get, "/echo");
  req.set("X-Test", "Value");
  auto res = client.send(std::move(req));
  EXPECT_NE(res.body().find("x-test=Value host=localhost"), std::string::npos) << res.body();
}

TEST_F(ServerTest, GzipWhenAcceptedAndLarge) {
  TlsClient client(port(), cert());
  auto req = make_request(bhttp::verb::get, "/big");
  req.set(bhttp::field::accept_encoding, "deflate, gzip");
  auto res = client.send(std::move(req));
  EXPECT_EQ(res[bhttp::field::content_encoding], "gzip");
  EXPECT_EQ(res[bhttp::field::vary], "Accept-Encoding");
  EXPECT_LT(res.body().size(), 1000u);
  EXPECT_EQ(gunzip(res.body()), std::string(4000, 'a') + "end");

  // Not accepted, or small: plain.
  auto plain = client.send(make_request(bhttp::verb::get, "/big"));
  EXPECT_EQ(plain.count(bhttp::field::content_encoding), 0u);
  EXPECT_EQ(plain.body().size(), 4003u);
  auto small_req = make_request(bhttp::verb::get, "/hello");
  small_req.set(bhttp::field::accept_encoding, "gzip");
  auto small = client.send(std::move(small_req));
  EXPECT_EQ(small.count(bhttp::field::content_encoding), 0u);
  EXPECT_EQ(small.body(), "hello");
}

TEST_F(ServerTest, HeadSendsHeadersOnly) {
  TlsClient client(port(), cert());
  auto res = client.send(make_request(bhttp::verb::head, "/big"));
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res[bhttp::field::content_length], "4003");
  EXPECT_TRUE(res.body().empty());
  // The connection is still in sync: the next answer is the right one.
  auto next = client.send(make_request(bhttp::verb::get, "/hello"));
  EXPECT_EQ(next.body(), "hello");
}

TEST_F(ServerTest, PlainHttpOnTlsPortIsRedirected) {
  auto get = plain_exchange(port(), "GET /api2/json/version?a=1 HTTP/1.1\r\nHost: pve.example:8006\r\n\r\n");
  EXPECT_EQ(get.result_int(), 301u);
  EXPECT_EQ(get[bhttp::field::location], "https://pve.example:8006/api2/json/version?a=1");
  EXPECT_EQ(get[bhttp::field::connection], "close");

  auto post = plain_exchange(port(),
                             "POST /api2/json/access/ticket HTTP/1.1\r\nHost: h:8006\r\n"
                             "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\na=b");
  EXPECT_EQ(post.result_int(), 308u);
  EXPECT_EQ(post[bhttp::field::location], "https://h:8006/api2/json/access/ticket");
}

TEST_F(ServerTest, BodyOverLimitGets501) {
  TlsClient client(port(), cert());
  auto res = client.send(make_request(bhttp::verb::post, "/echo", std::string(5000, 'x')));
  EXPECT_EQ(res.result_int(), 501u);
  EXPECT_EQ(res.reason(), "request entity too large");

  // Chunked bodies have no length up front; the limit still applies while reading.
  TlsClient chunked(port(), cert());
  auto req = make_request(bhttp::verb::post, "/echo");
  req.body() = std::string(5000, 'y');
  req.chunked(true);
  auto res2 = chunked.send(std::move(req));
  EXPECT_EQ(res2.result_int(), 501u);

  // At the limit is fine.
  TlsClient ok(port(), cert());
  auto res3 = ok.send(make_request(bhttp::verb::post, "/echo", std::string(4096, 'z')));
  EXPECT_EQ(res3.result_int(), 200u);
}

TEST_F(ServerTest, MalformedRequestsGet400AndHugeHeaders431) {
  TlsClient bad(port(), cert());
  auto res = bad.send_raw("GET /hello HTTP/1.1\r\nHost localhost\r\n\r\n");
  EXPECT_EQ(res.result_int(), 400u);
  EXPECT_TRUE(bad.closed_by_server());

  TlsClient huge(port(), cert());
  auto res2 = huge.send_raw("GET /hello HTTP/1.1\r\nHost: localhost\r\nX-Big: " + std::string(40000, 'b') +
                            "\r\n\r\n");
  EXPECT_EQ(res2.result_int(), 431u);
}

TEST_F(ServerTest, RespondFromAnotherThread) {
  TlsClient client(port(), cert());
  for (int i = 0; i < 3; ++i) {
    auto res = client.send(make_request(bhttp::verb::get, "/thread"));
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_EQ(res.body(), "from another thread");
  }
}

TEST_F(ServerTest, HandlerErrorsBecomeResponses) {
  TlsClient client(port(), cert());
  auto thrown = client.send(make_request(bhttp::verb::get, "/throw"));
  EXPECT_EQ(thrown.result_int(), 403u);
  EXPECT_EQ(thrown.reason(), "Permission check failed");
  auto dropped = client.send(make_request(bhttp::verb::get, "/drop"));
  EXPECT_EQ(dropped.result_int(), 500u);
}

TEST_F(ServerTest, UnixSocketRequest) {
  struct stat st {};
  ASSERT_EQ(::stat(socket_path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  asio::io_context ioc;
  asio::local::stream_protocol::socket sock(ioc);
  sock.connect(asio::local::stream_protocol::endpoint(socket_path().string()));
  beast::flat_buffer buffer;
  for (int i = 0; i < 2; ++i) {  // keep-alive works here too
    bhttp::write(sock, make_request(bhttp::verb::post, "/echo", "k=v"));
    HttpResponse res;
    bhttp::read(sock, buffer, res);
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_EQ(res.body(), "POST /echo peer=unix local=1 x-test= host=localhost body=k=v");
  }
}

TEST_F(ServerTest, StaleSocketFileIsReplacedAndRemovedAtStop) {
  server_->stop();
  runner_.join();
  server_.reset();
  EXPECT_FALSE(fs::exists(socket_path()));
  // A leftover socket file from a crashed run does not prevent the next start.
  {
    asio::io_context ioc;
    asio::local::stream_protocol::acceptor stale(ioc, asio::local::stream_protocol::endpoint(socket_path().string()));
  }
  ASSERT_TRUE(fs::exists(socket_path()));
  start_server(test_handler, "127.0.0.1");
  TlsClient client(port(), cert());
  EXPECT_EQ(client.send(make_request(bhttp::verb::get, "/hello")).body(), "hello");
}

TEST_F(ServerTest, StopLetsInFlightRequestFinish) {
  server_->stop();
  runner_.join();
  server_.reset();

  std::promise<void> entered;
  auto entered_future = entered.get_future();
  start_server([&entered](Request, Respond respond) {
    entered.set_value();
    std::thread([respond = std::move(respond)] {
      std::this_thread::sleep_for(200ms);
      Response r;
      r.body = "finished";
      respond(std::move(r));
    }).detach();
  });
  auto pending = std::async(std::launch::async, [this] {
    TlsClient client(port(), cert());
    return client.send(make_request(bhttp::verb::get, "/slow"));
  });
  ASSERT_EQ(entered_future.wait_for(5s), std::future_status::ready);
  server_->stop();
  auto res = pending.get();
  EXPECT_EQ(res.body(), "finished");
  EXPECT_EQ(res[bhttp::field::connection], "close");
}

}  // namespace
}  // namespace pvx::http
