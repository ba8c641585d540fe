// Sealed memory files for VM templates (src/sandbox/microvm/template.ts): the
// daemon holds a template's guest RAM in a memfd that every VM restored from
// it maps copy-on-write. Once the template's own QEMU is gone the file is
// sealed against writes, shrinking and growing, so no restored QEMU (which
// is hostile: it runs a guest) can change what later pods start from, not
// even by write(2) or a hole punched in it.

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "syscall-util.h"

namespace vmpod {
namespace {

// memfdCreate(name, sizeBytes): an O_CLOEXEC memfd that can be sealed, of that size; the fd or -errno.
Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "memfdCreate(name, sizeBytes)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string name = info[0].As<Napi::String>().Utf8Value();
  double size = info[1].As<Napi::Number>().DoubleValue();
  if (!(size > 0 && size <= 9007199254740991.0) || size != static_cast<double>(static_cast<int64_t>(size))) {
    return Napi::Number::New(env, -EINVAL);
  }
  int fd = memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return Napi::Number::New(env, -errno);
  if (RetryEintr([&] { return static_cast<long>(ftruncate(fd, static_cast<off_t>(size))); }) < 0) {
    int e = errno;
    close(fd);
    return Napi::Number::New(env, -e);
  }
  return Napi::Number::New(env, fd);
}

// memfdSealReadOnly(fd): no more writes, size changes or seals; 0 or -errno (-EBUSY: a shared writable mapping is still there).
Napi::Value MemfdSealReadOnly(const Napi::CallbackInfo& info) {
  uint32_t fd;
  if (!GetU32(info, 0, &fd)) return info.Env().Undefined();
  long r = fcntl(static_cast<int>(fd), F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
  return Napi::Number::New(info.Env(), r < 0 ? -errno : 0);
}

// memfdSeals(fd): the F_SEAL_* bits in force, or -errno.
Napi::Value MemfdSeals(const Napi::CallbackInfo& info) {
  uint32_t fd;
  if (!GetU32(info, 0, &fd)) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), static_cast<double>(Result(fcntl(static_cast<int>(fd), F_GET_SEALS))));
}

}  // namespace

void AddMemfdFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("memfdCreate", Napi::Function::New<MemfdCreate>(env, "memfdCreate"));
  exports.Set("memfdSealReadOnly", Napi::Function::New<MemfdSealReadOnly>(env, "memfdSealReadOnly"));
  exports.Set("memfdSeals", Napi::Function::New<MemfdSeals>(env, "memfdSeals"));
  Napi::Object c = Napi::Object::New(env);
  c.Set("F_SEAL_SEAL", Napi::Number::New(env, F_SEAL_SEAL));
  c.Set("F_SEAL_SHRINK", Napi::Number::New(env, F_SEAL_SHRINK));
  c.Set("F_SEAL_GROW", Napi::Number::New(env, F_SEAL_GROW));
  c.Set("F_SEAL_WRITE", Napi::Number::New(env, F_SEAL_WRITE));
  exports.Set("memfdConstants", c);
}

}  // namespace vmpod
