#pragma once
// The registration function of each API area; method_table.cc calls them in one explicit list.
namespace pvx::api {
class Router;
}

namespace pvx::api::handlers {

void register_root(Router& r);
void register_nodes(Router& r);
void register_node_tasks(Router& r);
void register_cluster(Router& r);
void register_cluster_options(Router& r);
void register_access(Router& r);  // /access (users, groups, roles, ACLs, realms, TFA, OpenID) and /pools
void register_storage_config(Router& r);
void register_node_storage(Router& r);
void register_storage_content(Router& r);
void register_storage_upload(Router& r);
void register_storage_scan(Router& r);
void register_storage_prune(Router& r);
void register_node_network(Router& r);
void register_qemu_vms(Router& r);        // list, create, config, pending, status, delete, unlink
void register_qemu_snapshots(Router& r);  // snapshot tree, rollback
void register_qemu_clone(Router& r);      // clone, template, resize, move_disk, feature, sendkey, monitor, migrate
void register_qemu_console(Router& r);    // vncproxy, vncwebsocket, termproxy, spiceproxy
void register_qemu_agent(Router& r);      // /agent/*
void register_qemu_cloudinit(Router& r);  // /cloudinit, /cloudinit/dump
void register_qemu_capabilities(Router& r);  // /nodes/{node}/capabilities/qemu/*
void register_node_aplinfo(Router& r);    // /nodes/{node}/aplinfo: template indexes and downloads
void register_lxc_cts(Router& r);         // /nodes/{node}/lxc: list, create, status, config, snapshots, clone, ...

}  // namespace pvx::api::handlers
