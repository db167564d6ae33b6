#include "network/netlink.h"

// glibc's headers first: the kernel's uapi headers step aside for what they already define.
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <system_error>

#include "base/error.h"

namespace pvx::network {
namespace {

constexpr unsigned kIffLowerUp = 1U << 16;  // <linux/if.h>, which clashes with <net/if.h>
constexpr int kMaxVid = 4094;
constexpr unsigned kUserHz = 100;  // bridge timers travel in clock_t units

// Kernel bond modes and hash policies by their numbers; the names are the ones PVE writes.
constexpr std::array<const char*, 7> kBondModes = {"balance-rr", "active-backup", "balance-xor", "broadcast",
                                                   "802.3ad",    "balance-tlb",   "balance-alb"};
constexpr std::array<const char*, 6> kHashPolicies = {"layer2",    "layer3+4",  "layer2+3",
                                                      "encap2+3", "encap3+4", "vlan+srcmac"};

int table_index(const auto& table, const std::string& name) {
  for (std::size_t i = 0; i < table.size(); ++i) {
    if (name == table[i]) return static_cast<int>(i);
  }
  return -1;
}

// active-backup, balance-tlb and balance-alb: the only modes with a primary slave.
bool bond_mode_uses_primary(int mode) { return mode == 1 || mode == 5 || mode == 6; }

// The kernel's error as text: libnl's wording where it has a specific one, the C library's otherwise,
// followed by the kernel's own explanation when it sent one.
std::string error_text(int error, const std::string& detail) {
  int code = nl_syserr2nlerr(error);
  std::string text = code == NLE_FAILURE ? std::system_category().message(std::abs(error)) : nl_geterror(code);
  if (!detail.empty()) text += " (" + detail + ")";
  return text;
}

[[noreturn]] void fail(const std::string& what, int error, const std::string& detail = {}) {
  throw Error(what + ": " + error_text(error, detail), 500);
}

[[noreturn]] void missing(const std::string& what, const std::string& name) {
  throw Error(what + ": device '" + name + "' does not exist", 500);
}

void check_name(const std::string& name) {
  bool bad = name.empty() || name.size() >= IFNAMSIZ || name == "." || name == "..";
  for (char c : name) bad = bad || c == '/' || c == ':' || c <= ' ' || c == 0x7f;
  if (bad) throw Error("invalid interface name '" + name + "'", 400);
}

// An address in text form: family, bytes, prefix length (the full length when none is given).
struct Cidr {
  int family = 0;
  std::array<unsigned char, 16> bytes{};
  int prefix = 0;
  int size() const { return family == AF_INET ? 4 : 16; }
};

std::optional<Cidr> parse_cidr(const std::string& text) {
  Cidr c;
  auto slash = text.find('/');
  std::string addr = text.substr(0, slash);
  if (inet_pton(AF_INET, addr.c_str(), c.bytes.data()) == 1) {
    c.family = AF_INET;
  } else if (inet_pton(AF_INET6, addr.c_str(), c.bytes.data()) == 1) {
    c.family = AF_INET6;
  } else {
    return std::nullopt;
  }
  c.prefix = c.size() * 8;
  if (slash != std::string::npos) {
    std::string p = text.substr(slash + 1);
    if (p.empty() || p.size() > 3 || p.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
    int value = std::stoi(p);
    if (value > c.prefix) return std::nullopt;
    c.prefix = value;
  }
  return c;
}

std::string address_text(int family, const void* bytes) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (!inet_ntop(family, bytes, buf, sizeof buf)) return {};
  return buf;
}

std::string mac_text(const nlattr* attr) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  const auto* p = static_cast<const unsigned char*>(nla_data(attr));
  for (int i = 0; i < nla_len(attr); ++i) {
    if (i) out += ':';
    out += kHex[p[i] >> 4];
    out += kHex[p[i] & 15];
  }
  return out;
}

// Attribute readers that tolerate short attributes instead of reading past them.
unsigned u8(const nlattr* a) { return a && nla_len(a) >= 1 ? nla_get_u8(const_cast<nlattr*>(a)) : 0; }
unsigned u16(const nlattr* a) { return a && nla_len(a) >= 2 ? nla_get_u16(const_cast<nlattr*>(a)) : 0; }
unsigned u32(const nlattr* a) { return a && nla_len(a) >= 4 ? nla_get_u32(const_cast<nlattr*>(a)) : 0; }
std::string str(const nlattr* a) {
  if (!a) return {};
  const char* p = static_cast<const char*>(nla_data(a));
  return std::string(p, strnlen(p, static_cast<std::size_t>(nla_len(a))));
}

struct MsgFree {
  void operator()(nl_msg* m) const { nlmsg_free(m); }
};

// A request under construction; every put that does not fit throws rather than sending half a request.
class Request {
 public:
  Request(int type, int flags, const void* header, std::size_t header_size) : msg_(nlmsg_alloc_simple(type, flags)) {
    if (!msg_ || nlmsg_append(msg_.get(), const_cast<void*>(header), header_size, NLMSG_ALIGNTO) < 0) overflow();
  }
  static Request link(int type, int flags, int index, int family = AF_UNSPEC) {
    ifinfomsg ifi{};
    ifi.ifi_family = static_cast<unsigned char>(family);
    ifi.ifi_index = index;
    return Request(type, flags, &ifi, sizeof ifi);
  }

  Request& put(int type, const void* data, std::size_t size) {
    if (nla_put(msg_.get(), type, static_cast<int>(size), data) < 0) overflow();
    return *this;
  }
  Request& put_u8(int type, uint8_t v) { return put(type, &v, sizeof v); }
  Request& put_u16(int type, uint16_t v) { return put(type, &v, sizeof v); }
  Request& put_u32(int type, uint32_t v) { return put(type, &v, sizeof v); }
  Request& put_string(int type, const std::string& v) { return put(type, v.c_str(), v.size() + 1); }
  Request& append(const void* data, std::size_t size) {
    if (nlmsg_append(msg_.get(), const_cast<void*>(data), size, NLMSG_ALIGNTO) < 0) overflow();
    return *this;
  }
  nlattr* nest(int type) {
    nlattr* n = nla_nest_start(msg_.get(), type);
    if (!n) overflow();
    return n;
  }
  void end(nlattr* n) { nla_nest_end(msg_.get(), n); }

  nl_msg* get() const { return msg_.get(); }

 private:
  [[noreturn]] static void overflow() { throw Error("netlink request does not fit in a message", 500); }
  std::unique_ptr<nl_msg, MsgFree> msg_;
};

// IFLA_LINKINFO { KIND, DATA { ... } } around what `fill` puts.
void put_linkinfo(Request& req, const char* kind, const std::function<void(Request&)>& fill = {}) {
  nlattr* info = req.nest(IFLA_LINKINFO);
  req.put_string(IFLA_INFO_KIND, kind);
  if (fill) {
    nlattr* data = req.nest(IFLA_INFO_DATA);
    fill(req);
    req.end(data);
  }
  req.end(info);
}

// The kernel's explanation in an extended ACK (NETLINK_EXT_ACK), if any.
std::string extack_message(const nlmsgerr* err) {
  const auto* hdr = reinterpret_cast<const nlmsghdr*>(reinterpret_cast<const char*>(err) - NLMSG_HDRLEN);
  if (!(hdr->nlmsg_flags & NLM_F_ACK_TLVS)) return {};
  std::size_t offset = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nlmsgerr));
  if (!(hdr->nlmsg_flags & NLM_F_CAPPED) && err->msg.nlmsg_len > NLMSG_HDRLEN) {
    offset += NLMSG_ALIGN(err->msg.nlmsg_len - NLMSG_HDRLEN);  // the echoed request
  }
  if (offset >= hdr->nlmsg_len) return {};
  auto* attrs = reinterpret_cast<nlattr*>(const_cast<char*>(reinterpret_cast<const char*>(hdr) + offset));
  nlattr* tb[NLMSGERR_ATTR_MAX + 1] = {};
  if (nla_parse(tb, NLMSGERR_ATTR_MAX, attrs, static_cast<int>(hdr->nlmsg_len - offset), nullptr) < 0) return {};
  return str(tb[NLMSGERR_ATTR_MSG]);
}

// One link as a dump or a get reports it, before indexes are turned into names.
struct RawLink {
  LinkState state;
  int master = 0;
  int lower = 0;  // IFLA_LINK: a VLAN's raw device
  bool lower_elsewhere = false;  // the raw device is in another namespace
  int bond_primary = 0;
};

std::optional<RawLink> parse_link(nlmsghdr* hdr) {
  if (hdr->nlmsg_type != RTM_NEWLINK || hdr->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) return std::nullopt;
  auto* ifi = static_cast<ifinfomsg*>(nlmsg_data(hdr));
  nlattr* tb[IFLA_MAX + 1] = {};
  if (nlmsg_parse(hdr, sizeof(ifinfomsg), tb, IFLA_MAX, nullptr) < 0 || !tb[IFLA_IFNAME]) return std::nullopt;
  RawLink raw;
  auto& s = raw.state;
  s.name = str(tb[IFLA_IFNAME]);
  s.index = ifi->ifi_index;
  s.mtu = u32(tb[IFLA_MTU]);
  s.up = ifi->ifi_flags & IFF_UP;
  s.running = (ifi->ifi_flags & IFF_RUNNING) && (ifi->ifi_flags & kIffLowerUp);
  if (tb[IFLA_ADDRESS]) s.mac = mac_text(tb[IFLA_ADDRESS]);
  // The parent bus device is what /sys/class/net/<name>/device points to; netlink reports it
  // for the namespace the link is in, which a /sys mounted elsewhere would not.
  s.physical = tb[IFLA_PARENT_DEV_NAME] != nullptr;
  raw.master = static_cast<int>(u32(tb[IFLA_MASTER]));
  raw.lower = static_cast<int>(u32(tb[IFLA_LINK]));
  raw.lower_elsewhere = tb[IFLA_LINK_NETNSID] != nullptr;

  if (tb[IFLA_LINKINFO]) {
    nlattr* info[IFLA_INFO_MAX + 1] = {};
    if (nla_parse_nested(info, IFLA_INFO_MAX, tb[IFLA_LINKINFO], nullptr) == 0) {
      s.kind = str(info[IFLA_INFO_KIND]);
      nlattr* data = info[IFLA_INFO_DATA];
      if (data && s.kind == "bridge") {
        nlattr* br[IFLA_BR_MAX + 1] = {};
        if (nla_parse_nested(br, IFLA_BR_MAX, data, nullptr) == 0) {
          s.vlan_filtering = u8(br[IFLA_BR_VLAN_FILTERING]);
          s.bridge_stp = u32(br[IFLA_BR_STP_STATE]) != 0;
          s.bridge_forward_delay = u32(br[IFLA_BR_FORWARD_DELAY]) / kUserHz;  // kernel clock_t units
        }
      } else if (data && s.kind == "vlan") {
        nlattr* vl[IFLA_VLAN_MAX + 1] = {};
        if (nla_parse_nested(vl, IFLA_VLAN_MAX, data, nullptr) == 0) {
          s.vlan_id = static_cast<int>(u16(vl[IFLA_VLAN_ID]));
          unsigned proto = ntohs(static_cast<uint16_t>(u16(vl[IFLA_VLAN_PROTOCOL])));
          s.vlan_protocol = proto == ETH_P_8021AD ? "802.1ad" : "802.1Q";
        }
      } else if (data && s.kind == "bond") {
        nlattr* bo[IFLA_BOND_MAX + 1] = {};
        if (nla_parse_nested(bo, IFLA_BOND_MAX, data, nullptr) == 0) {
          unsigned mode = u8(bo[IFLA_BOND_MODE]);
          if (mode < kBondModes.size()) s.bond_mode = kBondModes[mode];
          unsigned hash = u8(bo[IFLA_BOND_XMIT_HASH_POLICY]);
          if (hash < kHashPolicies.size()) s.bond_xmit_hash_policy = kHashPolicies[hash];
          s.bond_miimon = u32(bo[IFLA_BOND_MIIMON]);
          raw.bond_primary = static_cast<int>(u32(bo[IFLA_BOND_PRIMARY]));
        }
      }
    }
  }
  return raw;
}

// Collects one request's answers; see Netlink::Impl::transact. Answers are copied and handed
// on only once the request is complete, so that no exception crosses libnl's C frames and an
// interrupted dump can be repeated from scratch.
struct Exchange {
  std::vector<std::vector<char>> messages;
  int error = 0;
  std::string detail;
  bool done = false;
};

int on_valid(nl_msg* msg, void* arg) {
  nlmsghdr* hdr = nlmsg_hdr(msg);
  const char* bytes = reinterpret_cast<const char*>(hdr);
  static_cast<Exchange*>(arg)->messages.emplace_back(bytes, bytes + hdr->nlmsg_len);
  return NL_OK;
}

int on_finish(nl_msg*, void* arg) {
  static_cast<Exchange*>(arg)->done = true;
  return NL_STOP;
}

int on_error(sockaddr_nl*, nlmsgerr* err, void* arg) {
  auto* ex = static_cast<Exchange*>(arg);
  ex->error = err->error;
  ex->detail = extack_message(err);
  ex->done = true;
  return NL_STOP;
}

struct CacheFree {
  void operator()(nl_cache* c) const { nl_cache_free(c); }
};
using Cache = std::unique_ptr<nl_cache, CacheFree>;

}  // namespace

struct Netlink::Impl {
  nl_sock* sock = nullptr;

  Impl() { open(); }
  ~Impl() { close(); }

  void open() {
    sock = nl_socket_alloc();
    if (!sock) throw Error("cannot open rtnetlink socket: out of memory", 500);
    int rc = nl_connect(sock, NETLINK_ROUTE);
    if (rc < 0) {
      close();
      throw Error(std::string("cannot open rtnetlink socket: ") + nl_geterror(rc), 500);
    }
    nl_socket_enable_msg_peek(sock);  // dumps of bridge VLANs can outgrow a page
    nl_socket_set_buffer_size(sock, 1 << 20, 1 << 20);
    int one = 1;
    int fd = nl_socket_get_fd(sock);
    // Best effort: older kernels answer without the explanation.
    setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
    setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  }
  void close() {
    if (sock) nl_socket_free(sock);
    sock = nullptr;
  }

  // Sends a request and reads until its ACK, error or end of dump; `on_message` sees every
  // answer that is neither. Returns the kernel's negative errno (0 on success) and its
  // explanation. Failures of the socket itself throw; the socket is then replaced.
  std::pair<int, std::string> transact(const Request& req, const std::function<void(nlmsghdr*)>& on_message = {}) {
    for (int attempt = 0;; ++attempt) {
      Exchange ex;
      std::unique_ptr<nl_cb, void (*)(nl_cb*)> cb(nl_cb_alloc(NL_CB_DEFAULT), nl_cb_put);
      if (!cb) throw Error("netlink: out of memory", 500);
      nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM, on_valid, &ex);
      nl_cb_set(cb.get(), NL_CB_FINISH, NL_CB_CUSTOM, on_finish, &ex);
      nl_cb_set(cb.get(), NL_CB_ACK, NL_CB_CUSTOM, on_finish, &ex);
      nl_cb_err(cb.get(), NL_CB_CUSTOM, on_error, &ex);

      nlmsg_hdr(req.get())->nlmsg_seq = NL_AUTO_SEQ;  // a repeated request needs a new number
      int rc = nl_send_auto(sock, req.get());
      while (rc >= 0 && !ex.done) rc = nl_recvmsgs(sock, cb.get());
      if (ex.done && ex.error) return {ex.error, ex.detail};
      if (ex.done && rc != -NLE_DUMP_INTR) {
        if (on_message) {
          for (auto& m : ex.messages) on_message(reinterpret_cast<nlmsghdr*>(m.data()));
        }
        return {0, {}};
      }
      // A dump that raced with a change is repeated; anything else leaves the socket out of step.
      if (rc == -NLE_DUMP_INTR && attempt < 3) continue;
      std::string text = nl_geterror(rc);
      close();
      open();
      throw Error("netlink request failed: " + text, 500);
    }
  }

  void dump(const Request& req, const std::function<void(nlmsghdr*)>& on_message) {
    auto [error, detail] = transact(req, on_message);
    if (error) fail("cannot read kernel network state", error, detail);
  }

  std::optional<RawLink> get_link(const std::string& name, int index = 0) {
    auto req = Request::link(RTM_GETLINK, 0, index);
    if (!name.empty()) {
      if (name.size() >= IFNAMSIZ) return std::nullopt;
      req.put_string(IFLA_IFNAME, name);
    }
    req.put_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
    std::optional<RawLink> out;
    auto [error, detail] = transact(req, [&](nlmsghdr* hdr) {
      if (auto raw = parse_link(hdr)) out = std::move(raw);
    });
    if (error == -ENODEV) return std::nullopt;
    if (error) fail("cannot read link '" + (name.empty() ? std::to_string(index) : name) + "'", error, detail);
    return out;
  }

  std::string name_of(int index) {
    if (index <= 0) return {};
    auto raw = get_link({}, index);
    return raw ? raw->state.name : std::string();
  }

  std::vector<RawLink> dump_links() {
    auto req = Request::link(RTM_GETLINK, NLM_F_DUMP, 0);
    req.put_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
    std::vector<RawLink> out;
    dump(req, [&](nlmsghdr* hdr) {
      if (auto raw = parse_link(hdr)) out.push_back(std::move(*raw));
    });
    return out;
  }

  std::map<int, std::string> index_names() {
    std::map<int, std::string> names;
    for (auto& raw : dump_links()) names[raw.state.index] = raw.state.name;
    return names;
  }

  // The index of an existing device; `what` names the operation in the error.
  int require(const std::string& name, const std::string& what) {
    auto raw = get_link(name);
    if (!raw) missing(what, name);
    return raw->state.index;
  }

  void change(const Request& req, const std::string& what) {
    auto [error, detail] = transact(req);
    if (error) fail(what, error, detail);
  }

  void bridge_vlan(bool add, const std::string& ifname, int vid, int vid_end, bool pvid, bool untagged, bool self) {
    std::string range = std::to_string(vid) + (vid_end > vid ? "-" + std::to_string(vid_end) : "");
    std::string what = add ? "cannot add VLAN " + range + " to '" + ifname + "'"
                           : "cannot remove VLAN " + range + " from '" + ifname + "'";
    if (vid < 1 || vid > kMaxVid || (vid_end && (vid_end < vid || vid_end > kMaxVid))) {
      throw Error(what + ": VLAN IDs are 1-" + std::to_string(kMaxVid), 400);
    }
    if (pvid && vid_end > vid) throw Error(what + ": a range cannot be the PVID", 400);
    int index = require(ifname, what);
    auto req = Request::link(add ? RTM_SETLINK : RTM_DELLINK, 0, index, AF_BRIDGE);
    nlattr* spec = req.nest(IFLA_AF_SPEC);
    if (self) req.put_u16(IFLA_BRIDGE_FLAGS, BRIDGE_FLAGS_SELF);
    bridge_vlan_info info{};
    uint16_t flags = (pvid ? BRIDGE_VLAN_INFO_PVID : 0) | (untagged ? BRIDGE_VLAN_INFO_UNTAGGED : 0);
    if (vid_end > vid) {
      info.flags = flags | BRIDGE_VLAN_INFO_RANGE_BEGIN;
      info.vid = static_cast<uint16_t>(vid);
      req.put(IFLA_BRIDGE_VLAN_INFO, &info, sizeof info);
      info.flags = flags | BRIDGE_VLAN_INFO_RANGE_END;
      info.vid = static_cast<uint16_t>(vid_end);
      req.put(IFLA_BRIDGE_VLAN_INFO, &info, sizeof info);
    } else {
      info.flags = flags;
      info.vid = static_cast<uint16_t>(vid);
      req.put(IFLA_BRIDGE_VLAN_INFO, &info, sizeof info);
    }
    req.end(spec);
    change(req, what);
  }

  void bridge_data(const std::string& bridge, const std::string& what, const std::function<void(Request&)>& fill) {
    auto raw = get_link(bridge);
    if (!raw) missing(what, bridge);
    if (raw->state.kind != "bridge") throw Error(what + ": '" + bridge + "' is not a bridge", 500);
    auto req = Request::link(RTM_NEWLINK, 0, raw->state.index);
    put_linkinfo(req, "bridge", fill);
    change(req, what);
  }

  void create(const std::string& name, const std::string& what, const std::function<void(Request&)>& fill) {
    check_name(name);
    auto req = Request::link(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
    req.put_string(IFLA_IFNAME, name);
    fill(req);
    change(req, what);
  }

  // Bond attributes that differ from `current` (all of them when creating): the kernel refuses
  // some changes (mode) on a bond that is up even when the value stays the same.
  void put_bond_data(Request& req, const std::string& name, const BondOptions& o, const LinkState* current) {
    int mode = table_index(kBondModes, o.mode);
    if (mode < 0) throw Error("bond '" + name + "': unknown mode '" + o.mode + "'", 400);
    std::string policy = o.xmit_hash_policy.empty() ? "layer2" : o.xmit_hash_policy;
    int hash = table_index(kHashPolicies, policy);
    if (hash < 0) throw Error("bond '" + name + "': unknown xmit_hash_policy '" + policy + "'", 400);
    int primary = 0;
    if (!o.primary.empty() && bond_mode_uses_primary(mode)) {
      primary = require(o.primary, "cannot set primary of bond '" + name + "' to '" + o.primary + "'");
    }
    if (!current || current->bond_mode != o.mode) req.put_u8(IFLA_BOND_MODE, static_cast<uint8_t>(mode));
    if (!current || current->bond_miimon != o.miimon) req.put_u32(IFLA_BOND_MIIMON, o.miimon);
    if ((!current && !o.xmit_hash_policy.empty()) || (current && current->bond_xmit_hash_policy != policy)) {
      req.put_u8(IFLA_BOND_XMIT_HASH_POLICY, static_cast<uint8_t>(hash));
    }
    // Only the modes with a primary slave accept the option at all.
    if (bond_mode_uses_primary(mode) && (current ? current->bond_primary != o.primary : primary != 0)) {
      req.put_u32(IFLA_BOND_PRIMARY, static_cast<uint32_t>(primary));
    }
  }

  LinkState resolve(RawLink raw, const std::map<int, std::string>& names) {
    auto name = [&](int index) {
      auto it = names.find(index);
      return it == names.end() ? std::string() : it->second;
    };
    raw.state.master = name(raw.master);
    if (raw.state.kind == "vlan" && !raw.lower_elsewhere) raw.state.vlan_parent = name(raw.lower);
    if (raw.state.kind == "bond") raw.state.bond_primary = name(raw.bond_primary);
    return std::move(raw.state);
  }
};

Netlink::Netlink() : impl_(std::make_unique<Impl>()) {}
Netlink::~Netlink() = default;

// --- reading ---

std::vector<LinkState> Netlink::links() {
  auto raws = impl_->dump_links();
  std::map<int, std::string> names;
  for (const auto& r : raws) names[r.state.index] = r.state.name;
  std::vector<LinkState> out;
  out.reserve(raws.size());
  for (auto& r : raws) out.push_back(impl_->resolve(std::move(r), names));
  return out;
}

std::optional<LinkState> Netlink::link(const std::string& name) {
  auto raw = impl_->get_link(name);
  if (!raw) return std::nullopt;
  std::map<int, std::string> names;
  for (int index : {raw->master, raw->lower, raw->bond_primary}) {
    if (index > 0 && !names.count(index)) names[index] = impl_->name_of(index);
  }
  return impl_->resolve(std::move(*raw), names);
}

std::vector<AddrState> Netlink::addresses(const std::string& ifname) {
  int only = ifname.empty() ? 0 : impl_->require(ifname, "cannot read addresses of '" + ifname + "'");
  auto names = impl_->index_names();
  nl_cache* raw_cache = nullptr;
  int rc = rtnl_addr_alloc_cache(impl_->sock, &raw_cache);
  if (rc < 0) throw Error(std::string("cannot read addresses: ") + nl_geterror(rc), 500);
  Cache cache(raw_cache);

  std::vector<AddrState> out;
  for (nl_object* o = nl_cache_get_first(cache.get()); o; o = nl_cache_get_next(o)) {
    auto* a = reinterpret_cast<rtnl_addr*>(o);
    int index = rtnl_addr_get_ifindex(a);
    if (only && index != only) continue;
    int family = rtnl_addr_get_family(a);
    nl_addr* local = rtnl_addr_get_local(a);
    if (!local || (family != AF_INET && family != AF_INET6)) continue;
    const auto* bytes = static_cast<const unsigned char*>(nl_addr_get_binary_addr(local));
    if (nl_addr_get_len(local) != (family == AF_INET ? 4U : 16U)) continue;
    if (family == AF_INET6 && bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80) continue;  // link-local
    AddrState s;
    s.ifname = names.count(index) ? names[index] : std::string();
    s.cidr = address_text(family, bytes) + "/" + std::to_string(rtnl_addr_get_prefixlen(a));
    s.family = family;
    s.permanent = rtnl_addr_get_flags(a) & IFA_F_PERMANENT;
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<RouteState> Netlink::routes(int family) {
  auto names = impl_->index_names();
  nl_cache* raw_cache = nullptr;
  int rc = rtnl_route_alloc_cache(impl_->sock, family, 0, &raw_cache);
  if (rc < 0) throw Error(std::string("cannot read routes: ") + nl_geterror(rc), 500);
  Cache cache(raw_cache);

  std::vector<RouteState> out;
  for (nl_object* o = nl_cache_get_first(cache.get()); o; o = nl_cache_get_next(o)) {
    auto* r = reinterpret_cast<rtnl_route*>(o);
    int fam = rtnl_route_get_family(r);
    // Unicast routes only: the local and broadcast entries are the kernel's bookkeeping of addresses.
    if ((fam != AF_INET && fam != AF_INET6) || rtnl_route_get_type(r) != RTN_UNICAST) continue;
    RouteState s;
    s.family = fam;
    s.table = static_cast<int>(rtnl_route_get_table(r));
    s.protocol = rtnl_route_get_protocol(r);
    nl_addr* dst = rtnl_route_get_dst(r);
    if (!dst || nl_addr_get_prefixlen(dst) == 0) {
      s.dst = "default";
    } else {
      std::array<unsigned char, 16> bytes{};
      std::memcpy(bytes.data(), nl_addr_get_binary_addr(dst), std::min<std::size_t>(nl_addr_get_len(dst), 16));
      s.dst = address_text(fam, bytes.data()) + "/" + std::to_string(nl_addr_get_prefixlen(dst));
    }
    if (rtnl_route_get_nnexthops(r) > 0) {
      rtnl_nexthop* nh = rtnl_route_nexthop_n(r, 0);
      if (nl_addr* gw = rtnl_route_nh_get_gateway(nh); gw && nl_addr_get_len(gw) == (fam == AF_INET ? 4U : 16U)) {
        s.gateway = address_text(fam, nl_addr_get_binary_addr(gw));
      }
      int index = rtnl_route_nh_get_ifindex(nh);
      if (names.count(index)) s.ifname = names[index];
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<PortVlan> Netlink::port_vlans(const std::string& ifname) {
  int index = impl_->require(ifname, "cannot read VLANs of '" + ifname + "'");
  auto req = Request::link(RTM_GETLINK, NLM_F_DUMP, 0, AF_BRIDGE);
  req.put_u32(IFLA_EXT_MASK, RTEXT_FILTER_BRVLAN_COMPRESSED);
  std::vector<PortVlan> out;
  impl_->dump(req, [&](nlmsghdr* hdr) {
    if (hdr->nlmsg_type != RTM_NEWLINK || hdr->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) return;
    if (static_cast<ifinfomsg*>(nlmsg_data(hdr))->ifi_index != index) return;
    nlattr* tb[IFLA_MAX + 1] = {};
    if (nlmsg_parse(hdr, sizeof(ifinfomsg), tb, IFLA_MAX, nullptr) < 0 || !tb[IFLA_AF_SPEC]) return;
    int begin = 0;
    nlattr* attr = nullptr;
    int rem = 0;
    nla_for_each_nested(attr, tb[IFLA_AF_SPEC], rem) {
      if (nla_type(attr) != IFLA_BRIDGE_VLAN_INFO || nla_len(attr) < static_cast<int>(sizeof(bridge_vlan_info))) {
        continue;
      }
      const auto* info = static_cast<const bridge_vlan_info*>(nla_data(attr));
      if (info->flags & BRIDGE_VLAN_INFO_RANGE_BEGIN) {
        begin = info->vid;
        continue;
      }
      int first = (info->flags & BRIDGE_VLAN_INFO_RANGE_END) && begin ? begin : info->vid;
      for (int vid = first; vid <= info->vid; ++vid) {
        out.push_back(
            {vid, (info->flags & BRIDGE_VLAN_INFO_PVID) != 0, (info->flags & BRIDGE_VLAN_INFO_UNTAGGED) != 0});
      }
      begin = 0;
    }
  });
  return out;
}

// --- devices ---

void Netlink::create_bridge(const std::string& name) {
  impl_->create(name, "cannot create bridge '" + name + "'", [](Request& req) { put_linkinfo(req, "bridge"); });
}

void Netlink::create_bond(const std::string& name, const BondOptions& options) {
  impl_->create(name, "cannot create bond '" + name + "'", [&](Request& req) {
    put_linkinfo(req, "bond", [&](Request& r) { impl_->put_bond_data(r, name, options, nullptr); });
  });
}

void Netlink::set_bond_options(const std::string& name, const BondOptions& options) {
  std::string what = "cannot set options of bond '" + name + "'";
  auto current = link(name);
  if (!current) missing(what, name);
  if (current->kind != "bond") throw Error(what + ": '" + name + "' is not a bond", 500);
  auto req = Request::link(RTM_NEWLINK, 0, current->index);
  put_linkinfo(req, "bond", [&](Request& r) { impl_->put_bond_data(r, name, options, &*current); });
  impl_->change(req, what);
}

void Netlink::create_vlan(const std::string& name, const std::string& parent, int vid, const std::string& protocol) {
  std::string what = "cannot create VLAN '" + name + "' on '" + parent + "'";
  if (vid < 1 || vid > kMaxVid) throw Error(what + ": VLAN IDs are 1-" + std::to_string(kMaxVid), 400);
  uint16_t proto = 0;
  if (protocol == "802.1Q" || protocol == "802.1q") {
    proto = htons(ETH_P_8021Q);
  } else if (protocol == "802.1ad") {
    proto = htons(ETH_P_8021AD);
  } else {
    throw Error(what + ": unknown VLAN protocol '" + protocol + "'", 400);
  }
  int lower = impl_->require(parent, what);
  impl_->create(name, what, [&](Request& req) {
    req.put_u32(IFLA_LINK, static_cast<uint32_t>(lower));
    put_linkinfo(req, "vlan", [&](Request& r) {
      r.put_u16(IFLA_VLAN_ID, static_cast<uint16_t>(vid));
      r.put_u16(IFLA_VLAN_PROTOCOL, proto);
    });
  });
}

void Netlink::create_veth(const std::string& name, const std::string& peer) {
  check_name(peer);
  impl_->create(name, "cannot create veth pair '" + name + "'/'" + peer + "'", [&](Request& req) {
    put_linkinfo(req, "veth", [&](Request& r) {
      nlattr* p = r.nest(VETH_INFO_PEER);
      ifinfomsg ifi{};
      r.append(&ifi, sizeof ifi);
      r.put_string(IFLA_IFNAME, peer);
      r.end(p);
    });
  });
}

void Netlink::create_tap(const std::string& name) {
  std::string what = "cannot create tap '" + name + "'";
  check_name(name);
  // The tun driver does not create devices over rtnetlink: make a persistent one through
  // /dev/net/tun and let go of it; QEMU attaches to it by name later.
  int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) fail(what, errno, "/dev/net/tun");
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.c_str(), name.size());
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_TUN_EXCL;
  int error = 0;
  if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETPERSIST, 1) < 0) error = errno;
  ::close(fd);
  if (error) fail(what, error == EBUSY ? EEXIST : error);  // TUN_EXCL says EBUSY for "exists"
}

void Netlink::delete_link(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) return;
  auto req = Request::link(RTM_DELLINK, 0, 0);
  req.put_string(IFLA_IFNAME, name);
  auto [error, detail] = impl_->transact(req);
  if (error && error != -ENODEV) fail("cannot delete '" + name + "'", error, detail);
}

// --- link attributes ---

void Netlink::set_up(const std::string& name, bool up) {
  std::string what = "cannot set '" + name + "' " + (up ? "up" : "down");
  int index = impl_->require(name, what);
  ifinfomsg ifi{};
  ifi.ifi_index = index;
  ifi.ifi_flags = up ? IFF_UP : 0;
  ifi.ifi_change = IFF_UP;
  impl_->change(Request(RTM_NEWLINK, 0, &ifi, sizeof ifi), what);
}

void Netlink::set_mtu(const std::string& name, unsigned mtu) {
  std::string what = "cannot set MTU of '" + name + "' to " + std::to_string(mtu);
  auto req = Request::link(RTM_NEWLINK, 0, impl_->require(name, what));
  req.put_u32(IFLA_MTU, mtu);
  impl_->change(req, what);
}

void Netlink::set_master(const std::string& name, const std::string& master) {
  if (master.empty()) {
    std::string what = "cannot release '" + name + "' from its master";
    auto req = Request::link(RTM_NEWLINK, 0, impl_->require(name, what));
    req.put_u32(IFLA_MASTER, 0);
    impl_->change(req, what);
    return;
  }
  auto port = impl_->get_link(name);
  auto upper = impl_->get_link(master);
  const std::string& kind = upper ? upper->state.kind : std::string();
  std::string what = "cannot add '" + name + "' to " + (kind == "bridge" || kind == "bond" ? kind + " '" : "'") +
                     master + "'";
  if (!port) missing(what, name);
  if (!upper) missing(what, master);
  // Bonding refuses slaves that are up; it brings them up itself once enslaved.
  if (kind == "bond" && port->state.up && port->state.master != upper->state.name) set_up(name, false);
  auto req = Request::link(RTM_NEWLINK, 0, port->state.index);
  req.put_u32(IFLA_MASTER, static_cast<uint32_t>(upper->state.index));
  impl_->change(req, what);
}

void Netlink::set_bridge_vlan_filtering(const std::string& bridge, bool on) {
  std::string what = "cannot " + std::string(on ? "enable" : "disable") + " VLAN filtering on bridge '" + bridge + "'";
  impl_->bridge_data(bridge, what, [&](Request& r) { r.put_u8(IFLA_BR_VLAN_FILTERING, on ? 1 : 0); });
}

void Netlink::set_bridge_stp(const std::string& bridge, bool stp, unsigned forward_delay) {
  std::string what = "cannot set STP " + std::string(stp ? "on" : "off") + " with forward delay " +
                     std::to_string(forward_delay) + " on bridge '" + bridge + "'";
  // With STP on the kernel only accepts delays of 2-30 s, so the order of the two changes matters:
  // the delay goes in while STP is off.
  std::function<void(Request&)> put_stp = [&](Request& r) { r.put_u32(IFLA_BR_STP_STATE, stp ? 1 : 0); };
  std::function<void(Request&)> put_delay = [&](Request& r) {
    r.put_u32(IFLA_BR_FORWARD_DELAY, forward_delay * kUserHz);
  };
  impl_->bridge_data(bridge, what, stp ? put_delay : put_stp);
  impl_->bridge_data(bridge, what, stp ? put_stp : put_delay);
}

// --- bridge VLANs ---

void Netlink::add_port_vlan(const std::string& ifname, int vid, bool pvid, bool untagged, int vid_end, bool self) {
  impl_->bridge_vlan(true, ifname, vid, vid_end, pvid, untagged, self);
}

void Netlink::del_port_vlan(const std::string& ifname, int vid, int vid_end, bool self) {
  impl_->bridge_vlan(false, ifname, vid, vid_end, false, false, self);
}

// --- addresses and routes ---

namespace {

Request address_request(int type, int flags, int index, const Cidr& c) {
  ifaddrmsg ifa{};
  ifa.ifa_family = static_cast<unsigned char>(c.family);
  ifa.ifa_prefixlen = static_cast<unsigned char>(c.prefix);
  ifa.ifa_index = static_cast<unsigned>(index);
  Request req(type, flags, &ifa, sizeof ifa);
  req.put(IFA_LOCAL, c.bytes.data(), static_cast<std::size_t>(c.size()));
  req.put(IFA_ADDRESS, c.bytes.data(), static_cast<std::size_t>(c.size()));
  return req;
}

}  // namespace

void Netlink::add_address(const std::string& ifname, const std::string& cidr) {
  std::string what = "cannot add address " + cidr + " to '" + ifname + "'";
  auto c = parse_cidr(cidr);
  if (!c) throw Error(what + ": not an IP address", 400);
  // Like `ip address replace`: adding an address that is there already is not an error.
  auto req = address_request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, impl_->require(ifname, what), *c);
  if (c->family == AF_INET && c->prefix < 31) {
    uint32_t host_bits = 0xffffffffU >> c->prefix;
    uint32_t addr = 0;
    std::memcpy(&addr, c->bytes.data(), 4);
    uint32_t broadcast = htonl(ntohl(addr) | host_bits);
    req.put(IFA_BROADCAST, &broadcast, sizeof broadcast);
  }
  impl_->change(req, what);
}

void Netlink::del_address(const std::string& ifname, const std::string& cidr) {
  std::string what = "cannot remove address " + cidr + " from '" + ifname + "'";
  auto c = parse_cidr(cidr);
  if (!c) throw Error(what + ": not an IP address", 400);
  impl_->change(address_request(RTM_DELADDR, 0, impl_->require(ifname, what), *c), what);
}

namespace {

struct RouteRequestParts {
  Cidr dst;
  std::optional<Cidr> gateway;
  int family = 0;
};

RouteRequestParts route_parts(const RouteState& route, const std::string& what) {
  RouteRequestParts p;
  std::optional<Cidr> dst;
  if (route.dst == "default" || route.dst.empty()) {
    dst = Cidr{};
  } else {
    dst = parse_cidr(route.dst);
    if (!dst) throw Error(what + ": '" + route.dst + "' is not a destination", 400);
  }
  if (!route.gateway.empty()) {
    p.gateway = parse_cidr(route.gateway);
    if (!p.gateway || p.gateway->prefix != p.gateway->size() * 8) {
      throw Error(what + ": '" + route.gateway + "' is not a gateway address", 400);
    }
  }
  p.family = route.family ? route.family : dst->family ? dst->family : p.gateway ? p.gateway->family : AF_INET;
  if ((dst->family && dst->family != p.family) || (p.gateway && p.gateway->family != p.family)) {
    throw Error(what + ": mixed address families", 400);
  }
  p.dst = *dst;
  p.dst.family = p.family;
  return p;
}

}  // namespace

// One route message: add (as `ip route replace`: the route for that destination ends up as
// given) or delete (any scope matches).
void Netlink::route_request(const RouteState& route, bool add) {
  std::string what = std::string(add ? "cannot add route " : "cannot remove route ") + route.dst +
                     (route.gateway.empty() ? "" : " via " + route.gateway) +
                     (route.ifname.empty() ? "" : " dev " + route.ifname);
  auto p = route_parts(route, what);
  int index = route.ifname.empty() ? 0 : impl_->require(route.ifname, what);
  rtmsg rtm{};
  rtm.rtm_family = static_cast<unsigned char>(p.family);
  rtm.rtm_dst_len = static_cast<unsigned char>(p.dst.prefix);
  rtm.rtm_table = static_cast<unsigned char>(route.table < 256 ? route.table : static_cast<int>(RT_TABLE_UNSPEC));
  if (add) {
    rtm.rtm_protocol = static_cast<unsigned char>(route.protocol ? route.protocol : RTPROT_BOOT);
    rtm.rtm_scope = p.gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
    rtm.rtm_type = RTN_UNICAST;
  } else {
    rtm.rtm_scope = RT_SCOPE_NOWHERE;
  }
  Request req(add ? RTM_NEWROUTE : RTM_DELROUTE, add ? NLM_F_CREATE | NLM_F_REPLACE : 0, &rtm, sizeof rtm);
  req.put_u32(RTA_TABLE, static_cast<uint32_t>(route.table));
  if (p.dst.prefix) req.put(RTA_DST, p.dst.bytes.data(), static_cast<std::size_t>(p.dst.size()));
  if (p.gateway) req.put(RTA_GATEWAY, p.gateway->bytes.data(), static_cast<std::size_t>(p.gateway->size()));
  if (index) req.put_u32(RTA_OIF, static_cast<uint32_t>(index));
  impl_->change(req, what);
}

void Netlink::add_route(const RouteState& route) { route_request(route, true); }
void Netlink::del_route(const RouteState& route) { route_request(route, false); }

}  // namespace pvx::network
