#!/usr/bin/env python3
"""Writes src/guest/qemu/vm_config_keys.json and src/guest/lxc/ct_config_keys.json: the declared
keys of a VM config and of a container config.

Source: the reference API dump (pve-api-schema.json, a list of PVE apidoc endpoint objects). The
parameters of POST /nodes/{node}/qemu/{vmid}/config are the settable config keys, minus the
parameters that steer the call itself (node, vmid, digest, delete, ...). Their schemas are kept in
PVE's apidoc shape (type, format as an object of property-string keys or as a format name, enum,
minimum, default, default_key, alias, keyAlias, typetext, ...); src/guest/qemu/pve_schema_json.cc
turns that shape into schema::Schema.

The dump names a few property-string formats only by name ("pve-qm-boot", "pve-vm-cpu-conf", ...);
their keys are declared in NAMED_FORMATS below (from qemu-server's format declarations), so the
config readers can parse those values too. Keys written "scsi[n]" in the dump are expanded with
INDEXED (the index ranges qemu-server declares).

Containers: the parameters of PUT /nodes/{node}/lxc/{vmid}/config, with CT_INDEXED counts
(pve-container's limits) and the formats its dump names only by name in CT_NAMED_PATTERNS.

The container API's method declarations (parameters, returns, permissions, names) are copied
as data into src/api/handlers/lxc_api.json, which the lxc handlers declare themselves from
(api/reference_method.h), so they match PVE's shapes exactly. The same holds for the access
control methods (/access, /pools) in src/api/handlers/access_api.json.

Usage: scripts/gen-vm-config-schema.py [path/to/pve-api-schema.json] [output.json] [ct-output.json]
The output is committed; a clean clone builds without the reference dump.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_REF = os.path.join(HERE, "..", "..", "shared", "reference", "pve-api-schema.json")
DEFAULT_OUT = os.path.join(HERE, "..", "src", "guest", "qemu", "vm_config_keys.json")
DEFAULT_CT_OUT = os.path.join(HERE, "..", "src", "guest", "lxc", "ct_config_keys.json")

# Parameters of the config methods that are not config keys.
METHOD_PARAMS = {
    "node", "vmid", "digest", "delete", "revert", "skiplock", "force", "background_delay",
    "import-working-storage",
}

# "name[n]" keys: how many indexes qemu-server allows.
INDEXED = {
    "hostpci": 16, "ide": 4, "ipconfig": 32, "net": 32, "numa": 8, "parallel": 3, "sata": 6,
    "scsi": 31, "serial": 4, "unused": 256, "usb": 14, "virtio": 16, "virtiofs": 10,
}

# Devices a boot order may name (PVE checks them with pve-qm-bootdev).
BOOTDEV = r"(?:(?:ide|sata|scsi|virtio|net|hostpci|usb)\d+|efidisk0|tpmstate0)"
B64 = r"[A-Za-z0-9+\/]+={0,2}"
HEX_ID = r"0x[0-9a-fA-F]{4}"
PCI_ID = r"(?:(?:[a-f0-9]{4,}:)?[a-f0-9]{2}:[a-f0-9]{2}(?:\.[a-f0-9])?)"

def opt(d):
    d["optional"] = 1
    return d

NAMED_FORMATS = {
    "pve-qm-boot": {
        "legacy": opt({"type": "string", "default_key": 1, "pattern": "[acdn]{1,4}",
                       "default": "cdn", "format_description": "[acdn]{1,4}",
                       "description": "Boot on floppy (a), hard disk (c), CD-ROM (d), or network (n). Deprecated, use 'order='."}),
        "order": opt({"type": "string", "pattern": BOOTDEV + "(?:;" + BOOTDEV + ")*",
                      "format_description": "device[;device...]",
                      "description": "Devices the guest tries to boot from, in this order."}),
    },
    "pve-vm-cpu-conf": {
        "cputype": opt({"type": "string", "default_key": 1, "default": "kvm64", "format_description": "string",
                        "description": "Emulated CPU type (a QEMU model, or 'custom-<name>')."}),
        "flags": opt({"type": "string", "pattern": r"[+-][a-zA-Z0-9\-_\.]+(?:;[+-][a-zA-Z0-9\-_\.]+)*",
                      "format_description": "+FLAG[;-FLAG...]",
                      "description": "CPU flags to enable (+) or disable (-), separated by ';'."}),
        "guest-phys-bits": opt({"type": "integer", "minimum": 32, "maximum": 64,
                                "description": "Physical address bits the guest may use."}),
        "hidden": opt({"type": "boolean", "default": 0, "description": "Do not identify as a KVM virtual machine."}),
        "hv-vendor-id": opt({"type": "string", "pattern": "[a-zA-Z0-9]{1,12}", "format_description": "vendor-id",
                             "description": "The Hyper-V vendor ID."}),
        "phys-bits": opt({"type": "string", "pattern": "host|[89]|[1-5][0-9]|6[0-4]", "format_description": "8-64|host",
                          "description": "Physical memory address bits reported to the guest."}),
        "reported-model": opt({"type": "string", "default": "kvm64",
                               "description": "CPU model and vendor reported to the guest (custom models only)."}),
    },
    "pve-qm-ipconfig": {
        "gw": opt({"type": "string", "format": "ipv4", "format_description": "GatewayIPv4", "requires": "ip",
                   "description": "Default IPv4 gateway."}),
        "gw6": opt({"type": "string", "format": "ipv6", "format_description": "GatewayIPv6", "requires": "ip6",
                    "description": "Default IPv6 gateway."}),
        "ip": opt({"type": "string", "format": "pve-ipv4-config", "format_description": "IPv4Format/CIDR",
                   "default": "dhcp", "description": "IPv4 address in CIDR form, 'dhcp' or 'manual'."}),
        "ip6": opt({"type": "string", "format": "pve-ipv6-config", "format_description": "IPv6Format/CIDR",
                    "default": "dhcp", "description": "IPv6 address in CIDR form, 'auto', 'dhcp' or 'manual'."}),
    },
    "pve-qm-smbios1": dict(
        {k: opt({"type": "string", "pattern": B64, "format_description": "Base64 encoded string",
                 "description": "SMBIOS1 " + k + " string."})
         for k in ("family", "manufacturer", "product", "serial", "sku", "version")},
        base64=opt({"type": "boolean", "description": "The SMBIOS strings are base64 encoded."}),
        uuid=opt({"type": "string", "pattern": "[a-fA-F0-9]{8}(?:-[a-fA-F0-9]{4}){3}-[a-fA-F0-9]{12}",
                  "format_description": "UUID", "description": "SMBIOS1 UUID."}),
    ),
    "pve-qm-cicustom": {
        k: opt({"type": "string", "format": "pve-volume-id", "format_description": "volume",
                "description": "A snippet volume replacing the generated " + k + " data."})
        for k in ("meta", "network", "user", "vendor")
    },
    "pve-qm-watchdog": {
        "model": opt({"type": "string", "default_key": 1, "enum": ["i6300esb", "ib700"], "default": "i6300esb",
                      "description": "Watchdog type to emulate."}),
        "action": opt({"type": "string", "enum": ["reset", "shutdown", "poweroff", "pause", "debug", "none"],
                       "description": "What happens when the guest stops feeding the watchdog."}),
    },
    "pve-qm-rng": {
        "source": {"type": "string", "default_key": 1, "enum": ["/dev/urandom", "/dev/random", "/dev/hwrng"],
                   "description": "Host entropy source."},
        "max_bytes": opt({"type": "integer", "default": 1024,
                          "description": "Bytes of entropy injected per period (0: no limit)."}),
        "period": opt({"type": "integer", "default": 1000,
                       "description": "Period in milliseconds after which the max_bytes quota resets."}),
    },
    "pve-qm-hostpci": {
        "host": opt({"type": "string", "default_key": 1, "pattern": PCI_ID + "(?:;" + PCI_ID + ")*",
                     "format_description": "HOSTPCIID[;HOSTPCIID2...]",
                     "description": "Host PCI device(s) to pass through ('bus:dev.func')."}),
        "device-id": opt({"type": "string", "pattern": HEX_ID, "format_description": "hex id",
                          "description": "PCI device ID the guest sees."}),
        "driver": opt({"type": "string", "enum": ["vfio", "keep"], "default": "vfio",
                       "description": "Host driver handling for the device."}),
        "legacy-igd": opt({"type": "boolean", "default": 0, "description": "Pass through in legacy IGD mode."}),
        "mapping": opt({"type": "string", "format": "pve-configid", "format_description": "mapping-id",
                        "description": "Cluster-wide PCI mapping to use."}),
        "mdev": opt({"type": "string", "pattern": r"[^/\.:]+", "format_description": "string",
                     "description": "Mediated device type."}),
        "pcie": opt({"type": "boolean", "default": 0, "description": "Attach as PCI Express (q35 only)."}),
        "rombar": opt({"type": "boolean", "default": 1, "description": "Map the device ROM into guest memory."}),
        "romfile": opt({"type": "string", "pattern": "[^,;]+", "format_description": "string",
                        "description": "Custom ROM file below /usr/share/kvm/."}),
        "sub-device-id": opt({"type": "string", "pattern": HEX_ID, "format_description": "hex id",
                              "description": "PCI subsystem device ID the guest sees."}),
        "sub-vendor-id": opt({"type": "string", "pattern": HEX_ID, "format_description": "hex id",
                              "description": "PCI subsystem vendor ID the guest sees."}),
        "vendor-id": opt({"type": "string", "pattern": HEX_ID, "format_description": "hex id",
                          "description": "PCI vendor ID the guest sees."}),
        "x-vga": opt({"type": "boolean", "default": 0, "description": "Make the device the guest's primary GPU."}),
    },
    "pve-qemu-sev-fmt": {
        "type": {"type": "string", "default_key": 1, "enum": ["std", "es", "snp"], "format_description": "sev-type",
                 "description": "AMD SEV flavour."},
        "allow-smt": opt({"type": "boolean", "default": 1, "description": "Allow SMT (SEV-SNP only)."}),
        "kernel-hashes": opt({"type": "boolean", "default": 0, "description": "Add kernel hashes for measured boot."}),
        "no-debug": opt({"type": "boolean", "default": 0, "description": "Disallow debugging the guest."}),
        "no-key-sharing": opt({"type": "boolean", "default": 0, "description": "Disallow key sharing with other guests."}),
    },
    "pve-qemu-tdx-fmt": {
        "type": {"type": "string", "default_key": 1, "enum": ["tdx"], "format_description": "tdx-type",
                 "description": "Intel TDX flavour."},
        "attestation": {"type": "boolean", "default": 1, "description": "Enable attestation."},
        "vsock-cid": opt({"type": "integer", "minimum": 2, "default": 2, "description": "vsock CID of the quote service."}),
        "vsock-port": opt({"type": "integer", "minimum": 0, "default": 4050, "description": "vsock port of the quote service."}),
    },
}

# Plain named formats the schema module does not know: checked by a pattern instead.
NAMED_PATTERNS = {
    "pve-qm-bootdisk": r"(?:ide|sata|scsi|virtio)\d+",
}


# Container config: parameters of the config method that are not keys, and index ranges.
CT_METHOD_PARAMS = {"node", "vmid", "digest", "delete", "revert"}
CT_INDEXED = {"dev": 256, "mp": 256, "net": 32, "unused": 256}
CT_NAMED_PATTERNS = {}


def write_ct_keys(dump, out):
    method = next(e for e in dump
                  if e["path"] == "/nodes/{node}/lxc/{vmid}/config" and e["method"] == "PUT")
    keys = {name: schema for name, schema in sorted(method["parameters"].items())
            if name not in CT_METHOD_PARAMS}
    for name in CT_INDEXED:
        if f"{name}[n]" not in keys:
            sys.exit(f"indexed key {name}[n] is not in the reference")
    data = {
        "source": "PUT /nodes/{node}/lxc/{vmid}/config of the reference API dump",
        "indexed": CT_INDEXED,
        "named_formats": {},
        "named_patterns": CT_NAMED_PATTERNS,
        "keys": keys,
    }
    with open(out, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(keys)} keys to {out}")


# Container endpoints pvx serves from the reference declarations (the per-guest firewall, RRD,
# SPICE and migration tunnels belong to other work).
CT_API_SKIP = ("/firewall", "/mtunnel", "/remote_migrate", "/rrd", "/spiceproxy")
CT_API_OUT = os.path.join(HERE, "..", "src", "api", "handlers", "lxc_api.json")


def write_ct_api(dump, out):
    methods = {}
    for e in dump:
        path = e["path"]
        if not path.startswith("/nodes/{node}/lxc") or any(s in path for s in CT_API_SKIP):
            continue
        keep = {k: e[k] for k in ("name", "description", "parameters", "returns", "permissions",
                                  "protected", "proxyto", "allowtoken") if k in e}
        methods[e["method"] + " " + path] = keep
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"source": "the /nodes/{node}/lxc entries of the reference API dump", "methods": methods,
                   "indexed": CT_INDEXED},
                  f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(methods)} container methods to {out}")


ACCESS_API_OUT = os.path.join(HERE, "..", "src", "api", "handlers", "access_api.json")


def write_access_api(dump, out):
    """The /access and /pools methods (users, groups, roles, ACLs, realms, TFA, pools)."""
    methods = {}
    for e in dump:
        path = e["path"]
        if not (path == "/access" or path.startswith("/access/") or path == "/pools" or path.startswith("/pools/")):
            continue
        keep = {k: e[k] for k in ("name", "description", "parameters", "returns", "permissions",
                                  "protected", "proxyto", "allowtoken") if k in e}
        methods[e["method"] + " " + path] = keep
    # The dump's enum of GET /access/users/{userid}/tfa misspells "recovery"; PVE answers "recovery".
    types = methods["GET /access/users/{userid}/tfa"]["returns"]["properties"]["types"]["items"]
    types["enum"] = ["recovery" if t == "recovedry" else t for t in types["enum"]]
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"source": "the /access and /pools entries of the reference API dump", "methods": methods},
                  f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(methods)} access methods to {out}")


def main():
    ref = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_REF
    out = sys.argv[2] if len(sys.argv) > 2 else DEFAULT_OUT
    with open(ref, encoding="utf-8") as f:
        dump = json.load(f)
    method = next(e for e in dump
                  if e["path"] == "/nodes/{node}/qemu/{vmid}/config" and e["method"] == "POST")
    params = method["parameters"]
    keys = {}
    for name, schema in sorted(params.items()):
        if name in METHOD_PARAMS:
            continue
        keys[name] = schema
    # The cdrom alias shares the IDE drive keys.
    named = dict(NAMED_FORMATS)
    named["pve-qm-ide"] = params["ide[n]"]["format"]
    for name in {s.get("format") for s in keys.values() if isinstance(s.get("format"), str)}:
        if name.startswith("pve-qm-") or name.startswith("pve-qemu-") or name == "pve-vm-cpu-conf":
            if name not in named and name not in NAMED_PATTERNS:
                sys.exit(f"named format {name} has no key declaration in {__file__}")
    for name, n in INDEXED.items():
        if f"{name}[n]" not in keys:
            sys.exit(f"indexed key {name}[n] is not in the reference")
    data = {
        "source": "POST /nodes/{node}/qemu/{vmid}/config of the reference API dump",
        "indexed": INDEXED,
        "named_formats": {k: named[k] for k in sorted(named)},
        "named_patterns": NAMED_PATTERNS,
        "keys": keys,
    }
    with open(out, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(keys)} keys to {out}")
    write_ct_keys(dump, sys.argv[3] if len(sys.argv) > 3 else DEFAULT_CT_OUT)
    write_ct_api(dump, CT_API_OUT)
    write_access_api(dump, ACCESS_API_OUT)


if __name__ == "__main__":
    main()
