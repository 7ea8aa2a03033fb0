/* Calls the system calls the seccomp tests ask about, one per argument, and prints
 * "name=0" on success or "name=ERRNO" (the errno number) on failure. Built static by the
 * tests so it runs in any image. Arguments are harmless: bad pointers or flags are fine,
 * only seccomp's answer (EPERM/ENOSYS) versus the kernel's (anything else) matters. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static long call(const char *name) {
    if (!strcmp(name, "clone")) {
        long pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
        if (pid == 0) _exit(0);
        if (pid > 0) waitpid(pid, 0, 0);
        return pid < 0 ? -1 : 0;
    }
    if (!strcmp(name, "clone_newuser")) {
        long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
        if (pid == 0) _exit(0);
        if (pid > 0) waitpid(pid, 0, 0);
        return pid < 0 ? -1 : 0;
    }
    if (!strcmp(name, "clone3")) return syscall(SYS_clone3, 0, 0);
    if (!strcmp(name, "unshare_user")) return syscall(SYS_unshare, CLONE_NEWUSER);
    if (!strcmp(name, "keyctl")) return syscall(SYS_keyctl, 0, -3, 0);
    if (!strcmp(name, "add_key")) return syscall(SYS_add_key, 0, 0, 0, 0, 0);
    if (!strcmp(name, "bpf")) return syscall(SYS_bpf, 0, 0, 0);
    if (!strcmp(name, "reboot")) return syscall(SYS_reboot, 0, 0, 0, 0);
    if (!strcmp(name, "swapon")) return syscall(SYS_swapon, 0, 0);
    if (!strcmp(name, "kexec_load")) return syscall(SYS_kexec_load, 0, 0, 0, 0);
    if (!strcmp(name, "open_by_handle_at")) return syscall(SYS_open_by_handle_at, -1, 0, 0);
    if (!strcmp(name, "io_uring_setup")) return syscall(SYS_io_uring_setup, 0, 0);
    if (!strcmp(name, "mount")) return syscall(SYS_mount, 0, 0, 0, 0, 0);
    if (!strcmp(name, "personality_query")) return syscall(SYS_personality, 0xffffffff) < 0 ? -1 : 0;
    if (!strcmp(name, "personality_norandom")) return syscall(SYS_personality, 0x0040000) < 0 ? -1 : 0;
    /* A System V segment, to see whether two containers share an IPC namespace. */
    if (!strcmp(name, "shm_create")) return shmget(0x5e1f, 4096, IPC_CREAT | 0600) < 0 ? -1 : 0;
    if (!strcmp(name, "shm_find")) return shmget(0x5e1f, 0, 0) < 0 ? -1 : 0;
    errno = EINVAL;
    return -2;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        errno = 0;
        long r = call(argv[i]);
        printf("%s=%d\n", argv[i], r < 0 ? errno : 0);
    }
    return 0;
}
