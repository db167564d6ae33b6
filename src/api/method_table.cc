#include "api/method_table.h"

#include "api/handlers/register.h"

namespace pvx::api {

void register_all_methods(Router& router) {
  handlers::register_root(router);
  handlers::register_access(router);
  handlers::register_cluster(router);
  handlers::register_cluster_options(router);
  handlers::register_nodes(router);
  handlers::register_node_tasks(router);
  handlers::register_storage_config(router);
  handlers::register_node_storage(router);
  handlers::register_storage_content(router);
  handlers::register_storage_upload(router);
  handlers::register_storage_scan(router);
  handlers::register_storage_prune(router);
  handlers::register_node_network(router);
  handlers::register_qemu_vms(router);
  handlers::register_qemu_capabilities(router);
  handlers::register_lxc_cts(router);
  handlers::register_node_aplinfo(router);
  handlers::register_qemu_snapshots(router);
  handlers::register_qemu_clone(router);
  handlers::register_qemu_console(router);
  handlers::register_qemu_agent(router);
  handlers::register_qemu_cloudinit(router);
}

}  // namespace pvx::api
