#pragma once
// A connection to an LDAP server through OpenLDAP's libldap: ldap://, ldaps:// or ldap:// with
// StartTLS, certificate verification against a CA file or directory, optional client
// certificate, simple binds (or anonymous) and subtree searches. Errors are pvx::Error naming
// the server and libldap's reason; passwords never appear in them. Not thread-safe: one
// connection per use.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pvx::auth {

struct LdapServerOptions {
  std::vector<std::string> servers;  // tried in order
  int port = 0;                      // 0: 389, or 636 for ldaps
  std::string mode = "ldap";         // ldap, ldaps, ldap+starttls
  bool verify = false;               // check the server's certificate
  std::string capath;                // CA file or directory ("" = the system's)
  std::string cert, certkey;         // client certificate
  std::string min_tls = "tlsv1_2";   // PVE's sslversion: tlsv1, tlsv1_1, tlsv1_2, tlsv1_3
  int timeout_seconds = 10;
};

struct LdapEntry {
  std::string dn;
  std::map<std::string, std::vector<std::string>> attributes;  // attribute names lower-cased
  const std::vector<std::string>* get(const std::string& name) const;
  std::string first(const std::string& name) const;  // "" when absent
};

class LdapConnection {
 public:
  // Connects to the first server that answers (and, in ldap+starttls mode, upgrades).
  explicit LdapConnection(const LdapServerOptions& options);
  ~LdapConnection();
  LdapConnection(const LdapConnection&) = delete;
  LdapConnection& operator=(const LdapConnection&) = delete;

  // Simple bind; an empty dn binds anonymously. Throws Error (401 for invalid credentials).
  void bind(const std::string& dn, const std::string& password);
  // Subtree search below `base` (or of `base` alone), in pages of `page_size` entries (the
  // paged-results control) so that a server's size limit cannot cut a listing short; a server
  // that still answers "size limit exceeded" is an error rather than a silently partial list.
  std::vector<LdapEntry> search(const std::string& base, const std::string& filter,
                                const std::vector<std::string>& attributes, bool base_only = false,
                                int page_size = 500);
  const std::string& server() const { return server_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string server_;
};

// RFC 4515 escaping of a value placed in a filter ("(uid=" + ldap_filter_escape(name) + ")").
std::string ldap_filter_escape(const std::string& value);

}  // namespace pvx::auth
