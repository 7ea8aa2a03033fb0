//! Starting a container: clone it into its namespaces, record it Running, relay it until it
//! exits, record the exit. In the foreground the CLI process is the monitor; with `-d` a forked
//! monitor does the same while the CLI returns as soon as the container runs.

use std::os::fd::{AsRawFd, OwnedFd};

use super::cgroups::Planned;
use super::{ContainerError, Ctx, io_err};
use crate::cgroup;
use crate::monitor::{self, LogWriter, Outputs, Relay};
use crate::mount::{RootfsInput, plan::plan};
use crate::ns::idmap::{self, KeepId};
use crate::ns::init::{InitSpec, container_main};
use crate::ns::process::ProcessSpec;
use crate::ns::spawn::{Spawned, clone_child};
use crate::ns::sync;
use crate::spec::{CgroupnsMode, NetworkMode};
use crate::state::container::{ContainerRecord, Status};
use crate::state::proc;

pub use super::detached::{AttachSoon, start_detached};

pub(super) struct Launched {
    pub(super) child: Spawned,
    pub(super) outputs: Outputs,
    pub(super) log: LogWriter,
    /// The pty master, or the write end of the stdin pipe (`Stdin::Pipe`).
    pub(super) input: Option<OwnedFd>,
    /// What the monitor probes on schedule (from the record this launch read).
    pub(super) healthcheck: Option<crate::image::config::Healthcheck>,
}

/// Where the container's stdin comes from (without a tty).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Stdin {
    Null,
    /// Our own fd 0 (foreground `-i`).
    Inherit,
    /// A pipe the monitor writes attach clients' input into (detached `-i`).
    Pipe,
}

/// Run attached to this process: output to the terminal and the log, signals forwarded.
/// Returns the container's exit code. (A `-t` container runs with a detached monitor and an
/// attach client instead: see `start_detached` and `attach`.)
pub fn run_foreground(ctx: &Ctx, id: &str, interactive: bool) -> Result<i32, ContainerError> {
    run_attached(ctx, id, interactive, true)
}

/// `run_foreground`, with the output shown (`echo`) or only logged (a quiet build's RUN).
pub fn run_attached(
    ctx: &Ctx,
    id: &str,
    interactive: bool,
    echo: bool,
) -> Result<i32, ContainerError> {
    run_attached_to(ctx, id, interactive, echo, None, false)
}

/// [`run_attached`], with the output also handed to `tap` as it comes; with `end_on_signal`
/// a Ctrl-C kills the process (see `monitor::Relay`).
pub fn run_attached_to<'t>(
    ctx: &Ctx,
    id: &str,
    interactive: bool,
    echo: bool,
    tap: Option<&'t mut monitor::OutputTap<'t>>,
    end_on_signal: bool,
) -> Result<i32, ContainerError> {
    monitor::block_forwarded();
    let stdin = if interactive {
        Stdin::Inherit
    } else {
        Stdin::Null
    };
    let launched = launch(ctx, id, stdin, None)?;
    let mut prober = super::health::Prober::new(ctx, id, launched.healthcheck.as_ref());
    let code = monitor::supervise(
        &launched.child,
        Some(launched.outputs),
        Relay {
            log: Some(launched.log),
            echo,
            forward_signals: true,
            end_on_signal,
            interactive: None,
            tap,
            ticker: prober.as_mut().map(|p| p as &mut dyn monitor::Ticker),
        },
    );
    finish(ctx, id, code);
    Ok(code)
}

fn dev_null() -> Result<std::fs::File, ContainerError> {
    std::fs::File::open("/dev/null").map_err(io_err("opening /dev/null"))
}

pub(super) fn launch(
    ctx: &Ctx,
    id: &str,
    stdin_mode: Stdin,
    tty_size: Option<(u16, u16)>,
) -> Result<Launched, ContainerError> {
    let _lock = ctx.store.lock(id)?;
    let mut record = ctx.load_live(id)?;
    if record.state.status == Status::Running {
        return Err(ContainerError::Invalid(format!(
            "container {} is already running",
            record.name
        )));
    }
    let null = dev_null()?;
    let (stdin_r, stdin_w) = if stdin_mode == Stdin::Pipe {
        let (r, w) = monitor::output_pipe().map_err(io_err("pipe"))?;
        (Some(r), Some(w))
    } else {
        (None, None)
    };
    let stdin = match (&stdin_r, stdin_mode) {
        (Some(r), _) => r.as_raw_fd(),
        (None, Stdin::Inherit) => 0,
        _ => null.as_raw_fd(),
    };
    let tty = record.config.tty;
    // `--link`s: env vars for the process, hosts lines for the network; resolved once.
    let links = resolve_links(ctx, &record)?;
    if !ctx.userdata_dir(&record.id).join("hosts").exists() {
        // The runtime dir is a tmpfs: a reboot since the last start emptied it.
        super::create::write_userdata(ctx, &record)?;
    }
    let init = init_spec(ctx, &record, stdin, &links)?;
    let log_path = if record.config.log.keeps_nothing() {
        std::path::PathBuf::from("/dev/null") // --log-driver none
    } else {
        ctx.log_path(id)
    };
    let log = match record.config.log.rotation() {
        Some((size, files)) => LogWriter::rotating(&log_path, size, files),
        None => LogWriter::open(&log_path),
    }
    .map_err(io_err(format!("opening {}", log_path.display())))?;
    let (out_r, out_w) = monitor::output_pipe().map_err(io_err("pipe"))?;
    let (err_r, err_w) = monitor::output_pipe().map_err(io_err("pipe"))?;
    let pair = sync::pair().map_err(io_err("socketpair"))?;
    let mut init = InitSpec {
        // With a tty the child makes its pty its stdio; until then it has /dev/null.
        stdio: if tty {
            [null.as_raw_fd(); 3]
        } else {
            [stdin, out_w.as_raw_fd(), err_w.as_raw_fd()]
        },
        tty: tty.then(|| (pair.child.as_raw_fd(), tty_size)),
        ..init
    };
    // cgroupfs: the cgroup exists, limits written, before the child is cloned, and the child
    // is moved in while it mounts. systemd: the scope is made around the child then. Either
    // way the command runs only after that.
    tracing::debug!(id = %record.id, ops = init.ops.len(), "mount plan ready");
    let cgroup = Planned::prepare(ctx, &record)?;
    tracing::debug!(cgroup = ?cgroup.as_ref().map(|_| "planned"), "cgroup prepared");
    if let Some(view) = cgroup.as_ref().and_then(|c| c.v1_view(ctx)) {
        init.ops.extend(crate::mount::plan::cgroup_v1_view(&view));
    }
    init.cgroup2_mount = matches!(ctx.hierarchy(), Some(cgroup::Hierarchy::Unified(_)));
    let undo_cgroup = |cgroup: &Option<Planned>, admitted: Option<&str>| {
        if let Some(c) = cgroup {
            c.undo(ctx, admitted);
        }
    };
    // No CLONE_NEWCGROUP: the child unshares its cgroup namespace after joining its cgroup,
    // so that the namespace's root is the container's own cgroup.
    let sec = &record.config.security;
    let mut flags = libc::CLONE_NEWNS;
    for (host, flag) in [
        (sec.pid.is_shared(), libc::CLONE_NEWPID),
        (sec.uts_host, libc::CLONE_NEWUTS),
        (sec.ipc.is_shared(), libc::CLONE_NEWIPC),
    ] {
        if !host {
            flags |= flag;
        }
    }
    if sec.uts_host {
        // The host's own name stays: nothing to set.
        init.hostname.clear();
        init.domainname.clear();
    }
    if record.config.network.own_namespace() {
        flags |= libc::CLONE_NEWNET;
    }
    // A fuse-overlayfs store: /dev/fuse opened here, where no devices cgroup applies.
    let dev_fuse = match ctx.fuse_program()? {
        Some(program) => Some((
            program,
            crate::mount::fuse::open_device().map_err(io_err(
                "opening /dev/fuse for the fuse-overlayfs storage driver",
            ))?,
        )),
        None => None,
    };
    init.fuse = dev_fuse.as_ref().map(|(p, f)| (p.clone(), f.as_raw_fd()));
    // `container:X`: its namespace, held open until our child has joined it.
    let other_netns = super::share::shared_netns(ctx, &record)?;
    if let Some(f) = &other_netns {
        init.joins
            .push((f.as_raw_fd(), nix::sched::CloneFlags::CLONE_NEWNET));
    }
    let other_ipc = match record.config.security.ipc.container() {
        Some(target) => Some(super::share::other_namespace(
            ctx,
            target,
            "ipc",
            "IPC namespace",
        )?),
        None => None,
    };
    if let Some((f, _)) = &other_ipc {
        init.joins
            .push((f.as_raw_fd(), nix::sched::CloneFlags::CLONE_NEWIPC));
    }
    // /dev/shm stays the container's own: X's lives in X's mount namespace, which a bind
    // cannot reach (the System V and POSIX queues, the IPC namespace's, are shared).
    // `--pid container:X`: our children are born in X's pid namespace for this one clone.
    let pid_switch = match record.config.security.pid.container() {
        Some(target) => Some(super::share::PidSwitch::enter(
            super::share::other_namespace(ctx, target, "pid", "pid namespace")?.0,
        )?),
        None => None,
    };
    // Bridge networking (or a stack of its own): the parent plugs the veth in while the
    // child mounts; the command runs only after that.
    let bridged = record.config.network == NetworkMode::Bridge || record.config.network.own_stack();
    if bridged && init.await_parent.is_none() {
        init.await_parent = Some((pair.child.as_raw_fd(), false));
    }
    let keep_id = record.config.keep_id;
    let auto = record.config.userns_auto;
    // --userns=auto: the setup's host paths as inherited descriptors, open until the clone.
    let sources = match auto {
        Some(_) => {
            let opened = super::userns_auto::sources_as_fds(&mut init.ops)?;
            init.detached_sources = opened.trees;
            opened.held
        }
        None => Vec::new(),
    };
    if keep_id.is_some() || auto.is_some() {
        // Its own user namespace: the child waits for its id maps before anything else.
        flags |= libc::CLONE_NEWUSER;
        init.await_parent = Some((pair.child.as_raw_fd(), true));
    } else if cgroup.is_some() || bridged {
        init.await_parent = Some((pair.child.as_raw_fd(), false));
    }
    tracing::debug!(
        flags = format!("{flags:#x}"),
        "cloning the container's namespaces"
    );
    let child = clone_child(flags as u64, pair.child.as_raw_fd(), || {
        container_main(&init)
    });
    drop(pid_switch);
    let child = child.map_err(|e| {
        undo_cgroup(&cgroup, None);
        clone_error(&e)
    })?;
    // The child has its own copy of /dev/fuse: ours must go, so that its mount fails
    // (ENOTCONN) rather than hangs if fuse-overlayfs dies.
    drop((out_w, err_w, pair.child, stdin_r, null, dev_fuse, sources));
    let prepared = keep_id
        .map_or(Ok(()), |k| write_id_maps(child.pid, k))
        .and_then(|()| match auto {
            Some(a) => {
                write_auto_maps(child.pid, &a)?;
                let layers = ctx.lower_dirs(&record);
                let points = super::userns_auto::layer_points(ctx, &record, layers.len())?;
                super::userns_auto::mount_root(
                    child.pid,
                    &layers,
                    &points,
                    &init.upper,
                    &init.work,
                    &init.mountpoint,
                    init.nodev,
                )
            }
            None => Ok(()),
        })
        .and_then(|()| {
            // A move between v1 cgroups waits for an RCU grace period (~10-15 ms here), and
            // systemd takes a D-Bus round trip: the network is plugged in meanwhile, on this
            // thread, while another one places the cgroup.
            let pid = child.pid;
            let planned = &cgroup;
            let (resources, id) = (record.config.resources.clone(), record.id.clone());
            if let Some(c @ Planned::Systemd { .. }) = planned {
                // First the scope, so that the helpers the network starts for this container
                // (pasta) live in it with the monitor, not in the caller's scope.
                record.state.cgroup = c.admit(ctx, &id, pid, &resources)?;
                if bridged {
                    record.state.networks = plug_in(ctx, &record, pid, &links)?;
                }
                return Ok(());
            }
            if planned.is_none() && !bridged {
                return Ok(()); // nothing to place or plug in: no thread to start
            }
            std::thread::scope(|s| {
                let placing = s.spawn(move || match planned {
                    Some(c) => c.admit(ctx, &id, pid, &resources).map(Some),
                    None => Ok(None),
                });
                let plugged = if bridged {
                    plug_in(ctx, &record, pid, &links).map(Some)
                } else {
                    Ok(None)
                };
                let placed = placing.join().unwrap_or_else(|_| {
                    Err(ContainerError::Invalid("the cgroup thread panicked".into()))
                });
                match (placed, plugged) {
                    (Ok(path), Ok(networks)) => {
                        record.state.networks = networks.unwrap_or_default();
                        record.state.cgroup = path.unwrap_or_default();
                        Ok(())
                    }
                    (Err(e), Ok(Some(_))) => {
                        crate::net::release::detach(&ctx.paths, &record.id);
                        Err(e)
                    }
                    (Ok(path), Err(e)) => {
                        record.state.cgroup = path.unwrap_or_default();
                        Err(e)
                    }
                    (Err(e), _) => Err(e),
                }
            })
        })
        .and_then(|()| {
            if init.await_parent.is_some() {
                tracing::debug!(networks = record.state.networks.len(), cgroup = %record.state.cgroup, "network plugged in and cgroup placed; releasing the child");
                sync::release(&pair.parent).map_err(io_err("releasing the container's setup"))
            } else {
                Ok(())
            }
        });
    if let Err(e) = prepared {
        // The child's own failure, when it had one, is the cause: report that.
        let e = match sync::child_failure(&pair.parent, child.pid) {
            Some(child_error) => ContainerError::Start(child_error),
            None => e,
        };
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        monitor::reap(child.pid);
        undo_cgroup(&cgroup, Some(&record.state.cgroup));
        record.state.cgroup.clear();
        crate::net::release::detach(&ctx.paths, &record.id);
        record.state.networks.clear();
        return Err(e);
    }

    tracing::debug!(
        pid = child.pid,
        "waiting for the child's mounts, pivot_root and execve"
    );
    let master = match sync::wait_for_exec(&pair.parent) {
        Ok(m) => m,
        Err(e) => {
            monitor::reap(child.pid);
            undo_cgroup(&cgroup, Some(&record.state.cgroup));
            crate::net::release::detach(&ctx.paths, &record.id);
            record.state.networks.clear();
            record.state.cgroup.clear();
            record.state.exit_code = e.exit_code();
            record.state.error = e.message.clone();
            let _ = ctx.store.save_state(&record);
            return Err(e.into());
        }
    };
    let me = std::process::id() as i32;
    let st = &mut record.state;
    st.status = Status::Running;
    st.pid = child.pid;
    st.pid_start = proc::start_time(child.pid).unwrap_or(0);
    st.monitor_pid = me;
    st.monitor_start = proc::start_time(me).unwrap_or(0);
    st.boot_id = ctx.boot_id.clone();
    st.exit_code = 0;
    st.oom_killed = false;
    st.error.clear();
    st.started_at = Some(crate::timefmt::rfc3339(crate::timefmt::now()));
    st.finished_at = None;
    // Started (again): a stop before this one no longer holds back the restart policy.
    st.stopped_by_user = false;
    st.paused = false;
    st.health = crate::spec::health::active(record.config.healthcheck.as_ref())
        .then(crate::spec::health::Health::starting);
    ctx.store.save_state(&record)?;
    ctx.container_event(&record, "start", &[]);
    tracing::debug!(pid = record.state.pid, "the command runs");
    let (outputs, input) = match master {
        // One stream: what the terminal shows, logged as stdout (as docker's json-file does).
        Some(master) => {
            let reader = master
                .try_clone()
                .map_err(io_err("dup of the pty master"))?;
            (
                Outputs {
                    stdout: reader,
                    stderr: None,
                },
                Some(master),
            )
        }
        None => (
            Outputs {
                stdout: out_r,
                stderr: Some(err_r),
            },
            stdin_w,
        ),
    };
    Ok(Launched {
        child,
        outputs,
        log,
        input,
        healthcheck: record.config.healthcheck.clone(),
    })
}

/// Attach the container (pid 1 just cloned) to its bridge networks, or start its own stack.
fn plug_in(
    ctx: &Ctx,
    record: &ContainerRecord,
    pid: i32,
    links: &[(Vec<String>, String)],
) -> Result<Vec<crate::net::bridge::Attachment>, ContainerError> {
    let net = &record.config.net;
    if record.config.network.own_stack() {
        return crate::net::rootless::attach(
            &ctx.paths.runroot,
            &record.id,
            pid,
            net,
            record.config.network,
        )
        .map_err(|e| ContainerError::Invalid(e.to_string()));
    }
    let joiner = crate::net::bridge::Joiner {
        id: &record.id,
        name: &record.name,
        hostname: &record.config.hostname,
        net,
        pid,
        hosts_file: ctx.userdata_dir(&record.id).join("hosts"),
        holder: (
            std::process::id() as i32,
            proc::start_time(std::process::id() as i32).unwrap_or(0),
        ),
        networks: &net.networks,
        first_index: 0,
        starting: true,
        link_lines: links.iter().map(|(_, line)| line.clone()).collect(),
    };
    let attached = crate::net::bridge::attach(&ctx.paths, &joiner);
    attached.map_err(|e| ContainerError::Invalid(e.to_string()))
}

/// `--link`s: for each, docker's env vars and the hosts line. The linked container must run
/// on the default network, or on a user network this one joins (docker's links there are
/// aliases seen by this container only; compose's `links:` are such).
fn resolve_links(
    ctx: &Ctx,
    record: &ContainerRecord,
) -> Result<Vec<(Vec<String>, String)>, ContainerError> {
    let mut out = Vec::new();
    for (name, alias) in &record.config.net.links {
        let other = ctx.find(name).map_err(|_| {
            ContainerError::Invalid(format!("cannot link to {name}: No such container"))
        })?;
        let ip = other
            .state
            .networks
            .iter()
            .find(|a| {
                a.network == crate::net::config::DEFAULT_NETWORK
                    || record.config.net.networks.iter().any(|n| n.name == a.network)
            })
            .map(|a| a.ip)
            .filter(|_| other.state.status == Status::Running)
            .ok_or_else(|| {
                ContainerError::Invalid(format!(
                    "cannot link to {name}: it is not running on the default network or one this container joins"
                ))
            })?;
        let linked = crate::net::links::Linked {
            alias,
            name: &other.name,
            short_id: other.short_id(),
            ip,
            ports: &other.config.net.exposed,
            env: &other.config.env,
        };
        out.push((
            crate::net::links::env_vars(&record.name, &linked),
            crate::net::links::hosts_line(&linked),
        ));
    }
    Ok(out)
}

/// keep-id: map the child's new user namespace (we are root in the user's namespace, whose
/// size bounds the map).
fn write_id_maps(pid: i32, keep: KeepId) -> Result<(), ContainerError> {
    for (file, id) in [("uid_map", keep.uid), ("gid_map", keep.gid)] {
        let own = std::fs::read_to_string(format!("/proc/self/{file}")).unwrap_or_default();
        let text = idmap::map_text(id, idmap::mapped_count(&own)).ok_or_else(|| {
            ContainerError::Invalid(format!(
                "--userns=keep-id: id {id} is outside your subordinate id range"
            ))
        })?;
        std::fs::write(format!("/proc/{pid}/{file}"), text)
            .map_err(io_err(format!("writing the container's {file}")))?;
    }
    Ok(())
}

/// --userns=auto: the container's ids 0..size are its range of host ids.
fn write_auto_maps(pid: i32, range: &crate::ns::idmap::AutoRange) -> Result<(), ContainerError> {
    for (file, base) in [("uid_map", range.uid_base), ("gid_map", range.gid_base)] {
        let text = crate::ns::idmap::AutoRange::map_text(base, range.size);
        std::fs::write(format!("/proc/{pid}/{file}"), text)
            .map_err(io_err(format!("writing the container's {file}")))?;
    }
    Ok(())
}

fn clone_error(e: &std::io::Error) -> ContainerError {
    let hint = match e.raw_os_error() {
        Some(libc::EPERM) => {
            ": creating namespaces needs root, or a user namespace (is kernel.unprivileged_userns_clone=1?)"
        }
        Some(libc::ENOSPC) => ": too many namespaces (raise user.max_*_namespaces)",
        _ => "",
    };
    ContainerError::Invalid(format!("clone: {e}{hint}"))
}

fn init_spec(
    ctx: &Ctx,
    record: &ContainerRecord,
    stdin: i32,
    links: &[(Vec<String>, String)],
) -> Result<InitSpec, ContainerError> {
    let dir = ctx.store.dir(&record.id);
    let mountpoint = ctx.paths.rootfs_mountpoint();
    crate::config::ensure_dir(&mountpoint, 0o700)
        .map_err(io_err(format!("creating {}", mountpoint.display())))?;
    let lower = ctx.lower_dirs(record);
    let tty_gid = ctx.can_setgroups.then_some(5);
    // `:U` gives sources to the container's user, as the image's passwd names it.
    let chown_to = if record.config.mounts.iter().any(|m| m.chown) {
        let u = super::create::image_user(ctx, &record.config.layers, &record.config.user)?;
        Some((u.uid, u.gid))
    } else {
        None
    };
    let mounts = super::volumes::user_mounts(ctx, record, chown_to)?;
    let ops = plan(&RootfsInput {
        // In a user namespace: devices are bound, not made, and sysfs needs a network
        // namespace of the container's own.
        rootless: ctx.paths.rootless || record.config.userns_auto.is_some(),
        host_network: record.config.network == NetworkMode::Host,
        userdata: ctx.userdata_dir(&record.id),
        tty_gid,
        shm_size: record.config.shm_size(),
        mounts,
        masked: record
            .config
            .security
            .masked_paths(crate::mount::plan::MASKED_PATHS),
        readonly: record
            .config
            .security
            .readonly_paths(crate::mount::plan::READONLY_PATHS),
        read_only: record.config.security.read_only,
        sysctls: crate::security::sysctls_with_defaults(
            &record.config.security.sysctls,
            record.config.network.own_namespace(),
        ),
        pid_host: record.config.security.pid == crate::security::Shared::Host,
        ipc_host: record.config.security.ipc == crate::security::Shared::Host,
        host_mqueue: std::path::Path::new("/dev/mqueue").is_dir(),
        devices: {
            let sec = &record.config.security;
            let mut all = sec.devices.clone();
            if sec.privileged {
                all.extend(crate::security::host_devices());
            }
            all
        },
        privileged: record.config.security.privileged,
    });
    let mut env = record.config.env.clone();
    for (vars, _) in links {
        env.extend(vars.iter().cloned());
    }
    if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        env.push(format!("HOSTNAME={}", record.config.hostname));
    }
    if record.config.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        // docker gives a container with a tty TERM=xterm.
        env.push("TERM=xterm".into());
    }
    let caps = ctx.caps_of(record);
    Ok(InitSpec {
        mountpoint,
        lower,
        upper: dir.join("upper"),
        work: dir.join("work"),
        userxattr: ctx.paths.rootless,
        // Without a device policy, device nodes that came with the image stay unusable.
        nodev: !ctx.device_policy() && !record.config.security.privileged,
        fuse: None,
        copy_root: ctx.copy_rootfs(record)?,
        root_premounted: record.config.userns_auto.is_some(),
        become_ns_root: record.config.userns_auto.is_some(),
        detached_sources: Vec::new(),
        ops,
        hostname: record.config.hostname.clone(),
        domainname: record.config.domainname.clone(),
        process: ProcessSpec {
            argv: record.config.argv(),
            env,
            cwd: record.config.working_dir.clone(),
            user: record.config.user.clone(),
            caps: caps.clone(),
            create_cwd: true,
            can_setgroups: ctx.can_setgroups,
            die_with_parent: true,
            seccomp: ctx.seccomp_of(record, &caps)?,
            no_new_privs: record.config.security.no_new_privileges,
            extra_groups: record.config.security.group_add.clone(),
            oom_score_adj: record.config.security.oom_score_adj,
            umask: None,
            cap_sets: None,
            start_gate: None,
        },
        stdio: [stdin, 1, 2],
        init: record.config.init,
        await_parent: None,
        tty: None,
        cgroupns_private: record.config.cgroupns == CgroupnsMode::Private,
        cgroup2_mount: false,
        ulimits: record.config.ulimits.clone(),
        joins: Vec::new(),
        die_with_parent: true,
        keep_fds: 0,
        root_propagation: nix::mount::MsFlags::empty(),
        personality: None,
    })
}

/// Record the exit; `--rm` containers are removed instead.
pub fn finish(ctx: &Ctx, id: &str, code: i32) {
    let Ok(_lock) = ctx.store.lock(id) else {
        return; // removed meanwhile (rm -f)
    };
    let Ok(mut record) = ctx.store.load(id) else {
        return;
    };
    let ended = record_exit(ctx, &mut record, Status::Exited, code);
    if record.config.auto_remove {
        let _ = ctx.remove_container(&record, true);
    } else {
        let _ = ctx.store.save_state(&record);
    }
    release_network(ctx, &record.id, ended);
}

/// What an ended run still holds once its exit is saved.
pub(super) struct Ended {
    networked: bool,
    shared: bool,
}

/// The command ended with `code`: its cgroup goes (the OOM count read first), the record
/// says `status` (Exited, or Restarting for a restart policy), and a `die` event is written —
/// by the monitor, even when no command of the user's runs. The caller saves the record, then
/// gives the network back with [`release_network`].
pub(super) fn record_exit(
    ctx: &Ctx,
    record: &mut ContainerRecord,
    status: Status,
    code: i32,
) -> Ended {
    if let Some(cg) = ctx.cgroup_of(record) {
        // Read before removal: the OOM counter goes with the cgroup.
        record.state.oom_killed = cg.oom_kills() > 0;
        let _ = cg.remove();
    }
    record.state.cgroup.clear();
    let networked = !record.state.networks.is_empty();
    let shared = networked && super::share::namespace_shared(ctx, &record.id);
    record.state.networks.clear();
    record.state.status = status;
    record.state.paused = false;
    record.state.exit_code = code;
    record.state.pid = 0;
    record.state.finished_at = Some(crate::timefmt::rfc3339(crate::timefmt::now()));
    ctx.container_event(record, "die", &[("exitCode", code.to_string())]);
    Ended { networked, shared }
}

/// The network goes after the record says the command ended, so `wait`/`attach` see the exit
/// at once; a monitor killed in between leaves stale leases, which the next command drops.
pub(super) fn release_network(ctx: &Ctx, id: &str, ended: Ended) {
    if ended.networked {
        if ended.shared {
            // Its namespace lives on in the joiner: take the interfaces out of it, or they
            // would keep addresses this container no longer holds.
            crate::net::release::unplug(&ctx.paths, id);
        }
        crate::net::release::detach(&ctx.paths, id);
    }
}
