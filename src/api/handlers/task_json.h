#pragma once
// The JSON shapes of tasks in lists and status answers, shared by /nodes/{node}/tasks and
// /cluster/tasks.
#include "schema/schema.h"
#include "tasks/task_runner.h"

namespace pvx::api::handlers {

schema::Json task_list_entry(const tasks::TaskInfo& t);
schema::Json task_status_entry(const tasks::TaskInfo& t);
// `cluster_list`: /cluster/tasks entries also carry "saved".
schema::Schema task_list_entry_schema(bool cluster_list = false);
schema::Schema task_status_schema();

}  // namespace pvx::api::handlers
