//! The default seccomp filter: in effect docker's default profile (moby's
//! `profiles/seccomp/default.json`) for this architecture — an allow-list, everything else
//! refused with EPERM; `clone` without namespace flags; `clone3` answered ENOSYS (so libc
//! falls back to `clone`, whose flags the filter can see); `personality` for the harmless
//! personas only; and what a capability the container holds makes safe (CAP_SYS_ADMIN:
//! mount, unshare, setns...; CAP_SYS_PTRACE: kcmp, pidfd_getfd...; and so on). io_uring is
//! refused, as in docker's current profile.
//!
//! The filter is compiled from the container's capability set by the parent, before the
//! clone (a few hundred microseconds, no libseccomp), and installed by the child as the
//! last thing before the user switch (or, with no_new_privs, right before execve).

use std::collections::BTreeMap;

use caps::{Capability, CapsHashSet};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use super::sync::{ChildError, Stage};

/// `(name, number)` pairs for the syscalls this architecture has.
macro_rules! calls {
    ($($name:ident),* $(,)?) => {
        &[$((stringify!($name), libc::$name as i64)),*]
    };
}

/// Allowed whatever the capabilities (names are libc's `SYS_` constants).
const ALWAYS: &[(&str, i64)] = calls!(
    SYS_accept,
    SYS_accept4,
    SYS_adjtimex,
    SYS_bind,
    SYS_brk,
    SYS_capget,
    SYS_capset,
    SYS_chdir,
    SYS_clock_adjtime,
    SYS_clock_getres,
    SYS_clock_gettime,
    SYS_clock_nanosleep,
    SYS_close,
    SYS_close_range,
    SYS_connect,
    SYS_copy_file_range,
    SYS_dup,
    SYS_dup3,
    SYS_epoll_create1,
    SYS_epoll_ctl,
    SYS_epoll_pwait,
    SYS_epoll_pwait2,
    SYS_eventfd2,
    SYS_execve,
    SYS_execveat,
    SYS_exit,
    SYS_exit_group,
    SYS_faccessat,
    SYS_faccessat2,
    SYS_fadvise64,
    SYS_fallocate,
    SYS_fanotify_mark,
    SYS_fchdir,
    SYS_fchmod,
    SYS_fchmodat,
    SYS_fchown,
    SYS_fchownat,
    SYS_fcntl,
    SYS_fdatasync,
    SYS_fgetxattr,
    SYS_flistxattr,
    SYS_flock,
    SYS_fremovexattr,
    SYS_fsetxattr,
    SYS_fstat,
    SYS_fstatfs,
    SYS_fsync,
    SYS_ftruncate,
    SYS_futex,
    SYS_futex_waitv,
    SYS_getcpu,
    SYS_getcwd,
    SYS_getdents64,
    SYS_getegid,
    SYS_geteuid,
    SYS_getgid,
    SYS_getgroups,
    SYS_getitimer,
    SYS_getpeername,
    SYS_getpgid,
    SYS_getpid,
    SYS_getppid,
    SYS_getpriority,
    SYS_getrandom,
    SYS_getresgid,
    SYS_getresuid,
    SYS_getrlimit,
    SYS_get_robust_list,
    SYS_getrusage,
    SYS_getsid,
    SYS_getsockname,
    SYS_getsockopt,
    SYS_gettid,
    SYS_gettimeofday,
    SYS_getuid,
    SYS_getxattr,
    SYS_inotify_add_watch,
    SYS_inotify_init1,
    SYS_inotify_rm_watch,
    SYS_io_cancel,
    SYS_ioctl,
    SYS_io_destroy,
    SYS_io_getevents,
    SYS_ioprio_get,
    SYS_ioprio_set,
    SYS_io_setup,
    SYS_io_submit,
    SYS_kill,
    SYS_landlock_add_rule,
    SYS_landlock_create_ruleset,
    SYS_landlock_restrict_self,
    SYS_lgetxattr,
    SYS_linkat,
    SYS_listen,
    SYS_listxattr,
    SYS_llistxattr,
    SYS_lremovexattr,
    SYS_lseek,
    SYS_lsetxattr,
    SYS_madvise,
    SYS_membarrier,
    SYS_memfd_create,
    SYS_memfd_secret,
    SYS_mincore,
    SYS_mkdirat,
    SYS_mknodat,
    SYS_mlock,
    SYS_mlock2,
    SYS_mlockall,
    SYS_mmap,
    SYS_mprotect,
    SYS_mq_getsetattr,
    SYS_mq_notify,
    SYS_mq_open,
    SYS_mq_timedreceive,
    SYS_mq_timedsend,
    SYS_mq_unlink,
    SYS_mremap,
    SYS_mseal,
    SYS_msgctl,
    SYS_msgget,
    SYS_msgrcv,
    SYS_msgsnd,
    SYS_msync,
    SYS_munlock,
    SYS_munlockall,
    SYS_munmap,
    SYS_name_to_handle_at,
    SYS_nanosleep,
    SYS_newfstatat,
    SYS_openat,
    SYS_openat2,
    SYS_pidfd_open,
    SYS_pidfd_send_signal,
    SYS_pipe2,
    SYS_pkey_alloc,
    SYS_pkey_free,
    SYS_pkey_mprotect,
    SYS_ppoll,
    SYS_prctl,
    SYS_pread64,
    SYS_preadv,
    SYS_preadv2,
    SYS_prlimit64,
    SYS_process_mrelease,
    SYS_pselect6,
    SYS_pwrite64,
    SYS_pwritev,
    SYS_pwritev2,
    SYS_read,
    SYS_readahead,
    SYS_readlinkat,
    SYS_readv,
    SYS_recvfrom,
    SYS_recvmmsg,
    SYS_recvmsg,
    SYS_remap_file_pages,
    SYS_removexattr,
    SYS_renameat,
    SYS_renameat2,
    SYS_restart_syscall,
    SYS_rseq,
    SYS_rt_sigaction,
    SYS_rt_sigpending,
    SYS_rt_sigprocmask,
    SYS_rt_sigqueueinfo,
    SYS_rt_sigreturn,
    SYS_rt_sigsuspend,
    SYS_rt_sigtimedwait,
    SYS_rt_tgsigqueueinfo,
    SYS_sched_getaffinity,
    SYS_sched_getattr,
    SYS_sched_getparam,
    SYS_sched_get_priority_max,
    SYS_sched_get_priority_min,
    SYS_sched_getscheduler,
    SYS_sched_rr_get_interval,
    SYS_sched_setaffinity,
    SYS_sched_setattr,
    SYS_sched_setparam,
    SYS_sched_setscheduler,
    SYS_sched_yield,
    SYS_seccomp,
    SYS_semctl,
    SYS_semget,
    SYS_semop,
    SYS_semtimedop,
    SYS_sendfile,
    SYS_sendmmsg,
    SYS_sendmsg,
    SYS_sendto,
    SYS_setfsgid,
    SYS_setfsuid,
    SYS_setgid,
    SYS_setgroups,
    SYS_setitimer,
    SYS_setpgid,
    SYS_setpriority,
    SYS_setregid,
    SYS_setresgid,
    SYS_setresuid,
    SYS_setreuid,
    SYS_setrlimit,
    SYS_set_robust_list,
    SYS_setsid,
    SYS_setsockopt,
    SYS_set_tid_address,
    SYS_setuid,
    SYS_setxattr,
    SYS_shmat,
    SYS_shmctl,
    SYS_shmdt,
    SYS_shmget,
    SYS_shutdown,
    SYS_sigaltstack,
    SYS_signalfd4,
    SYS_socket,
    SYS_socketpair,
    SYS_splice,
    SYS_statfs,
    SYS_statx,
    SYS_symlinkat,
    SYS_sync,
    SYS_sync_file_range,
    SYS_syncfs,
    SYS_sysinfo,
    SYS_tee,
    SYS_tgkill,
    SYS_timer_create,
    SYS_timer_delete,
    SYS_timer_getoverrun,
    SYS_timer_gettime,
    SYS_timer_settime,
    SYS_timerfd_create,
    SYS_timerfd_gettime,
    SYS_timerfd_settime,
    SYS_times,
    SYS_tkill,
    SYS_truncate,
    SYS_umask,
    SYS_uname,
    SYS_unlinkat,
    SYS_utimensat,
    SYS_vmsplice,
    SYS_wait4,
    SYS_waitid,
    SYS_write,
    SYS_writev,
    // Allowed on kernels from 4.8, whose ptrace cannot bypass seccomp.
    SYS_ptrace,
    SYS_process_vm_readv,
    SYS_process_vm_writev,
);

/// Allowed too where the architecture has them: x86_64's older calls (aarch64 has only the
/// generic table: `openat` for `open`, `ppoll` for `poll`…) and its own (`arch_prctl`).
#[cfg(target_arch = "x86_64")]
const ALWAYS_X86: &[(&str, i64)] = calls!(
    SYS_access,
    SYS_alarm,
    SYS_chmod,
    SYS_chown,
    SYS_creat,
    SYS_dup2,
    SYS_epoll_create,
    SYS_epoll_ctl_old,
    SYS_epoll_wait,
    SYS_epoll_wait_old,
    SYS_eventfd,
    SYS_fork,
    SYS_futimesat,
    SYS_getdents,
    SYS_getpgrp,
    SYS_get_thread_area,
    SYS_inotify_init,
    SYS_lchown,
    SYS_link,
    SYS_lstat,
    SYS_mkdir,
    SYS_mknod,
    SYS_open,
    SYS_pause,
    SYS_pipe,
    SYS_poll,
    SYS_readlink,
    SYS_rename,
    SYS_rmdir,
    SYS_select,
    SYS_set_thread_area,
    SYS_signalfd,
    SYS_stat,
    SYS_symlink,
    SYS_time,
    SYS_unlink,
    SYS_utime,
    SYS_utimes,
    SYS_vfork,
    SYS_arch_prctl,
    SYS_modify_ldt,
);
#[cfg(not(target_arch = "x86_64"))]
const ALWAYS_X86: &[(&str, i64)] = &[];

/// Known by name for profiles, where the architecture has them.
#[cfg(target_arch = "x86_64")]
const OTHERS_X86: &[(&str, i64)] = calls!(
    SYS_uselib,
    SYS_ustat,
    SYS_sysfs,
    SYS_afs_syscall,
    SYS_tuxcall,
    SYS_security,
    SYS_vserver,
);
#[cfg(not(target_arch = "x86_64"))]
const OTHERS_X86: &[(&str, i64)] = &[];

/// Allowed too, newer than the `libc` crate's tables: (name, number on this architecture).
#[cfg(target_arch = "x86_64")]
const NEWER: &[(&str, i64)] = &[
    ("io_pgetevents", 333),
    ("cachestat", 451),
    ("map_shadow_stack", 453),
    ("futex_wake", 454),
    ("futex_wait", 455),
    ("futex_requeue", 456),
    ("fchmodat2", 452),
];
#[cfg(not(target_arch = "x86_64"))]
const NEWER: &[(&str, i64)] = &[
    ("io_pgetevents", 292),
    ("cachestat", 451),
    ("map_shadow_stack", 453),
    ("futex_wake", 454),
    ("futex_wait", 455),
    ("futex_requeue", 456),
    ("fchmodat2", 452),
];

/// Calls no built-in list allows, known by name for profiles that name them.
const OTHERS: &[(&str, i64)] = calls!(
    SYS_clone,
    SYS_clone3,
    SYS_personality,
    SYS_keyctl,
    SYS_add_key,
    SYS_request_key,
    SYS_swapon,
    SYS_swapoff,
    SYS_kexec_load,
    SYS_kexec_file_load,
    SYS_userfaultfd,
    SYS_io_uring_setup,
    SYS_io_uring_enter,
    SYS_io_uring_register,
    SYS_pivot_root,
    SYS_nfsservctl,
);

/// Every call skiff knows by name on this architecture (for JSON profiles).
pub fn syscall_numbers() -> std::collections::HashMap<&'static str, i64> {
    let mut all: std::collections::HashMap<&'static str, i64> = std::collections::HashMap::new();
    let caps = by_capability();
    let lists = [ALWAYS, ALWAYS_X86, OTHERS, OTHERS_X86]
        .into_iter()
        .chain(caps.iter().map(|(_, l)| *l));
    for list in lists {
        for (name, nr) in list {
            all.insert(name.trim_start_matches("SYS_"), *nr);
        }
    }
    for (name, nr) in NEWER {
        all.insert(name, *nr);
    }
    all
}

/// Whether a JSON profile's text compiles (checked when the container is created).
pub fn check_profile(text: &str) -> Result<(), String> {
    super::seccomp_profile::check(text)
}

/// Where a container's seccomp filter comes from (kept in its record).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The built-in filter: docker's default profile in effect.
    #[default]
    Default,
    /// `seccomp=unconfined`: no filter.
    Unconfined,
    /// `seccomp=PROFILE.json`: the profile's text, read at create (as docker keeps it).
    Profile(String),
}

/// The filter for a container: none, the default one, or its profile's.
pub fn filter_for(source: &Source, caps: &CapsHashSet) -> Result<Vec<BpfProgram>, String> {
    match source {
        Source::Unconfined => Ok(Vec::new()),
        Source::Default => default_filter(caps),
        Source::Profile(text) => super::seccomp_profile::compile(text, caps, &syscall_numbers()),
    }
}

/// What each capability makes safe to allow.
fn by_capability() -> Vec<(Capability, &'static [(&'static str, i64)])> {
    use Capability::*;
    vec![
        (CAP_DAC_READ_SEARCH, calls!(SYS_open_by_handle_at)),
        (
            CAP_SYS_ADMIN,
            calls!(
                SYS_bpf,
                SYS_clone3,
                SYS_fanotify_init,
                SYS_fsconfig,
                SYS_fsmount,
                SYS_fsopen,
                SYS_fspick,
                SYS_lookup_dcookie,
                SYS_mount,
                SYS_mount_setattr,
                SYS_move_mount,
                SYS_open_tree,
                SYS_perf_event_open,
                SYS_quotactl,
                SYS_quotactl_fd,
                SYS_setdomainname,
                SYS_sethostname,
                SYS_setns,
                SYS_syslog,
                SYS_umount2,
                SYS_unshare,
            ),
        ),
        (CAP_SYS_BOOT, calls!(SYS_reboot)),
        (CAP_SYS_CHROOT, calls!(SYS_chroot)),
        (
            CAP_SYS_MODULE,
            calls!(SYS_delete_module, SYS_init_module, SYS_finit_module),
        ),
        (CAP_SYS_PACCT, calls!(SYS_acct)),
        (
            CAP_SYS_PTRACE,
            calls!(SYS_kcmp, SYS_pidfd_getfd, SYS_process_madvise),
        ),
        #[cfg(target_arch = "x86_64")]
        (CAP_SYS_RAWIO, calls!(SYS_iopl, SYS_ioperm)),
        (CAP_SYS_TIME, calls!(SYS_settimeofday, SYS_clock_settime)),
        (CAP_SYS_TTY_CONFIG, calls!(SYS_vhangup)),
        (
            CAP_SYS_NICE,
            calls!(
                SYS_get_mempolicy,
                SYS_mbind,
                SYS_set_mempolicy,
                SYS_set_mempolicy_home_node
            ),
        ),
        (CAP_SYSLOG, calls!(SYS_syslog)),
        (CAP_BPF, calls!(SYS_bpf)),
        (CAP_PERFMON, calls!(SYS_perf_event_open)),
    ]
}

/// The namespace flags `clone` may not carry without CAP_SYS_ADMIN (docker's mask 0x7E020000:
/// NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET).
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;

/// The personas `personality` may set: PER_LINUX, PER_LINUX32, UNAME26 with each, and the
/// query value.
const PERSONAS: &[u64] = &[0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

pub(super) fn arch() -> TargetArch {
    #[cfg(target_arch = "aarch64")]
    {
        TargetArch::aarch64
    }
    #[cfg(not(target_arch = "aarch64"))]
    {
        TargetArch::x86_64
    }
}

fn cond(index: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, String> {
    SeccompCondition::new(index, SeccompCmpArgLen::Qword, op, value).map_err(|e| e.to_string())
}

/// The compiled default filter for a container holding `caps`: programs to install in
/// order (the last installed is evaluated first).
pub fn default_filter(caps: &CapsHashSet) -> Result<Vec<BpfProgram>, String> {
    let (rules, mismatch) = default_rules(caps)?;
    let mut programs = vec![super::seccomp_tree::compile(&rules, mismatch, arch())?];
    if !caps.contains(&Capability::CAP_SYS_ADMIN) {
        // clone3 hides its flags in memory the filter cannot read: ENOSYS makes libc use
        // clone, whose flags it can. Installed last, so its answer wins over the EPERM.
        let mut only = BTreeMap::new();
        only.insert(libc::SYS_clone3, Vec::new());
        let clone3 = SeccompFilter::new(
            only,
            SeccompAction::Allow,
            SeccompAction::Errno(libc::ENOSYS as u32),
            arch(),
        )
        .map_err(|e| e.to_string())?;
        programs.push(BpfProgram::try_from(clone3).map_err(|e| e.to_string())?);
    }
    Ok(programs)
}

/// docker's allow-list for a container holding `caps` (an empty rule list: allowed
/// outright), and the answer for every call it does not allow.
pub(super) fn default_rules(
    caps: &CapsHashSet,
) -> Result<(BTreeMap<i64, Vec<SeccompRule>>, SeccompAction), String> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for (_, nr) in ALWAYS.iter().chain(ALWAYS_X86).chain(NEWER) {
        rules.insert(*nr, Vec::new());
    }
    for (cap, calls) in by_capability() {
        if caps.contains(&cap) {
            for (_, nr) in calls {
                rules.insert(*nr, Vec::new());
            }
        }
    }
    let admin = caps.contains(&Capability::CAP_SYS_ADMIN);
    if admin {
        rules.insert(libc::SYS_clone, Vec::new());
    } else {
        let plain = SeccompRule::new(vec![cond(
            0,
            SeccompCmpOp::MaskedEq(CLONE_NAMESPACE_FLAGS),
            0,
        )?])
        .map_err(|e| e.to_string())?;
        rules.insert(libc::SYS_clone, vec![plain]);
    }
    let mut personas = Vec::new();
    for p in PERSONAS {
        personas.push(
            SeccompRule::new(vec![cond(0, SeccompCmpOp::Eq, *p)?]).map_err(|e| e.to_string())?,
        );
    }
    rules.insert(libc::SYS_personality, personas);
    Ok((rules, SeccompAction::Errno(libc::EPERM as u32)))
}

/// Install the programs on this thread. Without no_new_privs this needs CAP_SYS_ADMIN (in
/// our user namespace), so it comes before the switch to the container's user.
pub fn install(programs: &[BpfProgram]) -> Result<(), ChildError> {
    for p in programs {
        let prog = libc::sock_fprog {
            len: p.len() as u16,
            filter: p.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: `prog` points at a live, valid BPF program for the duration of the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                // No SECCOMP_FILTER_FLAG_SPEC_ALLOW: as with runc and libseccomp's default,
                // a filtered task also gets the kernel's speculation mitigations (SSBD,
                // IBPB/STIBP where the kernel applies them to seccomp tasks). The attach
                // itself costs what the kernel's run over every syscall number costs:
                // 0.15 ms with the search tree in front (seccomp_tree.rs), 0.65 without.
                0,
                &prog as *const libc::sock_fprog,
            )
        };
        if rc != 0 {
            return Err(ChildError::io(
                Stage::Setup,
                "installing the seccomp filter",
                &std::io::Error::last_os_error(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_filter_compiles_and_depends_on_capabilities() {
        let default = crate::ns::caps::default_set();
        let plain = default_filter(&default).expect("default");
        assert_eq!(plain.len(), 2, "the allow-list and the clone3 answer");
        let mut admin = default.clone();
        admin.insert(Capability::CAP_SYS_ADMIN);
        let privileged = default_filter(&admin).expect("admin");
        assert_eq!(privileged.len(), 1);
        assert!(privileged[0].len() > plain[0].len(), "more calls allowed");
    }

    #[test]
    fn the_dangerous_calls_are_not_in_the_allow_list() {
        for name in [
            "SYS_keyctl",
            "SYS_add_key",
            "SYS_request_key",
            "SYS_bpf",
            "SYS_mount",
            "SYS_unshare",
            "SYS_reboot",
            "SYS_swapon",
            "SYS_kexec_load",
            "SYS_open_by_handle_at",
            "SYS_io_uring_setup",
            "SYS_userfaultfd",
        ] {
            assert!(
                !ALWAYS.iter().chain(ALWAYS_X86).any(|(n, _)| *n == name),
                "{name}"
            );
        }
    }
}
