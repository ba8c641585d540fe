/*
 * vmpod-infra: the process that holds a pod's namespaces (IPC, UTS and, when
 * the pod shares one, PID). It does nothing but wait: it exits cleanly on
 * SIGINT/SIGTERM, and reaps every child re-parented to it, because when the
 * pod shares its PID namespace this process is PID 1 of that namespace and
 * orphaned processes of every container end up as its children.
 *
 * Built statically (see build.sh) so that it runs from a rootfs holding only
 * this one file.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig) {
  (void)sig;
  stop_requested = 1;
}

static void on_child(int sig) {
  (void)sig;
  int saved = errno;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
  errno = saved;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "-v") == 0) {
    puts("vmpod-infra 1");
    return 0;
  }
  if (getpid() != 1) {
    fprintf(stderr, "vmpod-infra: not PID 1; zombies of a shared PID namespace are reaped only when PID 1\n");
  }
  struct sigaction stop = {0}, child = {0};
  stop.sa_handler = on_stop;
  sigemptyset(&stop.sa_mask);
  child.sa_handler = on_child;
  sigemptyset(&child.sa_mask);
  child.sa_flags = SA_NOCLDSTOP | SA_RESTART;
  if (sigaction(SIGINT, &stop, NULL) < 0 || sigaction(SIGTERM, &stop, NULL) < 0 || sigaction(SIGCHLD, &child, NULL) < 0) {
    perror("vmpod-infra: sigaction");
    return 1;
  }
  sigset_t none;
  sigemptyset(&none);
  while (!stop_requested) {
    sigsuspend(&none);
  }
  return 0;
}
