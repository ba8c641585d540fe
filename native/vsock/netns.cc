// A new network namespace for a pod, pinned, with its loopback up, made in
// the daemon: what `unshare --net=<pin> ip link set lo up` did with two
// programs (and with Node's fork before each). See src/network/netns.ts.
//
// unshare(CLONE_NEWNET) moves only the calling thread, so it is done on a
// thread made for it, which then exits: the event loop's thread never
// leaves the daemon's namespace (containernetworking's ns.NewNS does the
// same with a locked OS thread). The bind mount of the thread's
// /proc/thread-self/ns/net onto the pin keeps the namespace alive after it.

#define NAPI_VERSION 8
#include <napi.h>

#include <errno.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "syscall-util.h"

namespace vmpod {
namespace {

struct NewNetnsJob {
  std::string pin;
  int err = 0;
  const char* step = "";
};

void* NewNetnsThread(void* arg) {
  auto* job = static_cast<NewNetnsJob*>(arg);
  auto fail = [job](const char* step) {
    job->err = errno;
    job->step = step;
    return nullptr;
  };
  if (::unshare(CLONE_NEWNET) < 0) return fail("unshare");
  if (::mount("/proc/thread-self/ns/net", job->pin.c_str(), nullptr, MS_BIND, nullptr) < 0) return fail("mount");
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return fail("socket");
  struct ifreq ifr;
  std::memset(&ifr, 0, sizeof ifr);
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  bool ok = ::ioctl(s, SIOCGIFFLAGS, &ifr) == 0;
  if (ok) {
    ifr.ifr_flags |= IFF_UP;
    ok = ::ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
  }
  int err = errno;
  ::close(s);
  if (!ok) {
    errno = err;
    return fail("ioctl(SIOCSIFFLAGS lo up)");
  }
  return nullptr;
}

// newNetns(pin) — a new netns bind-mounted on the existing file `pin`, lo up.
// Throws a Node-style error naming the step; on a failure after the mount
// the pin stays mounted (the caller unpins, as it does on any failure).
Napi::Value NewNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "newNetns(pin: string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  NewNetnsJob job;
  job.pin = info[0].As<Napi::String>().Utf8Value();
  pthread_t t;
  int r = ::pthread_create(&t, nullptr, NewNetnsThread, &job);
  if (r != 0) {
    ThrowErrno(env, r, "pthread_create", job.pin);
    return env.Undefined();
  }
  ::pthread_join(t, nullptr);
  if (job.err != 0) ThrowErrno(env, job.err, job.step, job.pin);
  return env.Undefined();
}

}  // namespace

void AddNetnsFunctions(Napi::Env env, Napi::Object exports) { exports.Set("newNetns", Napi::Function::New<NewNetns>(env, "newNetns")); }

}  // namespace vmpod
