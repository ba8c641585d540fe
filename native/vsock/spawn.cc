// Starting a program without copying the daemon: posix_spawn(3), which
// glibc implements with clone(CLONE_VM | CLONE_VFORK), so the child shares
// the parent's memory until its exec. Node's child_process forks the whole
// daemon instead; copying the page tables of a 100+ MiB process blocks the
// event loop for 8-18 ms per spawn on these machines, and the runc path
// starts several programs per CRI call (docs/performance.md). The caller
// (common/native/spawn.ts) makes the pipes, watches the exit through a pidfd and
// reaps with reap().

#include <napi.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

extern char** environ;

#include "syscall-util.h"

namespace vmpod {
namespace {

bool StringArray(const Napi::CallbackInfo& info, size_t i, std::vector<std::string>* out) {
  if (info.Length() <= i || !info[i].IsArray()) {
    Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be an array of strings")
        .ThrowAsJavaScriptException();
    return false;
  }
  Napi::Array a = info[i].As<Napi::Array>();
  for (uint32_t k = 0; k < a.Length(); k++) {
    Napi::Value v = a.Get(k);
    if (!v.IsString()) {
      Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be an array of strings")
          .ThrowAsJavaScriptException();
      return false;
    }
    std::string s = v.As<Napi::String>().Utf8Value();
    // A NUL would cut the string short in the child: refuse rather than run something else.
    if (s.find('\0') != std::string::npos) {
      Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " holds a string with a NUL byte")
          .ThrowAsJavaScriptException();
      return false;
    }
    out->push_back(std::move(s));
  }
  return true;
}

std::vector<char*> CStrings(std::vector<std::string>& v) {
  std::vector<char*> p;
  for (auto& s : v) p.push_back(&s[0]);
  p.push_back(nullptr);
  return p;
}

// spawn(path, argv, envp | null, cwd | null, fds, setsid) -> pid, or -errno.
// The child's fd i is fds[i] (-1: /dev/null), every other fd of the daemon
// stays closed (they are all O_CLOEXEC); signal dispositions are reset to
// their defaults (Node ignores SIGPIPE) and the signal mask is emptied, as
// libuv does for its children. `path` is absolute: no PATH search here.
Napi::Value Spawn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 6 || !info[0].IsString() || !(info[2].IsArray() || info[2].IsNull()) ||
      !(info[3].IsString() || info[3].IsNull()) || !info[4].IsArray() || !info[5].IsBoolean()) {
    Napi::TypeError::New(env, "spawn(path, argv, envp | null, cwd | null, fds, setsid)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::vector<std::string> argv, envp;
  // envp null: the daemon's own environment (Node keeps process.env in environ); listing process.env
  // in JavaScript for every child costs more than the spawn.
  const bool ownEnv = info[2].IsNull();
  if (!StringArray(info, 1, &argv) || (!ownEnv && !StringArray(info, 2, &envp))) return env.Undefined();
  std::string cwd = info[3].IsString() ? info[3].As<Napi::String>().Utf8Value() : "";
  Napi::Array fdList = info[4].As<Napi::Array>();
  std::vector<int> fds;
  for (uint32_t k = 0; k < fdList.Length(); k++) {
    Napi::Value v = fdList.Get(k);
    if (!v.IsNumber()) {
      Napi::TypeError::New(env, "fds must be numbers").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    fds.push_back(v.As<Napi::Number>().Int32Value());
  }
  const int n = static_cast<int>(fds.size());

  // A source fd below n could be overwritten by an earlier dup2 onto it:
  // move such sources above n first (closed again after the spawn).
  std::vector<int> moved;
  for (int& fd : fds) {
    if (fd >= 0 && fd < n) {
      int high = static_cast<int>(::fcntl(fd, F_DUPFD_CLOEXEC, n));
      if (high < 0) {
        int err = errno;
        for (int m : moved) ::close(m);
        return Napi::Number::New(env, -err);
      }
      moved.push_back(high);
      fd = high;
    }
  }

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  int rc = 0;
  for (int i = 0; i < n && rc == 0; i++) {
    // dup2 onto the same number clears FD_CLOEXEC (glibc >= 2.29, as POSIX asks); sources are all >= n here.
    rc = fds[i] >= 0 ? posix_spawn_file_actions_adddup2(&actions, fds[i], i)
                     : posix_spawn_file_actions_addopen(&actions, i, "/dev/null", O_RDWR, 0);
  }
  if (rc == 0 && !cwd.empty()) rc = posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
#ifdef __GLIBC__
  // glibc's own signals (32, 33: thread cancellation, setxid) are left out of
  // sigfillset, and its posix_spawn sets them to SIG_IGN in the child unless
  // they are in this set; ignored signals survive exec, so every program
  // (and through runc, every container) would start with them ignored,
  // unlike a child of Node's fork. sigaddset refuses them: set the bits.
  for (int sig = 32; sig <= 33; sig++) {
    const size_t bits = 8 * sizeof(all.__val[0]);
    all.__val[(sig - 1) / bits] |= 1UL << ((sig - 1) % bits);
  }
#endif
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (info[5].As<Napi::Boolean>().Value()) flags |= POSIX_SPAWN_SETSID;
  if (rc == 0) rc = posix_spawnattr_setsigmask(&attr, &none);
  if (rc == 0) rc = posix_spawnattr_setsigdefault(&attr, &all);
  if (rc == 0) rc = posix_spawnattr_setflags(&attr, flags);
  pid_t pid = -1;
  if (rc == 0) {
    std::vector<char*> a = CStrings(argv);
    std::vector<char*> e = CStrings(envp);
    rc = posix_spawn(&pid, path.c_str(), &actions, &attr, a.data(), ownEnv ? environ : e.data());
  }
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  for (int m : moved) ::close(m);
  return Napi::Number::New(env, rc != 0 ? -rc : static_cast<double>(pid));
}

// pipe() -> [readFd, writeFd] (both O_CLOEXEC), or -errno.
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) return Napi::Number::New(info.Env(), -errno);
  Napi::Array a = Napi::Array::New(info.Env(), 2);
  a.Set(0u, Napi::Number::New(info.Env(), p[0]));
  a.Set(1u, Napi::Number::New(info.Env(), p[1]));
  return a;
}

// closeFd(fd) -> 0 or -errno: the child's ends of its pipes, once it has them.
Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  uint32_t fd;
  if (!GetU32(info, 0, &fd)) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), ::close(static_cast<int>(fd)) < 0 ? -errno : 0);
}

// reap(pid) -> null while it runs, { code } or { signal } once it ended
// (and is reaped), or -errno (ECHILD: not a child of this process).
Napi::Value Reap(const Napi::CallbackInfo& info) {
  uint32_t pid;
  if (!GetU32(info, 0, &pid) || pid == 0) return info.Env().Undefined();
  int status = 0;
  long r = RetryEintr([&] { return ::waitpid(static_cast<pid_t>(pid), &status, WNOHANG); });
  if (r < 0) return Napi::Number::New(info.Env(), -errno);
  if (r == 0) return info.Env().Null();
  Napi::Object o = Napi::Object::New(info.Env());
  if (WIFSIGNALED(status)) {
    o.Set("signal", Napi::Number::New(info.Env(), WTERMSIG(status)));
  } else {
    o.Set("code", Napi::Number::New(info.Env(), WEXITSTATUS(status)));
  }
  return o;
}

}  // namespace

void AddSpawnFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("spawn", Napi::Function::New<Spawn>(env, "spawn"));
  exports.Set("pipe", Napi::Function::New<Pipe>(env, "pipe"));
  exports.Set("closeFd", Napi::Function::New<CloseFd>(env, "closeFd"));
  exports.Set("reap", Napi::Function::New<Reap>(env, "reap"));
}

}  // namespace vmpod
