// vsock.node — AF_VSOCK sockets for Node.js (its Handle also drives a pty
// master or a unix SOCK_SEQPACKET socket), plus the few syscalls the guest
// agent needs and Node lacks (mount, umount2, reboot; the pty calls behind
// containers with a terminal are in pty.cc).
//
// Build: `npx node-gyp rebuild -C native/vsock` (scripts/build-native).
// The TypeScript wrapper is src/native/vsock.ts; nothing else should load
// this module directly.
//
// Why not `new net.Socket({ fd })`: libuv's uv_guess_handle() classifies a
// socket by its address family and only knows AF_UNIX and AF_INET/6, so Node
// rejects an AF_VSOCK fd with ERR_INVALID_FD_TYPE. Instead this file exposes
// thin non-blocking syscalls plus readiness notification through uv_poll_t on
// the main loop; the Duplex stream logic lives in TypeScript. Nothing here
// blocks, and nothing runs on the libuv thread pool.
//
// Convention: socket calls return a number; >= 0 is success, < 0 is -errno.
// The wrapper turns -errno into a Node-style error (code, errno, syscall), so
// the errno→code mapping is Node's own (util.getSystemErrorMap).

#define NAPI_VERSION 8
#include <napi.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434  // the same number on every architecture (Linux 5.3)
#endif

#include <cstdint>
#include <cstring>
#include <string>

#include "syscall-util.h"

namespace {

using vmpod::GetU32;
using vmpod::Result;
using vmpod::RetryEintr;
using vmpod::ThrowErrno;

// One socket fd and its uv_poll_t. The object owns the fd: it is closed by
// close() or, if JS drops the object without closing, by the destructor (GC),
// so an fd is never leaked and never closed twice (closing a stale number
// could hit an unrelated fd that reused it).
class Handle : public Napi::ObjectWrap<Handle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Handle",
                       {
                           InstanceMethod<&Handle::Connect>("connect"),
                           InstanceMethod<&Handle::Bind>("bind"),
                           InstanceMethod<&Handle::Listen>("listen"),
                           InstanceMethod<&Handle::Accept>("accept"),
                           InstanceMethod<&Handle::SocketError>("socketError"),
                           InstanceMethod<&Handle::SetConnectTimeout>("setConnectTimeout"),
                           InstanceMethod<&Handle::SetBufferSize>("setBufferSize"),
                           InstanceMethod<&Handle::Read>("read"),
                           InstanceMethod<&Handle::Write>("write"),
                           InstanceMethod<&Handle::Shutdown>("shutdown"),
                           InstanceMethod<&Handle::Poll>("poll"),
                           InstanceMethod<&Handle::SetRef>("setRef"),
                           InstanceMethod<&Handle::LocalAddress>("localAddress"),
                           InstanceMethod<&Handle::RemoteAddress>("remoteAddress"),
                           InstanceMethod<&Handle::Close>("close"),
                           InstanceAccessor<&Handle::Fd>("fd"),
                       });
  }

  // new Handle(fd) — takes ownership of fd. Readiness is reported by calling
  // the handle's own `onpoll(status, events)` property (like Node's
  // handle.onread) rather than a callback held in a persistent reference: a
  // persistent would be a GC root reaching the handle through the callback's
  // closure, and an unclosed, dropped handle could then never be collected.
  explicit Handle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Handle>(info) {
    uint32_t fd;
    if (!GetU32(info, 0, &fd)) return;
    fd_ = static_cast<int>(fd);
    napi_get_uv_event_loop(info.Env(), &loop_);
    // Any fd may be adopted (a pty master too): readiness-driven reads need it
    // non-blocking, and only sockets take recv/send.
    int fl = ::fcntl(fd_, F_GETFL);
    if (fl >= 0 && !(fl & O_NONBLOCK)) ::fcntl(fd_, F_SETFL, fl | O_NONBLOCK);
    struct stat st;
    is_socket_ = ::fstat(fd_, &st) == 0 && S_ISSOCK(st.st_mode);
  }

  ~Handle() override {
    // Reached only when not polling (an active poll holds a strong reference),
    // i.e. JS dropped a handle it never closed.
    ReleaseResources();
  }

 private:
  static void FreePoll(uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); }

  void ReleaseResources() {
    if (poll_ != nullptr) {
      poll_->data = nullptr;
      // uv_close stops polling synchronously (the fd leaves epoll now), so the
      // fd may be closed right after; the memory goes in the close callback,
      // which can run after this object is gone — hence the heap allocation.
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), FreePoll);
      poll_ = nullptr;
    }
    if (fd_ >= 0) {
      // Do not retry close() on EINTR: on Linux the fd is released anyway.
      ::close(fd_);
      fd_ = -1;
    }
  }

  bool CheckOpen(Napi::Env env) {
    if (fd_ >= 0) return true;
    Napi::Error e = Napi::Error::New(env, "vsock handle is closed");
    e.Set("code", Napi::String::New(env, "ERR_SOCKET_CLOSED"));
    e.ThrowAsJavaScriptException();
    return false;
  }

  static void OnPoll(uv_poll_t* h, int status, int events) {
    Handle* self = static_cast<Handle*>(h->data);
    if (self == nullptr) return;
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    // Taken first: this local keeps the object alive for the rest of the call.
    Napi::Object obj = self->Value();
    if (status < 0 && self->polling_) {
      // libuv has already stopped the handle (it reports EPOLLERR as
      // UV_EBADF and stops): drop the keep-alive reference to match.
      self->polling_ = false;
      self->Unref();
    }
    // MakeCallback (not Call) so that microtasks and nextTicks queued by the
    // JS side run before we return to the loop, as for Node's own handles.
    Napi::Value fn = obj.Get("onpoll");
    if (!env.IsExceptionPending() && fn.IsFunction())
      fn.As<Napi::Function>().MakeCallback(obj, {Napi::Number::New(env, status), Napi::Number::New(env, events)});
    if (env.IsExceptionPending()) {
      // Route a throw from the callback to process 'uncaughtException', as an
      // exception thrown in any Node I/O callback would be.
      Napi::Error err = env.GetAndClearPendingException();
      napi_fatal_exception(env, err.Value());
    }
  }

  // (cid, port) from the first two arguments; false (with a JS exception pending) if they are not uint32s.
  bool AddressArg(const Napi::CallbackInfo& info, sockaddr_vm* addr) {
    uint32_t cid, port;
    if (!CheckOpen(info.Env()) || !GetU32(info, 0, &cid) || !GetU32(info, 1, &port)) return false;
    *addr = sockaddr_vm{};
    addr->svm_family = AF_VSOCK;
    addr->svm_cid = cid;
    addr->svm_port = port;
    return true;
  }

  Napi::Value Connect(const Napi::CallbackInfo& info) {
    sockaddr_vm addr;
    if (!AddressArg(info, &addr)) return info.Env().Undefined();
    // Non-blocking: usually -EINPROGRESS; completion is signalled by
    // writability and the outcome read with socketError(). Do not retry on
    // EINTR: a second connect() would report EALREADY; the first goes on.
    long r = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    return Napi::Number::New(info.Env(), static_cast<double>(Result(r)));
  }

  Napi::Value Bind(const Napi::CallbackInfo& info) {
    sockaddr_vm addr;
    if (!AddressArg(info, &addr)) return info.Env().Undefined();
    long r = ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    return Napi::Number::New(info.Env(), static_cast<double>(Result(r)));
  }

  Napi::Value Listen(const Napi::CallbackInfo& info) {
    uint32_t backlog;
    if (!CheckOpen(info.Env()) || !GetU32(info, 0, &backlog)) return info.Env().Undefined();
    long r = ::listen(fd_, static_cast<int>(backlog > 4096 ? 4096 : backlog));
    return Napi::Number::New(info.Env(), static_cast<double>(Result(r)));
  }

  // Returns the accepted fd (non-blocking, close-on-exec) or -errno; -EAGAIN
  // when the queue is empty.
  Napi::Value Accept(const Napi::CallbackInfo& info) {
    if (!CheckOpen(info.Env())) return info.Env().Undefined();
    long r = RetryEintr([&] { return ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC); });
    return Napi::Number::New(info.Env(), static_cast<double>(Result(r)));
  }

  // Pending socket error (SO_ERROR), as -errno, 0 when none. Reading it clears it.
  Napi::Value SocketError(const Napi::CallbackInfo& info) {
    if (!CheckOpen(info.Env())) return info.Env().Undefined();
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    return Napi::Number::New(info.Env(), -err);
  }

  // The kernel runs its own timer for a non-blocking vsock connect (2 s by
  // default) and fails it with ETIMEDOUT; align it with the caller's timeout.
  Napi::Value SetConnectTimeout(const Napi::CallbackInfo& info) {
    uint32_t ms;
    if (!CheckOpen(info.Env()) || !GetU32(info, 0, &ms)) return info.Env().Undefined();
    struct timeval tv;
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    long r = ::setsockopt(fd_, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv, sizeof tv);
    return Napi::Number::New(info.Env(), static_cast<double>(Result(r)));
  }

  // The kernel's per-socket receive buffer (credit) for vsock: 256 KiB by
  // default. Larger lets a bulk sender keep more in flight. The maximum must be
  // raised first or the kernel clamps the size. Sockets accepted from a
  // listener inherit its setting.
  Napi::Value SetBufferSize(const Napi::CallbackInfo& info) {
    uint32_t bytes;
    if (!CheckOpen(info.Env()) || !GetU32(info, 0, &bytes)) return info.Env().Undefined();
    unsigned long long v = bytes;
    long r = ::setsockopt(fd_, AF_VSOCK, SO_VM_SOCKETS_BUFFER_MAX_SIZE, &v, sizeof v);
    if (r == 0) r = ::setsockopt(fd_, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &v, sizeof v);
    return Napi::Number::New(info.Env(), static_cast<double>(Result(r)));
  }

  // read(buffer) → bytes read, 0 at EOF, -errno (-EAGAIN when nothing is ready).
  Napi::Value Read(const Napi::CallbackInfo& info) {
    if (!CheckOpen(info.Env())) return info.Env().Undefined();
    if (info.Length() < 1 || !info[0].IsBuffer()) {
      Napi::TypeError::New(info.Env(), "read needs a Buffer").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    auto buf = info[0].As<Napi::Buffer<uint8_t>>();
    long r = RetryEintr([&] { return is_socket_ ? ::recv(fd_, buf.Data(), buf.Length(), 0) : ::read(fd_, buf.Data(), buf.Length()); });
    return Napi::Number::New(info.Env(), static_cast<double>(Result(r)));
  }

  // write(buffer) → bytes written (may be fewer than given: the caller keeps
  // the rest and waits for writability), or -errno. MSG_NOSIGNAL: a write to a
  // reset peer must give EPIPE, never SIGPIPE.
  Napi::Value Write(const Napi::CallbackInfo& info) {
    if (!CheckOpen(info.Env())) return info.Env().Undefined();
    if (info.Length() < 1 || !info[0].IsTypedArray()) {
      Napi::TypeError::New(info.Env(), "write needs a Buffer or Uint8Array").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    auto arr = info[0].As<Napi::TypedArray>();
    const uint8_t* data = static_cast<const uint8_t*>(arr.ArrayBuffer().Data()) + arr.ByteOffset();
    size_t len = arr.ByteLength();
    // Not a socket (a pty master): write(2); Node ignores SIGPIPE anyway.
    long r = RetryEintr([&] { return is_socket_ ? ::send(fd_, data, len, MSG_NOSIGNAL) : ::write(fd_, data, len); });
    return Napi::Number::New(info.Env(), static_cast<double>(Result(r)));
  }

  Napi::Value Shutdown(const Napi::CallbackInfo& info) {
    uint32_t how;
    if (!CheckOpen(info.Env()) || !GetU32(info, 0, &how)) return info.Env().Undefined();
    long r = ::shutdown(fd_, static_cast<int>(how));
    return Napi::Number::New(info.Env(), static_cast<double>(Result(r)));
  }

  // poll(events) — start/replace readiness interest (UV_READABLE=1,
  // UV_WRITABLE=2); 0 stops. Returns 0 or a negative libuv error (= -errno).
  Napi::Value Poll(const Napi::CallbackInfo& info) {
    uint32_t events;
    if (!CheckOpen(info.Env()) || !GetU32(info, 0, &events)) return info.Env().Undefined();
    events &= UV_READABLE | UV_WRITABLE;
    if (poll_ == nullptr) {
      if (events == 0) return Napi::Number::New(info.Env(), 0);
      poll_ = new uv_poll_t;
      // uv_poll_init_socket also sets O_NONBLOCK, which we rely on.
      int r = uv_poll_init_socket(loop_, poll_, fd_);
      if (r < 0) {
        delete poll_;
        poll_ = nullptr;
        return Napi::Number::New(info.Env(), r);
      }
      poll_->data = this;
      if (!referenced_) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
    }
    int r = events != 0 ? uv_poll_start(poll_, static_cast<int>(events), OnPoll) : uv_poll_stop(poll_);
    bool want = r == 0 && events != 0;
    // While the kernel may call us back, keep the JS object (and so this C++
    // object) alive even if JS code holds no reference to it.
    if (want && !polling_) Ref();
    if (!want && polling_) Unref();
    polling_ = want;
    return Napi::Number::New(info.Env(), r);
  }

  // setRef(bool) — whether an active poll keeps the event loop alive
  // (like socket.ref()/unref()).
  Napi::Value SetRef(const Napi::CallbackInfo& info) {
    referenced_ = info.Length() > 0 && info[0].ToBoolean().Value();
    if (poll_ != nullptr) {
      if (referenced_)
        uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
      else
        uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
    }
    return info.Env().Undefined();
  }

  Napi::Value Address(const Napi::CallbackInfo& info, bool peer) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    sockaddr_vm addr{};
    socklen_t len = sizeof addr;
    sockaddr* sa = reinterpret_cast<sockaddr*>(&addr);
    int r = peer ? ::getpeername(fd_, sa, &len) : ::getsockname(fd_, sa, &len);
    if (r < 0) return Napi::Number::New(env, -errno);
    if (addr.svm_family != AF_VSOCK) return Napi::Number::New(env, -EAFNOSUPPORT);  // e.g. a socketPair() fd
    Napi::Object o = Napi::Object::New(env);
    o.Set("cid", Napi::Number::New(env, addr.svm_cid));
    o.Set("port", Napi::Number::New(env, addr.svm_port));
    return o;
  }
  Napi::Value LocalAddress(const Napi::CallbackInfo& info) { return Address(info, false); }
  Napi::Value RemoteAddress(const Napi::CallbackInfo& info) { return Address(info, true); }

  // close() — idempotent. After it no callback fires.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (polling_) {
      polling_ = false;
      Unref();
    }
    ReleaseResources();
    return info.Env().Undefined();
  }

  Napi::Value Fd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }

  int fd_ = -1;
  bool is_socket_ = true;
  uv_loop_t* loop_ = nullptr;
  uv_poll_t* poll_ = nullptr;
  bool polling_ = false;
  bool referenced_ = true;
};

// socket() → a new non-blocking, close-on-exec AF_VSOCK stream fd, or -errno
// (-EAFNOSUPPORT when the kernel has no vsock core module).
Napi::Value Socket(const Napi::CallbackInfo& info) {
  long r = ::socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  return Napi::Number::New(info.Env(), static_cast<double>(Result(r)));
}

// socketPair() → [fd, fd] of a non-blocking AF_UNIX stream pair, or -errno.
// The Handle code is family-agnostic, so this lets host tests exercise the
// stream machinery (partial writes, backpressure, half-close, GC) on machines
// without a vsock transport.
Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
    return Napi::Number::New(env, -errno);
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, Napi::Number::New(env, sv[0]));
  a.Set(1u, Napi::Number::New(env, sv[1]));
  return a;
}

// unixSeqpacketConnect(path) → a connected non-blocking, close-on-exec
// AF_UNIX SOCK_SEQPACKET fd, or -errno. Node's net module speaks only
// SOCK_STREAM; conmon's attach socket is SOCK_SEQPACKET (one packet per
// output chunk, its first byte naming the stream). A unix connect completes
// at once or fails (EAGAIN: the listener's backlog is full), so no polling.
Napi::Value UnixSeqpacketConnect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "unixSeqpacketConnect(path: string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return Napi::Number::New(env, -ENAMETOOLONG);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Napi::Number::New(env, -errno);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    int err = errno;
    ::close(fd);
    return Napi::Number::New(env, -err);
  }
  return Napi::Number::New(env, fd);
}

// localCid() → this machine's CID (IOCTL_VM_SOCKETS_GET_LOCAL_CID on
// /dev/vsock), or -errno.
Napi::Value LocalCid(const Napi::CallbackInfo& info) {
  int fd = static_cast<int>(RetryEintr([] { return ::open("/dev/vsock", O_RDONLY | O_CLOEXEC); }));
  if (fd < 0) return Napi::Number::New(info.Env(), -errno);
  unsigned int cid = 0;
  int r = ::ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid);
  int err = errno;
  ::close(fd);
  return Napi::Number::New(info.Env(), r < 0 ? -err : static_cast<double>(cid));
}

// pidfdOpen(pid) — pidfd_open(2): an fd that becomes readable when the
// process exits, for a Handle to poll (the daemon learns of a container's
// death without asking the kernel on every CRI list), or -errno (ESRCH: no
// such process). Through syscall(2): glibc's wrapper is newer than some hosts.
Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  uint32_t pid;
  if (!GetU32(info, 0, &pid)) return info.Env().Undefined();
  if (pid == 0) return Napi::Number::New(info.Env(), -EINVAL);
  long fd = ::syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0);
  return Napi::Number::New(info.Env(), fd < 0 ? -errno : static_cast<double>(fd));
}

// --- Non-socket syscalls for the in-guest agent. These throw on failure
// (they are synchronous, rare, and called from start-up/shut-down code). ---

// mount(source, target, fstype, flags, data|null)
Napi::Value Mount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t flags;
  if (info.Length() < 5 || !info[0].IsString() || !info[1].IsString() || !info[2].IsString() ||
      !(info[4].IsString() || info[4].IsNull() || info[4].IsUndefined())) {
    Napi::TypeError::New(env, "mount(source: string, target: string, fstype: string, flags: number, data: string|null)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!GetU32(info, 3, &flags)) return env.Undefined();
  std::string source = info[0].As<Napi::String>();
  std::string target = info[1].As<Napi::String>();
  std::string fstype = info[2].As<Napi::String>();
  std::string data = info[4].IsString() ? info[4].As<Napi::String>().Utf8Value() : std::string();
  int r = ::mount(source.c_str(), target.c_str(), fstype.empty() ? nullptr : fstype.c_str(), flags,
                  info[4].IsString() ? data.c_str() : nullptr);
  if (r < 0) ThrowErrno(env, errno, "mount", target);
  return env.Undefined();
}

// umount(target, flags) — umount2(2); flags e.g. MNT_DETACH.
Napi::Value Umount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t flags;
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "umount(target: string, flags: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (info.Length() < 2) {
    flags = 0;
  } else if (!GetU32(info, 1, &flags)) {
    return env.Undefined();
  }
  std::string target = info[0].As<Napi::String>();
  if (::umount2(target.c_str(), static_cast<int>(flags)) < 0) ThrowErrno(env, errno, "umount2", target);
  return env.Undefined();
}

// powerOff() — flush dirty data, then power the machine off. Meant for the
// guest's PID-1 service on DestroySandbox; returns only on failure (EPERM).
Napi::Value PowerOff(const Napi::CallbackInfo& info) {
  ::sync();
  if (::reboot(RB_POWER_OFF) < 0) ThrowErrno(info.Env(), errno, "reboot", "");
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Handle", Handle::Define(env));
  exports.Set("socket", Napi::Function::New<Socket>(env, "socket"));
  exports.Set("socketPair", Napi::Function::New<SocketPair>(env, "socketPair"));
  exports.Set("unixSeqpacketConnect", Napi::Function::New<UnixSeqpacketConnect>(env, "unixSeqpacketConnect"));
  exports.Set("localCid", Napi::Function::New<LocalCid>(env, "localCid"));
  exports.Set("pidfdOpen", Napi::Function::New<PidfdOpen>(env, "pidfdOpen"));
  exports.Set("mount", Napi::Function::New<Mount>(env, "mount"));
  exports.Set("umount", Napi::Function::New<Umount>(env, "umount"));
  exports.Set("powerOff", Napi::Function::New<PowerOff>(env, "powerOff"));
  vmpod::AddPtyFunctions(env, exports);
  vmpod::AddSpawnFunctions(env, exports);
  vmpod::AddNetnsFunctions(env, exports);
  vmpod::AddRtnetlinkFunctions(env, exports);
  vmpod::AddMemfdFunctions(env, exports);
  vmpod::AddRandomFunctions(env, exports);

  Napi::Object c = Napi::Object::New(env);
  auto num = [&](const char* k, double v) { c.Set(k, Napi::Number::New(env, v)); };
  num("VMADDR_CID_ANY", VMADDR_CID_ANY);
  num("VMADDR_CID_HYPERVISOR", VMADDR_CID_HYPERVISOR);
  num("VMADDR_CID_LOCAL", 1);  // named VMADDR_CID_RESERVED in older headers
  num("VMADDR_CID_HOST", VMADDR_CID_HOST);
  num("VMADDR_PORT_ANY", VMADDR_PORT_ANY);
  num("UV_READABLE", UV_READABLE);
  num("UV_WRITABLE", UV_WRITABLE);
  num("SHUT_RD", SHUT_RD);
  num("SHUT_WR", SHUT_WR);
  num("SHUT_RDWR", SHUT_RDWR);
  num("MS_RDONLY", MS_RDONLY);
  num("MS_NOSUID", MS_NOSUID);
  num("MS_NODEV", MS_NODEV);
  num("MS_NOEXEC", MS_NOEXEC);
  num("MS_REMOUNT", MS_REMOUNT);
  num("MS_BIND", MS_BIND);
  num("MS_REC", MS_REC);
  num("MS_PRIVATE", MS_PRIVATE);
  num("MS_SLAVE", MS_SLAVE);
  num("MS_SHARED", MS_SHARED);
  num("MS_RELATIME", MS_RELATIME);
  num("MNT_FORCE", MNT_FORCE);
  num("MNT_DETACH", MNT_DETACH);
  exports.Set("constants", c);
  return exports;
}

}  // namespace

NODE_API_MODULE(vsock, Init)
