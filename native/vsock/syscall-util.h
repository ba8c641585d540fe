// Helpers shared by the addon's source files (vsock.cc, pty.cc, spawn.cc, netns.cc, rtnetlink.cc, memfd.cc, random.cc).

#pragma once

#include <napi.h>
#include <uv.h>

#include <errno.h>

#include <cstdint>
#include <string>

namespace vmpod {

// Retry a syscall interrupted by a signal: Node installs handlers (SIGCHLD,
// SIGWINCH, ...) without SA_RESTART on some paths, so EINTR is real.
template <typename F>
long RetryEintr(F f) {
  long r;
  do {
    r = f();
  } while (r < 0 && errno == EINTR);
  return r;
}

inline long Result(long r) { return r < 0 ? -errno : r; }

inline bool GetU32(const Napi::CallbackInfo& info, size_t i, uint32_t* out) {
  if (info.Length() <= i || !info[i].IsNumber()) {
    Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a number")
        .ThrowAsJavaScriptException();
    return false;
  }
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 4294967295.0) || d != static_cast<double>(static_cast<uint32_t>(d))) {
    Napi::RangeError::New(info.Env(), "argument " + std::to_string(i) + " must be a uint32")
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<uint32_t>(d);
  return true;
}

// Throws a Node-style error (code, errno, syscall, path) for errno `err`.
inline void ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& path) {
  char name[64];
  uv_err_name_r(-err, name, sizeof name);
  std::string msg = std::string(syscall) + " " + name + " (" + uv_strerror(-err) + ")";
  if (!path.empty()) msg += " '" + path + "'";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, name));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, syscall));
  if (!path.empty()) e.Set("path", Napi::String::New(env, path));
  e.ThrowAsJavaScriptException();
}

// Adds openPty, setWinsize and getWinsize to the addon's exports (pty.cc).
void AddPtyFunctions(Napi::Env env, Napi::Object exports);

// Adds spawn, pipe, closeFd and reap to the addon's exports (spawn.cc).
void AddSpawnFunctions(Napi::Env env, Napi::Object exports);

// Adds newNetns (netns.cc).
void AddNetnsFunctions(Napi::Env env, Napi::Object exports);

// Adds memfdCreate, memfdSealReadOnly, memfdSeals and memfdConstants (memfd.cc).
void AddMemfdFunctions(Napi::Env env, Napi::Object exports);

// Adds reseedRandom (random.cc).
void AddRandomFunctions(Napi::Env env, Napi::Object exports);

// Adds linkSetUp, linkSetMtu, linkRename, addrFlush, addrAdd, routeReplace and setRealtimeClock (rtnetlink.cc).
void AddRtnetlinkFunctions(Napi::Env env, Napi::Object exports);

}  // namespace vmpod
