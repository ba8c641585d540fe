# vsock.node: AF_VSOCK sockets + mount/umount/reboot (vsock.cc), ptys (pty.cc), posix_spawn (spawn.cc), pod netns (netns.cc), the guest's rtnetlink set-up and clock (rtnetlink.cc) sealed memfds for VM templates (memfd.cc) and the guest RNG's reseed (random.cc) for vmpod.
# Built by scripts/build-native with `node-gyp rebuild -C native/vsock`
# against the installed Node headers (npm config nodedir=/usr): no download.
{
  "targets": [
    {
      "target_name": "vsock",
      "sources": ["vsock.cc", "pty.cc", "spawn.cc", "netns.cc", "rtnetlink.cc", "memfd.cc", "random.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags": ["-Wall", "-Wextra"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"]
    }
  ]
}
