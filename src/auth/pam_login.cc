#include "auth/pam_login.h"

#include <security/pam_appl.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace pvx::auth {
namespace {

// Answers every prompt (echo on or off) with the password, as PVE's conversation does.
int converse(int count, const pam_message** msgs, pam_response** out, void* data) {
  if (count <= 0) return PAM_CONV_ERR;
  auto* replies = static_cast<pam_response*>(std::calloc(static_cast<size_t>(count), sizeof(pam_response)));
  if (!replies) return PAM_BUF_ERR;
  const auto* password = static_cast<const std::string*>(data);
  for (int i = 0; i < count; ++i) {
    int style = msgs[i]->msg_style;
    if (style == PAM_PROMPT_ECHO_OFF || style == PAM_PROMPT_ECHO_ON) {
      replies[i].resp = strdup(password->c_str());
      if (!replies[i].resp) {
        for (int j = 0; j < i; ++j) std::free(replies[j].resp);
        std::free(replies);
        return PAM_BUF_ERR;
      }
    }
  }
  *out = replies;  // PAM frees them
  return PAM_SUCCESS;
}

void no_delay(int, unsigned, void*) {}

}  // namespace

std::string pam_service_name() {
  std::error_code ec;
  if (std::filesystem::exists("/etc/pam.d/pvx-auth", ec)) return "pvx-auth";
  if (std::filesystem::exists("/etc/pam.d/proxmox-ve-auth", ec)) return "proxmox-ve-auth";
  return "login";
}

bool pam_check_password(const std::string& service, const std::string& name, const std::string& password) {
  if (name.empty() || password.empty()) return false;
  pam_conv conv{converse, const_cast<std::string*>(&password)};
  pam_handle_t* pamh = nullptr;
  if (pam_start(service.c_str(), name.c_str(), &conv, &pamh) != PAM_SUCCESS) return false;
  using DelayFn = void (*)(int, unsigned, void*);
  DelayFn delay = no_delay;
  pam_set_item(pamh, PAM_FAIL_DELAY, reinterpret_cast<const void*>(delay));
  int rc = pam_authenticate(pamh, PAM_SILENT);
  if (rc == PAM_SUCCESS) rc = pam_acct_mgmt(pamh, PAM_SILENT);
  pam_end(pamh, rc);
  return rc == PAM_SUCCESS;
}

}  // namespace pvx::auth
