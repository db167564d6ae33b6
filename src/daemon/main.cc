// pvxd: wires the store, auth, tasks and the API together and serves them over HTTPS and the
// local socket until SIGTERM or SIGINT.
#include <malloc.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <thread>

#include "api/dispatch.h"
#include "api/method_table.h"
#include "api/router.h"
#include "auth/auth_service.h"
#include "base/child_reaper.h"
#include "base/error.h"
#include "base/log.h"
#include "cluster/sqlite_store.h"
#include "daemon/options.h"
#include "guest/lxc/ct_service.h"
#include "guest/qemu/vm_service.h"
#include "http/server.h"
#include "network/network_service.h"
#include "storage/storage_service.h"
#include "tasks/task_runner.h"

namespace pvx::daemon {
namespace {

// Blocks SIGTERM/SIGINT in every thread and waits for them on one, so the stop happens in
// ordinary code rather than in a signal handler.
class SignalWaiter {
 public:
  SignalWaiter() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGUSR1);  // only sent by the destructor, to end the wait
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
  }
  void start(http::Server& server) {
    thread_ = std::thread([this, &server] {
      int sig = 0;
      sigwait(&set_, &sig);
      if (sig == SIGUSR1) return;  // woken by stop()
      log::info(std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") + ", stopping");
      server.stop();
    });
  }
  // Ends the waiting thread (it may still be inside server.stop()); must run before the server
  // it was started with is destroyed.
  void finish() {
    if (thread_.joinable()) {
      pthread_kill(thread_.native_handle(), SIGUSR1);
      thread_.join();
    }
  }
  ~SignalWaiter() { finish(); }

 private:
  sigset_t set_;
  std::thread thread_;
};

int run(const Options& opt) {
  SignalWaiter signals;  // first: every thread started later inherits the blocked signals
  // pvxd runs a dozen threads but little concurrent allocation: two malloc arenas keep the
  // resident size close to what is in use (glibc would otherwise keep up to 8 per core).
  ::mallopt(M_ARENA_MAX, 2);

  // Keys, password hashes and token hashes live in the data directory: nothing in it is for others.
  ::umask(077);
  // Before any child exists: helpers that daemonize (swtpm) are re-parented to pvxd and reaped.
  start_child_reaper();
  std::filesystem::create_directories(opt.data_dir);
  ::chmod(opt.data_dir.c_str(), 0700);
  std::filesystem::create_directories(opt.data_dir / "ssl");

  cluster::SqliteStore store(opt.data_dir / "config.db", opt.node);
  if (!store.read("datacenter.cfg")) store.write("datacenter.cfg", "", 0);
  auth::AuthService auth(store);
  auth.initialize();
  storage::StorageService storage(store, storage::HostEnv{.node = opt.node, .data_dir = opt.data_dir});
  storage.initialize();
  network::NetworkService network({.data_dir = opt.data_dir,
                                   .run_dir = opt.data_dir / "network",
                                   .manage_host = opt.manage_host_network,
                                   .host_file = opt.interfaces_file,
                                   .default_bridge = opt.default_bridge});
  network.start();
  // Guests keep running across pvxd restarts: start_up re-adopts them; nothing stops them at exit.
  guest::qemu::VmService qemu(store, storage, &network,
                              {.node = opt.node, .run_dir = opt.data_dir / "run", .data_dir = opt.data_dir,
                               .force_tcg = opt.no_kvm});
  qemu.start_up();
  guest::lxc::CtService lxc(store, storage,
                            {.node = opt.node,
                             .run_dir = std::filesystem::absolute(opt.data_dir / "run"),
                             .starter = std::filesystem::read_symlink("/proc/self/exe").parent_path() / "pvx-lxc-start"});
  lxc.start_up();
  // After the services its tasks use, so that stopping pvxd ends the tasks first.
  tasks::TaskRunner tasks(opt.data_dir / "tasks", opt.node);
  tasks.reconcile();

  api::Router router;
  api::register_all_methods(router);
  api::Services services{.node = opt.node,
                         .data_dir = opt.data_dir,
                         .store = &store,
                         .tasks = &tasks,
                         .auth = &auth,
                         .storage = &storage,
                         .network = &network,
                         .qemu = &qemu,
                         .lxc = &lxc,
                         .router = &router,
                         .started_at = static_cast<std::int64_t>(std::time(nullptr))};
  api::Dispatcher dispatcher(services);

  auto cert = opt.data_dir / "ssl" / "pvx-ssl.pem";
  auto key = opt.data_dir / "ssl" / "pvx-ssl.key";
  http::ensure_self_signed_cert(cert, key, opt.node);

  http::ServerOptions so{.listen_host = opt.listen_host,
                         .port = opt.port,
                         .cert_file = cert,
                         .key_file = key,
                         .unix_socket = opt.data_dir / "pvxd.sock",
                         .body_sink_for = [&dispatcher](const http::Request& head) { return dispatcher.body_sink_for(head); }};
  http::Server server(so, [&dispatcher](http::Request req, http::Respond respond) {
    dispatcher.handle(std::move(req), std::move(respond));
  });
  server.start();
  // Start-up parses declarations and configs into short-lived objects; give their pages back.
  ::malloc_trim(0);
  signals.start(server);

  std::string host = opt.listen_host == "::" || opt.listen_host == "0.0.0.0" ? opt.node : opt.listen_host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  std::fprintf(stderr,
               "pvxd: listening on https://%s:%u (node %s, data %s)\n"
               "pvxd: log in as root@pam with this host's root password, or use the CLI as root "
               "(pvesh get /nodes)\n",
               host.c_str(), server.port(), opt.node.c_str(), opt.data_dir.c_str());
  server.run();
  signals.finish();
  log::info("stopped");
  return 0;
}

}  // namespace
}  // namespace pvx::daemon

int main(int argc, char** argv) {
  try {
    auto opt = pvx::daemon::parse_options(argc, argv);
    if (opt.debug) pvx::log::set_level(pvx::log::Level::debug);
    return pvx::daemon::run(opt);
  } catch (const pvx::Error& e) {
    std::string msg = e.what();
    for (const auto& [k, v] : e.params()) msg += "\n  " + k + ": " + v;
    std::fprintf(stderr, "pvxd: %s\n", msg.c_str());
    return e.status() == 400 ? 2 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pvxd: %s\n", e.what());
    return 1;
  }
}
