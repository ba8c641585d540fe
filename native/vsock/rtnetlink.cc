// The guest's network set-up and clock as system calls, for the in-guest
// agent: what `busybox ip` did with one program per command line (each a
// fork of the agent, ~0.4 s of guest CPU together under TCG). One rtnetlink
// request per `ip` command line, with the same message `busybox ip` sends,
// so the end state is the same (test/unit/agent/network-native.test.ts
// compares the two in throw-away network namespaces). See
// common/native/rtnetlink.ts and agent/src/network.ts.
//
// Every call opens its own NETLINK_ROUTE socket, sends one request with
// NLM_F_ACK and reads the answer: nothing is kept between calls, and a
// failure throws a Node-style error (code, errno, syscall) whose message
// names the object and carries the kernel's extended ack text if it gave one.

#define NAPI_VERSION 8
#include <napi.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "syscall-util.h"

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif

namespace vmpod {
namespace {

// A request being built: the netlink header, the family header, attributes.
class Message {
 public:
  Message(uint16_t type, uint16_t flags, const void* family_header, size_t len) {
    buf_.resize(NLMSG_SPACE(len));
    auto* h = header();
    h->nlmsg_len = static_cast<uint32_t>(NLMSG_LENGTH(len));
    h->nlmsg_type = type;
    h->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | NLM_F_ACK | flags);
    std::memcpy(NLMSG_DATA(h), family_header, len);
  }
  void Attr(uint16_t type, const void* data, size_t len) {
    size_t at = NLMSG_ALIGN(header()->nlmsg_len);
    buf_.resize(at + RTA_SPACE(len));
    auto* rta = reinterpret_cast<struct rtattr*>(buf_.data() + at);
    rta->rta_type = type;
    rta->rta_len = static_cast<uint16_t>(RTA_LENGTH(len));
    std::memcpy(RTA_DATA(rta), data, len);
    header()->nlmsg_len = static_cast<uint32_t>(at + RTA_LENGTH(len));
  }
  void AttrU32(uint16_t type, uint32_t v) { Attr(type, &v, sizeof v); }
  void AttrString(uint16_t type, const std::string& s) { Attr(type, s.c_str(), s.size() + 1); }
  struct nlmsghdr* header() { return reinterpret_cast<struct nlmsghdr*>(buf_.data()); }

 private:
  std::vector<char> buf_;
};

// What failed: errno, the request's name ("RTM_NEWADDR") and its object, the kernel's words.
struct Failure {
  int err = 0;
  std::string op;
  std::string what;
  std::string kernel;
};

class Rtnl {
 public:
  Rtnl() {
    fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd_ < 0) return;
    int one = 1;
    // Best effort: an older kernel just gives no text with its errno.
    ::setsockopt(fd_, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  }
  ~Rtnl() {
    if (fd_ >= 0) ::close(fd_);
  }
  Rtnl(const Rtnl&) = delete;
  Rtnl& operator=(const Rtnl&) = delete;

  int fd() const { return fd_; }

  // Sends `m` and reads until its ack (or, for a dump, NLMSG_DONE), calling
  // `each` with every other message of the answer. 0, or an errno with the
  // kernel's text in *kernel.
  template <typename F>
  int Request(Message& m, std::string* kernel, F each) {
    if (fd_ < 0) return errno;
    auto* h = m.header();
    h->nlmsg_seq = ++seq_;
    struct sockaddr_nl to = {};
    to.nl_family = AF_NETLINK;
    if (RetryEintr([&] { return ::sendto(fd_, h, h->nlmsg_len, 0, reinterpret_cast<struct sockaddr*>(&to), sizeof to); }) < 0) {
      return errno;
    }
    std::vector<char> buf(32768);
    for (;;) {
      long n = RetryEintr([&] { return ::recv(fd_, buf.data(), buf.size(), 0); });
      if (n < 0) return errno;
      size_t left = static_cast<size_t>(n);
      for (auto* r = reinterpret_cast<struct nlmsghdr*>(buf.data()); NLMSG_OK(r, left); r = NLMSG_NEXT(r, left)) {
        if (r->nlmsg_seq != h->nlmsg_seq) continue;
        if (r->nlmsg_type == NLMSG_DONE) return 0;
        if (r->nlmsg_type == NLMSG_ERROR) {
          auto* e = static_cast<struct nlmsgerr*>(NLMSG_DATA(r));
          if (e->error != 0) ExtAck(r, kernel);
          return -e->error;
        }
        each(r);
      }
    }
  }

 private:
  // The NLMSGERR_ATTR_MSG text of an error answer, if the kernel sent one.
  static void ExtAck(struct nlmsghdr* r, std::string* out) {
    if (!(r->nlmsg_flags & NLM_F_ACK_TLVS)) return;
    auto* e = static_cast<struct nlmsgerr*>(NLMSG_DATA(r));
    // The echoed request is whole unless the kernel capped it to its header.
    size_t skip = sizeof(struct nlmsgerr) + ((r->nlmsg_flags & NLM_F_CAPPED) ? 0 : e->msg.nlmsg_len - NLMSG_HDRLEN);
    size_t end = r->nlmsg_len - NLMSG_HDRLEN;
    if (skip >= end) return;
    auto* a = reinterpret_cast<struct nlattr*>(static_cast<char*>(NLMSG_DATA(r)) + NLMSG_ALIGN(skip));
    long left = static_cast<long>(end - NLMSG_ALIGN(skip));
    while (left >= static_cast<long>(sizeof(struct nlattr)) && a->nla_len >= sizeof(struct nlattr) && a->nla_len <= left) {
      if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG && a->nla_len > NLA_HDRLEN) {
        const char* s = reinterpret_cast<const char*>(a) + NLA_HDRLEN;
        *out = std::string(s, strnlen(s, a->nla_len - NLA_HDRLEN));
        return;
      }
      left -= NLA_ALIGN(a->nla_len);
      a = reinterpret_cast<struct nlattr*>(reinterpret_cast<char*>(a) + NLA_ALIGN(a->nla_len));
    }
  }

  int fd_ = -1;
  uint32_t seq_ = 0;
};

void Throw(Napi::Env env, const Failure& f) {
  char name[64];
  uv_err_name_r(-f.err, name, sizeof name);
  std::string msg = f.op + " " + f.what + ": " + name + " (" + uv_strerror(-f.err) + ")";
  if (!f.kernel.empty()) msg += ": " + f.kernel;
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, name));
  e.Set("errno", Napi::Number::New(env, -f.err));
  e.Set("syscall", Napi::String::New(env, f.op));
  e.ThrowAsJavaScriptException();
}

// An IPv4 or IPv6 address in binary, as `ip` parses one.
struct Addr {
  int family = AF_UNSPEC;
  unsigned char bytes[16] = {};
  size_t len() const { return family == AF_INET ? 4 : 16; }
};

bool ParseAddr(const std::string& s, Addr* a) {
  if (::inet_pton(AF_INET, s.c_str(), a->bytes) == 1) {
    a->family = AF_INET;
    return true;
  }
  if (::inet_pton(AF_INET6, s.c_str(), a->bytes) == 1) {
    a->family = AF_INET6;
    return true;
  }
  return false;
}

// Typed argument checks: the TypeScript side validates what the host sent;
// these only keep a wrong call from doing anything.
bool GetString(const Napi::CallbackInfo& info, size_t i, const char* usage, std::string* out) {
  if (info.Length() <= i || !info[i].IsString()) {
    Napi::TypeError::New(info.Env(), usage).ThrowAsJavaScriptException();
    return false;
  }
  *out = info[i].As<Napi::String>().Utf8Value();
  return true;
}

// A string, or null/undefined as "".
bool GetOptString(const Napi::CallbackInfo& info, size_t i, const char* usage, std::string* out) {
  if (info.Length() <= i || info[i].IsNull() || info[i].IsUndefined()) {
    out->clear();
    return true;
  }
  return GetString(info, i, usage, out);
}

bool IfIndex(Napi::Env env, const std::string& ifname, const char* op, int* out) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) {
    Napi::RangeError::New(env, std::string(op) + ": \"" + ifname + "\" is not an interface name").ThrowAsJavaScriptException();
    return false;
  }
  unsigned idx = ::if_nametoindex(ifname.c_str());
  if (idx == 0) {
    Throw(env, {errno, op, "dev " + ifname, ""});
    return false;
  }
  *out = static_cast<int>(idx);
  return true;
}

// Throws "OP: "S" is not an IP address"; returns undefined for the caller to return.
Napi::Value BadAddr(Napi::Env env, const char* op, const std::string& s) {
  Napi::RangeError::New(env, std::string(op) + ": \"" + s + "\" is not an IP address").ThrowAsJavaScriptException();
  return env.Undefined();
}

// RTM_NEWLINK on one interface: `change` of its flags set to `flags`, plus attributes.
template <typename F>
void NewLink(const Napi::CallbackInfo& info, const char* usage, const std::string& what, unsigned flags, unsigned change, F attrs) {
  Napi::Env env = info.Env();
  std::string ifname;
  if (!GetString(info, 0, usage, &ifname)) return;
  int idx;
  if (!IfIndex(env, ifname, "RTM_NEWLINK", &idx)) return;
  struct ifinfomsg ifi = {};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = idx;
  ifi.ifi_flags = flags;
  ifi.ifi_change = change;
  Message m(RTM_NEWLINK, 0, &ifi, sizeof ifi);
  if (!attrs(m)) return;
  Rtnl nl;
  Failure f{0, "RTM_NEWLINK", "dev " + ifname + " " + what, ""};
  f.err = nl.Request(m, &f.kernel, [](struct nlmsghdr*) {});
  if (f.err != 0) Throw(env, f);
}

// linkSetUp(ifname, up) — `ip link set dev IF up|down`.
Napi::Value LinkSetUp(const Napi::CallbackInfo& info) {
  const char* usage = "linkSetUp(ifname: string, up: boolean)";
  if (info.Length() < 2 || !info[1].IsBoolean()) {
    Napi::TypeError::New(info.Env(), usage).ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  bool up = info[1].As<Napi::Boolean>().Value();
  NewLink(info, usage, up ? "up" : "down", up ? IFF_UP : 0, IFF_UP, [](Message&) { return true; });
  return info.Env().Undefined();
}

// linkSetMtu(ifname, mtu) — `ip link set dev IF mtu N`.
Napi::Value LinkSetMtu(const Napi::CallbackInfo& info) {
  uint32_t mtu;
  if (!GetU32(info, 1, &mtu)) return info.Env().Undefined();
  NewLink(info, "linkSetMtu(ifname: string, mtu: number)", "mtu " + std::to_string(mtu), 0, 0, [&](Message& m) {
    m.AttrU32(IFLA_MTU, mtu);
    return true;
  });
  return info.Env().Undefined();
}

// linkRename(ifname, newName) — `ip link set dev IF name NEW` (the link must be down).
Napi::Value LinkRename(const Napi::CallbackInfo& info) {
  const char* usage = "linkRename(ifname: string, newName: string)";
  std::string name;
  if (!GetString(info, 1, usage, &name)) return info.Env().Undefined();
  if (name.empty() || name.size() >= IFNAMSIZ) {
    Napi::RangeError::New(info.Env(), "linkRename: \"" + name + "\" is not an interface name").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  NewLink(info, usage, "name " + name, 0, 0, [&](Message& m) {
    m.AttrString(IFLA_IFNAME, name);
    return true;
  });
  return info.Env().Undefined();
}

// addrFlush(ifname) — `ip addr flush dev IF`: every address of the link, of
// every family, deleted with the message the dump gave for it. A dump again
// after each round: deleting a primary IPv4 address can take its secondaries.
Napi::Value AddrFlush(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string ifname;
  if (!GetString(info, 0, "addrFlush(ifname: string)", &ifname)) return env.Undefined();
  int idx;
  if (!IfIndex(env, ifname, "RTM_GETADDR", &idx)) return env.Undefined();
  Rtnl nl;
  for (int round = 0; round < 16; round++) {
    std::vector<std::vector<char>> found;
    struct ifaddrmsg q = {};
    q.ifa_family = AF_UNSPEC;
    q.ifa_index = static_cast<uint32_t>(idx);
    Message dump(RTM_GETADDR, NLM_F_DUMP, &q, sizeof q);
    Failure f{0, "RTM_GETADDR", "dev " + ifname, ""};
    f.err = nl.Request(dump, &f.kernel, [&](struct nlmsghdr* r) {
      if (r->nlmsg_type != RTM_NEWADDR) return;
      auto* a = static_cast<struct ifaddrmsg*>(NLMSG_DATA(r));
      if (static_cast<int>(a->ifa_index) != idx) return;
      const char* p = reinterpret_cast<const char*>(r);
      found.emplace_back(p, p + r->nlmsg_len);
    });
    if (f.err != 0) {
      Throw(env, f);
      return env.Undefined();
    }
    if (found.empty()) return env.Undefined();
    for (auto& raw : found) {
      // The dumped message as the delete request, as `ip addr flush` sends it.
      auto* r = reinterpret_cast<struct nlmsghdr*>(raw.data());
      auto* a = static_cast<struct ifaddrmsg*>(NLMSG_DATA(r));
      Message del(RTM_DELADDR, 0, a, sizeof *a);
      size_t left = r->nlmsg_len - NLMSG_LENGTH(sizeof *a);
      for (auto* rta = IFA_RTA(a); RTA_OK(rta, left); rta = RTA_NEXT(rta, left)) {
        del.Attr(rta->rta_type, RTA_DATA(rta), RTA_PAYLOAD(rta));
      }
      Failure d{0, "RTM_DELADDR", "dev " + ifname, ""};
      d.err = nl.Request(del, &d.kernel, [](struct nlmsghdr*) {});
      // Gone meanwhile (a secondary that went with its primary): what flush wants.
      if (d.err != 0 && d.err != EADDRNOTAVAIL && d.err != ENOENT) {
        Throw(env, d);
        return env.Undefined();
      }
    }
  }
  Throw(env, {EBUSY, "RTM_DELADDR", "dev " + ifname + " (addresses keep coming back)", ""});
  return env.Undefined();
}

// addrAdd(ifname, address, prefixLength) — `ip addr add ADDRESS/PREFIX dev IF`:
// IFA_LOCAL and IFA_ADDRESS both the address, no broadcast, scope host for
// 127/8 and global otherwise (busybox's default_scope), create-exclusive.
Napi::Value AddrAdd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "addrAdd(ifname: string, address: string, prefixLength: number)";
  std::string ifname, address;
  uint32_t plen;
  if (!GetString(info, 0, usage, &ifname) || !GetString(info, 1, usage, &address) || !GetU32(info, 2, &plen)) return env.Undefined();
  Addr a;
  if (!ParseAddr(address, &a)) return BadAddr(env, "addrAdd", address);
  if (plen > a.len() * 8) {
    Napi::RangeError::New(env, "addrAdd: prefix length " + std::to_string(plen) + " is too long for " + address).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int idx;
  if (!IfIndex(env, ifname, "RTM_NEWADDR", &idx)) return env.Undefined();
  struct ifaddrmsg ifa = {};
  ifa.ifa_family = static_cast<unsigned char>(a.family);
  ifa.ifa_prefixlen = static_cast<unsigned char>(plen);
  ifa.ifa_index = static_cast<uint32_t>(idx);
  ifa.ifa_scope = (a.family == AF_INET && a.bytes[0] == 127) ? RT_SCOPE_HOST : RT_SCOPE_UNIVERSE;
  Message m(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof ifa);
  m.Attr(IFA_LOCAL, a.bytes, a.len());
  m.Attr(IFA_ADDRESS, a.bytes, a.len());
  Rtnl nl;
  Failure f{0, "RTM_NEWADDR", address + "/" + std::to_string(plen) + " dev " + ifname, ""};
  f.err = nl.Request(m, &f.kernel, [](struct nlmsghdr*) {});
  if (f.err != 0) Throw(env, f);
  return env.Undefined();
}

// routeReplace(destination|null, prefixLength, gateway|null, device|null, source|null)
// — `ip route replace DEST [via GW] [dev DEV] [src SRC]` (null destination:
// "default"): table main, protocol boot, unicast, scope link without a
// gateway and universe with one; the family from the first address given,
// IPv4 if none (busybox's rules).
Napi::Value RouteReplace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "routeReplace(destination: string | null, prefixLength: number, gateway: string | null, device: string | null, source: string | null)";
  std::string dst, gw, dev, src;
  uint32_t plen;
  if (!GetOptString(info, 0, usage, &dst) || !GetU32(info, 1, &plen) || !GetOptString(info, 2, usage, &gw) || !GetOptString(info, 3, usage, &dev) ||
      !GetOptString(info, 4, usage, &src)) {
    return env.Undefined();
  }
  Addr d, g, s;
  if (!dst.empty() && !ParseAddr(dst, &d)) return BadAddr(env, "routeReplace", dst);
  if (!gw.empty() && !ParseAddr(gw, &g)) return BadAddr(env, "routeReplace", gw);
  if (!src.empty() && !ParseAddr(src, &s)) return BadAddr(env, "routeReplace", src);
  int family = !dst.empty() ? d.family : !gw.empty() ? g.family : !src.empty() ? s.family : AF_INET;
  if ((!gw.empty() && g.family != family) || (!src.empty() && s.family != family)) {
    Napi::RangeError::New(env, "routeReplace: the addresses of one route must be of one family").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (dst.empty() ? plen != 0 : plen > d.len() * 8) {
    Napi::RangeError::New(env, "routeReplace: prefix length " + std::to_string(plen) + " does not fit " + (dst.empty() ? "default" : dst)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int oif = 0;
  if (!dev.empty() && !IfIndex(env, dev, "RTM_NEWROUTE", &oif)) return env.Undefined();
  struct rtmsg rt = {};
  rt.rtm_family = static_cast<unsigned char>(family);
  rt.rtm_dst_len = static_cast<unsigned char>(plen);
  rt.rtm_table = RT_TABLE_MAIN;
  rt.rtm_protocol = RTPROT_BOOT;
  rt.rtm_scope = gw.empty() ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
  rt.rtm_type = RTN_UNICAST;
  Message m(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, &rt, sizeof rt);
  if (!dst.empty()) m.Attr(RTA_DST, d.bytes, d.len());
  if (!gw.empty()) m.Attr(RTA_GATEWAY, g.bytes, g.len());
  if (oif != 0) m.AttrU32(RTA_OIF, static_cast<uint32_t>(oif));
  if (!src.empty()) m.Attr(RTA_PREFSRC, s.bytes, s.len());
  std::string what = dst.empty() ? "default" : dst + "/" + std::to_string(plen);
  if (!gw.empty()) what += " via " + gw;
  if (!dev.empty()) what += " dev " + dev;
  if (!src.empty()) what += " src " + src;
  Rtnl nl;
  Failure f{0, "RTM_NEWROUTE", what, ""};
  f.err = nl.Request(m, &f.kernel, [](struct nlmsghdr*) {});
  if (f.err != 0) Throw(env, f);
  return env.Undefined();
}

// setRealtimeClock(seconds, nanoseconds) — clock_settime(CLOCK_REALTIME), what `date -s` does.
Napi::Value SetRealtimeClock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "setRealtimeClock(seconds: number, nanoseconds: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  double sec = info[0].As<Napi::Number>().DoubleValue();
  double nsec = info[1].As<Napi::Number>().DoubleValue();
  // 2^53: every integer below is exact in a double and fits time_t.
  if (!(sec >= 0 && sec < 9007199254740992.0) || sec != static_cast<double>(static_cast<int64_t>(sec)) || !(nsec >= 0 && nsec < 1e9) ||
      nsec != static_cast<double>(static_cast<long>(nsec))) {
    Napi::RangeError::New(env, "setRealtimeClock: seconds must be a whole number >= 0 and nanoseconds 0..999999999").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(sec);
  ts.tv_nsec = static_cast<long>(nsec);
  if (::clock_settime(CLOCK_REALTIME, &ts) < 0) ThrowErrno(env, errno, "clock_settime", "");
  return env.Undefined();
}

}  // namespace

void AddRtnetlinkFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("linkSetUp", Napi::Function::New<LinkSetUp>(env, "linkSetUp"));
  exports.Set("linkSetMtu", Napi::Function::New<LinkSetMtu>(env, "linkSetMtu"));
  exports.Set("linkRename", Napi::Function::New<LinkRename>(env, "linkRename"));
  exports.Set("addrFlush", Napi::Function::New<AddrFlush>(env, "addrFlush"));
  exports.Set("addrAdd", Napi::Function::New<AddrAdd>(env, "addrAdd"));
  exports.Set("routeReplace", Napi::Function::New<RouteReplace>(env, "routeReplace"));
  exports.Set("setRealtimeClock", Napi::Function::New<SetRealtimeClock>(env, "setRealtimeClock"));
}

}  // namespace vmpod
