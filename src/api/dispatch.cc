#include "api/dispatch.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <mutex>

#include "api/permission_check.h"
#include "api/request_context.h"
#include "api/router.h"
#include "api/schema_export.h"
#include "api/upload_sink.h"
#include "auth/auth_service.h"
#include "base/error.h"
#include "base/log.h"
#include "base/strings.h"
#include "http/params.h"
#include "http/websocket.h"
#include "schema/validate.h"

namespace pvx::api {
namespace {

// "192.0.2.7:41234" -> "192.0.2.7", "[::1]:5000" -> "::1"; anything else as it is.
std::string peer_address(const std::string& peer) {
  if (peer.starts_with('[')) {
    auto end = peer.find(']');
    return end == std::string::npos ? peer : peer.substr(1, end - 1);
  }
  auto colon = peer.rfind(':');
  return colon == std::string::npos ? peer : peer.substr(0, colon);
}

using schema::Json;

enum class Format { Json, ExtJs };

constexpr auto kFailedLoginDelay = std::chrono::seconds(3);
constexpr std::size_t kTrimAfterBytes = 256 * 1024;
constexpr auto kTrimDelay = std::chrono::seconds(2);

std::string first_line(std::string_view s) {
  auto nl = s.find('\n');
  return std::string(trim(s.substr(0, nl)));
}

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

http::Response error_response(Format format, int status, const std::string& message,
                              const Error::ParamErrors& errors = {}) {
  http::Response r;
  Json body = {{"data", nullptr}, {"message", message + "\n"}};
  if (!errors.empty()) body["errors"] = errors;
  if (format == Format::ExtJs) {
    body["success"] = 0;
    body["status"] = status;
    r.status = 200;
  } else {
    r.status = status;
    r.reason = first_line(message);
  }
  r.body = dump(body);
  return r;
}

http::Response data_response(Format format, Json data, const Json& extra) {
  // Not an initializer list: that would deep-copy the data (10 000 volumes of a listing).
  Json body = Json::object();
  body["data"] = std::move(data);
  for (auto it = extra.begin(); it != extra.end(); ++it) body[it.key()] = it.value();
  if (format == Format::ExtJs) body["success"] = 1;
  http::Response r;
  r.reason = "OK";
  r.body = dump(body);
  return r;
}

std::optional<Verb> parse_verb(const std::string& m) {
  if (m == "GET" || m == "HEAD") return Verb::Get;
  if (m == "POST") return Verb::Post;
  if (m == "PUT") return Verb::Put;
  if (m == "DELETE") return Verb::Delete;
  return std::nullopt;
}

// "name=value" out of a Cookie header, up to ';', URL-decoded ('+' stays: tickets contain it).
std::optional<std::string> cookie_value(const std::string& header, std::string_view name) {
  size_t pos = 0;
  while (pos < header.size()) {
    auto end = header.find(';', pos);
    if (end == std::string::npos) end = header.size();
    auto pair = trim(std::string_view(header).substr(pos, end - pos));
    if (pair.size() > name.size() && pair.starts_with(name) && pair[name.size()] == '=') {
      return url_decode(pair.substr(name.size() + 1), false);
    }
    pos = end + 1;
  }
  return std::nullopt;
}

constexpr std::string_view kTokenScheme = "PVEAPIToken";

// "PVEAPIToken=..." or "PVEAPIToken ..." (PVE accepts both); a bare scheme is a token header
// with an empty value, which then fails to verify.
bool is_token_header(std::string_view authz) {
  return authz.starts_with(kTokenScheme) &&
         (authz.size() == kTokenScheme.size() || authz[kTokenScheme.size()] == '=' ||
          authz[kTokenScheme.size()] == ' ');
}

struct Authenticated {
  auth::Identity who;
  bool by_ticket = false;
};

Authenticated authenticate(const http::Request& req, auth::AuthService& auth) {
  if (req.local_socket) return {auth::Identity{.user = "root@pam"}, false};
  const std::string& authz = req.header("authorization");
  if (is_token_header(authz)) {
    std::string value =
        authz.size() > kTokenScheme.size() ? url_decode(std::string_view(authz).substr(kTokenScheme.size() + 1), false)
                                           : std::string();
    auto who = auth.verify_api_token(value);
    if (!who) throw Error("authentication failure", 401);
    return {*who, false};
  }
  std::optional<std::string> ticket = cookie_value(req.header("cookie"), "PVEAuthCookie");
  if (!ticket && authz.starts_with("PVEAuthCookie=")) ticket = url_decode(authz.substr(14), false);
  if (!ticket) throw Error("No ticket", 401);
  auto who = auth.verify_ticket(*ticket);
  if (!who) throw Error("invalid PVE ticket", 401);
  return {*who, true};
}

// The caller of `method`, with the checks that come before any parameter: CSRF on writes made
// with a ticket, API tokens only where the method allows them.
Authenticated authorize(const http::Request& req, const ApiMethod& method, Verb verb, const std::string& path,
                        auth::AuthService& auth) {
  Authenticated a = authenticate(req, auth);
  if (a.by_ticket && verb != Verb::Get && !method.csrf_exempt &&
      !auth.verify_csrf(a.who.user, req.header("csrfpreventiontoken"))) {
    throw Error("Permission denied - invalid csrf token", 401);
  }
  if (a.who.is_token() && !method.allowtoken) {
    throw Error("URI '" + path + "' not available with API token, need proper ticket.", 403);
  }
  return a;
}

// Body parameters, then the query (which overrides), then path parameters (which must agree).
Json collect_params(const http::Request& req, std::string_view query, Verb verb,
                    const std::map<std::string, std::string>& path_params) {
  Json params = Json::object();
  if (verb == Verb::Post || verb == Verb::Put) {
    if (!req.body.empty()) params = http::parse_body(req.header("content-type"), req.body);
  }
  Json q = http::parse_query(query);
  for (auto it = q.begin(); it != q.end(); ++it) params[it.key()] = it.value();
  // The spooled upload's path is set by the server only; over the local socket (root) a caller
  // may name a file itself, as PVE allows on its trusted port.
  if (req.spooled) {
    params["tmpfilename"] = req.spooled->path;
  } else if (params.contains("tmpfilename") && !req.local_socket) {
    throw Error::param("tmpfilename", "only the upload handler may set this parameter");
  }
  for (const auto& [name, value] : path_params) {
    auto it = params.find(name);
    if (it != params.end()) {
      std::string given = it->is_string() ? it->get<std::string>() : it->dump();
      if (given != value) throw Error::param(name, "duplicate parameter (conflicts with the value in the URI)");
    }
    params[name] = value;
  }
  return params;
}

}  // namespace

struct Dispatcher::Impl {
  Services& services;
  boost::asio::thread_pool pool;
  std::once_flag openapi_once;
  std::string openapi_body;
  // Test suites set PVX_VALIDATE_RESPONSES=1: every answer is checked against its declared
  // `returns`, so a handler that drifts from its declaration fails loudly.
  const bool validate_responses;

  Impl(Services& s, unsigned threads)
      : services(s), pool(threads), validate_responses(std::getenv("PVX_VALIDATE_RESPONSES") != nullptr) {}

  void check_response(const ApiMethod& method, const Json& data) const {
    if (!validate_responses || !method.returns) return;
    Error::ParamErrors errors;
    schema::check_value(*method.returns, data, "data", errors);
    if (errors.empty()) return;
    std::string detail;
    for (const auto& [k, v] : errors) detail += " " + k + ": " + v + ";";
    log::error(std::string("response of ") + verb_name(method.verb) + " " + method.path +
               " does not match its declaration:" + detail);
    throw Error("response validation failed:" + detail);
  }

  // A large answer (a listing of 10 000 volumes) leaves megabytes of freed JSON nodes in
  // malloc's arenas. They are given back a moment after the last such answer, not after each:
  // trimming costs page faults on the next request, which a burst of listings should not pay.
  std::atomic<bool> trim_pending{false};
  void schedule_trim() {
    if (trim_pending.exchange(true)) return;
    auto timer = std::make_shared<boost::asio::steady_timer>(pool.get_executor(), kTrimDelay);
    timer->async_wait([this, timer](auto) {
      trim_pending = false;
      ::malloc_trim(0);
    });
  }

  http::Response openapi() {
    std::call_once(openapi_once, [&] { openapi_body = dump(openapi_document(*services.router)); });
    http::Response r;
    r.body = openapi_body;
    return r;
  }

  // Runs the method for an authenticated, validated request; returns the response.
  http::Response call(const ApiMethod& method, Format format, auth::Identity who, Json params,
                      std::shared_ptr<const http::SpooledFile> spooled = nullptr, bool websocket = false,
                      const std::string& peer = {}) {
    try {
      http::Response r;
      {
        RequestContext ctx(services, std::move(who), std::move(params));
        ctx.set_spooled(std::move(spooled));
        ctx.set_websocket_requested(websocket);
        ctx.set_client(peer_address(peer));
        Json data = method.handler(ctx);
        check_response(method, data);
        if (auto session = ctx.take_websocket(); session && websocket) {
          r.status = 101;
          r.reason = "Switching Protocols";
          r.content_type.clear();
          r.websocket = std::move(session);
          return r;
        }
        r = data_response(format, std::move(data), ctx.extra());
      }
      if (r.body.size() > kTrimAfterBytes) schedule_trim();
      return r;
    } catch (const Error& e) {
      if (e.status() >= 500) log::debug(std::string(method.path) + ": " + e.what());
      return error_response(format, e.status(), e.what(), e.params());
    } catch (const std::exception& e) {
      return error_response(format, 500, e.what());
    }
  }
};

Dispatcher::Dispatcher(Services& services, unsigned worker_threads)
    : impl_(std::make_unique<Impl>(services, worker_threads)) {}

// By now the server has stopped and answered what was in flight; only a pending trim may remain.
Dispatcher::~Dispatcher() {
  impl_->pool.stop();
  impl_->pool.join();
}

std::unique_ptr<http::BodySink> Dispatcher::body_sink_for(const http::Request& head) {
  if (head.method != "POST") return nullptr;
  std::string_view target = head.target;
  std::string_view raw_path = target.substr(0, target.find('?'));
  if (!raw_path.starts_with("/api2/json/") && !raw_path.starts_with("/api2/extjs/")) return nullptr;
  std::string path = url_decode(raw_path.substr(raw_path.find('/', 6)), false);
  auto match = impl_->services.router->find(Verb::Post, path);
  if (!match || !match->method->spool_dir) return nullptr;
  const ApiMethod& method = *match->method;
  Authenticated a = authorize(head, method, Verb::Post, path, *impl_->services.auth);
  Json params = Json::object();
  for (const auto& [name, value] : match->path_params) params[name] = value;
  if (auto node = match->path_params.find("node");
      node != match->path_params.end() && node->second != impl_->services.node) {
    throw Error("no such cluster node '" + node->second + "'", 500);
  }
  if (auto deny = evaluate(method.permission, a.who, params, *impl_->services.auth)) throw Error(*deny, 403);
  return make_upload_sink(method.spool_dir(impl_->services, match->path_params), head.header("content-type"));
}

void Dispatcher::handle(http::Request req, http::Respond respond) {
  std::string_view target = req.target;
  auto qpos = target.find('?');
  std::string_view raw_path = target.substr(0, qpos);
  std::string_view query = qpos == std::string_view::npos ? std::string_view{} : target.substr(qpos + 1);

  if (raw_path == "/api2/openapi.json") return respond(impl_->openapi());
  if (!raw_path.starts_with("/api2/")) {
    if (raw_path == "/" && (req.method == "GET" || req.method == "HEAD")) {
      http::Response r;
      r.content_type = "text/html;charset=UTF-8";
      r.body =
          "<!DOCTYPE html><html><head><title>pvx</title></head><body><h1>pvx</h1>"
          "<p>The API is served under <a href=\"/api2/json/version\">/api2/json</a>; its OpenAPI document is "
          "<a href=\"/api2/openapi.json\">/api2/openapi.json</a>.</p></body></html>\n";
      return respond(std::move(r));
    }
    return respond(error_response(Format::Json, 501, "no such uri"));
  }
  std::string_view rest = raw_path.substr(6);
  auto slash = rest.find('/');
  std::string_view format_name = rest.substr(0, slash);
  Format format;
  if (format_name == "json") format = Format::Json;
  else if (format_name == "extjs") format = Format::ExtJs;
  else return respond(error_response(Format::Json, 501, "Unknown format '" + std::string(format_name) + "'"));
  std::string path = slash == std::string_view::npos ? "/" : url_decode(rest.substr(slash), false);

  auto verb = parse_verb(req.method);
  if (!verb) return respond(error_response(format, 501, "Method '" + req.method + " " + path + "' not implemented"));
  auto match = impl_->services.router->find(*verb, path);
  if (!match) {
    return respond(error_response(format, 501, "Method '" + req.method + " " + path + "' not implemented"));
  }
  const ApiMethod& method = *match->method;
  if ((*verb == Verb::Get || *verb == Verb::Delete) && !req.body.empty()) {
    return respond(error_response(format, 501, "Unexpected content for method '" + req.method + "'"));
  }

  try {
    auth::Identity who;
    if (!method.allowtoken && is_token_header(req.header("authorization"))) {
      throw Error("URI '" + path + "' not available with API token, need proper ticket.", 403);
    }
    if (method.permission.kind != Permission::Kind::World || req.local_socket) {
      who = authorize(req, method, *verb, path, *impl_->services.auth).who;
    }

    Json params = collect_params(req, query, *verb, match->path_params);
    schema::validate_params(*method.parameters, params);
    if (!method.proxyto.empty() && params.contains(method.proxyto) &&
        params[method.proxyto] != impl_->services.node) {
      throw Error("no such cluster node '" + params[method.proxyto].get<std::string>() + "'", 500);
    }
    if (method.permission.kind != Permission::Kind::World) {
      if (auto deny = evaluate(method.permission, who, params, *impl_->services.auth)) throw Error(*deny, 403);
    }

    const bool websocket = method.websocket && http::is_websocket_upgrade(req);
    // Writes wait for fsync and logins may wait for PAM: both leave the I/O threads.
    if (method.blocking || *verb != Verb::Get) {
      boost::asio::post(impl_->pool, [this, &method, format, who = std::move(who), params = std::move(params),
                                      respond = std::move(respond), spooled = req.spooled, websocket,
                                      peer = req.peer]() mutable {
        http::Response r = impl_->call(method, format, std::move(who), std::move(params), spooled, websocket, peer);
        bool failed_login = method.permission.kind == Permission::Kind::World && r.status == 401;
        if (!failed_login) return respond(std::move(r));
        // Slow down password guessing as PVE does, without holding a worker thread meanwhile.
        auto timer = std::make_shared<boost::asio::steady_timer>(impl_->pool.get_executor(), kFailedLoginDelay);
        timer->async_wait([timer, r = std::move(r), respond = std::move(respond)](auto) mutable {
          respond(std::move(r));
        });
      });
      return;
    }
    respond(impl_->call(method, format, std::move(who), std::move(params), nullptr, websocket, req.peer));
  } catch (const Error& e) {
    respond(error_response(format, e.status(), e.what(), e.params()));
  } catch (const std::exception& e) {
    respond(error_response(format, 500, e.what()));
  }
}

}  // namespace pvx::api
