#pragma once
// The CLI's connection to pvxd: HTTP/1.1 over DIR/pvxd.sock, where the caller is root@pam.
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace pvx::cli {

struct ApiReply {
  int status = 0;
  std::string reason;
  nlohmann::json body;  // parsed JSON body (null when empty or not JSON)
};

class Client {
 public:
  explicit Client(std::filesystem::path socket);
  // `params` go into the query string (GET/DELETE) or a form body (POST/PUT).
  // Throws pvx::Error when pvxd cannot be reached.
  ApiReply call(const std::string& method, const std::string& path, const nlohmann::json& params) const;

 private:
  std::filesystem::path socket_;
};

// The socket from --data-dir (already removed from argv by the caller), PVX_DATA_DIR, or the default.
std::filesystem::path socket_path(const std::string& data_dir_option);

}  // namespace pvx::cli
