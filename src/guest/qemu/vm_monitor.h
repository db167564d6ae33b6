#pragma once
// The human monitor and key presses, as POST /monitor and PUT /sendkey offer them.
//
// Who may run which HMP command follows PVE's table: `help`/`?`/`info` need nothing beyond the
// method's own check, commands that only affect the VM need Sys.Modify on "/", and commands
// that reach the host (files, devices, networking, migration) are root@pam's only. A command
// the table does not know counts as root-only.
#include <string>

#include "schema/schema.h"

namespace pvx::guest::qemu {

enum class MonitorAccess { None, SysModify, Root };

// Classifies by the first word of the command line.
MonitorAccess monitor_access(const std::string& command_line);

// "ctrl-alt-delete" (HMP sendkey words, optional "0x1d" style codes) -> the `keys` argument of
// QMP send-key. Error 400 naming `key` for empty parts or characters outside [a-z0-9_].
schema::Json sendkey_keys(const std::string& key);

}  // namespace pvx::guest::qemu
