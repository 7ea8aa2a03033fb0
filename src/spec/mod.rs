//! CLI values + image config -> a validated `ContainerConfig`. Pure: no syscalls, so every rule
//! here is unit-tested. The runtime below never parses a user string again.

mod env;
mod signal;

pub use crate::net::config::NetworkMode;
pub use signal::parse_signal;
pub mod health;
pub mod log;
pub mod restart;

use env::EnvList;
pub use env::{parse_env, parse_env_file};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cgroup::Resources;
use crate::image::config::RunConfig;
use crate::mount::volume::{self, MountOrigin, MountSpec};
use crate::ns::idmap::{AutoRange, KeepId};
use crate::ns::rlimits::{self, Ulimit};

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
pub const DEFAULT_STOP_TIMEOUT: i64 = 10;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    #[error("invalid environment variable {0:?}: the name must not be empty")]
    EmptyEnvName(String),
    #[error("invalid environment variable {0:?}: the name contains whitespace")]
    EnvNameSpace(String),
    #[error("invalid --env-file {path}: line {line}: {reason}")]
    EnvFile {
        path: String,
        line: usize,
        reason: String,
    },
    #[error("invalid user {0:?}: expected name, uid, name:group or uid:gid")]
    User(String),
    #[error("invalid signal {0:?}: expected a name like SIGTERM or TERM, or a number 1-64")]
    Signal(String),
    #[error(
        "no command specified: give one after the image name or use an image with CMD/ENTRYPOINT"
    )]
    NoCommand,
    #[error("invalid working directory {0:?}: it must be an absolute path")]
    Workdir(String),
    #[error("invalid hostname {0:?}: use letters, digits, '-' and '.', at most 64 characters")]
    Hostname(String),
    #[error("invalid label {0:?}: expected key=value")]
    Label(String),
    #[error("invalid --stop-timeout {0}: must be -1 (wait forever) or more")]
    StopTimeout(i64),
    /// A message that already names the flag and what would be right.
    #[error("{0}")]
    Flag(String),
}

/// `--cgroupns`: a cgroup namespace of the container's own (docker's default on v2, and
/// skiff's everywhere), or the host's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CgroupnsMode {
    #[default]
    Private,
    Host,
}

impl CgroupnsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CgroupnsMode::Private => "private",
            CgroupnsMode::Host => "host",
        }
    }
}

/// docker's default /dev/shm size.
pub const DEFAULT_SHM_SIZE: u64 = 64 << 20;

/// Everything the runtime needs to start (and restart) one container.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ContainerConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub hostname: String,
    #[serde(default)]
    pub domainname: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub init: bool,
    #[serde(default)]
    pub network: NetworkMode,
    #[serde(default)]
    pub net: crate::net::config::NetConfig,
    pub stop_signal: String,
    #[serde(default)]
    pub stop_timeout: Option<i64>,
    #[serde(default)]
    pub auto_remove: bool,
    /// `--restart`, carried out by the container's monitor.
    #[serde(default)]
    pub restart: restart::RestartPolicy,
    /// The image's HEALTHCHECK with the `--health-*` flags applied (Config.Healthcheck).
    #[serde(default)]
    pub healthcheck: Option<crate::image::config::Healthcheck>,
    /// `--log-driver`, `--log-opt` (HostConfig.LogConfig).
    #[serde(default)]
    pub log: log::LogConfig,
    /// `--annotation` (HostConfig.Annotations).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub tty: bool,
    #[serde(default)]
    pub open_stdin: bool,
    /// Layer diff ids, lowest first.
    pub layers: Vec<String>,
    #[serde(default)]
    pub resources: Resources,
    #[serde(default)]
    pub ulimits: Vec<Ulimit>,
    /// Bytes of /dev/shm (None: docker's 64 MiB).
    #[serde(default)]
    pub shm_size: Option<u64>,
    /// `--cgroup-parent`, relative to the hierarchy root ("" for skiff's default).
    #[serde(default)]
    pub cgroup_parent: String,
    #[serde(default)]
    pub cgroupns: CgroupnsMode,
    /// `--cgroups=disabled`: no cgroup of its own (podman's flag).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cgroups_disabled: bool,
    /// Every mount the user asked for (and the image's volumes), anonymous volumes named.
    #[serde(default)]
    pub mounts: Vec<MountSpec>,
    /// `--volumes-from` as given (HostConfig.VolumesFrom).
    #[serde(default)]
    pub volumes_from: Vec<String>,
    /// `--userns=keep-id`: the host uid:gid kept inside (rootless only).
    #[serde(default)]
    pub keep_id: Option<KeepId>,
    /// `--userns=auto`: the host ids this container's ids map to (root only).
    #[serde(default)]
    pub userns_auto: Option<AutoRange>,
    /// `--cap-add`, `--cap-drop`, `--security-opt`.
    #[serde(default)]
    pub security: crate::security::Security,
}

impl ContainerConfig {
    /// The full argv: entrypoint followed by cmd.
    pub fn argv(&self) -> Vec<String> {
        self.entrypoint.iter().chain(&self.cmd).cloned().collect()
    }
    pub fn stop_timeout(&self) -> i64 {
        self.stop_timeout.unwrap_or(DEFAULT_STOP_TIMEOUT)
    }
    pub fn shm_size(&self) -> u64 {
        self.shm_size.unwrap_or(DEFAULT_SHM_SIZE)
    }
    pub fn cgroups_enabled(&self) -> bool {
        !self.cgroups_disabled
    }
}

/// The run/create flags that shape the container, already split by clap but not yet validated.
#[derive(Debug, Default, Clone)]
pub struct RunRequest {
    pub command: Vec<String>,
    /// `Some("")` resets the image's entrypoint, as docker's `--entrypoint ""` does.
    pub entrypoint: Option<String>,
    /// A whole entrypoint argv (compose's `entrypoint: [a, b]`); wins over `entrypoint`.
    pub entrypoint_argv: Option<Vec<String>>,
    pub env: Vec<String>,
    /// Contents of each --env-file, with its path for error messages.
    pub env_files: Vec<(String, String)>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub labels: Vec<String>,
    pub init: bool,
    pub net: crate::net::config::NetRequest,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<i64>,
    pub auto_remove: bool,
    /// `--restart` as typed.
    pub restart: Option<String>,
    /// `--health-*` and `--no-healthcheck` as typed.
    pub health: health::HealthFlags,
    pub log_driver: Option<String>,
    pub log_opts: Vec<String>,
    pub annotations: Vec<String>,
    pub tty: bool,
    pub interactive: bool,
    pub ulimits: Vec<String>,
    pub shm_size: Option<String>,
    pub cgroup_parent: Option<String>,
    pub cgroupns: Option<String>,
    /// `--cgroups` as typed: enabled or disabled.
    pub cgroups: Option<String>,
    /// `--cap-add`, `--cap-drop`, `--security-opt` as typed.
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub security_opt: Vec<String>,
    pub read_only: bool,
    pub sysctls: Vec<String>,
    pub group_add: Vec<String>,
    pub oom_score_adj: Option<i64>,
    pub privileged: bool,
    /// `--device` as typed.
    pub devices: Vec<String>,
    pub device_cgroup_rules: Vec<String>,
    /// `--pid`, `--ipc`, `--uts` as typed.
    pub pid: Option<String>,
    pub ipc: Option<String>,
    pub uts: Option<String>,
    /// `-v`, `--mount`, `--tmpfs` as typed.
    pub volumes: Vec<String>,
    pub mount: Vec<String>,
    pub tmpfs: Vec<String>,
    pub volumes_from: Vec<String>,
    /// `--userns` as typed: "", host or keep-id.
    pub userns: Option<String>,
}

/// `--platform` (compose's `platform:`): only the host's, as skiff runs nothing else.
pub fn check_platform(p: &str) -> Result<(), String> {
    let host = if cfg!(target_arch = "aarch64") {
        ["arm64", "aarch64"]
    } else {
        ["amd64", "x86_64"]
    };
    let mut parts = p.split('/');
    let os = parts.next().unwrap_or("");
    let arch = parts.next();
    if os == "linux" && arch.is_none_or(|a| host.contains(&a)) {
        return Ok(());
    }
    Err(format!(
        "image platform {p:?} is not this host's (linux/{}): skiff runs containers of the host's platform only",
        host[0]
    ))
}

/// Merge the request over the image's config, docker's way.
pub fn build(
    req: &RunRequest,
    image: &RunConfig,
    layers: Vec<String>,
    id: &str,
    host_env: &dyn Fn(&str) -> Option<String>,
) -> Result<ContainerConfig, SpecError> {
    // docker: an entrypoint override also drops the image's CMD.
    let given_ep = match (&req.entrypoint_argv, &req.entrypoint) {
        (Some(argv), _) => Some(argv.clone()),
        (None, Some(ep)) if ep.is_empty() => Some(Vec::new()),
        (None, Some(ep)) => Some(vec![ep.clone()]),
        (None, None) => None,
    };
    let (entrypoint, cmd) = match given_ep {
        Some(ep) => (ep, req.command.clone()),
        None => {
            let ep = image.entrypoint.clone().unwrap_or_default();
            let cmd = if req.command.is_empty() {
                image.cmd.clone().unwrap_or_default()
            } else {
                req.command.clone()
            };
            (ep, cmd)
        }
    };
    if entrypoint.is_empty() && cmd.is_empty() {
        return Err(SpecError::NoCommand);
    }

    let mut env = EnvList::default();
    for kv in image.env.iter().flatten() {
        env.set(kv.clone());
    }
    if !env.has("PATH") {
        env.set(format!("PATH={DEFAULT_PATH}"));
    }
    for (path, contents) in &req.env_files {
        for kv in parse_env_file(path, contents, host_env)? {
            env.set(kv);
        }
    }
    for e in &req.env {
        if let Some(kv) = parse_env(e, host_env)? {
            env.set(kv);
        }
    }

    let working_dir = match req.workdir.as_deref().or(image.working_dir.as_deref()) {
        None | Some("") => "/".to_string(),
        Some(w) if w.starts_with('/') => w.to_string(),
        Some(w) => return Err(SpecError::Workdir(w.to_string())),
    };

    let user = req
        .user
        .clone()
        .or_else(|| image.user.clone())
        .unwrap_or_default();
    if !user.is_empty() {
        validate_user(&user)?;
    }

    let hostname = match &req.hostname {
        Some(h) => {
            validate_hostname(h)?;
            h.clone()
        }
        None => id[..12.min(id.len())].to_string(),
    };

    let stop_signal = req
        .stop_signal
        .clone()
        .or_else(|| image.stop_signal.clone())
        .unwrap_or_else(|| "SIGTERM".to_string());
    parse_signal(&stop_signal)?;
    if let Some(t) = req.stop_timeout
        && t < -1
    {
        return Err(SpecError::StopTimeout(t));
    }

    let mut labels = image.labels.clone().unwrap_or_default();
    for l in &req.labels {
        let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
        if k.is_empty() {
            return Err(SpecError::Label(l.clone()));
        }
        labels.insert(k.to_string(), v.to_string());
    }

    let ulimits = req
        .ulimits
        .iter()
        .map(|u| rlimits::parse(u).map_err(SpecError::Flag))
        .collect::<Result<Vec<_>, _>>()?;
    let shm_size = match &req.shm_size {
        None => None,
        Some(s) => Some(
            crate::units::parse_size(s)
                .filter(|v| *v > 0)
                .ok_or_else(|| {
                    SpecError::Flag(format!(
                        "invalid --shm-size {s:?}: expected a size greater than 0, such as 64m or 1g"
                    ))
                })?,
        ),
    };
    let cgroupns = match req.cgroupns.as_deref() {
        None | Some("private") => CgroupnsMode::Private,
        Some("host") => CgroupnsMode::Host,
        Some(other) => {
            return Err(SpecError::Flag(format!(
                "invalid --cgroupns {other:?}: expected host or private"
            )));
        }
    };
    let cgroups_disabled = match req.cgroups.as_deref() {
        None | Some("enabled") => false,
        Some("disabled") => true,
        Some(other) => {
            return Err(SpecError::Flag(format!(
                "invalid --cgroups {other:?}: expected enabled or disabled"
            )));
        }
    };
    let healthcheck =
        health::effective(image.healthcheck.as_ref(), &req.health).map_err(SpecError::Flag)?;
    let restart_policy = match req.restart.as_deref() {
        None => restart::RestartPolicy::default(),
        Some(text) => restart::RestartPolicy::parse(text).map_err(SpecError::Flag)?,
    };
    if req.auto_remove && !restart_policy.is_none() {
        return Err(SpecError::Flag(
            "conflicting options: --restart and --rm (a removed container cannot be restarted)"
                .into(),
        ));
    }
    match req.userns.as_deref() {
        None | Some("") | Some("host") | Some("keep-id") => {}
        Some(other) => match crate::ns::idmap::parse_auto(other) {
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(SpecError::Flag(e)),
            None => {
                return Err(SpecError::Flag(format!(
                    "invalid --userns {other:?}: expected host, keep-id, auto or auto:size=N"
                )));
            }
        },
    }
    let cgroup_parent = req.cgroup_parent.clone().unwrap_or_default();
    if cgroup_parent.split('/').any(|c| c == ".." || c == ".") {
        return Err(SpecError::Flag(format!(
            "invalid --cgroup-parent {cgroup_parent:?}: it must not contain . or .. components"
        )));
    }

    let mut mounts = Vec::new();
    for v in &req.volumes {
        mounts.push(volume::parse_volume_flag(v).map_err(SpecError::Flag)?);
    }
    for m in &req.mount {
        mounts.push(volume::parse_mount_flag(m).map_err(SpecError::Flag)?);
    }
    for t in &req.tmpfs {
        mounts.push(volume::parse_tmpfs_flag(t).map_err(SpecError::Flag)?);
    }
    volume::check_duplicates(&mounts).map_err(SpecError::Flag)?;
    // The image's VOLUMEs become anonymous volumes, unless the user mounts something there.
    for path in image.volumes.iter().flat_map(|v| v.keys()) {
        let taken = mounts
            .iter()
            .any(|m| m.destination.trim_end_matches('/') == path.trim_end_matches('/'));
        if path.starts_with('/') && !taken {
            mounts.push(MountSpec::anonymous_volume(path, MountOrigin::Image));
        }
    }
    for from in &req.volumes_from {
        let (name, mode) = from.rsplit_once(':').unwrap_or((from.as_str(), "rw"));
        if name.is_empty() || !matches!(mode, "ro" | "rw") {
            return Err(SpecError::Flag(format!(
                "invalid --volumes-from {from:?}: expected CONTAINER[:ro|:rw]"
            )));
        }
    }

    let exposed: Vec<String> = image
        .exposed_ports
        .iter()
        .flat_map(|m| m.keys().cloned())
        .collect();
    let (network, net) = crate::net::config::build(&req.net, &exposed).map_err(SpecError::Flag)?;
    let security = security(req, network)?;
    if network == NetworkMode::Container && req.hostname.is_some() {
        // docker's rule: the namespace, and so the name, are the other container's.
        return Err(SpecError::Flag(
            "conflicting options: --hostname and --network container: (the hostname is the other container's)".into(),
        ));
    }

    Ok(ContainerConfig {
        entrypoint,
        cmd,
        env: env.into_vec(),
        working_dir,
        user,
        hostname,
        domainname: req.domainname.clone().unwrap_or_default(),
        labels,
        init: req.init,
        network,
        net,
        stop_signal,
        stop_timeout: req.stop_timeout,
        auto_remove: req.auto_remove,
        restart: restart_policy,
        healthcheck,
        log: log::LogConfig::parse(req.log_driver.as_deref(), &req.log_opts)
            .map_err(SpecError::Flag)?,
        annotations: req
            .annotations
            .iter()
            .map(|a| {
                a.split_once('=')
                    .filter(|(k, _)| !k.is_empty())
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .ok_or_else(|| {
                        SpecError::Flag(format!("invalid --annotation {a:?}: expected KEY=VALUE"))
                    })
            })
            .collect::<Result<_, _>>()?,
        tty: req.tty,
        open_stdin: req.interactive,
        layers,
        resources: Resources::default(),
        ulimits,
        shm_size,
        cgroup_parent,
        cgroupns,
        cgroups_disabled,
        mounts,
        volumes_from: req.volumes_from.clone(),
        keep_id: None,
        userns_auto: None,
        security,
    })
}

/// `--cap-*`, `--security-opt`, `--read-only`, `--sysctl`, `--group-add`, `--oom-score-adj`.
fn security(
    req: &RunRequest,
    network: NetworkMode,
) -> Result<crate::security::Security, SpecError> {
    let read =
        |path: &str| std::fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}"));
    let mut s = crate::security::parse(&req.cap_add, &req.cap_drop, &req.security_opt, &read)
        .map_err(SpecError::Flag)?;
    s.read_only = req.read_only;
    s.sysctls = crate::security::parse_sysctls(&req.sysctls, network != NetworkMode::Host)
        .map_err(SpecError::Flag)?;
    s.group_add = req.group_add.clone();
    s.oom_score_adj =
        crate::security::parse_oom_score_adj(req.oom_score_adj).map_err(SpecError::Flag)?;
    s.privileged = req.privileged;
    s.device_cgroup_rules = req
        .device_cgroup_rules
        .iter()
        .map(|r| crate::security::parse_device_cgroup_rule(r))
        .collect::<Result<_, _>>()
        .map_err(SpecError::Flag)?;
    s.devices = req
        .devices
        .iter()
        .map(|d| crate::security::parse_device(d, &crate::security::stat_device))
        .collect::<Result<_, _>>()
        .map_err(SpecError::Flag)?;
    use crate::security::Shared;
    let mode = |flag: &str, v: &Option<String>| {
        crate::security::parse_namespace_mode(flag, v.as_deref()).map_err(SpecError::Flag)
    };
    s.pid = mode("--pid", &req.pid)?;
    s.ipc = mode("--ipc", &req.ipc)?;
    s.uts_host = mode("--uts", &req.uts)? == Shared::Host;
    if s.ipc.is_shared()
        && let Some((k, _)) = s.sysctls.iter().find(|(k, _)| !k.starts_with("net."))
    {
        return Err(SpecError::Flag(format!(
            "invalid --sysctl {k}: it is not allowed in a shared IPC namespace: drop --ipc"
        )));
    }
    Ok(s)
}

pub fn validate_user(user: &str) -> Result<(), SpecError> {
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let ok_part = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-$".contains(c))
    };
    if !ok_part(u) || g.is_some_and(|g| !ok_part(g)) {
        return Err(SpecError::User(user.to_string()));
    }
    Ok(())
}

fn validate_hostname(h: &str) -> Result<(), SpecError> {
    let ok = !h.is_empty()
        && h.len() <= 64
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !h.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(SpecError::Hostname(h.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_host(_: &str) -> Option<String> {
        None
    }

    fn image(cmd: &[&str], ep: &[&str]) -> RunConfig {
        RunConfig {
            cmd: (!cmd.is_empty()).then(|| cmd.iter().map(|s| s.to_string()).collect()),
            entrypoint: (!ep.is_empty()).then(|| ep.iter().map(|s| s.to_string()).collect()),
            env: Some(vec!["PATH=/bin".into(), "A=1".into()]),
            ..Default::default()
        }
    }

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn command_overrides_cmd_keeps_entrypoint() {
        let req = RunRequest {
            command: vec!["-x".into()],
            ..Default::default()
        };
        let c = build(&req, &image(&["sh"], &["/ep"]), vec![], ID, &no_host).expect("build");
        assert_eq!(c.argv(), vec!["/ep", "-x"]);
        assert_eq!(c.hostname, "0123456789ab");
        assert_eq!(c.working_dir, "/");
    }

    #[test]
    fn entrypoint_override_drops_image_cmd() {
        let req = RunRequest {
            entrypoint: Some("/bin/echo".into()),
            ..Default::default()
        };
        let c = build(&req, &image(&["sh"], &[]), vec![], ID, &no_host).expect("build");
        assert_eq!(c.argv(), vec!["/bin/echo"]);
    }

    #[test]
    fn no_command_is_an_error() {
        let err = build(
            &RunRequest::default(),
            &image(&[], &[]),
            vec![],
            ID,
            &no_host,
        );
        assert_eq!(err.err(), Some(SpecError::NoCommand));
    }

    #[test]
    fn env_merges_in_order() {
        let req = RunRequest {
            command: vec!["true".into()],
            env: vec!["A=2".into(), "B".into(), "C".into()],
            env_files: vec![("f".into(), "# c\n\nD=4\nA=3\n".into())],
            ..Default::default()
        };
        let host = |k: &str| (k == "B").then(|| "hb".to_string());
        let c = build(&req, &image(&[], &[]), vec![], ID, &host).expect("build");
        assert_eq!(c.env, vec!["PATH=/bin", "A=2", "D=4", "B=hb"]);
    }

    #[test]
    fn default_path_when_image_has_none() {
        let req = RunRequest {
            command: vec!["true".into()],
            ..Default::default()
        };
        let c = build(&req, &RunConfig::default(), vec![], ID, &no_host).expect("build");
        assert_eq!(c.env, vec![format!("PATH={DEFAULT_PATH}")]);
    }

    #[test]
    fn bad_env() {
        assert_eq!(
            parse_env("=x", &no_host),
            Err(SpecError::EmptyEnvName("=x".into()))
        );
        assert!(matches!(
            parse_env("A B=x", &no_host),
            Err(SpecError::EnvNameSpace(_))
        ));
        let e = parse_env_file("/f", "OK=1\n =x\n", &no_host);
        assert!(
            matches!(e, Err(SpecError::EnvFile { line: 2, .. })),
            "{e:?}"
        );
    }

    #[test]
    fn users() {
        for ok in ["root", "1000", "1000:1000", "www-data:adm", "nobody"] {
            assert!(validate_user(ok).is_ok(), "{ok}");
        }
        for bad in ["", ":", "a:", ":b", "a b", "a:b:c"] {
            assert!(validate_user(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn signals() {
        assert_eq!(parse_signal("SIGTERM"), Ok(15));
        assert_eq!(parse_signal("kill"), Ok(9));
        assert_eq!(parse_signal("1"), Ok(1));
        assert_eq!(parse_signal("SIGRTMIN+1"), Ok(libc::SIGRTMIN() + 1));
        assert!(parse_signal("0").is_err());
        assert!(parse_signal("NOPE").is_err());
    }

    #[test]
    fn workdir_must_be_absolute() {
        let req = RunRequest {
            command: vec!["true".into()],
            workdir: Some("rel".into()),
            ..Default::default()
        };
        assert_eq!(
            build(&req, &RunConfig::default(), vec![], ID, &no_host).err(),
            Some(SpecError::Workdir("rel".into()))
        );
    }

    #[test]
    fn ulimits_shm_cgroupns() {
        let req = RunRequest {
            command: vec!["true".into()],
            ulimits: vec!["nofile=100:200".into()],
            shm_size: Some("128m".into()),
            cgroupns: Some("host".into()),
            cgroup_parent: Some("/ci".into()),
            ..Default::default()
        };
        let c = build(&req, &RunConfig::default(), vec![], ID, &no_host).expect("build");
        assert_eq!(c.ulimits[0].hard, 200);
        assert_eq!(c.shm_size(), 128 << 20);
        assert_eq!(c.cgroupns, CgroupnsMode::Host);
        assert_eq!(c.cgroup_parent, "/ci");
        for bad in [
            RunRequest {
                shm_size: Some("0".into()),
                ..req.clone()
            },
            RunRequest {
                cgroupns: Some("shared".into()),
                ..req.clone()
            },
            RunRequest {
                ulimits: vec!["nofile=x".into()],
                ..req.clone()
            },
            RunRequest {
                cgroup_parent: Some("../escape".into()),
                ..req.clone()
            },
        ] {
            assert!(matches!(
                build(&bad, &RunConfig::default(), vec![], ID, &no_host),
                Err(SpecError::Flag(_))
            ));
        }
    }
}
