//! An OCI bundle's `config.json` (read with the `oci-spec` crate's runtime types) -> the
//! pieces skiff's launch code already takes: mount operations, namespaces to make or join,
//! the process, limits. Pure apart from reading the file, so it is unit-tested.

use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceType, Mount, Process, Spec};

use crate::mount::MountOp;
use crate::mount::plan::GenericMount;
use crate::ns::rlimits::Ulimit;

/// Read and check `<bundle>/config.json`.
pub fn load(bundle: &Path) -> Result<Spec, String> {
    let file = bundle.join("config.json");
    let text = std::fs::read_to_string(&file).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "JSON specification file config.json not found in bundle {}",
                bundle.display()
            )
        } else {
            format!("reading {}: {e}", file.display())
        }
    })?;
    let spec: Spec = serde_json::from_str(&text)
        .map_err(|e| format!("invalid config.json in {}: {e}", bundle.display()))?;
    validate(&spec)?;
    Ok(spec)
}

/// What runc checks before it starts anything, with the field named.
pub fn validate(spec: &Spec) -> Result<(), String> {
    let version = spec.version();
    if !version.starts_with("1.") {
        return Err(format!(
            "ociVersion {version:?} is not supported: skiff speaks runtime-spec 1.0 to 1.2"
        ));
    }
    if spec.root().is_none() {
        return Err("root: the root filesystem must be given".into());
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or("process: a process to run is required")?;
    check_process(process)?;
    for m in spec.mounts().iter().flatten() {
        if !m.destination().is_absolute() {
            return Err(format!(
                "mounts: destination {:?} must be an absolute path",
                m.destination()
            ));
        }
    }
    let mut seen = Vec::new();
    for ns in spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default()
    {
        if seen.contains(&ns.typ()) {
            return Err(format!("linux.namespaces: {} appears twice", ns.typ()));
        }
        seen.push(ns.typ());
    }
    if !seen.contains(&LinuxNamespaceType::Mount) {
        // runc then mounts into the caller's namespace and chroots; skiff never mounts a
        // container's root into the host's mount table.
        return Err(
            "linux.namespaces: a mount namespace (new, or joined by path) is required".into(),
        );
    }
    Ok(())
}

/// A process (the container's, or one `exec --process` gives) must name a command and an
/// absolute working directory.
pub fn check_process(process: &Process) -> Result<(), String> {
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err("process.args: a command is required".into());
    }
    if !process.cwd().is_absolute() {
        return Err(format!(
            "process.cwd {:?} must be an absolute path",
            process.cwd()
        ));
    }
    Ok(())
}

/// The root directory: `root.path`, relative to the bundle unless absolute.
pub fn rootfs(spec: &Spec, bundle: &Path) -> PathBuf {
    let path = spec
        .root()
        .as_ref()
        .map(|r| r.path().clone())
        .unwrap_or_else(|| PathBuf::from("rootfs"));
    if path.is_absolute() {
        path
    } else {
        bundle.join(path)
    }
}

/// The namespaces of the spec: those to make with clone, those to join by path.
#[derive(Debug, PartialEq)]
pub struct Namespaces {
    pub clone: CloneFlags,
    /// (path, kind), user first: joining it first gives the rights over the others.
    pub join: Vec<(PathBuf, CloneFlags)>,
    /// A new cgroup namespace, made (unshared) once in the container's cgroup.
    pub cgroup: bool,
    /// A new user namespace, whose maps the caller writes.
    pub user: bool,
}

fn flag_of(kind: LinuxNamespaceType) -> CloneFlags {
    match kind {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        // CLONE_NEWTIME has the value of CSIGNAL's top bit: 0x80.
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(0x80),
    }
}

pub fn namespaces(spec: &Spec) -> Namespaces {
    let mut out = Namespaces {
        clone: CloneFlags::empty(),
        join: Vec::new(),
        cgroup: false,
        user: false,
    };
    let list = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    for ns in &list {
        let flag = flag_of(ns.typ());
        match (ns.path(), ns.typ()) {
            (Some(path), LinuxNamespaceType::User) => out.join.insert(0, (path.clone(), flag)),
            (Some(path), _) => out.join.push((path.clone(), flag)),
            (None, LinuxNamespaceType::Cgroup) => out.cgroup = true,
            (None, LinuxNamespaceType::User) => {
                out.user = true;
                out.clone |= flag;
            }
            (None, _) => out.clone |= flag,
        }
    }
    out
}

/// One mount's options -> (flags, propagation, data), as runc reads them.
pub fn mount_options(options: &[String]) -> Result<(MsFlags, MsFlags, Vec<String>), String> {
    let mut flags = MsFlags::empty();
    let mut propagation = MsFlags::empty();
    let mut data = Vec::new();
    for o in options {
        let (set, clear) = match o.as_str() {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
            | "runbindable" => {
                propagation = crate::mount::volume::propagation_flags(o);
                continue;
            }
            // runc's own extension, meaningless without its copy-up of tmpfs content.
            "tmpcopyup" => continue,
            "idmap" | "ridmap" => {
                return Err(format!(
                    "mount option {o:?} (idmapped mounts) is not supported"
                ));
            }
            other => {
                data.push(other.to_string());
                continue;
            }
        };
        flags = (flags | set) & !clear;
    }
    Ok((flags, propagation, data))
}

/// `linux.rootfsPropagation`: the propagation of the container's root once it is made.
pub fn root_propagation(spec: &Spec) -> Result<MsFlags, String> {
    let Some(p) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().clone())
    else {
        return Ok(MsFlags::empty());
    };
    match p.as_str() {
        "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" => {
            Ok(crate::mount::volume::propagation_flags(&p))
        }
        "unbindable" => Ok(MsFlags::MS_UNBINDABLE),
        "runbindable" => Ok(MsFlags::MS_UNBINDABLE | MsFlags::MS_REC),
        other => Err(format!(
            "linux.rootfsPropagation {other:?}: use private, shared, slave or unbindable (r-prefixed too)"
        )),
    }
}

/// `linux.personality`: the execution domain (PER_LINUX 0, PER_LINUX32 8).
pub fn personality(spec: &Spec) -> Option<libc::c_ulong> {
    let p = spec.linux().as_ref()?.personality().as_ref()?;
    Some(match p.domain() {
        oci_spec::runtime::LinuxPersonalityDomain::PerLinux => 0,
        oci_spec::runtime::LinuxPersonalityDomain::PerLinux32 => 0x0008,
    })
}

/// How the container's cgroups are shown at a `cgroup` mount.
pub enum CgroupView<'a> {
    /// cgroup v1: the container's cgroup of each controller, bound read-only.
    V1(&'a crate::cgroup::V1View),
    /// cgroup v2: cgroup2 mounted once in the container's cgroup namespace.
    V2,
    /// No cgroup (rootless without delegation): an empty read-only tmpfs.
    None,
}

/// The mount operations that make the container's root, in the spec's order, then the
/// devices, masked and read-only paths, sysctls and a read-only root.
pub fn mount_ops(
    spec: &Spec,
    bundle: &Path,
    cgroups: &CgroupView,
    user_ns: bool,
) -> Result<Vec<MountOp>, String> {
    let mut ops = Vec::new();
    let mounts = spec.mounts().clone().unwrap_or_default();
    for m in &mounts {
        ops.extend(mount_op(m, bundle, cgroups)?);
    }
    let dev_bound = mounts.iter().any(|m| {
        m.destination() == Path::new("/dev")
            && m.options().iter().flatten().any(|o| o.ends_with("bind"))
    });
    if !dev_bound {
        ops.extend(device_ops(spec, user_ns));
    }
    let linux = spec.linux().clone().unwrap_or_default();
    for p in linux.masked_paths().iter().flatten() {
        ops.push(MountOp::Mask(PathBuf::from(p)));
    }
    for p in linux.readonly_paths().iter().flatten() {
        ops.push(MountOp::ReadOnly(PathBuf::from(p)));
    }
    let mut sysctls: Vec<(String, String)> = linux
        .sysctl()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    sysctls.sort();
    for (key, value) in sysctls {
        ops.push(MountOp::Sysctl { key, value });
    }
    if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        ops.push(MountOp::RootReadOnly);
    }
    Ok(ops)
}

fn mount_op(m: &Mount, bundle: &Path, cgroups: &CgroupView) -> Result<Vec<MountOp>, String> {
    let target = m.destination().clone();
    let (mut flags, propagation, data) = mount_options(&m.options().clone().unwrap_or_default())
        .map_err(|e| format!("mounts: {}: {e}", target.display()))?;
    let fstype = m.typ().clone().unwrap_or_default();
    if fstype == "bind" {
        flags |= MsFlags::MS_BIND;
    }
    if fstype == "cgroup" || fstype == "cgroup2" {
        return Ok(match cgroups {
            CgroupView::V1(view) => crate::mount::plan::cgroup_v1_view(view)
                .into_iter()
                .map(|op| retarget(op, &target))
                .collect(),
            // Mounted after the cgroup namespace is made (see `create`).
            CgroupView::V2 => Vec::new(),
            CgroupView::None => vec![MountOp::Fs {
                target,
                fstype: "tmpfs",
                flags: MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                data: "size=0".into(),
            }],
        });
    }
    let mut source = m.source().clone().unwrap_or_default();
    if flags.contains(MsFlags::MS_BIND) && source.is_relative() && !source.as_os_str().is_empty() {
        source = bundle.join(source);
    }
    Ok(vec![MountOp::Generic(GenericMount {
        source,
        target,
        fstype,
        flags,
        propagation,
        data: data.join(","),
    })])
}

/// The v1 view's operations are made for /sys/fs/cgroup: move them under the spec's target.
fn retarget(op: MountOp, target: &Path) -> MountOp {
    let under = |p: PathBuf| match p.strip_prefix("/sys/fs/cgroup") {
        Ok(rest) => target.join(rest),
        Err(_) => p,
    };
    match op {
        MountOp::Fs {
            target: t,
            fstype,
            flags,
            data,
        } => MountOp::Fs {
            target: under(t),
            fstype,
            flags,
            data,
        },
        MountOp::Bind {
            source,
            target: t,
            recursive,
            readonly,
        } => MountOp::Bind {
            source,
            target: under(t),
            recursive,
            readonly,
        },
        MountOp::Symlink { link, to } => MountOp::Symlink {
            link: under(link),
            to,
        },
        MountOp::ReadOnly(p) => MountOp::ReadOnly(under(p)),
        other => other,
    }
}

/// runc's default devices (each unless the spec lists it), the spec's own, and the links
/// every /dev has. In a user namespace mknod is refused: the host's nodes are bound instead.
fn device_ops(spec: &Spec, user_ns: bool) -> Vec<MountOp> {
    let listed = spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().clone())
        .unwrap_or_default();
    let mut ops = Vec::new();
    let node = |path: PathBuf, block: bool, major: u64, minor: u64| {
        if user_ns {
            MountOp::Bind {
                source: path.clone(),
                target: path,
                recursive: false,
                readonly: false,
            }
        } else if block {
            MountOp::MknodBlock {
                target: path,
                major,
                minor,
            }
        } else {
            MountOp::Mknod {
                target: path,
                major,
                minor,
            }
        }
    };
    for (name, major, minor) in crate::mount::plan::DEVICES {
        let path = Path::new("/dev").join(name);
        if !listed.iter().any(|d| d.path() == &path) {
            ops.push(node(path, false, *major, *minor));
        }
    }
    for d in &listed {
        use nix::sys::stat::SFlag;
        use oci_spec::runtime::LinuxDeviceType;
        if user_ns {
            ops.push(node(d.path().clone(), false, 0, 0));
            continue;
        }
        let kind = match d.typ() {
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            _ => SFlag::S_IFCHR,
        };
        ops.push(MountOp::Device(crate::mount::plan::DeviceNode {
            target: d.path().clone(),
            kind,
            major: d.major() as u64,
            minor: d.minor() as u64,
            mode: d.file_mode().unwrap_or(0o666),
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        }));
    }
    for (link, to) in crate::mount::plan::DEV_LINKS {
        ops.push(MountOp::Symlink {
            link: link.into(),
            to: to.into(),
        });
    }
    ops
}

/// `process.rlimits` -> skiff's `--ulimit` entries.
pub fn ulimits(process: &Process) -> Result<Vec<Ulimit>, String> {
    let mut out = Vec::new();
    for r in process.rlimits().iter().flatten() {
        // RLIMIT_NOFILE -> nofile, the names `--ulimit` knows.
        let name = r.typ().to_string().to_lowercase();
        let name = name.trim_start_matches("rlimit_").to_string();
        let as_i64 = |v: u64| i64::try_from(v).unwrap_or(-1);
        let text = format!("{name}={}:{}", as_i64(r.soft()), as_i64(r.hard()));
        let limit = crate::ns::rlimits::parse(&text)
            .map_err(|e| format!("process.rlimits: {}: {e}", r.typ()))?;
        out.push(limit);
    }
    Ok(out)
}

/// The process's capabilities as one set: the bounding set (what the others are cut to),
/// or the effective set when no bounding set is given.
pub fn capabilities(process: &Process) -> caps::CapsHashSet {
    let sets = process.capabilities().clone().unwrap_or_default();
    let chosen = sets
        .bounding()
        .clone()
        .or_else(|| sets.effective().clone())
        .unwrap_or_default();
    chosen
        .iter()
        .filter_map(|c| format!("CAP_{c}").parse::<caps::Capability>().ok())
        .collect()
}

/// Resources skiff cannot apply: refused at create, as runc refuses them on a host without
/// the controller, rather than a container that silently lacks its limit.
pub fn check_resources(r: &oci_spec::runtime::LinuxResources) -> Result<(), String> {
    if r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty()) {
        return Err(
            "linux.resources.hugepageLimits: the hugetlb controller is not supported".into(),
        );
    }
    if r.network().is_some() {
        return Err("linux.resources.network: net_cls/net_prio are not supported".into());
    }
    if r.rdma().as_ref().is_some_and(|m| !m.is_empty()) {
        return Err("linux.resources.rdma: the rdma controller is not supported".into());
    }
    Ok(())
}

/// Each of the process's capability sets, when it gives them.
pub fn capability_sets(process: &Process) -> Option<crate::ns::caps::CapSets> {
    let sets = process.capabilities().as_ref()?;
    let convert = |set: &Option<oci_spec::runtime::Capabilities>| -> caps::CapsHashSet {
        set.iter()
            .flatten()
            .filter_map(|c| format!("CAP_{c}").parse::<caps::Capability>().ok())
            .collect()
    };
    Some(crate::ns::caps::CapSets {
        effective: convert(sets.effective()),
        permitted: convert(sets.permitted()),
        inheritable: convert(sets.inheritable()),
        ambient: convert(sets.ambient()),
    })
}

/// `linux.resources` -> skiff's cgroup limits.
pub fn resources(r: &oci_spec::runtime::LinuxResources) -> crate::cgroup::Resources {
    let mut out = crate::cgroup::Resources::default();
    if let Some(m) = r.memory() {
        out.memory = m.limit().filter(|v| *v > 0);
        out.memory_swap = m.swap().filter(|v| *v != 0);
        out.memory_reservation = m.reservation().filter(|v| *v > 0);
        out.oom_kill_disable = m.disable_oom_killer() == Some(true);
    }
    if let Some(c) = r.cpu() {
        out.cpu_shares = c
            .shares()
            .and_then(|v| i64::try_from(v).ok())
            .filter(|v| *v > 0);
        out.cpu_quota = c.quota().filter(|v| *v > 0);
        out.cpu_period = c
            .period()
            .and_then(|v| i64::try_from(v).ok())
            .filter(|v| *v > 0);
        out.cpuset_cpus = c.cpus().clone().filter(|s| !s.is_empty());
        out.cpuset_mems = c.mems().clone().filter(|s| !s.is_empty());
    }
    if let Some(p) = r.pids() {
        out.pids_limit = Some(p.limit());
    }
    if let Some(b) = r.block_io() {
        out.blkio_weight = b.weight().filter(|w| *w > 0);
    }
    for d in r.devices().iter().flatten() {
        if !d.allow() {
            continue;
        }
        let kind = match d.typ() {
            Some(oci_spec::runtime::LinuxDeviceType::B) => "b",
            Some(oci_spec::runtime::LinuxDeviceType::C) => "c",
            _ => "a",
        };
        let num = |n: Option<i64>| {
            n.filter(|v| *v >= 0)
                .map_or("*".to_string(), |v| v.to_string())
        };
        out.device_rules.push(format!(
            "{kind} {}:{} {}",
            num(d.major()),
            num(d.minor()),
            d.access().clone().unwrap_or_else(|| "rwm".into())
        ));
    }
    out
}

/// `linux.seccomp` -> the text of a docker-format profile (the OCI and docker formats are
/// one lineage), for the compiler the security work added.
pub fn seccomp_profile(spec: &Spec) -> Option<String> {
    let seccomp = spec.linux().as_ref()?.seccomp().as_ref()?;
    serde_json::to_string(seccomp).ok()
}

#[cfg(test)]
#[path = "bundle_tests.rs"]
mod tests;
