//! Config -> the list of mounts that make a container's root. Pure, so the plan is unit-tested;
//! `apply` executes it.

use std::path::PathBuf;

use nix::mount::MsFlags;

use super::volume::{MountKind, propagation_flags, tmpfs_flags_and_data};

#[derive(Debug, Clone, PartialEq)]
pub enum MountOp {
    /// Mount a filesystem at a path inside the rootfs (a directory, created when missing).
    Fs {
        target: PathBuf,
        fstype: &'static str,
        flags: MsFlags,
        data: String,
    },
    /// Bind a host path onto a path inside the rootfs; a file source gets a file mountpoint.
    Bind {
        source: PathBuf,
        target: PathBuf,
        recursive: bool,
        readonly: bool,
    },
    /// A character device node (mode 0666), as root.
    Mknod {
        target: PathBuf,
        major: u64,
        minor: u64,
    },
    /// A block device node (`--device`, `--privileged`).
    MknodBlock {
        target: PathBuf,
        major: u64,
        minor: u64,
    },
    Symlink {
        link: PathBuf,
        to: PathBuf,
    },
    /// Hide a path: /dev/null over a file, an empty read-only tmpfs over a directory.
    Mask(PathBuf),
    /// Make a path read-only (bind onto itself, remount read-only).
    ReadOnly(PathBuf),
    /// `--read-only`: the container's root mount itself read-only (its submounts as they are).
    RootReadOnly,
    /// `--sysctl`: write `value` to /proc/sys/<key with dots as slashes>.
    Sysctl {
        key: String,
        value: String,
    },
    /// A user's bind or volume: like Bind, with a propagation mode (empty: none set).
    UserBind {
        source: PathBuf,
        target: PathBuf,
        readonly: bool,
        propagation: MsFlags,
    },
    /// Fill an empty volume (a host directory) with what the rootfs has at `from`: content,
    /// ownership and modes, before the volume is mounted there (docker's copy-up).
    CopyUp {
        from: PathBuf,
        into: PathBuf,
    },
    /// `:U`: give a host path, recursively, to the container's user.
    Chown {
        path: PathBuf,
        uid: u32,
        gid: u32,
    },
    /// A mount as an OCI bundle's `mounts` gives it (`skiff oci`).
    Generic(GenericMount),
    /// A device node with its own type, mode and owner (an OCI bundle's `linux.devices`).
    Device(DeviceNode),
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeviceNode {
    pub target: PathBuf,
    /// `S_IFCHR`, `S_IFBLK` or `S_IFIFO`.
    pub kind: nix::sys::stat::SFlag,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// Any filesystem, or a bind when `flags` has `MS_BIND` (then the other flags are applied by
/// a remount, as runc does); the propagation is set last.
#[derive(Debug, Clone, PartialEq)]
pub struct GenericMount {
    /// The bind source, or the filesystem's source name (empty: the type's name).
    pub source: PathBuf,
    pub target: PathBuf,
    pub fstype: String,
    pub flags: MsFlags,
    pub propagation: MsFlags,
    pub data: String,
}

/// A user's mount, resolved to host paths at start.
#[derive(Debug, Clone, PartialEq)]
pub struct UserMount {
    pub kind: MountKind,
    /// The host path (bind source, or the volume's _data); empty for tmpfs.
    pub source: PathBuf,
    pub destination: PathBuf,
    pub readonly: bool,
    pub propagation: String,
    /// Copy the rootfs content into the (empty) volume first.
    pub copy_up: bool,
    /// `:U`: chown the source to this uid:gid first.
    pub chown: Option<(u32, u32)>,
    pub tmpfs_options: String,
}

/// What the plan needs to know about one container.
#[derive(Debug, Clone)]
pub struct RootfsInput {
    pub rootless: bool,
    /// The container shares the host's network namespace (sysfs cannot be mounted rootless).
    pub host_network: bool,
    /// The container's own hosts, hostname and resolv.conf.
    pub userdata: PathBuf,
    /// gid of the `tty` group for devpts, when that gid is mapped.
    pub tty_gid: Option<u32>,
    /// Bytes of /dev/shm (`--shm-size`).
    pub shm_size: u64,
    /// `-v`, `--mount`, `--tmpfs`, `--volumes-from` and image volumes, in order.
    pub mounts: Vec<UserMount>,
    /// Paths hidden and made read-only (docker's defaults as `--security-opt` and
    /// `--privileged` leave them).
    pub masked: Vec<String>,
    pub readonly: Vec<String>,
    /// `--read-only`.
    pub read_only: bool,
    /// `--sysctl`s, validated.
    pub sysctls: Vec<(String, String)>,
    /// `--pid host`, `--ipc host`: rootless, the host's /proc and /dev/mqueue are bound (a
    /// user namespace cannot mount them for the host's namespaces).
    pub pid_host: bool,
    pub ipc_host: bool,
    /// The host has a /dev/mqueue to bind (it may not, in a container).
    pub host_mqueue: bool,
    /// Host devices to give the container (`--device`; every one with `--privileged`).
    pub devices: Vec<crate::security::Device>,
    /// `--privileged`: /sys writable.
    pub privileged: bool,
}

/// The links every container's /dev has (runc's; docker adds /dev/core).
pub const DEV_LINKS: &[(&str, &str)] = &[
    ("/dev/fd", "/proc/self/fd"),
    ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"),
    ("/dev/ptmx", "pts/ptmx"),
];

/// docker's (and runc's) default devices: (name under /dev, major, minor).
pub const DEVICES: &[(&str, u64, u64)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// docker's masked paths (moby `oci/defaults.go`).
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// docker's read-only paths.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

pub fn plan(input: &RootfsInput) -> Vec<MountOp> {
    let nosuid_nodev_noexec = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let p = PathBuf::from;
    // Copy-up (and :U) first, while the rootfs shows only the image and the container's own
    // changes: the files skiff mounts later (/etc/hosts, ...) are not the image's content.
    let mut ops: Vec<MountOp> = input.mounts.iter().flat_map(prepare_ops).collect();
    ops.push(if input.rootless && input.pid_host {
        MountOp::Bind {
            source: p("/proc"),
            target: p("/proc"),
            recursive: true,
            readonly: false,
        }
    } else {
        MountOp::Fs {
            target: p("/proc"),
            fstype: "proc",
            flags: nosuid_nodev_noexec,
            data: String::new(),
        }
    });
    ops.extend([MountOp::Fs {
        target: p("/dev"),
        fstype: "tmpfs",
        flags: MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
        data: "mode=755,size=65536k".into(),
    }]);
    // Before /proc/sys is made read-only (with the masks, last).
    ops.extend(input.sysctls.iter().map(|(key, value)| MountOp::Sysctl {
        key: key.clone(),
        value: value.clone(),
    }));
    let mut pts_data = "newinstance,ptmxmode=0666,mode=0620".to_string();
    if let Some(gid) = input.tty_gid {
        pts_data.push_str(&format!(",gid={gid}"));
    }
    ops.push(MountOp::Fs {
        target: p("/dev/pts"),
        fstype: "devpts",
        flags: MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        data: pts_data,
    });
    ops.push(MountOp::Fs {
        target: p("/dev/shm"),
        fstype: "tmpfs",
        flags: nosuid_nodev_noexec,
        data: format!("mode=1777,size={}", input.shm_size),
    });
    if !(input.rootless && input.ipc_host) {
        ops.push(MountOp::Fs {
            target: p("/dev/mqueue"),
            fstype: "mqueue",
            flags: nosuid_nodev_noexec,
            data: String::new(),
        });
    } else if input.host_mqueue {
        ops.push(MountOp::Bind {
            source: p("/dev/mqueue"),
            target: p("/dev/mqueue"),
            recursive: false,
            readonly: false,
        });
    }
    if input.rootless && input.host_network {
        // sysfs belongs to the network namespace's owner: a user namespace cannot mount the
        // host's, so bind it (read-only where the kernel lets us).
        ops.push(MountOp::Bind {
            source: p("/sys"),
            target: p("/sys"),
            recursive: true,
            readonly: true,
        });
    } else {
        let ro = if input.privileged {
            MsFlags::empty()
        } else {
            MsFlags::MS_RDONLY
        };
        ops.push(MountOp::Fs {
            target: p("/sys"),
            fstype: "sysfs",
            flags: nosuid_nodev_noexec | ro,
            data: String::new(),
        });
    }
    for (name, major, minor) in DEVICES {
        let target = p("/dev").join(name);
        if input.rootless {
            // No CAP_MKNOD towards the host: bind the host's nodes instead, as crun does.
            ops.push(MountOp::Bind {
                source: p("/dev").join(name),
                target,
                recursive: false,
                readonly: false,
            });
        } else {
            ops.push(MountOp::Mknod {
                target,
                major: *major,
                minor: *minor,
            });
        }
    }
    for d in &input.devices {
        let target = p(&d.container);
        if DEVICES
            .iter()
            .any(|(name, _, _)| p("/dev").join(name) == target)
        {
            continue; // already there
        }
        ops.push(if input.rootless {
            MountOp::Bind {
                source: p(&d.host),
                target,
                recursive: false,
                readonly: !d.permissions.contains('w'),
            }
        } else if d.block {
            MountOp::MknodBlock {
                target,
                major: d.major,
                minor: d.minor,
            }
        } else {
            MountOp::Mknod {
                target,
                major: d.major,
                minor: d.minor,
            }
        });
    }
    // docker's list has one more than runc's.
    for (link, to) in DEV_LINKS.iter().chain(&[("/dev/core", "/proc/kcore")]) {
        ops.push(MountOp::Symlink {
            link: p(link),
            to: p(to),
        });
    }
    // The user's mounts after the defaults (so they may replace /etc/hosts or /dev/shm),
    // shortest destination first so a mount inside another lands on top of it.
    let mut user: Vec<&UserMount> = input.mounts.iter().collect();
    user.sort_by_key(|m| m.destination.components().count());
    for m in user {
        ops.extend(user_mount_ops(m));
    }
    // The container's hosts files after the user's mounts (docker sorts them the same way: a
    // volume on /etc still gets them), unless the user mounts one of them itself.
    for file in ["hosts", "hostname", "resolv.conf"] {
        let target = p("/etc").join(file);
        if input.mounts.iter().any(|m| m.destination == target) {
            continue;
        }
        ops.push(MountOp::Bind {
            source: input.userdata.join(file),
            target,
            recursive: false,
            readonly: false,
        });
    }
    ops.extend(input.masked.iter().map(|m| MountOp::Mask(p(m))));
    ops.extend(input.readonly.iter().map(|r| MountOp::ReadOnly(p(r))));
    if input.read_only {
        // podman's --read-only-tmpfs: where programs expect to write, unless the user
        // mounted something there.
        for dir in ["/run", "/tmp", "/var/tmp"] {
            if !input.mounts.iter().any(|m| m.destination == p(dir)) {
                ops.push(MountOp::Fs {
                    target: p(dir),
                    fstype: "tmpfs",
                    flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                    data: "mode=1777".into(),
                });
            }
        }
        // Last: everything above may create mountpoints in the root.
        ops.push(MountOp::RootReadOnly);
    }
    ops
}

/// docker's cgroup v1 layout: a tmpfs at /sys/fs/cgroup holding, read-only, the container's
/// cgroup of each hierarchy (bound from the host) and links for co-mounted controllers.
pub fn cgroup_v1_view(view: &crate::cgroup::V1View) -> Vec<MountOp> {
    let root = PathBuf::from("/sys/fs/cgroup");
    let mut ops = vec![MountOp::Fs {
        target: root.clone(),
        fstype: "tmpfs",
        flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        data: "mode=755".into(),
    }];
    for (name, source) in &view.binds {
        ops.push(MountOp::Bind {
            source: source.clone(),
            target: root.join(name),
            recursive: false,
            readonly: true,
        });
    }
    for (link, to) in &view.links {
        ops.push(MountOp::Symlink {
            link: root.join(link),
            to: PathBuf::from(to),
        });
    }
    ops.push(MountOp::ReadOnly(root));
    ops
}

/// What must happen to a user mount's source before any mount: `:U` and copy-up.
fn prepare_ops(m: &UserMount) -> Vec<MountOp> {
    let mut ops = Vec::new();
    if m.kind == MountKind::Tmpfs {
        return ops;
    }
    if let Some((uid, gid)) = m.chown {
        ops.push(MountOp::Chown {
            path: m.source.clone(),
            uid,
            gid,
        });
    }
    if m.copy_up {
        ops.push(MountOp::CopyUp {
            from: m.destination.clone(),
            into: m.source.clone(),
        });
    }
    ops
}

fn user_mount_ops(m: &UserMount) -> Vec<MountOp> {
    let mut ops = Vec::new();
    if m.kind == MountKind::Tmpfs {
        let (flags, data) = tmpfs_flags_and_data(&m.tmpfs_options);
        let ro = if m.readonly {
            MsFlags::MS_RDONLY
        } else {
            MsFlags::empty()
        };
        ops.push(MountOp::Fs {
            target: m.destination.clone(),
            fstype: "tmpfs",
            flags: flags | ro,
            data,
        });
        return ops;
    }
    ops.push(MountOp::UserBind {
        source: m.source.clone(),
        target: m.destination.clone(),
        readonly: m.readonly,
        propagation: if m.propagation.is_empty() {
            MsFlags::empty()
        } else {
            propagation_flags(&m.propagation)
        },
    });
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(rootless: bool, host_network: bool) -> RootfsInput {
        RootfsInput {
            rootless,
            host_network,
            userdata: PathBuf::from("/u"),
            tty_gid: Some(5),
            shm_size: 64 << 20,
            mounts: Vec::new(),
            masked: MASKED_PATHS.iter().map(|m| m.to_string()).collect(),
            readonly: READONLY_PATHS.iter().map(|m| m.to_string()).collect(),
            read_only: false,
            sysctls: Vec::new(),
            pid_host: false,
            ipc_host: false,
            host_mqueue: false,
            devices: Vec::new(),
            privileged: false,
        }
    }

    #[test]
    fn read_only_root_comes_last_with_writable_tmpfs_and_sysctls_before_proc_sys() {
        let ops = plan(&RootfsInput {
            read_only: true,
            sysctls: vec![("net.ipv4.ip_forward".into(), "1".into())],
            ..input(false, false)
        });
        assert_eq!(ops.last(), Some(&MountOp::RootReadOnly));
        for dir in ["/run", "/tmp", "/var/tmp"] {
            assert!(ops.iter().any(|o| matches!(o, MountOp::Fs { target, fstype: "tmpfs", .. } if target == std::path::Path::new(dir))));
        }
        let sysctl = ops
            .iter()
            .position(|o| matches!(o, MountOp::Sysctl { .. }))
            .expect("sysctl");
        let proc_sys_ro = ops
            .iter()
            .position(|o| o == &MountOp::ReadOnly(PathBuf::from("/proc/sys")))
            .expect("ro");
        assert!(sysctl < proc_sys_ro);
    }

    #[test]
    fn system_paths_unconfined_has_no_masks() {
        let masked = plan(&input(false, false));
        assert!(masked.iter().any(|o| matches!(o, MountOp::Mask(_))));
        let open = plan(&RootfsInput {
            masked: Vec::new(),
            readonly: Vec::new(),
            ..input(false, false)
        });
        assert!(
            !open
                .iter()
                .any(|o| matches!(o, MountOp::Mask(_) | MountOp::ReadOnly(_)))
        );
    }

    #[test]
    fn user_mounts_copy_up_then_bind_nested_last() {
        let vol = UserMount {
            kind: MountKind::Volume,
            source: "/v/_data".into(),
            destination: "/data".into(),
            readonly: true,
            propagation: String::new(),
            copy_up: true,
            chown: None,
            tmpfs_options: String::new(),
        };
        let nested = UserMount {
            kind: MountKind::Bind,
            source: "/host/f".into(),
            destination: "/data/sub/f".into(),
            copy_up: false,
            chown: Some((1000, 1000)),
            propagation: "rslave".into(),
            ..vol.clone()
        };
        let tmp = UserMount {
            kind: MountKind::Tmpfs,
            source: PathBuf::new(),
            destination: "/run".into(),
            readonly: false,
            tmpfs_options: "noexec,size=64m".into(),
            ..vol.clone()
        };
        let ops = plan(&RootfsInput {
            mounts: vec![nested, vol, tmp],
            ..input(false, false)
        });
        let pos = |want: &MountOp| ops.iter().position(|o| o == want).expect("op present");
        let copy = pos(&MountOp::CopyUp {
            from: "/data".into(),
            into: "/v/_data".into(),
        });
        let bind = pos(&MountOp::UserBind {
            source: "/v/_data".into(),
            target: "/data".into(),
            readonly: true,
            propagation: MsFlags::empty(),
        });
        let chown = pos(&MountOp::Chown {
            path: "/host/f".into(),
            uid: 1000,
            gid: 1000,
        });
        let inner = pos(&MountOp::UserBind {
            source: "/host/f".into(),
            target: "/data/sub/f".into(),
            readonly: true,
            propagation: MsFlags::MS_SLAVE | MsFlags::MS_REC,
        });
        let proc_at = ops
            .iter()
            .position(|o| matches!(o, MountOp::Fs { fstype: "proc", .. }))
            .expect("proc");
        assert!(
            copy < proc_at && chown < proc_at,
            "prepared before any mount: {ops:?}"
        );
        assert!(bind < inner, "the outer mount first: {ops:?}");
        pos(&MountOp::Fs {
            target: "/run".into(),
            fstype: "tmpfs",
            flags: MsFlags::MS_NOEXEC,
            data: "size=67108864".into(),
        });
        // Masks still come last.
        assert!(matches!(ops.last(), Some(MountOp::ReadOnly(_))));
    }

    #[test]
    fn shm_size_is_passed_in_bytes() {
        let ops = plan(&RootfsInput {
            shm_size: 128 << 20,
            ..input(false, false)
        });
        assert!(ops.contains(&MountOp::Fs {
            target: "/dev/shm".into(),
            fstype: "tmpfs",
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            data: "mode=1777,size=134217728".into(),
        }));
    }

    #[test]
    fn root_makes_device_nodes_and_mounts_sysfs() {
        let ops = plan(&input(false, false));
        assert!(ops.contains(&MountOp::Mknod {
            target: "/dev/null".into(),
            major: 1,
            minor: 3
        }));
        assert!(ops.iter().any(|o| matches!(
            o,
            MountOp::Fs {
                fstype: "sysfs",
                ..
            }
        )));
        // /proc comes before anything under it is masked.
        let proc_at = ops
            .iter()
            .position(|o| matches!(o, MountOp::Fs { fstype: "proc", .. }));
        let mask_at = ops.iter().position(|o| matches!(o, MountOp::Mask(_)));
        assert!(proc_at < mask_at);
    }

    #[test]
    fn rootless_binds_devices_and_host_sysfs() {
        let ops = plan(&input(true, true));
        assert!(!ops.iter().any(|o| matches!(o, MountOp::Mknod { .. })));
        assert!(ops.contains(&MountOp::Bind {
            source: "/dev/null".into(),
            target: "/dev/null".into(),
            recursive: false,
            readonly: false
        }));
        assert!(ops.contains(&MountOp::Bind {
            source: "/sys".into(),
            target: "/sys".into(),
            recursive: true,
            readonly: true
        }));
        // With its own network namespace, a rootless container mounts sysfs itself.
        let own_net = plan(&input(true, false));
        assert!(own_net.iter().any(|o| matches!(
            o,
            MountOp::Fs {
                fstype: "sysfs",
                ..
            }
        )));
    }

    #[test]
    fn hosts_files_are_bound_from_userdata() {
        let ops = plan(&input(false, false));
        for f in ["hosts", "hostname", "resolv.conf"] {
            assert!(ops.contains(&MountOp::Bind {
                source: PathBuf::from("/u").join(f),
                target: PathBuf::from("/etc").join(f),
                recursive: false,
                readonly: false
            }));
        }
    }
}
