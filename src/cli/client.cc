#include "cli/client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <cstdlib>

#include "base/error.h"
#include "base/strings.h"

namespace pvx::cli {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using stream_protocol = boost::asio::local::stream_protocol;

namespace {

std::string encode_params(const nlohmann::json& params) {
  std::string out;
  auto add = [&out](const std::string& k, const nlohmann::json& v) {
    if (!out.empty()) out += '&';
    out += url_encode(k) + "=" + url_encode(v.is_string() ? v.get<std::string>() : v.dump());
  };
  for (auto it = params.begin(); it != params.end(); ++it) {
    if (it.value().is_array()) {
      for (const auto& v : it.value()) add(it.key(), v);
    } else {
      add(it.key(), it.value());
    }
  }
  return out;
}

}  // namespace

std::filesystem::path socket_path(const std::string& data_dir_option) {
  std::filesystem::path dir = "/var/lib/pvx";
  if (!data_dir_option.empty()) dir = data_dir_option;
  else if (const char* env = std::getenv("PVX_DATA_DIR"); env && *env) dir = env;
  return dir / "pvxd.sock";
}

Client::Client(std::filesystem::path socket) : socket_(std::move(socket)) {}

ApiReply Client::call(const std::string& method, const std::string& path, const nlohmann::json& params) const {
  boost::asio::io_context io;
  stream_protocol::socket sock(io);
  boost::system::error_code ec;
  sock.connect(stream_protocol::endpoint(socket_.string()), ec);
  if (ec) {
    throw Error("unable to connect to pvxd at " + socket_.string() + ": " + ec.message() +
                " (is pvxd running? set --data-dir or PVX_DATA_DIR)");
  }
  std::string encoded = encode_params(params);
  bool body = method == "POST" || method == "PUT";
  std::string target = "/api2/json" + path;
  if (!body && !encoded.empty()) target += "?" + encoded;
  bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
  req.set(bhttp::field::host, "localhost");
  req.set(bhttp::field::connection, "close");
  if (body) {
    req.set(bhttp::field::content_type, "application/x-www-form-urlencoded");
    req.body() = encoded;
  }
  req.prepare_payload();
  bhttp::write(sock, req, ec);
  if (ec) throw Error("writing to pvxd failed: " + ec.message());
  beast::flat_buffer buf;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(1024 * 1024 * 1024);
  bhttp::read(sock, buf, parser, ec);
  if (ec) throw Error("reading from pvxd failed: " + ec.message());
  auto& res = parser.get();
  ApiReply reply;
  reply.status = static_cast<int>(res.result_int());
  reply.reason = std::string(res.reason());
  if (!res.body().empty()) reply.body = nlohmann::json::parse(res.body(), nullptr, false);
  if (reply.body.is_discarded()) reply.body = nullptr;
  return reply;
}

}  // namespace pvx::cli
