//! `create` and `start`: the init is cloned into the bundle's namespaces by the same code as
//! `skiff run` (`ns::init::container_main`), is left a child of the caller (containerd's shim,
//! its subreaper, inherits it when we exit) and waits at the exec FIFO until `start`.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use oci_spec::runtime::Spec;

use super::bundle::{self, CgroupView};
use super::hooks;
use super::state::{Record, Root, Status, oci_state, valid_id, write_atomic};
use crate::ns::init::InitSpec;
use crate::ns::process::ProcessSpec;
use crate::ns::sync;

#[derive(Debug, Default)]
pub struct CreateOptions {
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: u32,
}

/// A created container: its record and, for `run`, the init to wait for.
pub struct Created {
    pub record: Record,
    pub pidfd: OwnedFd,
}

type Manager = Box<dyn crate::cgroup::CgroupManager>;

/// Undoes a half-made container on every failure path: the init, the cgroup, the state dir.
struct Undo {
    dir: PathBuf,
    child: Option<(i32, OwnedFd)>,
    cgroup: Option<Manager>,
    armed: bool,
}

impl Drop for Undo {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some((pid, pidfd)) = &self.child {
            let _ = crate::ns::spawn::pidfd_send_signal(pidfd, libc::SIGKILL);
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(*pid), None);
        }
        if let Some(cg) = &self.cgroup {
            let _ = cg.remove();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Where containers whose spec names no cgroup go.
pub const DEFAULT_CGROUP_PARENT: &str = "skiff-runc";

/// The cgroup path: the spec's (cgroupfs form), or one of our own under `skiff-runc/`.
fn cgroup_path(spec: &Spec, id: &str) -> Result<String, String> {
    let given = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().clone())
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    if given.contains(':') && !given.starts_with('/') {
        return Err(format!(
            "linux.cgroupsPath {given:?} is in systemd's slice:prefix:name form; skiff's runtime mode drives cgroupfs only (do not set SystemdCgroup)"
        ));
    }
    Ok(if given.is_empty() {
        format!("{DEFAULT_CGROUP_PARENT}/{id}")
    } else {
        given.trim_start_matches('/').to_string()
    })
}

/// The container's cgroup, made and limited; rootless without a writable hierarchy it has
/// none (as runc's rootless mode), which is said on stderr.
fn make_cgroup(spec: &Spec, id: &str) -> Result<Option<(String, Manager)>, String> {
    let Some(hierarchy) = crate::cgroup::host_hierarchy() else {
        return Ok(None);
    };
    let path = cgroup_path(spec, id)?;
    if let Some(r) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) {
        bundle::check_resources(r)?;
    }
    let manager = crate::cgroup::manager(&hierarchy, &path);
    if let Err(e) = manager.create() {
        if nix::unistd::geteuid().is_root() {
            return Err(format!("creating cgroup {path}: {e}"));
        }
        // As runc's rootless mode: no cgroup, said only when limits were asked for.
        if spec
            .linux()
            .as_ref()
            .is_some_and(|l| l.resources().is_some())
        {
            eprintln!("skiff: warning: no cgroup for {id} ({e}); limits are not applied");
        }
        return Ok(None);
    }
    if let Some(r) = spec.linux().as_ref().and_then(|l| l.resources().as_ref())
        && let Err(e) = manager.apply(&bundle::resources(r))
    {
        let _ = manager.remove();
        return Err(format!("linux.resources: {e}"));
    }
    Ok(Some((path, manager)))
}

fn cgroup_view(path: Option<&str>) -> (CgroupView<'static>, Option<crate::cgroup::V1View>) {
    match (crate::cgroup::host_hierarchy(), path) {
        (Some(crate::cgroup::Hierarchy::Unified(_)), Some(_)) => (CgroupView::V2, None),
        (Some(crate::cgroup::Hierarchy::Legacy { controllers, .. }), Some(p)) => (
            CgroupView::None,
            Some(crate::cgroup::v1_view(&controllers, p)),
        ),
        _ => (CgroupView::None, None),
    }
}

/// The process as skiff's exec code takes it.
pub fn process_spec(
    process: &oci_spec::runtime::Process,
    seccomp: Vec<seccompiler::BpfProgram>,
    can_setgroups: bool,
) -> ProcessSpec {
    let user = process.user();
    ProcessSpec {
        argv: process.args().clone().unwrap_or_default(),
        env: process.env().clone().unwrap_or_default(),
        cwd: process.cwd().display().to_string(),
        user: format!("{}:{}", user.uid(), user.gid()),
        caps: bundle::capabilities(process),
        create_cwd: true,
        can_setgroups,
        die_with_parent: false,
        seccomp,
        no_new_privs: process.no_new_privileges() == Some(true),
        extra_groups: user
            .additional_gids()
            .iter()
            .flatten()
            .map(|g| g.to_string())
            .collect(),
        oom_score_adj: process.oom_score_adj().map(i64::from),
        umask: user.umask(),
        cap_sets: bundle::capability_sets(process),
        start_gate: None,
    }
}

/// The seccomp filter the spec asks for, compiled for the process's capabilities.
pub fn seccomp_of(
    spec: &Spec,
    caps: &caps::CapsHashSet,
) -> Result<Vec<seccompiler::BpfProgram>, String> {
    match bundle::seccomp_profile(spec) {
        Some(text) => {
            crate::ns::seccomp_profile::compile(&text, caps, &crate::ns::seccomp::syscall_numbers())
                .map_err(|e| format!("linux.seccomp: {e}"))
        }
        None => Ok(Vec::new()),
    }
}

fn warn_ignored(process: &oci_spec::runtime::Process) {
    if process.apparmor_profile().is_some() {
        eprintln!("skiff: warning: process.apparmorProfile is ignored (no AppArmor support)");
    }
    if process.selinux_label().is_some() {
        eprintln!("skiff: warning: process.selinuxLabel is ignored (no SELinux support)");
    }
}

/// Write the spec's id maps for a new user namespace (as root any; otherwise one's own).
fn write_id_maps(spec: &Spec, pid: i32) -> Result<(), String> {
    let linux = spec.linux().clone().unwrap_or_default();
    let text = |maps: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| {
        maps.iter()
            .flatten()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect::<String>()
    };
    if !nix::unistd::geteuid().is_root() {
        let _ = std::fs::write(format!("/proc/{pid}/setgroups"), "deny");
    }
    for (file, maps) in [
        ("uid_map", linux.uid_mappings()),
        ("gid_map", linux.gid_mappings()),
    ] {
        let t = text(maps);
        if t.is_empty() {
            return Err(format!(
                "linux.{}: a new user namespace needs its mappings",
                if file == "uid_map" {
                    "uidMappings"
                } else {
                    "gidMappings"
                }
            ));
        }
        std::fs::write(format!("/proc/{pid}/{file}"), &t)
            .map_err(|e| format!("writing {file} of the container: {e}"))?;
    }
    Ok(())
}

/// Hand the pty master to the caller's console socket, with the terminal's name, as runc does.
pub fn send_console(socket: &Path, master: &OwnedFd) -> Result<(), String> {
    let stream = std::os::unix::net::UnixStream::connect(socket)
        .map_err(|e| format!("connecting to the console socket {}: {e}", socket.display()))?;
    sync::send_fd_with(&stream, master, b"/dev/ptmx")
        .map_err(|e| format!("sending the terminal to {}: {e}", socket.display()))
}

pub fn create(root: &Root, id: &str, o: &CreateOptions) -> Result<Created, String> {
    if !valid_id(id) {
        return Err(format!(
            "invalid container id {id:?}: use letters, digits, '_', '+', '-' and '.'"
        ));
    }
    let bundle_dir = std::fs::canonicalize(&o.bundle)
        .map_err(|e| format!("bundle {}: {e}", o.bundle.display()))?;
    let spec = bundle::load(&bundle_dir)?;
    let process = spec.process().clone().unwrap_or_default();
    let terminal = process.terminal() == Some(true);
    if terminal && o.console_socket.is_none() {
        return Err(
            "process.terminal is set: give --console-socket to receive the terminal".into(),
        );
    }
    if !terminal && o.console_socket.is_some() {
        return Err("--console-socket is given but process.terminal is not set".into());
    }
    warn_ignored(&process);
    crate::config::ensure_dir(&root.dir, 0o700)
        .map_err(|e| format!("creating {}: {e}", root.dir.display()))?;
    let dir = root.container_dir(id);
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(format!("container with id exists: {id}"));
        }
        Err(e) => return Err(format!("creating {}: {e}", dir.display())),
    }
    let mut undo = Undo {
        dir: dir.clone(),
        child: None,
        cgroup: None,
        armed: true,
    };
    let fifo_path = root.fifo(id);
    nix::unistd::mkfifo(&fifo_path, nix::sys::stat::Mode::from_bits_truncate(0o622))
        .map_err(|e| format!("creating the exec FIFO: {e}"))?;
    // Writable by anyone (not the umask's 0600): the init opens it after it has become the
    // container's user.
    std::fs::set_permissions(
        &fifo_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o622),
    )
    .map_err(|e| format!("opening the exec FIFO: {e}"))?;
    let fifo = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
        .open(&fifo_path)
        .map_err(|e| format!("opening the exec FIFO: {e}"))?;

    let ns = bundle::namespaces(&spec);
    let cgroup = make_cgroup(&spec, id)?;
    let cgroup_rel = cgroup.as_ref().map(|(p, _)| p.clone());
    let procs = cgroup
        .as_ref()
        .map(|(_, m)| m.procs_files())
        .unwrap_or_default();
    undo.cgroup = cgroup.map(|(_, m)| m);
    let (mut view, v1) = cgroup_view(cgroup_rel.as_deref());
    if let Some(v1) = &v1 {
        view = CgroupView::V1(v1);
    }
    let rootfs = bundle::rootfs(&spec, &bundle_dir);
    let ops = bundle::mount_ops(&spec, &bundle_dir, &view, ns.user)?;
    let cgroup2_mount = matches!(view, CgroupView::V2)
        && spec
            .mounts()
            .iter()
            .flatten()
            .any(|m| matches!(m.typ().as_deref(), Some("cgroup" | "cgroup2")));
    let caps = bundle::capabilities(&process);
    let seccomp = seccomp_of(&spec, &caps)?;
    let ulimits = bundle::ulimits(&process)?;

    // Namespaces to join: opened now, kept open until the child has joined them.
    let mut join_files: Vec<(File, CloneFlags)> = Vec::new();
    for (path, kind) in &ns.join {
        let f = File::open(path)
            .map_err(|e| format!("linux.namespaces: opening {}: {e}", path.display()))?;
        join_files.push((f, *kind));
    }
    // A pid namespace is joined here: setns on one applies to the children we make next.
    let (pid_join, child_joins): (Vec<_>, Vec<_>) = join_files
        .iter()
        .partition(|(_, k)| *k == CloneFlags::CLONE_NEWPID);
    for (f, _) in &pid_join {
        nix::sched::setns(f.as_fd(), CloneFlags::CLONE_NEWPID)
            .map_err(|e| format!("joining the pid namespace: {e}"))?;
    }

    let pair = sync::pair().map_err(|e| format!("socketpair: {e}"))?;
    let child_fd = pair.child.as_raw_fd();
    let single_id_map = spec
        .linux()
        .as_ref()
        .and_then(|l| l.uid_mappings().as_ref())
        .is_some_and(|m| m.iter().map(|x| x.size()).sum::<u32>() <= 1);
    let mut process_spec = process_spec(&process, seccomp, !(ns.user && single_id_map));
    process_spec.start_gate = Some((child_fd, fifo.as_raw_fd()));
    let size = process
        .console_size()
        .as_ref()
        .map(|b| (b.height() as u16, b.width() as u16));
    let init = InitSpec {
        mountpoint: rootfs.clone(),
        lower: Vec::new(),
        upper: PathBuf::new(),
        work: PathBuf::new(),
        userxattr: false,
        nodev: false,
        fuse: None,
        copy_root: Some(rootfs.clone()),
        root_premounted: false,
        // Born with host ids a new user namespace may not map (files made would fail with
        // EOVERFLOW): the init takes its root once the maps are written.
        become_ns_root: ns.user,
        detached_sources: Vec::new(),
        ops,
        hostname: spec.hostname().clone().unwrap_or_default(),
        domainname: spec.domainname().clone().unwrap_or_default(),
        process: process_spec,
        stdio: [0, 1, 2],
        init: false,
        await_parent: Some((child_fd, ns.user)),
        cgroupns_private: ns.cgroup,
        cgroup2_mount,
        ulimits,
        tty: terminal.then_some((child_fd, size)),
        joins: child_joins
            .iter()
            .map(|(f, k)| (f.as_raw_fd(), *k))
            .collect(),
        die_with_parent: false,
        keep_fds: o.preserve_fds,
        root_propagation: bundle::root_propagation(&spec)?,
        personality: bundle::personality(&spec),
    };
    // Until it execs the init is skiff's own binary in the container's pid namespace, for as
    // long as the container waits for `start`: non-dumpable from birth, no process there can
    // open its /proc/PID/exe (CVE-2019-5736). Not for an unprivileged caller: it could not
    // write the maps of a non-dumpable child, and its container holds no more than it does.
    let privileged = nix::unistd::geteuid().is_root();
    if privileged {
        let _ = nix::sys::prctl::set_dumpable(false);
    }
    let spawned = crate::ns::spawn::clone_child(ns.clone.bits() as u64, child_fd, || {
        crate::ns::init::container_main(&init)
    })
    .map_err(|e| format!("clone: {e}"))?;
    if privileged {
        let _ = nix::sys::prctl::set_dumpable(true);
    }
    drop(pair.child);
    let pid = spawned.pid;
    undo.child = Some((pid, spawned.pidfd));
    let failed = |e: String| match sync::child_failure(&pair.parent, pid) {
        Some(child) => child.message,
        None => e,
    };
    for p in &procs {
        std::fs::write(p, pid.to_string())
            .map_err(|e| failed(format!("moving the init into {}: {e}", p.display())))?;
    }
    if ns.user {
        write_id_maps(&spec, pid).map_err(failed)?;
    }
    let pid_start = crate::state::proc::start_time(pid).unwrap_or(0);
    let mut record = Record {
        id: id.to_string(),
        pid,
        pid_start,
        bundle: bundle_dir.clone(),
        rootfs,
        created: crate::timefmt::rfc3339(crate::timefmt::now()),
        owner: String::new(),
        annotations: spec
            .annotations()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        cgroup: cgroup_rel.unwrap_or_default(),
        hooks: spec.hooks().clone(),
    };
    if let Some(h) = &record.hooks {
        if h.create_container().is_some() || h.start_container().is_some() {
            eprintln!(
                "skiff: warning: createContainer and startContainer hooks are not run (they would run inside the container's namespaces)"
            );
        }
        let state = oci_state(&record, Status::Created);
        #[allow(deprecated)]
        let prestart = h.prestart().clone().unwrap_or_default();
        hooks::run("prestart", &prestart, &state)?;
        hooks::run(
            "createRuntime",
            &h.create_runtime().clone().unwrap_or_default(),
            &state,
        )?;
    }
    sync::release(&pair.parent).map_err(|e| failed(format!("releasing the init: {e}")))?;
    let master = sync::wait_for_exec(&pair.parent).map_err(|e| e.message)?;
    if let (Some(socket), Some(master)) = (&o.console_socket, &master) {
        send_console(socket, master)?;
    }
    record.pid_start = crate::state::proc::start_time(pid).unwrap_or(pid_start);
    root.save(&record)?;
    if let Some(f) = &o.pid_file {
        write_atomic(f, &pid.to_string())?;
    }
    undo.armed = false;
    let (_, pidfd) = undo.child.take().ok_or("the init vanished")?;
    Ok(Created { record, pidfd })
}

/// Until the init has exec'd its command (its executable is no longer ours), at most 1 s:
/// poststart hooks run after the user's process starts.
fn wait_for_exec(pid: i32) {
    let ours = std::fs::read_link("/proc/self/exe").ok();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(1);
    while std::time::Instant::now() < end {
        match std::fs::read_link(format!("/proc/{pid}/exe")) {
            Ok(exe) if Some(&exe) != ours.as_ref() => return,
            Err(_) => return,
            Ok(_) => std::thread::sleep(std::time::Duration::from_millis(1)),
        }
    }
}

/// `start`: open the exec FIFO, which lets the waiting init exec the command.
pub fn start(root: &Root, id: &str) -> Result<(), String> {
    let record = root.load(id)?;
    match root.status(&record) {
        Status::Created => {}
        Status::Stopped => return Err("cannot start a container that has stopped".into()),
        _ => return Err("cannot start an already running container".into()),
    }
    let fifo_path = root.fifo(id);
    let fifo = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&fifo_path)
        .map_err(|e| format!("opening the exec FIFO: {e}"))?;
    let pidfd = crate::ns::spawn::pidfd_open(record.pid)
        .map_err(|e| format!("container not running: {e}"))?;
    loop {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let mut fds = [
            PollFd::new(fifo.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(format!("waiting for the init: {e}")),
            Ok(_) => {}
        }
        let readable = fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN));
        if readable {
            let mut byte = [0u8; 1];
            if nix::unistd::read(&fifo, &mut byte) == Ok(1) {
                break;
            }
        }
        if fds[1].revents().is_some_and(|r| !r.is_empty()) {
            return Err("container not running: its init exited before start".into());
        }
        if !readable
            && fds[0]
                .revents()
                .is_some_and(|r| r.contains(PollFlags::POLLHUP))
        {
            return Err("the init closed the exec FIFO without starting".into());
        }
    }
    let _ = std::fs::remove_file(&fifo_path);
    if let Some(h) = &record.hooks {
        if h.poststart().is_some() {
            wait_for_exec(record.pid);
        }
        let state = oci_state(&record, Status::Running);
        // A failing poststart hook is a warning, as the spec says.
        if let Err(e) = hooks::run(
            "poststart",
            &h.poststart().clone().unwrap_or_default(),
            &state,
        ) {
            eprintln!("skiff: warning: {e}");
        }
    }
    Ok(())
}
