//! The child side of a new container: from clone() to execve. Runs in the new namespaces; every
//! failure goes home over the sync socket as an (errno, message) frame.

use std::convert::Infallible;
use std::os::fd::RawFd;
use std::path::PathBuf;

use nix::sys::signal::Signal;
use nix::unistd::{Gid, Uid};

use super::process::{ProcessSpec, exec_process, install_stdio};
use super::rlimits::Ulimit;
use super::sync::{ChildError, Stage};
use crate::mount::{MountOp, apply};

pub struct InitSpec {
    /// The empty directory the overlay is mounted on (in this child's mount namespace only).
    pub mountpoint: PathBuf,
    /// Layer directories, top-most first (overlay's lowerdir order).
    pub lower: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub userxattr: bool,
    /// Mount the overlay nodev.
    pub nodev: bool,
    /// Mount it with this fuse-overlayfs program instead of the kernel's overlayfs, over
    /// this open /dev/fuse (opened by the parent: the devices cgroup the child may already
    /// be in does not allow it).
    pub fuse: Option<(PathBuf, RawFd)>,
    /// The copy driver: this directory is bound as the root instead of any overlay.
    pub copy_root: Option<PathBuf>,
    /// The parent mounts the root in our mount namespace before it lets us go on
    /// (`--userns=auto`: idmapped layers need host privilege).
    pub root_premounted: bool,
    /// Take uid and gid 0 of our new user namespace once its maps are written (`--userns=auto`,
    /// where the caller's ids are not mapped).
    pub become_ns_root: bool,
    /// Bind sources given as detached mount trees: (index in `ops`, descriptor).
    pub detached_sources: Vec<(usize, RawFd)>,
    pub ops: Vec<MountOp>,
    pub hostname: String,
    pub domainname: String,
    pub process: ProcessSpec,
    /// Descriptors that become the container's 0, 1 and 2.
    pub stdio: [RawFd; 3],
    /// Run skiff's own init as pid 1 (`--init`).
    pub init: bool,
    /// Wait on this sync socket for the parent's "go": at the start (true: the parent writes
    /// the id maps of our new user namespace) or just before the command (false: the parent
    /// moves us into the container's cgroup while we mount; moving a process between v1
    /// cgroups waits for an RCU grace period, which then overlaps with the mounts).
    pub await_parent: Option<(RawFd, bool)>,
    /// Unshare a cgroup namespace once inside the cgroup (`--cgroupns private`).
    pub cgroupns_private: bool,
    /// Mount cgroup2 (read-only) at /sys/fs/cgroup once in that namespace, so the container
    /// sees its own cgroup there as the root (cgroup v2 hosts).
    pub cgroup2_mount: bool,
    pub ulimits: Vec<Ulimit>,
    /// `-t`: make a pty in the container's devpts, of this size, and send its master home on
    /// this sync socket.
    pub tty: Option<(RawFd, Option<(u16, u16)>)>,
    /// Namespaces joined first, in order (a user namespace first of all): `--network
    /// container:X`, `--ipc container:X`, or an OCI bundle's namespace paths.
    pub joins: Vec<(RawFd, nix::sched::CloneFlags)>,
    /// Die with the process that cloned us (a monitor). Not under an OCI runtime's caller:
    /// `create` exits and the container goes on under its subreaper (containerd's shim).
    pub die_with_parent: bool,
    /// Descriptors 3..3+N stay open into the command (`--preserve-fds`).
    pub keep_fds: u32,
    /// personality(2) for the command (an OCI bundle's `linux.personality`; None: unchanged).
    pub personality: Option<libc::c_ulong>,
    /// The propagation of the new root once made (an OCI bundle's `rootfsPropagation`;
    /// empty: it stays private).
    pub root_propagation: nix::mount::MsFlags,
}

fn wait_parent(fd: RawFd) -> Result<(), ChildError> {
    // SAFETY: the sync socket stays open for the child's whole life; we only borrow it.
    super::sync::wait_release(&unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) })
}

/// Join a cgroup by writing "0" (this process) into each of its cgroup.procs files.
pub fn join_cgroup(procs: &[PathBuf]) -> Result<(), ChildError> {
    for p in procs {
        std::fs::write(p, "0").map_err(|e| {
            ChildError::io(Stage::Setup, format!("joining cgroup {}", p.display()), &e)
        })?;
    }
    Ok(())
}

pub fn container_main(spec: &InitSpec) -> Result<Infallible, ChildError> {
    // Die with the monitor: a container must never outlive the process that records its exit.
    // (getppid() is 0 inside a new pid namespace, so a monitor that died before this line
    // cannot be detected here; reconcile kills such an orphan by its recorded pid.)
    if spec.die_with_parent {
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
            .map_err(|e| ChildError::os(Stage::Setup, "prctl(PR_SET_PDEATHSIG)", e))?;
    }
    if let Some((fd, true)) = spec.await_parent {
        wait_parent(fd)?;
    }
    if spec.become_ns_root {
        // Born with the caller's host ids, which our new namespace does not map (files we make
        // would fail with EOVERFLOW): become its root, now that the maps are written.
        nix::unistd::setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
            .and_then(|()| {
                nix::unistd::setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
            })
            .map_err(|e| ChildError::os(Stage::Setup, "becoming root in the user namespace", e))?;
    }
    for (fd, kind) in &spec.joins {
        // SAFETY: the parent keeps the namespace file open until we have exec'd.
        let ns = unsafe { std::os::fd::BorrowedFd::borrow_raw(*fd) };
        nix::sched::setns(ns, *kind)
            .map_err(|e| ChildError::os(Stage::Setup, format!("joining namespace {kind:?}"), e))?;
    }
    nix::unistd::setsid().map_err(|e| ChildError::os(Stage::Setup, "setsid", e))?;
    install_stdio(spec.stdio, spec.keep_fds)?;

    let fuse = spec.fuse.as_ref().map(|(p, fd)| {
        // SAFETY: our own copy of the parent's /dev/fuse (clone copied the fd table), used
        // by nothing else in this process.
        (p.as_path(), unsafe {
            <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(*fd)
        })
    });
    apply::mount_rootfs(
        &spec.mountpoint,
        &spec.lower,
        &spec.upper,
        &spec.work,
        spec.userxattr,
        spec.nodev,
        apply::RootDriver::pick(fuse, spec.copy_root.as_deref(), spec.root_premounted),
    )?;
    apply::apply(&spec.mountpoint, &spec.ops, &spec.detached_sources)?;
    apply::pivot(&spec.mountpoint)?;
    if !spec.root_propagation.is_empty() {
        nix::mount::mount(
            None::<&str>,
            "/",
            None::<&str>,
            spec.root_propagation,
            None::<&str>,
        )
        .map_err(|e| ChildError::os(Stage::Setup, "setting the root's propagation", e))?;
    }
    if !spec.hostname.is_empty() {
        nix::unistd::sethostname(&spec.hostname).map_err(|e| {
            ChildError::os(Stage::Setup, format!("sethostname {}", spec.hostname), e)
        })?;
    }
    if !spec.domainname.is_empty() {
        // SAFETY: pointer and length describe a live byte slice.
        let rc =
            unsafe { libc::setdomainname(spec.domainname.as_ptr().cast(), spec.domainname.len()) };
        if rc != 0 {
            return Err(ChildError::io(
                Stage::Setup,
                "setdomainname",
                &std::io::Error::last_os_error(),
            ));
        }
    }
    if let Some((fd, false)) = spec.await_parent {
        wait_parent(fd)?;
    }
    if spec.cgroupns_private {
        // Only now: a cgroup namespace is rooted at the cgroup its creator is in.
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
            .map_err(|e| ChildError::os(Stage::Setup, "unshare(CLONE_NEWCGROUP)", e))?;
    }
    if spec.cgroup2_mount {
        // After the unshare: a cgroup2 mount shows the tree from the namespace's root.
        apply::mount_cgroup2(std::path::Path::new("/sys/fs/cgroup"))?;
    }
    if let Some((sync_fd, size)) = spec.tty {
        let master = super::pty::open_in_container()?;
        if let Some((rows, cols)) = size {
            super::pty::set_window_size(std::os::fd::AsFd::as_fd(&master), rows, cols);
        }
        // SAFETY: the sync socket stays open for the child's whole life; we only borrow it.
        let sock = unsafe { std::os::fd::BorrowedFd::borrow_raw(sync_fd) };
        super::sync::send_fd(&sock, &master)
            .map_err(|e| ChildError::io(Stage::Setup, "sending the pty to the monitor", &e))?;
    }
    super::rlimits::apply(&spec.ulimits)?;
    if let Some(persona) = spec.personality {
        // SAFETY: plain syscall with an integer argument.
        if unsafe { libc::personality(persona) } < 0 {
            return Err(ChildError::io(
                Stage::Setup,
                format!("personality({persona:#x})"),
                &std::io::Error::last_os_error(),
            ));
        }
    }
    if spec.init {
        super::initproc::run_as_init(&spec.process)
    } else {
        exec_process(&spec.process)
    }
}
