// Datastores of a Proxmox Backup Server (/nodes/{node}/scan/pbs). proxmox-backup-client cannot
// list datastores, so this asks the server's API (GET /api2/json/admin/datastore) with curl.
// Secrets reach curl on stdin, never in argv. With a fingerprint, the server certificate is
// fetched first and compared before any credential is sent; the requests then skip CA checks
// (PBS certificates are usually self-signed), as PVE does for pinned fingerprints.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "base/error.h"
#include "base/process.h"
#include "base/strings.h"
#include "storage/plugins/iscsi_commands.h"
#include "storage/scan.h"

namespace pvx::storage::scan {
namespace {

using Json = nlohmann::json;

// "AB:CD:..." SHA-256 fingerprint of the first PEM certificate in `text`, or "".
std::string pem_fingerprint(std::string_view text) {
  auto begin = text.find("-----BEGIN CERTIFICATE-----");
  if (begin == std::string_view::npos) return {};
  BIO* bio = BIO_new_mem_buf(text.data() + begin, static_cast<int>(text.size() - begin));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!cert) return {};
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  bool ok = X509_digest(cert, EVP_sha256(), md, &len) == 1;
  X509_free(cert);
  if (!ok) return {};
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    if (i) out += ':';
    out += hex_upper(md[i], 2);
  }
  return out;
}

std::vector<std::string> curl_base(bool insecure) {
  std::vector<std::string> argv = {"curl", "--silent", "--show-error", "--fail", "--max-time", "10"};
  if (insecure) argv.push_back("--insecure");
  return argv;
}

}  // namespace

std::vector<PbsDatastore> parse_pbs_datastores(std::string_view json) {
  Json j;
  try {
    j = Json::parse(trim(json));
  } catch (const Json::exception&) {
    throw Error("unexpected answer from the backup server: not JSON", 500);
  }
  if (j.is_object() && j.contains("data")) j = j["data"];
  if (!j.is_array()) throw Error("unexpected answer from the backup server: no datastore list", 500);
  std::vector<PbsDatastore> out;
  for (const auto& e : j) {
    if (!e.is_object() || !e.contains("store") || !e["store"].is_string()) continue;
    PbsDatastore ds{e["store"].get<std::string>(), {}};
    if (e.contains("comment") && e["comment"].is_string()) ds.comment = e["comment"].get<std::string>();
    out.push_back(std::move(ds));
  }
  return out;
}

std::vector<PbsDatastore> pbs(const std::string& server, const std::string& username, const std::string& password,
                              const std::string& fingerprint, int port) {
  bool v6 = server.find(':') != std::string::npos;
  if (server.empty() || !iscsi::is_portal(v6 ? "[" + server + "]" : server)) {
    throw Error::param("server", "invalid server address '" + server + "'");
  }
  if (username.empty() || username.find_first_of(" \t\r\n:") != std::string::npos) {
    throw Error::param("username", "invalid user name");
  }
  if (port == 0) port = 8007;
  if (port < 1 || port > 65535) throw Error::param("port", "port out of range");
  if (!command_exists("curl")) throw Error("curl not found - it is needed to query the backup server", 500);
  std::string base = "https://" + (v6 ? "[" + server + "]" : server) + ":" + std::to_string(port) + "/api2/json";
  bool pinned = !fingerprint.empty();

  if (pinned) {
    auto argv = curl_base(true);
    argv.insert(argv.end(), {"--output", "/dev/null", "--write-out", "%{certs}", base + "/version"});
    CommandOptions opts;
    opts.check = false;  // 401 is fine: only the certificate matters here
    auto got = pem_fingerprint(run_command(argv, opts).out);
    if (got.empty()) throw Error("unable to read the certificate of backup server '" + server + "'", 500);
    if (to_lower(got) != to_lower(std::string(trim(fingerprint)))) {
      throw Error::param("fingerprint", "certificate fingerprint mismatch: server has " + got);
    }
  }

  // API tokens ("user@realm!name") authenticate per request; users log in for a ticket.
  std::string header;
  if (username.find('!') != std::string::npos) {
    header = "Authorization: PBSAPIToken=" + username + ":" + password;
  } else {
    auto argv = curl_base(pinned);
    argv.insert(argv.end(), {"--data-urlencode", "username=" + username, "--data-urlencode", "password@-",
                             base + "/access/ticket"});
    CommandOptions opts;
    opts.input = password;
    Json login;
    try {
      login = Json::parse(run_command(argv, opts).out);
    } catch (const Json::exception&) {
      throw Error("login to backup server '" + server + "' failed: unexpected answer", 500);
    }
    auto ticket = login.contains("data") && login["data"].is_object() ? login["data"].value("ticket", "") : "";
    if (ticket.empty()) throw Error("login to backup server '" + server + "' failed", 401);
    header = "Cookie: PBSAuthCookie=" + url_encode(ticket);
  }
  auto argv = curl_base(pinned);
  argv.insert(argv.end(), {"--header", "@-", base + "/admin/datastore"});
  CommandOptions opts;
  opts.input = header + "\n";
  return parse_pbs_datastores(run_command(argv, opts).out);
}

}  // namespace pvx::storage::scan
