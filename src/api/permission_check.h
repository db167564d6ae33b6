#pragma once
// Evaluates a declared Permission for a caller and the request's parameters.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/permission.h"
#include "auth/identity.h"
#include "schema/schema.h"

namespace pvx::auth { class AuthService; }

namespace pvx::api {

// Replaces "{name}" in a permission path with the request's parameter values.
std::string expand_path(const std::string& path_template, const schema::Json& params);

// "VM.Audit, VM.Console" (all needed) or "VM.Audit | VM.Console" (any one): the privilege part of
// a 403 message.
std::string privs_text(const std::vector<std::string>& privs, bool any);

// What PVE's "perm-modify" accepts on `path`, any one of them: Permissions.Modify, or the
// allocate privilege of the path's kind (VM.Allocate on /vms/<id>, Datastore.Allocate on
// /storage/<id>, Pool.Allocate on /pool/<id>).
std::vector<std::string> perm_modify_privileges(std::string_view path);

// nullopt when allowed; otherwise the 403 message ("Permission check failed (/vms/100, VM.Audit)").
std::optional<std::string> evaluate(const Permission& permission, const auth::Identity& who,
                                    const schema::Json& params, auth::AuthService& auth);

}  // namespace pvx::api
