// /access, /access/ticket and /access/permissions.
#include "api/handlers/common.h"
#include "api/handlers/register.h"
#include "auth/auth_service.h"
#include "base/strings.h"

namespace pvx::api::handlers {
namespace {

using namespace schema;

Json create_ticket(RequestContext& ctx) {
  auto& auth = *ctx.services().auth;
  std::string username = ctx.str("username");
  std::optional<std::string> realm = ctx.opt_str("realm");
  if (realm && username.find('@') == std::string::npos) username += "@" + *realm;
  if (ctx.has("path")) {
    // Verification mode: the password is a ticket; answer whether its user has `privs` on `path`.
    auto who = auth.verify_ticket(ctx.str("password"));
    if (!who || who->user != username) throw Error("authentication failure", 401);
    auto privs = split_any(ctx.str("privs"), ",; ");
    if (!auth.check(*who, ctx.str("path"), privs, false)) throw Error("permission check failed", 401);
    return Json{{"username", username}};
  }
  auto login = auth.login(username, ctx.str("password"), std::nullopt);
  auth::Identity who{.user = login.username};
  return Json{{"username", login.username},
              {"ticket", login.ticket},
              {"CSRFPreventionToken", login.csrf_token},
              {"cap", auth.capabilities(who)}};
}

}  // namespace

void register_access(Router& r) {
  r.add({
      .name = "index",
      .verb = Verb::Get,
      .path = "/access",
      .description = "Directory index.",
      .parameters = ref(object({})),
      .returns = ref(dir_index_returns()),
      .permission = all(),
      .handler = [](RequestContext&) { return dir_index({"acl", "permissions", "roles", "ticket", "users"}); },
  });
  r.add({
      .name = "get_ticket",
      .verb = Verb::Get,
      .path = "/access/ticket",
      .description = "Dummy. Useful for formatters which want to provide a login page.",
      .parameters = ref(object({})),
      .returns = ref(null_type()),
      .permission = world(),
      .handler = [](RequestContext&) { return Json(nullptr); },
  });
  r.add({
      .name = "create_ticket",
      .verb = Verb::Post,
      .path = "/access/ticket",
      .description = "Create or verify authentication ticket.",
      .parameters = ref(object({
          {"username", string("User name").max_len(64)},
          {"password", string("The secret password. This can also be a valid ticket.")},
          {"realm", std_opt::realm().desc("You can optionally pass the realm using this parameter. Normally the "
                                          "realm is simply added to the username <username>@<realm>.")
                        .opt()},
          {"otp", string("One-time password for Two-factor authentication.").opt()},
          {"path", string("Verify ticket, and check if user have access 'privs' on 'path'").max_len(64)
                       .req("privs").opt()},
          {"privs", string("Verify ticket, and check if user have access 'privs' on 'path'").fmt("pve-priv-list")
                        .max_len(64).req("path").opt()},
          {"new-format", boolean("This parameter is now ignored and assumed to be 1.").def(1).opt()},
          {"tfa-challenge", string("The signed TFA challenge string the user wants to respond to.").opt()},
      })),
      .returns = ref(object({
          {"username", string()},
          {"ticket", string().opt()},
          {"CSRFPreventionToken", string().opt()},
          {"clustername", string().opt()},
          {"cap", object({}).additional().opt()},
      })),
      .permission = world().describe("You need to pass valid credientials."),
      .protected_ = true,
      .allowtoken = false,
      .blocking = true,
      .handler = create_ticket,
  });
  r.add({
      .name = "permissions",
      .verb = Verb::Get,
      .path = "/access/permissions",
      .description = "Retrieve effective permissions of given user/token.",
      .parameters = ref(object({
          {"userid", string("User ID or full API token ID")
                         .pat(R"([^\s:/]+@[A-Za-z][A-Za-z0-9\.\-_]+(?:![A-Za-z][A-Za-z0-9\.\-_]+)?)")
                         .opt()},
          {"path", string("Only dump this specific path, not the whole tree.").opt()},
      })),
      .returns = ref(object({}).additional().desc(
          "Map of \"path\" => (Map of \"privilege\" => \"propagate boolean\").")),
      .permission = all().describe(
          "Each user/token is allowed to dump their own permissions (or that of owned tokens). A user can dump the "
          "permissions of another user or their tokens if they have 'Sys.Audit' permission on /access."),
      .handler = [](RequestContext& ctx) {
        auto& auth = *ctx.services().auth;
        auth::Identity target = ctx.who();
        if (auto userid = ctx.opt_str("userid")) {
          auto bang = userid->find('!');
          target = auth::Identity{.user = userid->substr(0, bang),
                                  .token = bang == std::string::npos ? "" : userid->substr(bang + 1),
                                  .privsep = bang != std::string::npos};
          bool own = target.user == ctx.who().user && (!ctx.who().is_token() || target.full() == ctx.who().full());
          if (!own) ctx.check("/access", {"Sys.Audit"});
        }
        return auth.permissions(target, ctx.opt_str("path"));
      },
  });
}

}  // namespace pvx::api::handlers
