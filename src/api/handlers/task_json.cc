#include "api/handlers/task_json.h"

namespace pvx::api::handlers {
namespace {

using schema::Json;

Json common(const tasks::TaskInfo& t) {
  const auto& u = t.upid;
  Json e = {{"upid", t.upid_text}, {"node", u.node},  {"pid", u.pid},   {"pstart", u.pstart},
            {"starttime", u.starttime}, {"type", u.type}, {"id", u.id}, {"user", u.user}};
  if (auto bang = u.user.find('!'); bang != std::string::npos) {
    e["user"] = u.user.substr(0, bang);
    e["tokenid"] = u.user.substr(bang + 1);
  }
  return e;
}

}  // namespace

std::string task_owner(const std::string& upid_user) { return upid_user.substr(0, upid_user.find('!')); }

bool may_see_task(RequestContext& ctx, const tasks::Upid& upid, const std::string& priv) {
  const auto& who = ctx.who();
  if (task_owner(upid.user) == who.user && (!who.is_token() || upid.user == who.full())) return true;
  return ctx.allowed("/nodes/" + upid.node, {priv});
}

Json task_list_entry(const tasks::TaskInfo& t) {
  Json e = common(t);
  if (t.running) {
    e["status"] = "RUNNING";
  } else {
    if (t.endtime) e["endtime"] = *t.endtime;
    e["status"] = t.exitstatus;
  }
  return e;
}

Json task_status_entry(const tasks::TaskInfo& t) {
  Json e = common(t);
  e["status"] = t.running ? "running" : "stopped";
  if (!t.running) e["exitstatus"] = t.exitstatus;
  return e;
}

schema::Schema task_list_entry_schema(bool cluster_list) {
  using namespace schema;
  std::vector<std::pair<std::string, Schema>> props = {
      {"upid", string().with_title("UPID")},
      {"node", string().with_title("Node")},
      {"pid", integer().with_title("PID")},
      {"pstart", integer()},
      {"starttime", integer().with_title("Starttime").render("timestamp")},
      {"type", string().with_title("Type")},
      {"id", string().with_title("ID")},
      {"user", string().with_title("User")},
      {"tokenid", string().opt()},
      {"endtime", integer().with_title("Endtime").render("timestamp").opt()},
      {"status", string().with_title("Status").opt()},
  };
  if (cluster_list) props.emplace_back("saved", string("Whether the task has ended and its log was saved.").opt());
  return object(std::move(props));
}

schema::Schema task_status_schema() {
  using namespace schema;
  return object({
      {"upid", string()},
      {"node", string()},
      {"pid", integer()},
      {"pstart", integer()},
      {"starttime", number()},
      {"type", string()},
      {"id", string()},
      {"user", string()},
      {"tokenid", string().opt()},
      {"status", enumeration({"running", "stopped"})},
      {"exitstatus", string().opt()},
  }).additional();
}

}  // namespace pvx::api::handlers
