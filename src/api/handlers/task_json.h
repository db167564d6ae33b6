#pragma once
// The JSON shapes of tasks in lists and status answers, shared by /nodes/{node}/tasks and
// /cluster/tasks.
#include "api/request_context.h"
#include "schema/schema.h"
#include "tasks/task_runner.h"

namespace pvx::api::handlers {

// The caller owns the task (a user sees its tokens' tasks, a token only its own), or has `priv`
// on the task's node.
bool may_see_task(RequestContext& ctx, const tasks::Upid& upid, const std::string& priv);
// The user part of "user@realm!token".
std::string task_owner(const std::string& upid_user);

schema::Json task_list_entry(const tasks::TaskInfo& t);
schema::Json task_status_entry(const tasks::TaskInfo& t);
// `cluster_list`: /cluster/tasks entries also carry "saved".
schema::Schema task_list_entry_schema(bool cluster_list = false);
schema::Schema task_status_schema();

}  // namespace pvx::api::handlers
