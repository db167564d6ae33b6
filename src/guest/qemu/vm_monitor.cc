// HMP command classification and sendkey parsing (see vm_monitor.h).
#include "guest/qemu/vm_monitor.h"

#include <cctype>
#include <set>

#include "base/error.h"

namespace pvx::guest::qemu {

MonitorAccess monitor_access(const std::string& command_line) {
  static const std::set<std::string> none = {"?", "help", "info"};
  static const std::set<std::string> modify = {
      "announce_self", "backup_cancel", "balloon", "block_job_cancel", "block_job_complete", "block_job_pause",
      "block_job_resume", "block_job_set_speed", "block_resize", "block_set_io_throttle", "boot_set", "c",
      "calc_dirty_rate", "cancel_vcpu_dirty_limit", "chardev-send-break", "closefd", "commit", "cont", "cpu", "delvm",
      "eject", "exit_preconfig", "expire_password", "getfd", "gpa2hpa", "gpa2hva", "gva2gpa", "i", "loadvm", "log",
      "migrate_cancel", "migrate_continue", "migrate_pause", "migrate_set_capability", "migrate_set_parameter",
      "migrate_start_postcopy", "mouse_button", "mouse_move", "mouse_set", "one-insn-per-tb", "p", "print", "q",
      "qemu-io", "qom-get", "qom-list", "quit", "replay_break", "replay_delete_break", "replay_seek", "ringbuf_read",
      "ringbuf_write", "s", "savevm", "sendkey", "set_link", "set_password", "set_vcpu_dirty_limit",
      "snapshot_blkdev_internal", "snapshot_delete_blkdev_internal", "stop", "stopcapture", "sum", "sync-profile",
      "system_powerdown", "system_reset", "system_wakeup", "trace-event", "x", "x_colo_lost_heartbeat", "xp"};
  std::size_t begin = command_line.find_first_not_of(" \t");
  if (begin == std::string::npos) return MonitorAccess::None;  // empty: QEMU answers nothing
  std::size_t end = command_line.find_first_of(" \t", begin);
  std::string word = command_line.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
  // "x/10i $pc" style: the format follows the command after a slash.
  if (auto slash = word.find('/'); slash != std::string::npos && slash > 0) word = word.substr(0, slash);
  if (none.count(word)) return MonitorAccess::None;
  if (modify.count(word)) return MonitorAccess::SysModify;
  return MonitorAccess::Root;
}

schema::Json sendkey_keys(const std::string& key) {
  schema::Json keys = schema::Json::array();
  std::size_t pos = 0;
  while (pos <= key.size()) {
    auto dash = key.find('-', pos);
    std::string part = key.substr(pos, dash == std::string::npos ? std::string::npos : dash - pos);
    if (part.empty()) throw Error::param("key", "invalid key '" + key + "'");
    if (part.size() > 2 && part[0] == '0' && (part[1] == 'x' || part[1] == 'X')) {
      std::size_t used = 0;
      long code = -1;
      try {
        code = std::stol(part.substr(2), &used, 16);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != part.size() - 2 || code < 0 || code > 0xffff) throw Error::param("key", "invalid key code '" + part + "'");
      keys.push_back({{"type", "number"}, {"data", code}});
    } else {
      for (unsigned char c : part) {
        if (!(std::islower(c) || std::isdigit(c) || c == '_')) throw Error::param("key", "invalid key '" + key + "'");
      }
      keys.push_back({{"type", "qcode"}, {"data", part}});
    }
    if (dash == std::string::npos) break;
    pos = dash + 1;
  }
  return keys;
}

}  // namespace pvx::guest::qemu
