#include "auth/ldap_directory.h"

#include <ldap.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <algorithm>
#include <cctype>

#include "base/error.h"
#include "base/strings.h"

namespace pvx::auth {

const std::vector<std::string>* LdapEntry::get(const std::string& name) const {
  auto it = attributes.find(to_lower(name));
  return it == attributes.end() ? nullptr : &it->second;
}

std::string LdapEntry::first(const std::string& name) const {
  const auto* v = get(name);
  return v && !v->empty() ? v->front() : std::string();
}

std::string ldap_filter_escape(const std::string& value) {
  std::string out;
  for (unsigned char c : value) {
    if (c == '*' || c == '(' || c == ')' || c == '\\' || c < 0x20) {
      static const char* hex = "0123456789abcdef";
      out += '\\';
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

struct LdapConnection::Impl {
  LDAP* ld = nullptr;
  ~Impl() {
    if (ld) ldap_unbind_ext_s(ld, nullptr, nullptr);
  }
};

namespace {

void set_tls_options(LDAP* ld, const LdapServerOptions& o) {
  int require = o.verify ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_NEVER;
  ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &require);
  if (!o.capath.empty()) {
    struct stat st {};
    const bool dir = ::stat(o.capath.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    ldap_set_option(ld, dir ? LDAP_OPT_X_TLS_CACERTDIR : LDAP_OPT_X_TLS_CACERTFILE, o.capath.c_str());
  }
  if (!o.cert.empty()) ldap_set_option(ld, LDAP_OPT_X_TLS_CERTFILE, o.cert.c_str());
  if (!o.certkey.empty()) ldap_set_option(ld, LDAP_OPT_X_TLS_KEYFILE, o.certkey.c_str());
  int min = o.min_tls == "tlsv1"     ? LDAP_OPT_X_TLS_PROTOCOL_TLS1_0
            : o.min_tls == "tlsv1_1" ? LDAP_OPT_X_TLS_PROTOCOL_TLS1_1
            : o.min_tls == "tlsv1_3" ? LDAP_OPT_X_TLS_PROTOCOL_TLS1_3
                                     : LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;
  ldap_set_option(ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &min);
  // The options above apply to a new TLS context of this handle only (not process-wide).
  int is_server = 0;
  ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &is_server);
}

}  // namespace

LdapConnection::LdapConnection(const LdapServerOptions& o) : impl_(std::make_unique<Impl>()) {
  if (o.servers.empty()) throw Error("no LDAP server configured");
  const bool ldaps = o.mode == "ldaps";
  const int port = o.port ? o.port : (ldaps ? 636 : 389);
  std::string errors;
  for (const auto& host : o.servers) {
    if (host.empty()) continue;
    const bool v6 = host.find(':') != std::string::npos;
    const std::string uri = std::string(ldaps ? "ldaps://" : "ldap://") + (v6 ? "[" + host + "]" : host) + ":" +
                            std::to_string(port);
    LDAP* ld = nullptr;
    if (ldap_initialize(&ld, uri.c_str()) != LDAP_SUCCESS || !ld) {
      errors += (errors.empty() ? "" : "; ") + uri + ": invalid server address";
      continue;
    }
    int version = LDAP_VERSION3;
    ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
    timeval tv{o.timeout_seconds, 0};
    ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
    ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
    set_tls_options(ld, o);
    int rc = LDAP_SUCCESS;
    if (o.mode == "ldap+starttls") rc = ldap_start_tls_s(ld, nullptr, nullptr);
    else rc = ldap_connect(ld);
    if (rc != LDAP_SUCCESS) {
      char* diag = nullptr;
      ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
      errors += (errors.empty() ? "" : "; ") + uri + ": " + ldap_err2string(rc) +
                (diag && *diag ? std::string(" (") + diag + ")" : "");
      if (diag) ldap_memfree(diag);
      ldap_unbind_ext_s(ld, nullptr, nullptr);
      continue;
    }
    impl_->ld = ld;
    server_ = uri;
    return;
  }
  throw Error("LDAP connection failed: " + errors);
}

LdapConnection::~LdapConnection() = default;

void LdapConnection::bind(const std::string& dn, const std::string& password) {
  berval cred{};
  cred.bv_val = const_cast<char*>(password.c_str());
  cred.bv_len = password.size();
  int rc = ldap_sasl_bind_s(impl_->ld, dn.empty() ? nullptr : dn.c_str(), LDAP_SASL_SIMPLE,
                            dn.empty() ? nullptr : &cred, nullptr, nullptr, nullptr);
  if (rc == LDAP_INVALID_CREDENTIALS) throw Error("LDAP bind as '" + dn + "' failed: invalid credentials", 401);
  if (rc != LDAP_SUCCESS) {
    throw Error("LDAP bind " + (dn.empty() ? std::string("(anonymous)") : "as '" + dn + "'") + " at " + server_ +
                " failed: " + ldap_err2string(rc));
  }
}

std::vector<LdapEntry> LdapConnection::search(const std::string& base, const std::string& filter,
                                             const std::vector<std::string>& attributes, bool base_only,
                                             int page_size) {
  std::vector<char*> attrs;
  for (const auto& a : attributes) attrs.push_back(const_cast<char*>(a.c_str()));
  attrs.push_back(nullptr);
  std::vector<LdapEntry> out;
  berval* cookie = nullptr;
  do {
    LDAPControl* page = nullptr;
    if (!base_only && ldap_create_page_control(impl_->ld, page_size, cookie, 0, &page) != LDAP_SUCCESS) {
      throw Error("LDAP: cannot create the paged-results control");
    }
    if (cookie) {
      ber_bvfree(cookie);
      cookie = nullptr;
    }
    LDAPControl* server_controls[] = {page, nullptr};
    LDAPMessage* res = nullptr;
    int rc = ldap_search_ext_s(impl_->ld, base.c_str(), base_only ? LDAP_SCOPE_BASE : LDAP_SCOPE_SUBTREE,
                               filter.c_str(), attributes.empty() ? nullptr : attrs.data(), 0,
                               page ? server_controls : nullptr, nullptr, nullptr, 0, &res);
    if (page) ldap_control_free(page);
    std::unique_ptr<LDAPMessage, int (*)(LDAPMessage*)> guard(res, ldap_msgfree);
    if (rc == LDAP_SIZELIMIT_EXCEEDED) {
      throw Error("LDAP search below '" + base + "' hit the server's size limit: the result would be incomplete");
    }
    if (rc != LDAP_SUCCESS) {
      throw Error("LDAP search below '" + base + "' with " + filter + " failed: " + ldap_err2string(rc));
    }
    for (LDAPMessage* e = ldap_first_entry(impl_->ld, res); e; e = ldap_next_entry(impl_->ld, e)) {
      LdapEntry entry;
      if (char* dn = ldap_get_dn(impl_->ld, e)) {
        entry.dn = dn;
        ldap_memfree(dn);
      }
      BerElement* ber = nullptr;
      for (char* a = ldap_first_attribute(impl_->ld, e, &ber); a; a = ldap_next_attribute(impl_->ld, e, ber)) {
        std::string name = to_lower(a);
        if (berval** vals = ldap_get_values_len(impl_->ld, e, a)) {
          for (int i = 0; vals[i]; ++i) entry.attributes[name].emplace_back(vals[i]->bv_val, vals[i]->bv_len);
          ldap_value_free_len(vals);
        }
        ldap_memfree(a);
      }
      if (ber) ber_free(ber, 0);
      out.push_back(std::move(entry));
    }
    // The server's answer control carries the cookie of the next page (empty: done).
    LDAPControl** controls = nullptr;
    int err = 0;
    if (!base_only && ldap_parse_result(impl_->ld, res, &err, nullptr, nullptr, nullptr, &controls, 0) == LDAP_SUCCESS &&
        controls) {
      if (LDAPControl* answer = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, controls, nullptr)) {
        ber_int_t estimate = 0;
        berval next{};
        if (ldap_parse_pageresponse_control(impl_->ld, answer, &estimate, &next) == LDAP_SUCCESS && next.bv_len > 0) {
          cookie = ber_dupbv(nullptr, &next);
        }
        if (next.bv_val) ber_memfree(next.bv_val);
      }
      ldap_controls_free(controls);
    }
  } while (cookie);
  return out;
}

}  // namespace pvx::auth
