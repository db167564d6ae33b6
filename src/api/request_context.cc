#include "api/request_context.h"

#include "api/permission_check.h"
#include "auth/auth_service.h"
#include "base/error.h"

namespace pvx::api {

bool RequestContext::has(std::string_view name) const {
  return params_.is_object() && params_.contains(name) && !params_[std::string(name)].is_null();
}

std::string RequestContext::str(std::string_view name) const {
  auto v = opt_str(name);
  if (!v) throw Error("internal error: parameter '" + std::string(name) + "' missing");
  return *v;
}

std::int64_t RequestContext::integer(std::string_view name) const {
  auto v = opt_integer(name);
  if (!v) throw Error("internal error: parameter '" + std::string(name) + "' missing");
  return *v;
}

std::optional<std::string> RequestContext::opt_str(std::string_view name) const {
  if (!has(name)) return std::nullopt;
  const auto& v = params_[std::string(name)];
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

std::optional<std::int64_t> RequestContext::opt_integer(std::string_view name) const {
  if (!has(name)) return std::nullopt;
  const auto& v = params_[std::string(name)];
  if (v.is_number()) return v.get<std::int64_t>();
  if (v.is_boolean()) return v.get<bool>() ? 1 : 0;
  if (v.is_string()) return std::stoll(v.get<std::string>());
  throw Error::param(std::string(name), "type check ('integer') failed");
}

std::int64_t RequestContext::integer_or(std::string_view name, std::int64_t fallback) const {
  return opt_integer(name).value_or(fallback);
}

bool RequestContext::flag(std::string_view name, bool fallback) const {
  if (!has(name)) return fallback;
  const auto& v = params_[std::string(name)];
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) return v.get<std::int64_t>() != 0;
  return v.is_string() && (v == "1" || v == "true");
}

bool RequestContext::allowed(const std::string& path, const std::vector<std::string>& privs, bool any) const {
  return services_.auth->check(who_, path, privs, any);
}

void RequestContext::check(const std::string& path, const std::vector<std::string>& privs, bool any) const {
  if (!allowed(path, privs, any)) {
    throw Error("Permission check failed (" + path + ", " + privs_text(privs, any) + ")", 403);
  }
}

}  // namespace pvx::api
