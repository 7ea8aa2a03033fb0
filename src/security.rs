//! `--cap-add`, `--cap-drop` and `--security-opt` as docker reads them: validated once at
//! create into a passive record the runtime reads at every start (pure, unit-tested).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

pub use crate::ns::seccomp::Source as Seccomp;

/// The container's confinement as asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Security {
    /// `--cap-add`, normalized (`CAP_NET_ADMIN`, or `ALL`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    /// `--cap-drop`, normalized.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    /// `--security-opt` as given (inspect's HostConfig.SecurityOpt).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    #[serde(default)]
    pub seccomp: Seccomp,
    #[serde(default)]
    pub no_new_privileges: bool,
    /// `systempaths=unconfined`: /proc and /sys paths neither masked nor read-only.
    #[serde(default)]
    pub system_paths_unconfined: bool,
    /// `--read-only`: the root filesystem read-only (/dev, /dev/shm, /run, /tmp, /var/tmp
    /// stay writable, as podman's `--read-only-tmpfs`).
    #[serde(default)]
    pub read_only: bool,
    /// `--sysctl`, validated as namespaced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sysctls: Vec<(String, String)>,
    /// `--group-add`: more groups (names from the image's /etc/group, or numbers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_add: Vec<String>,
    /// `--oom-score-adj` (-1000 to 1000).
    #[serde(default)]
    pub oom_score_adj: Option<i64>,
    /// `--pid`, `--ipc`: its own namespace, the host's, or another container's.
    #[serde(default, skip_serializing_if = "Shared::is_private")]
    pub pid: Shared,
    #[serde(default, skip_serializing_if = "Shared::is_private")]
    pub ipc: Shared,
    /// `--uts host`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub uts_host: bool,
    /// `--privileged`: every capability, no seccomp filter, no masked or read-only system
    /// paths, /sys writable, every host device.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub privileged: bool,
    /// `--device`s.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<Device>,
    /// `--device-cgroup-rule`s, validated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_cgroup_rules: Vec<String>,
    /// `--security-opt mask=PATH[:PATH...]`: more paths to hide.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mask: Vec<String>,
    /// `--security-opt unmask=PATH[:PATH...]|ALL`: default masked or read-only paths to leave.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmask: Vec<String>,
}

impl Security {
    /// The paths hidden in the container (docker's defaults, adjusted by the options).
    pub fn masked_paths(&self, defaults: &[&str]) -> Vec<String> {
        self.system_paths(defaults, &self.mask)
    }

    /// The paths made read-only in the container.
    pub fn readonly_paths(&self, defaults: &[&str]) -> Vec<String> {
        self.system_paths(defaults, &[])
    }

    fn system_paths(&self, defaults: &[&str], extra: &[String]) -> Vec<String> {
        if self.privileged || self.system_paths_unconfined {
            return Vec::new();
        }
        let all = self.unmask.iter().any(|u| u == "ALL");
        let mut out: Vec<String> = defaults
            .iter()
            .filter(|d| !all && !self.unmask.iter().any(|u| u == *d))
            .map(|d| d.to_string())
            .collect();
        out.extend(extra.iter().cloned());
        out
    }
}

/// `/a:/b` as a list of absolute paths.
fn path_list(opt: &str, value: &str, allow_all: bool) -> Result<Vec<String>, String> {
    value
        .split(':')
        .map(|p| {
            if p.starts_with('/') && !p.split('/').any(|c| c == "..") || (allow_all && p == "ALL") {
                Ok(p.to_string())
            } else {
                Err(format!(
                    "invalid --security-opt {opt:?}: {p:?} is not an absolute path{}",
                    if allow_all { " (or ALL)" } else { "" }
                ))
            }
        })
        .collect()
}

/// A host device given to a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub host: String,
    pub container: String,
    /// `r`, `w`, `m` as given (default rwm).
    pub permissions: String,
    pub block: bool,
    pub major: u64,
    pub minor: u64,
}

impl Device {
    /// Its rule for the devices cgroup.
    pub fn rule(&self) -> String {
        let kind = if self.block { 'b' } else { 'c' };
        format!("{kind} {}:{} {}", self.major, self.minor, self.permissions)
    }
}

/// (block device?, major, minor) of a device node.
pub type DeviceNumbers = (bool, u64, u64);

/// `--device HOST[:CONTAINER][:PERMISSIONS]`; `stat` tells what the host path is
/// (Some((block, major, minor)) for a device node).
pub fn parse_device(
    spec: &str,
    stat: &dyn Fn(&str) -> Option<DeviceNumbers>,
) -> Result<Device, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let is_perms = |p: &str| !p.is_empty() && p.chars().all(|c| "rwm".contains(c));
    let (host, container, permissions) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, p] if is_perms(p) => (*h, *h, *p),
        [h, c] => (*h, *c, "rwm"),
        [h, c, p] if is_perms(p) => (*h, *c, *p),
        _ => {
            return Err(format!(
                "invalid --device {spec:?}: expected HOST[:CONTAINER][:PERMISSIONS], permissions of r, w, m"
            ));
        }
    };
    if !host.starts_with('/') || !container.starts_with('/') {
        return Err(format!("invalid --device {spec:?}: paths must be absolute"));
    }
    let (block, major, minor) = stat(host)
        .ok_or_else(|| format!("invalid --device {spec:?}: {host} is not a device on this host"))?;
    Ok(Device {
        host: host.to_string(),
        container: container.to_string(),
        permissions: permissions.to_string(),
        block,
        major,
        minor,
    })
}

/// Every device node under the host's /dev, for `--privileged` (not /dev/pts, /dev/shm or
/// /dev/mqueue, which the container has its own of).
pub fn host_devices() -> Vec<Device> {
    let mut out = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from("/dev")];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                if !["/dev/pts", "/dev/shm", "/dev/mqueue"]
                    .iter()
                    .any(|d| path.as_os_str() == *d)
                {
                    dirs.push(path);
                }
                continue;
            }
            let shown = path.display().to_string();
            if let Some((block, major, minor)) = stat_device(&shown)
                && !ft.is_symlink()
            {
                out.push(Device {
                    host: shown.clone(),
                    container: shown,
                    permissions: "rwm".into(),
                    block,
                    major,
                    minor,
                });
            }
        }
    }
    out.sort_by(|a, b| a.container.cmp(&b.container));
    out
}

/// `--device-cgroup-rule 'TYPE MAJOR:MINOR ACCESS'` as the devices cgroup takes it:
/// TYPE a, b or c; MAJOR and MINOR numbers or *; ACCESS of r, w, m.
pub fn parse_device_cgroup_rule(rule: &str) -> Result<String, String> {
    let bad = || {
        format!(
            "invalid --device-cgroup-rule {rule:?}: expected 'TYPE MAJOR:MINOR ACCESS' such as 'c 1:3 rwm' (TYPE a, b or c; * for any number)"
        )
    };
    let parts: Vec<&str> = rule.split_whitespace().collect();
    let [kind, numbers, access] = parts.as_slice() else {
        return Err(bad());
    };
    let (major, minor) = numbers.split_once(':').ok_or_else(bad)?;
    let number = |n: &str| n == "*" || n.parse::<u32>().is_ok();
    if !matches!(*kind, "a" | "b" | "c")
        || !number(major)
        || !number(minor)
        || access.is_empty()
        || !access.chars().all(|c| "rwm".contains(c))
    {
        return Err(bad());
    }
    Ok(format!("{kind} {major}:{minor} {access}"))
}

/// What a path on this host is, as `parse_device` wants it.
pub fn stat_device(path: &str) -> Option<DeviceNumbers> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let m = std::fs::metadata(path).ok()?;
    let ft = m.file_type();
    if !(ft.is_char_device() || ft.is_block_device()) {
        return None;
    }
    let rdev = m.rdev();
    Some((
        ft.is_block_device(),
        nix::sys::stat::major(rdev),
        nix::sys::stat::minor(rdev),
    ))
}

/// A namespace a container may share instead of having its own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shared {
    #[default]
    Private,
    Host,
    /// Another container's, as named.
    Container(String),
}

impl Shared {
    pub fn is_private(&self) -> bool {
        *self == Shared::Private
    }

    /// Not a namespace of the container's own.
    pub fn is_shared(&self) -> bool {
        !self.is_private()
    }

    /// The other container, for `container:X`.
    pub fn container(&self) -> Option<&str> {
        match self {
            Shared::Container(c) => Some(c),
            _ => None,
        }
    }

    /// docker's HostConfig.PidMode / IpcMode text (`private_name` for its own).
    pub fn docker_mode(&self, private_name: &str) -> String {
        match self {
            Shared::Private => private_name.to_string(),
            Shared::Host => "host".to_string(),
            Shared::Container(c) => format!("container:{c}"),
        }
    }
}

/// `--pid`, `--ipc`, `--uts`: `host`, `container:NAME` (not for `--uts`), or the
/// container's own (`private`, empty).
pub fn parse_namespace_mode(flag: &str, value: Option<&str>) -> Result<Shared, String> {
    match value {
        None | Some("") | Some("private") => Ok(Shared::Private),
        Some("host") => Ok(Shared::Host),
        Some(v) if flag != "--uts" && v.starts_with("container:") && v.len() > 10 => {
            Ok(Shared::Container(v["container:".len()..].to_string()))
        }
        Some(other) => Err(format!(
            "invalid {flag} {other:?}: expected host{} or private",
            if flag == "--uts" {
                ""
            } else {
                ", container:NAME"
            }
        )),
    }
}

/// `--sysctl KEY=VALUE`s, as docker allows them: only keys of a namespace the container has
/// its own of (net.* with its own network namespace; the IPC ones with its own IPC one).
pub fn parse_sysctls(list: &[String], own_network: bool) -> Result<Vec<(String, String)>, String> {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    list.iter()
        .map(|item| {
            let (k, v) = item.split_once('=').ok_or_else(|| {
                format!("invalid --sysctl {item:?}: expected KEY=VALUE, such as net.ipv4.ip_forward=1")
            })?;
            let key = k.trim().replace('/', ".");
            if key.is_empty() || key.split('.').any(|p| p.is_empty() || p == "..") {
                return Err(format!("invalid --sysctl {item:?}: {k:?} is not a sysctl name"));
            }
            if key.starts_with("net.") {
                if !own_network {
                    return Err(format!(
                        "invalid --sysctl {item:?}: {key} is not allowed in the host's network namespace: drop --network host"
                    ));
                }
            } else if !(IPC.contains(&key.as_str()) || key.starts_with("fs.mqueue.")) {
                return Err(format!(
                    "invalid --sysctl {item:?}: {key} is not namespaced: only net.*, kernel.msg*, kernel.sem, kernel.shm* and fs.mqueue.* can be set for one container"
                ));
            }
            Ok((key, v.to_string()))
        })
        .collect()
}

/// `--oom-score-adj` within the kernel's range.
pub fn parse_oom_score_adj(v: Option<i64>) -> Result<Option<i64>, String> {
    match v {
        Some(n) if !(-1000..=1000).contains(&n) => Err(format!(
            "invalid --oom-score-adj {n}: it must be between -1000 and 1000"
        )),
        other => Ok(other),
    }
}

/// A capability name as docker takes it (`net_admin`, `CAP_NET_ADMIN`, `ALL`), normalized.
fn capability(flag: &str, name: &str) -> Result<String, String> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(upper);
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    full.parse::<caps::Capability>().map_err(|_| {
        format!(
            "invalid {flag} {name:?}: unknown capability; names are those of capabilities(7), with or without CAP_ (NET_ADMIN, SYS_PTRACE), or ALL"
        )
    })?;
    Ok(full)
}

/// Parse the flags; `read_profile` reads a seccomp profile's file.
pub fn parse(
    cap_add: &[String],
    cap_drop: &[String],
    security_opt: &[String],
    read_profile: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Security, String> {
    let mut s = Security {
        cap_add: cap_add
            .iter()
            .map(|c| capability("--cap-add", c))
            .collect::<Result<_, _>>()?,
        cap_drop: cap_drop
            .iter()
            .map(|c| capability("--cap-drop", c))
            .collect::<Result<_, _>>()?,
        security_opt: security_opt.to_vec(),
        ..Security::default()
    };
    for opt in security_opt {
        // docker also takes the old `key:value` form.
        let (key, value) = opt
            .split_once('=')
            .or_else(|| opt.split_once(':'))
            .unwrap_or((opt.as_str(), ""));
        match key {
            "seccomp" => {
                s.seccomp = match value {
                    "unconfined" => Seccomp::Unconfined,
                    "" => {
                        return Err(format!(
                            "invalid --security-opt {opt:?}: seccomp needs unconfined or a profile's path"
                        ));
                    }
                    path => {
                        let text = read_profile(path)
                            .map_err(|e| format!("invalid --security-opt {opt:?}: {e}"))?;
                        crate::ns::seccomp::check_profile(&text).map_err(|e| {
                            format!("invalid --security-opt {opt:?}: the profile {path}: {e}")
                        })?;
                        Seccomp::Profile(text)
                    }
                }
            }
            "no-new-privileges" => {
                s.no_new_privileges = match value {
                    "" | "true" => true,
                    "false" => false,
                    _ => {
                        return Err(format!(
                            "invalid --security-opt {opt:?}: no-new-privileges takes true or false"
                        ));
                    }
                }
            }
            // SELinux and AppArmor are not used by skiff: their settings are accepted, as
            // docker accepts them on hosts without those modules.
            "label" | "apparmor" => {}
            "systempaths" if value == "unconfined" => s.system_paths_unconfined = true,
            "mask" => s.mask.extend(path_list(opt, value, false)?),
            "unmask" => s.unmask.extend(path_list(opt, value, true)?),
            _ => {
                return Err(format!(
                    "invalid --security-opt {opt:?}: expected seccomp=unconfined|PROFILE, no-new-privileges[=true|false], systempaths=unconfined, mask=PATHS, unmask=PATHS|ALL, label=..., or apparmor=..."
                ));
            }
        }
    }
    Ok(s)
}

/// The capabilities a container holds: docker's rules for `ALL` and the order (drop, then
/// add), from the `default` set.
pub fn effective_caps(default: &caps::CapsHashSet, s: &Security) -> caps::CapsHashSet {
    if s.privileged {
        return caps::all();
    }
    let named = |list: &[String]| -> HashSet<caps::Capability> {
        list.iter()
            .filter(|c| *c != "ALL")
            .filter_map(|c| c.parse().ok())
            .collect()
    };
    let mut set = if s.cap_drop.iter().any(|c| c == "ALL") {
        caps::CapsHashSet::new()
    } else {
        let mut d = default.clone();
        for c in named(&s.cap_drop) {
            d.remove(&c);
        }
        d
    };
    if s.cap_add.iter().any(|c| c == "ALL") {
        set.extend(caps::all());
    }
    set.extend(named(&s.cap_add));
    set
}

#[cfg(test)]
mod tests {
    use super::*;
    use caps::Capability::*;

    fn no_file(_: &str) -> Result<String, String> {
        Err("no such file".into())
    }

    #[test]
    fn capabilities_are_normalized_and_unknown_ones_refused() {
        let s = parse(
            &["net_admin".into(), "CAP_SYS_PTRACE".into()],
            &["all".into()],
            &[],
            &no_file,
        )
        .expect("valid");
        assert_eq!(s.cap_add, ["CAP_NET_ADMIN", "CAP_SYS_PTRACE"]);
        assert_eq!(s.cap_drop, ["ALL"]);
        let e = parse(&["FLY".into()], &[], &[], &no_file).unwrap_err();
        assert!(
            e.contains("invalid --cap-add \"FLY\": unknown capability"),
            "{e}"
        );
    }

    #[test]
    fn drop_then_add_as_docker() {
        let default: caps::CapsHashSet = [CAP_CHOWN, CAP_KILL].into_iter().collect();
        let s = |add: &[&str], drop: &[&str]| Security {
            cap_add: add.iter().map(|x| x.to_string()).collect(),
            cap_drop: drop.iter().map(|x| x.to_string()).collect(),
            ..Security::default()
        };
        let all_but = effective_caps(&default, &s(&["CAP_NET_ADMIN"], &["ALL"]));
        assert_eq!(all_but, [CAP_NET_ADMIN].into_iter().collect());
        let minus = effective_caps(&default, &s(&[], &["CAP_CHOWN"]));
        assert_eq!(minus, [CAP_KILL].into_iter().collect());
        let every = effective_caps(&default, &s(&["ALL"], &[]));
        assert!(every.contains(&CAP_SYS_ADMIN));
    }

    #[test]
    fn devices_parse_as_docker() {
        let stat = |p: &str| (p == "/dev/null").then_some((false, 1, 3));
        let d = parse_device("/dev/null:/dev/xnull:rw", &stat).expect("valid");
        assert_eq!(
            (d.container.as_str(), d.permissions.as_str()),
            ("/dev/xnull", "rw")
        );
        assert_eq!(d.rule(), "c 1:3 rw");
        assert_eq!(
            parse_device("/dev/null", &stat).expect("one").container,
            "/dev/null"
        );
        assert_eq!(
            parse_device("/dev/null:r", &stat)
                .expect("perms")
                .permissions,
            "r"
        );
        assert!(
            parse_device("/dev/nope", &stat)
                .unwrap_err()
                .contains("not a device")
        );
        assert!(
            parse_device("/dev/null:/x:q", &stat)
                .unwrap_err()
                .contains("PERMISSIONS")
        );
        assert!(
            parse_device("dev/null", &stat)
                .unwrap_err()
                .contains("absolute")
        );
    }

    #[test]
    fn device_cgroup_rules() {
        assert_eq!(
            parse_device_cgroup_rule("c 1:3  rwm"),
            Ok("c 1:3 rwm".to_string())
        );
        assert_eq!(
            parse_device_cgroup_rule("b *:* m"),
            Ok("b *:* m".to_string())
        );
        for bad in ["x 1:3 rw", "c 1 rw", "c 1:3 q", "c a:3 r", "c 1:3"] {
            assert!(parse_device_cgroup_rule(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn masks_follow_mask_unmask_and_privilege() {
        let defaults = ["/proc/kcore", "/proc/keys"];
        let s = parse(
            &[],
            &[],
            &[
                "mask=/proc/cpuinfo:/srv/x".into(),
                "unmask=/proc/kcore".into(),
            ],
            &no_file,
        )
        .expect("valid");
        assert_eq!(
            s.masked_paths(&defaults),
            ["/proc/keys", "/proc/cpuinfo", "/srv/x"]
        );
        let all = parse(&[], &[], &["unmask=ALL".into()], &no_file).expect("valid");
        assert!(all.masked_paths(&defaults).is_empty());
        assert!(
            parse(&[], &[], &["mask=relative".into()], &no_file)
                .unwrap_err()
                .contains("not an absolute path")
        );
    }

    #[test]
    fn sysctls_must_be_namespaced() {
        assert_eq!(
            parse_sysctls(
                &["net.ipv4.ip_forward=1".into(), "kernel.shmmax=1024".into()],
                true
            )
            .expect("valid"),
            vec![
                ("net.ipv4.ip_forward".to_string(), "1".to_string()),
                ("kernel.shmmax".to_string(), "1024".to_string())
            ]
        );
        assert!(
            parse_sysctls(&["net.ipv4.ip_forward=1".into()], false)
                .unwrap_err()
                .contains("host's network namespace")
        );
        assert!(
            parse_sysctls(&["vm.swappiness=1".into()], true)
                .unwrap_err()
                .contains("not namespaced")
        );
        assert!(
            parse_sysctls(&["nokey".into()], true)
                .unwrap_err()
                .contains("KEY=VALUE")
        );
        assert!(
            parse_sysctls(&["net...x=1".into()], true)
                .unwrap_err()
                .contains("not a sysctl name")
        );
        assert!(parse_oom_score_adj(Some(1001)).is_err());
        assert_eq!(parse_oom_score_adj(Some(-5)), Ok(Some(-5)));
    }

    #[test]
    fn security_options() {
        let s = parse(
            &[],
            &[],
            &[
                "seccomp=unconfined".into(),
                "no-new-privileges".into(),
                "label=disable".into(),
                "apparmor=unconfined".into(),
                "systempaths=unconfined".into(),
            ],
            &no_file,
        )
        .expect("valid");
        assert_eq!(s.seccomp, Seccomp::Unconfined);
        assert!(s.no_new_privileges && s.system_paths_unconfined);
        let e = parse(&[], &[], &["seccomp=/nope.json".into()], &no_file).unwrap_err();
        assert!(e.contains("no such file"), "{e}");
        let e = parse(&[], &[], &["speed=fast".into()], &no_file).unwrap_err();
        assert!(e.contains("invalid --security-opt \"speed=fast\""), "{e}");
        let bad = |_: &str| Ok("{not json".to_string());
        let e = parse(&[], &[], &["seccomp=/p.json".into()], &bad).unwrap_err();
        assert!(e.contains("the profile /p.json"), "{e}");
    }
}

/// The sysctls docker sets in every container with a network namespace of its own, unless
/// the user sets them: any group may ping (ICMP sockets), any user may bind low ports.
pub const PING_GROUP_RANGE: (&str, &str) = ("net.ipv4.ping_group_range", "0 2147483647");
pub const UNPRIVILEGED_PORT_START: (&str, &str) = ("net.ipv4.ip_unprivileged_port_start", "0");

/// The user's sysctls, with docker's network defaults first when the container has its own
/// network namespace.
pub fn sysctls_with_defaults(user: &[(String, String)], own_netns: bool) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if own_netns {
        for (key, value) in [PING_GROUP_RANGE, UNPRIVILEGED_PORT_START] {
            if !user.iter().any(|(k, _)| k == key) {
                out.push((key.to_string(), value.to_string()));
            }
        }
    }
    out.extend(user.iter().cloned());
    out
}

#[cfg(test)]
mod network_default_tests {
    use super::*;

    #[test]
    fn docker_network_sysctls_unless_the_user_sets_them() {
        let user = vec![(
            "net.ipv4.ip_unprivileged_port_start".to_string(),
            "80".to_string(),
        )];
        let got = sysctls_with_defaults(&user, true);
        assert_eq!(
            got,
            vec![
                ("net.ipv4.ping_group_range".into(), "0 2147483647".into()),
                ("net.ipv4.ip_unprivileged_port_start".into(), "80".into()),
            ]
        );
        assert_eq!(sysctls_with_defaults(&user, false), user);
    }
}
