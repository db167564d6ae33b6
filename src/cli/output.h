#pragma once
// Turning pvxd's answers into CLI results: errors become pvx::Error, tasks are followed.
#include "cli/client.h"

namespace pvx::cli {

// Throws pvx::Error with the status, reason and per-parameter messages of a failed call.
void check_reply(const ApiReply& reply);

// Prints a task's log as it grows until the task ends; returns 0 when it ended OK.
int follow_task(const Client& client, const std::string& upid);
// This node's name, as pvxd reports it in /cluster/status.
std::string local_node(const Client& client);

}  // namespace pvx::cli
