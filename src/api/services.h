#pragma once
// What handlers reach: the daemon's long-lived services. Owned by the daemon; handlers borrow.
#include <filesystem>
#include <string>

namespace pvx::cluster { class ConfigStore; }
namespace pvx::tasks { class TaskRunner; }
namespace pvx::auth { class AuthService; }
namespace pvx::storage { class StorageService; }
namespace pvx::network { class NetworkService; }
namespace pvx::guest::qemu { class VmService; }
namespace pvx::guest::lxc { class CtService; }

namespace pvx::api {

class Router;

struct Services {
  std::string node;                  // this node's name
  std::filesystem::path data_dir;    // --data-dir
  cluster::ConfigStore* store = nullptr;
  tasks::TaskRunner* tasks = nullptr;
  auth::AuthService* auth = nullptr;
  storage::StorageService* storage = nullptr;
  network::NetworkService* network = nullptr;
  guest::qemu::VmService* qemu = nullptr;
  guest::lxc::CtService* lxc = nullptr;
  const Router* router = nullptr;
  std::int64_t started_at = 0;       // pvxd start, unix time
};

}  // namespace pvx::api
