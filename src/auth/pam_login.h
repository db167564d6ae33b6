#pragma once
// Password checks against the host's PAM stack (the "pam" realm).
//
// Service name: "pvx-auth" when /etc/pam.d/pvx-auth exists (the installer may ship one with
// "@include common-auth" / "@include common-account", as PVE ships proxmox-ve-auth), else
// "proxmox-ve-auth" when present (a host converted from PVE), else "login", which every Debian
// system has and whose auth/account stacks are common-auth/common-account plus pam_nologin.
// PAM's own failure delay is suppressed: the HTTP layer owns brute-force delays.
// Blocking (PAM modules may sleep or talk to the network): call from a worker thread.
#include <string>

namespace pvx::auth {

std::string pam_service_name();

// pam_authenticate + pam_acct_mgmt for the local user `name`; false on any failure.
bool pam_check_password(const std::string& service, const std::string& name, const std::string& password);

}  // namespace pvx::auth
