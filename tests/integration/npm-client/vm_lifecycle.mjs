// Drives a VM's lifecycle through the npm `proxmox-api` package, as its users write it:
// ticket login, token login, create, config, pending, snapshot, resources, errors, destroy.
// Prints one JSON object of what it saw; test_npm_client.py checks it.
import proxmoxApi from "proxmox-api";

process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";

const env = process.env;
const common = { host: "127.0.0.1", port: Number(env.PVX_PORT) };
const api = proxmoxApi({ ...common, username: env.PVX_USER, password: env.PVX_PASSWORD });
const viaToken = proxmoxApi({ ...common, tokenID: env.PVX_TOKEN_ID, tokenSecret: env.PVX_TOKEN_SECRET });
const vmid = Number(env.PVX_VMID);

async function waitTask(node, upid) {
  for (let i = 0; i < 600; i++) {
    const st = await node.tasks.$(upid).status.$get();
    if (st.status === "stopped") return st.exitstatus;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`task ${upid} did not end`);
}

const seen = {};
const nodes = await api.nodes.$get();
seen.nodes = nodes.map((n) => n.node);
const node = api.nodes.$(nodes[0].node);
seen.version = (await api.version.$get()).version !== undefined;

seen.create = await waitTask(node, await node.qemu.$post({
  vmid, name: "npm-vm", memory: 160, cores: 1, scsi0: "local:1,format=qcow2", ostype: "l26",
}));
const config = await node.qemu.$(vmid).config.$get();
seen.config = { name: config.name, memory: config.memory, cores: config.cores, scsi0: config.scsi0 };

await node.qemu.$(vmid).config.$put({ memory: 256, description: "set by proxmox-api" });
const updated = await node.qemu.$(vmid).config.$get();
seen.updated = { memory: updated.memory, description: updated.description };
seen.pendingKeys = (await node.qemu.$(vmid).pending.$get()).map((p) => p.key).sort();

seen.snapshot = await waitTask(node, await node.qemu.$(vmid).snapshot.$post({ snapname: "npmsnap" }));
seen.snapshots = (await node.qemu.$(vmid).snapshot.$get()).map((s) => s.name).sort();

const listed = await node.qemu.$get({ full: true });
seen.listed = listed.filter((v) => v.vmid === vmid).map((v) => ({ status: v.status, name: v.name }));
const resources = await api.cluster.resources.$get({ type: "vm" });
seen.resource = resources.filter((r) => r.vmid === vmid).map((r) => ({ id: r.id, type: r.type, status: r.status }));
seen.tokenListed = (await viaToken.nodes.$(nodes[0].node).qemu.$get()).some((v) => v.vmid === vmid);

try {
  await node.qemu.$(vmid).config.$put({ cores: "many" });
  seen.badParam = "accepted";
} catch (e) {
  seen.badParam = String(e.message);
}

seen.destroy = await waitTask(node, await node.qemu.$(vmid).$delete({ purge: 1 }));
seen.afterDestroy = (await node.qemu.$get()).some((v) => v.vmid === vmid);
console.log(JSON.stringify(seen));
