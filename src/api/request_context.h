#pragma once
// What a handler sees of one request: who calls, the validated parameters, the services, and
// the envelope extras ("total", "changes") it may add to the answer.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/services.h"
#include "auth/identity.h"
#include "http/message.h"
#include "schema/schema.h"

namespace pvx::api {

class RequestContext {
 public:
  RequestContext(Services& services, auth::Identity who, schema::Json params)
      : services_(services), who_(std::move(who)), params_(std::move(params)) {}

  Services& services() const { return services_; }
  const auth::Identity& who() const { return who_; }
  const schema::Json& params() const { return params_; }

  bool has(std::string_view name) const;
  // Required parameters (the schema guarantees presence; absence is a declaration bug -> 500).
  std::string str(std::string_view name) const;
  std::int64_t integer(std::string_view name) const;
  // Optional parameters with a fallback.
  std::optional<std::string> opt_str(std::string_view name) const;
  std::optional<std::int64_t> opt_integer(std::string_view name) const;
  std::int64_t integer_or(std::string_view name, std::int64_t fallback) const;
  bool flag(std::string_view name, bool fallback = false) const;

  // Permission checks inside handlers (for list filtering and "user": "all" methods).
  bool allowed(const std::string& path, const std::vector<std::string>& privs, bool any = false) const;
  // Throws 403 "Permission check failed (path, priv)".
  void check(const std::string& path, const std::vector<std::string>& privs, bool any = false) const;

  // The caller's address without the port ("192.0.2.7", "::1"; "unix" on the local socket):
  // logins limit failures per address.
  void set_client(std::string address) { client_ = std::move(address); }
  const std::string& client() const { return client_; }

  // The streamed upload of this request, if any (its digest may already be computed).
  void set_spooled(std::shared_ptr<const http::SpooledFile> f) { spooled_ = std::move(f); }
  const http::SpooledFile* spooled() const { return spooled_.get(); }

  // WebSocket methods (ApiMethod::websocket): whether this request asks to upgrade, and the
  // session the handler accepts the upgrade with. Without one the answer is the usual JSON.
  bool websocket_requested() const { return websocket_requested_; }
  void set_websocket_requested(bool requested) { websocket_requested_ = requested; }
  void accept_websocket(std::shared_ptr<http::WebSocketSession> session) { websocket_ = std::move(session); }
  std::shared_ptr<http::WebSocketSession> take_websocket() { return std::move(websocket_); }

  // Extra top-level members of the {"data": ...} envelope.
  void set_total(std::int64_t total) { extra_["total"] = total; }
  void set_extra(const std::string& key, schema::Json value) { extra_[key] = std::move(value); }
  const schema::Json& extra() const { return extra_; }

 private:
  Services& services_;
  auth::Identity who_;
  schema::Json params_;
  schema::Json extra_ = schema::Json::object();
  std::shared_ptr<const http::SpooledFile> spooled_;
  std::string client_;
  bool websocket_requested_ = false;
  std::shared_ptr<http::WebSocketSession> websocket_;
};

}  // namespace pvx::api
