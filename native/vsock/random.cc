// The guest kernel's RNG, reseeded from the host's entropy (the in-guest
// agent, at CreateSandbox). A VM restored from a template goes on with the
// template's RNG state: every VM of it would draw the same bytes until the
// kernel reseeded on its own (a minute later, at the earliest). Writing to
// /dev/urandom only mixes bytes into the input pool; RNDADDENTROPY credits
// them and RNDRESEEDCRNG makes the kernel derive a new key from the pool
// now, so the next read is from a state no other VM has.

#include <fcntl.h>
#include <linux/random.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "syscall-util.h"

namespace vmpod {
namespace {

// reseedRandom(bytes): mix and credit `bytes` (1-512), then reseed. Throws naming the step.
Napi::Value ReseedRandom(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray()) {
    Napi::TypeError::New(env, "reseedRandom(bytes: Uint8Array)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
  size_t n = bytes.ByteLength();
  if (n == 0 || n > 512) {
    Napi::RangeError::New(env, "reseedRandom: 1 to 512 bytes").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    ThrowErrno(env, -errno, "open", "/dev/urandom");
    return env.Undefined();
  }
  // struct rand_pool_info ends in a flexible array: one allocation for both.
  auto* pool = static_cast<rand_pool_info*>(calloc(1, sizeof(rand_pool_info) + n));
  if (!pool) {
    close(fd);
    ThrowErrno(env, -ENOMEM, "calloc", "");
    return env.Undefined();
  }
  pool->entropy_count = static_cast<int>(n * 8);
  pool->buf_size = static_cast<int>(n);
  memcpy(pool->buf, bytes.Data(), n);
  int err = 0;
  const char* step = "";
  if (ioctl(fd, RNDADDENTROPY, pool) < 0) {
    err = errno;
    step = "ioctl RNDADDENTROPY";
  } else if (ioctl(fd, RNDRESEEDCRNG) < 0) {
    err = errno;
    step = "ioctl RNDRESEEDCRNG";
  }
  memset(pool->buf, 0, n);
  free(pool);
  close(fd);
  if (err) ThrowErrno(env, -err, step, "/dev/urandom");
  return env.Undefined();
}

}  // namespace

void AddRandomFunctions(Napi::Env env, Napi::Object exports) { exports.Set("reseedRandom", Napi::Function::New<ReseedRandom>(env, "reseedRandom")); }

}  // namespace vmpod
