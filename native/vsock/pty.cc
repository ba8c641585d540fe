// Pseudo-terminal calls of vsock.node: a pty pair with a raw slave, and the
// window size ioctls. See src/native/pty.ts.

#define NAPI_VERSION 8
#include <napi.h>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "syscall-util.h"

namespace vmpod {
namespace {

// Pseudo-terminals for containers and execs with `terminal: true`. The
// agent hands the slave to `runc run/exec` as its stdio (runc then relays it
// to the container's own pty) and keeps the master as a Node tty stream.

// openPty() -> [master, slave] | -errno. Both fds are O_CLOEXEC (the spawned
// child gets the slave through dup2, which clears the flag) and O_NOCTTY. The
// slave starts in raw mode: the container's own pty does the line discipline,
// and a second one here would echo and translate what passes through.
Napi::Value OpenPty(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int master = static_cast<int>(RetryEintr([] { return ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC); }));
  if (master < 0) return Napi::Number::New(env, -errno);
  int err = 0;
  char name[128];
  if (::grantpt(master) < 0 || ::unlockpt(master) < 0) {
    err = errno;
  } else {
    int r = ::ptsname_r(master, name, sizeof name);
    if (r != 0) err = r;
  }
  int slave = -1;
  if (err == 0) {
    slave = static_cast<int>(RetryEintr([&] { return ::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC); }));
    if (slave < 0) err = errno;
  }
  if (err == 0) {
    struct termios t;
    if (::tcgetattr(slave, &t) < 0) {
      err = errno;
    } else {
      ::cfmakeraw(&t);
      if (::tcsetattr(slave, TCSANOW, &t) < 0) err = errno;
    }
  }
  if (err != 0) {
    if (slave >= 0) ::close(slave);
    ::close(master);
    return Napi::Number::New(env, -err);
  }
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, master));
  out.Set(1u, Napi::Number::New(env, slave));
  return out;
}

// setWinsize(fd, rows, cols) -> 0 | -errno (TIOCSWINSZ; on a master it also
// signals SIGWINCH to the slave's foreground process group, if it has one).
Napi::Value SetWinsize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t fd, rows, cols;
  if (!GetU32(info, 0, &fd) || !GetU32(info, 1, &rows) || !GetU32(info, 2, &cols)) return env.Undefined();
  if (rows > 0xffff || cols > 0xffff) {
    Napi::RangeError::New(env, "rows and cols must fit in 16 bits").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  struct winsize ws = {};
  ws.ws_row = static_cast<unsigned short>(rows);
  ws.ws_col = static_cast<unsigned short>(cols);
  long r = RetryEintr([&] { return ::ioctl(static_cast<int>(fd), TIOCSWINSZ, &ws); });
  return Napi::Number::New(env, static_cast<double>(Result(r)));
}

// getWinsize(fd) -> { rows, cols } | -errno (TIOCGWINSZ).
Napi::Value GetWinsize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t fd;
  if (!GetU32(info, 0, &fd)) return env.Undefined();
  struct winsize ws = {};
  if (RetryEintr([&] { return ::ioctl(static_cast<int>(fd), TIOCGWINSZ, &ws); }) < 0) return Napi::Number::New(env, -errno);
  Napi::Object o = Napi::Object::New(env);
  o.Set("rows", Napi::Number::New(env, ws.ws_row));
  o.Set("cols", Napi::Number::New(env, ws.ws_col));
  return o;
}

}  // namespace

void AddPtyFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("openPty", Napi::Function::New<OpenPty>(env, "openPty"));
  exports.Set("setWinsize", Napi::Function::New<SetWinsize>(env, "setWinsize"));
  exports.Set("getWinsize", Napi::Function::New<GetWinsize>(env, "getWinsize"));
}

}  // namespace vmpod
