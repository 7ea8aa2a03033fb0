//! `-v`, `--mount` and `--tmpfs` as docker reads them -> `MountSpec`s. Pure: the checks that
//! need the host (does a bind source exist, does a volume) happen at create.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Bind,
    Volume,
    Tmpfs,
}

impl MountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Bind => "bind",
            MountKind::Volume => "volume",
            MountKind::Tmpfs => "tmpfs",
        }
    }
}

/// Which flag a mount came from: docker shows `-v` ones in HostConfig.Binds and `--mount`
/// ones in HostConfig.Mounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MountOrigin {
    #[default]
    Volume,
    Mount,
    Tmpfs,
    /// The image's VOLUME list.
    Image,
    VolumesFrom,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSpec {
    pub kind: MountKind,
    /// Bind: the absolute host path. Volume: its name ("" until create names an anonymous
    /// one). Tmpfs: empty.
    pub source: String,
    pub destination: String,
    #[serde(default)]
    pub readonly: bool,
    /// `rprivate`, `shared`, ... ("" for the default).
    #[serde(default)]
    pub propagation: String,
    /// Do not copy the image's content into an empty volume.
    #[serde(default)]
    pub nocopy: bool,
    /// `:U`: chown the source to the container's user.
    #[serde(default)]
    pub chown: bool,
    /// The mode string as typed after the second colon (docker's Mounts[].Mode).
    #[serde(default)]
    pub mode: String,
    /// tmpfs mount data (`size=...,mode=...`) and flags (`noexec`, ...), comma-separated.
    #[serde(default)]
    pub tmpfs_options: String,
    #[serde(default)]
    pub anonymous: bool,
    #[serde(default)]
    pub origin: MountOrigin,
    /// `-v` creates a missing bind source directory; `--mount` refuses it.
    #[serde(default)]
    pub create_source: bool,
}

impl MountSpec {
    fn new(kind: MountKind, source: &str, destination: &str, origin: MountOrigin) -> MountSpec {
        MountSpec {
            kind,
            source: source.to_string(),
            destination: destination.to_string(),
            readonly: false,
            propagation: String::new(),
            nocopy: false,
            chown: false,
            mode: String::new(),
            tmpfs_options: String::new(),
            anonymous: false,
            origin,
            create_source: false,
        }
    }

    /// An anonymous volume at `destination` (image VOLUME entries).
    pub fn anonymous_volume(destination: &str, origin: MountOrigin) -> MountSpec {
        MountSpec {
            anonymous: true,
            ..MountSpec::new(MountKind::Volume, "", destination, origin)
        }
    }
}

const PROPAGATIONS: &[&str] = &[
    "shared", "slave", "private", "rshared", "rslave", "rprivate",
];

fn check_destination(spec: &str, dest: &str) -> Result<(), String> {
    if !dest.starts_with('/') {
        return Err(format!(
            "invalid volume specification {spec:?}: the mount destination {dest:?} must be an absolute path"
        ));
    }
    if dest == "/" {
        return Err(format!(
            "invalid volume specification {spec:?}: the mount destination cannot be /"
        ));
    }
    Ok(())
}

/// `-v /ctr`, `-v name:/ctr`, `-v /host:/ctr`, each optionally `:opts`.
pub fn parse_volume_flag(spec: &str) -> Result<MountSpec, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, dest, opts) = match parts[..] {
        [d] => ("", d, ""),
        [s, d] => (s, d, ""),
        [s, d, o] => (s, d, o),
        _ => {
            return Err(format!(
                "invalid volume specification {spec:?}: expected [SOURCE:]DESTINATION[:OPTIONS]"
            ));
        }
    };
    check_destination(spec, dest)?;
    let mut m = if source.is_empty() {
        MountSpec::anonymous_volume(dest, MountOrigin::Volume)
    } else if source.starts_with('/') {
        MountSpec {
            create_source: true,
            ..MountSpec::new(MountKind::Bind, source, dest, MountOrigin::Volume)
        }
    } else if crate::state::volume::valid_name(source) {
        MountSpec::new(MountKind::Volume, source, dest, MountOrigin::Volume)
    } else {
        return Err(format!(
            "invalid volume specification {spec:?}: {source:?} includes invalid characters for a local volume name, only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed; to mount a host directory, give an absolute path"
        ));
    };
    m.mode = opts.to_string();
    let mut rw_seen = false;
    for opt in opts.split(',').filter(|o| !o.is_empty()) {
        match opt {
            "ro" | "rw" => {
                if rw_seen {
                    return Err(format!(
                        "invalid volume specification {spec:?}: ro and rw both given"
                    ));
                }
                rw_seen = true;
                m.readonly = opt == "ro";
            }
            // SELinux relabeling: accepted; nothing to relabel without SELinux.
            "z" | "Z" => {}
            "U" => m.chown = true,
            "nocopy" if m.kind == MountKind::Volume => m.nocopy = true,
            p if PROPAGATIONS.contains(&p) && m.kind == MountKind::Bind => {
                if !m.propagation.is_empty() {
                    return Err(format!(
                        "invalid volume specification {spec:?}: more than one propagation mode"
                    ));
                }
                m.propagation = p.to_string();
            }
            other => {
                return Err(format!(
                    "invalid volume specification {spec:?}: unknown option {other:?} (expected ro, rw, z, Z, U, nocopy for volumes, or a propagation mode for binds: {})",
                    PROPAGATIONS.join(", ")
                ));
            }
        }
    }
    Ok(m)
}

fn parse_bool(key: &str, v: Option<&str>) -> Result<bool, String> {
    match v {
        None | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(other) => Err(format!(
            "invalid --mount value {key}={other}: expected true or false"
        )),
    }
}

/// `--mount type=bind,source=/a,target=/b,readonly,bind-propagation=rslave` and friends.
pub fn parse_mount_flag(spec: &str) -> Result<MountSpec, String> {
    let mut kind = MountKind::Volume;
    let mut source = String::new();
    let mut target = String::new();
    let mut readonly = false;
    let mut propagation = String::new();
    let mut nocopy = false;
    let mut tmpfs = Vec::new();
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (field, None),
        };
        let need = |v: Option<&str>| {
            v.map(str::to_string)
                .ok_or_else(|| format!("invalid --mount field {field:?}: {key} needs a value"))
        };
        match key {
            "type" => {
                kind = match need(value)?.as_str() {
                    "bind" => MountKind::Bind,
                    "volume" => MountKind::Volume,
                    "tmpfs" => MountKind::Tmpfs,
                    other => {
                        return Err(format!(
                            "invalid --mount type {other:?}: expected bind, volume or tmpfs"
                        ));
                    }
                }
            }
            "source" | "src" => source = need(value)?,
            "target" | "destination" | "dst" => target = need(value)?,
            "readonly" | "ro" => readonly = parse_bool(key, value)?,
            "bind-propagation" => {
                propagation = need(value)?;
                if !PROPAGATIONS.contains(&propagation.as_str()) {
                    return Err(format!(
                        "invalid --mount bind-propagation {propagation:?}: expected one of {}",
                        PROPAGATIONS.join(", ")
                    ));
                }
            }
            "volume-nocopy" => nocopy = parse_bool(key, value)?,
            "tmpfs-size" => {
                let v = need(value)?;
                let bytes = crate::units::parse_size(&v).ok_or_else(|| {
                    format!("invalid --mount tmpfs-size {v:?}: expected a size such as 64m")
                })?;
                tmpfs.push(format!("size={bytes}"));
            }
            "tmpfs-mode" => {
                let v = need(value)?;
                if u32::from_str_radix(&v, 8).is_err() {
                    return Err(format!(
                        "invalid --mount tmpfs-mode {v:?}: expected an octal mode such as 1777"
                    ));
                }
                tmpfs.push(format!("mode={v}"));
            }
            // Accepted for compatibility; they change nothing on Linux.
            "consistency" | "bind-selinux-relabel" => {}
            other => {
                return Err(format!(
                    "invalid --mount field {field:?}: unknown key {other:?}"
                ));
            }
        }
    }
    if target.is_empty() {
        return Err(format!("invalid --mount {spec:?}: target is required"));
    }
    check_destination(spec, &target)?;
    let mut m = MountSpec::new(kind, &source, &target, MountOrigin::Mount);
    m.readonly = readonly;
    match kind {
        MountKind::Bind => {
            if !source.starts_with('/') {
                return Err(format!(
                    "invalid --mount {spec:?}: a bind source must be an absolute host path, not {source:?}"
                ));
            }
            m.propagation = propagation;
        }
        MountKind::Volume => {
            if source.is_empty() {
                m.anonymous = true;
            } else if !crate::state::volume::valid_name(&source) {
                return Err(format!(
                    "invalid --mount {spec:?}: {source:?} is not a valid volume name ([a-zA-Z0-9][a-zA-Z0-9_.-])"
                ));
            }
            m.nocopy = nocopy;
        }
        MountKind::Tmpfs => {
            if !source.is_empty() {
                return Err(format!(
                    "invalid --mount {spec:?}: a tmpfs mount takes no source"
                ));
            }
            m.tmpfs_options = tmpfs.join(",");
        }
    }
    if kind != MountKind::Tmpfs && !tmpfs.is_empty() {
        return Err(format!(
            "invalid --mount {spec:?}: tmpfs options need type=tmpfs"
        ));
    }
    Ok(m)
}

/// `--tmpfs /run[:size=64m,noexec]`.
pub fn parse_tmpfs_flag(spec: &str) -> Result<MountSpec, String> {
    let (dest, opts) = spec.split_once(':').unwrap_or((spec, ""));
    check_destination(spec, dest)?;
    for opt in opts.split(',').filter(|o| !o.is_empty()) {
        let (k, v) = opt.split_once('=').unwrap_or((opt, ""));
        let ok = match k {
            "size" => crate::units::parse_size(v).is_some() || v.ends_with('%'),
            "mode" => u32::from_str_radix(v, 8).is_ok(),
            "uid" | "gid" | "nr_inodes" | "nr_blocks" => v.parse::<u64>().is_ok(),
            _ => tmpfs_flag(k).is_some() && v.is_empty(),
        };
        if !ok {
            return Err(format!(
                "invalid --tmpfs {spec:?}: unknown or malformed option {opt:?}"
            ));
        }
    }
    let mut m = MountSpec::new(MountKind::Tmpfs, "", dest, MountOrigin::Tmpfs);
    // docker's defaults for --tmpfs, the user's options after them.
    m.tmpfs_options = if opts.is_empty() {
        "noexec,nosuid,nodev".to_string()
    } else {
        format!("noexec,nosuid,nodev,{opts}")
    };
    m.readonly = opts.split(',').any(|o| o == "ro");
    Ok(m)
}

/// Mount flags that may appear among tmpfs options.
pub fn tmpfs_flag(word: &str) -> Option<(nix::mount::MsFlags, bool)> {
    use nix::mount::MsFlags;
    Some(match word {
        "ro" => (MsFlags::MS_RDONLY, true),
        "rw" => (MsFlags::MS_RDONLY, false),
        "noexec" => (MsFlags::MS_NOEXEC, true),
        "exec" => (MsFlags::MS_NOEXEC, false),
        "nosuid" => (MsFlags::MS_NOSUID, true),
        "suid" => (MsFlags::MS_NOSUID, false),
        "nodev" => (MsFlags::MS_NODEV, true),
        "dev" => (MsFlags::MS_NODEV, false),
        "noatime" => (MsFlags::MS_NOATIME, true),
        _ => return None,
    })
}

/// Split tmpfs options into mount flags and the data string for the kernel.
pub fn tmpfs_flags_and_data(options: &str) -> (nix::mount::MsFlags, String) {
    let mut flags = nix::mount::MsFlags::empty();
    let mut data = Vec::new();
    for opt in options.split(',').filter(|o| !o.is_empty()) {
        match tmpfs_flag(opt) {
            Some((f, true)) => flags |= f,
            Some((f, false)) => flags &= !f,
            None => {
                // Sizes as docker writes them (64m) are what the kernel takes too, except
                // units like "mb": normalize to bytes.
                if let Some(v) = opt.strip_prefix("size=")
                    && !v.ends_with('%')
                    && let Some(b) = crate::units::parse_size(v)
                {
                    data.push(format!("size={b}"));
                } else {
                    data.push(opt.to_string());
                }
            }
        }
    }
    (flags, data.join(","))
}

/// Propagation mode name -> the mount flags that set it.
pub fn propagation_flags(p: &str) -> nix::mount::MsFlags {
    use nix::mount::MsFlags;
    match p {
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "private" => MsFlags::MS_PRIVATE,
        _ => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
    }
}

/// Refuse two mounts on one destination.
pub fn check_duplicates(mounts: &[MountSpec]) -> Result<(), String> {
    for (i, m) in mounts.iter().enumerate() {
        let d = m.destination.trim_end_matches('/');
        if mounts[..i]
            .iter()
            .any(|o| o.destination.trim_end_matches('/') == d)
        {
            return Err(format!("duplicate mount point: {}", m.destination));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_flag_forms() {
        let a = parse_volume_flag("/dbdata").expect("anon");
        assert_eq!(
            (a.kind, a.anonymous, a.destination.as_str()),
            (MountKind::Volume, true, "/dbdata")
        );
        let n = parse_volume_flag("data:/d:ro,nocopy").expect("named");
        assert_eq!(
            (n.kind, n.source.as_str(), n.readonly, n.nocopy),
            (MountKind::Volume, "data", true, true)
        );
        assert_eq!(n.mode, "ro,nocopy");
        let b = parse_volume_flag("/srv/app:/app:rslave,Z,U").expect("bind");
        assert_eq!(
            (b.kind, b.propagation.as_str(), b.chown, b.create_source),
            (MountKind::Bind, "rslave", true, true)
        );
    }

    #[test]
    fn volume_flag_errors() {
        for (bad, needle) in [
            ("a:/b:xyz", "unknown option \"xyz\""),
            ("rel", "must be an absolute path"),
            ("a:b", "must be an absolute path"),
            ("./x:/y", "invalid characters"),
            ("/a:/b:ro,rw", "ro and rw"),
            ("/a:/b:nocopy", "unknown option"),
            ("a:/b:rshared", "unknown option"),
            ("/a:/b:c:d", "expected [SOURCE:]"),
            ("/a:/", "cannot be /"),
        ] {
            let e = parse_volume_flag(bad).expect_err(bad);
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn mount_flag_forms() {
        let b = parse_mount_flag("type=bind,source=/a,target=/b,readonly,bind-propagation=shared")
            .expect("bind");
        assert_eq!(
            (b.kind, b.readonly, b.propagation.as_str(), b.create_source),
            (MountKind::Bind, true, "shared", false)
        );
        let v = parse_mount_flag("src=data,dst=/d,volume-nocopy").expect("volume");
        assert_eq!(
            (v.kind, v.source.as_str(), v.nocopy),
            (MountKind::Volume, "data", true)
        );
        let anon = parse_mount_flag("target=/x").expect("anon");
        assert!(anon.anonymous);
        let t = parse_mount_flag("type=tmpfs,destination=/t,tmpfs-size=64m,tmpfs-mode=1770")
            .expect("tmpfs");
        assert_eq!(t.tmpfs_options, "size=67108864,mode=1770");
        for (bad, needle) in [
            ("type=bind,source=rel,target=/b", "absolute host path"),
            ("type=bind,source=/a", "target is required"),
            ("type=nfs,target=/a", "invalid --mount type"),
            ("target=/a,colour=red", "unknown key"),
            ("type=tmpfs,source=/x,target=/t", "takes no source"),
            ("target=rel", "absolute path"),
            ("type=tmpfs,target=/t,tmpfs-size=big", "tmpfs-size"),
            (
                "type=bind,source=/a,target=/b,readonly=maybe",
                "true or false",
            ),
        ] {
            let e = parse_mount_flag(bad).expect_err(bad);
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn tmpfs_flag_and_options() {
        let t = parse_tmpfs_flag("/run:size=64m,mode=1777,exec").expect("tmpfs");
        let (flags, data) = tmpfs_flags_and_data(&t.tmpfs_options);
        use nix::mount::MsFlags;
        assert!(flags.contains(MsFlags::MS_NOSUID | MsFlags::MS_NODEV));
        assert!(
            !flags.contains(MsFlags::MS_NOEXEC),
            "exec overrides the default noexec"
        );
        assert_eq!(data, "size=67108864,mode=1777");
        assert!(parse_tmpfs_flag("/run:bogus").is_err());
        assert!(parse_tmpfs_flag("run").is_err());
    }

    #[test]
    fn duplicates() {
        let a = parse_volume_flag("/x").expect("a");
        let b = parse_volume_flag("v:/x/").expect("b");
        assert!(check_duplicates(&[a.clone(), b]).is_err());
        assert!(check_duplicates(&[a]).is_ok());
    }
}
