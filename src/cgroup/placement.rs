//! Where a container's cgroup goes, or why it gets none: the one decision that create, start
//! and cleanup ask. Pure over a `Tree` (the real cgroupfs, or a fixture in the tests), so the
//! rules of cgroup v2 are tested on trees that are populated or not, writable or not, threaded.
//!
//! The v2 rules obeyed here (the kernel's "no internal processes" rule and delegation):
//! - a controller is never enabled on a cgroup that holds processes (the kernel refuses the
//!   domain ones and, worse, accepts threaded ones and turns the cgroup into a thread root);
//! - skiff writes only into cgroups it created, into the hierarchy's real root, or into the
//!   root of a cgroup namespace it owns as root (the privileged CI container: its processes
//!   are first moved into a leaf, as docker-in-docker's entrypoint does);
//! - where no such place exists the container runs without a cgroup, or its limits are
//!   refused with the fix named.

use super::{CgroupError, Hierarchy};

/// The controllers skiff enables for its containers on v2, when the parent offers them.
pub const V2_CONTROLLERS: &[&str] = &["cpu", "cpuset", "io", "memory", "pids"];

/// Which cgroup manager makes containers' cgroups (podman's `--cgroup-manager`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// A transient scope per container, made by systemd over D-Bus (delegated).
    Systemd,
    /// Directories written by skiff itself.
    Cgroupfs,
}

impl Driver {
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Systemd => "systemd",
            Driver::Cgroupfs => "cgroupfs",
        }
    }
}

/// The facts of the cgroup tree that the decision reads; paths are relative to the hierarchy
/// root ("" is the root itself).
pub trait Tree {
    fn read(&self, path: &str, file: &str) -> Option<String>;
    fn exists(&self, path: &str) -> bool;
    /// This user may create children of `path` and write its `cgroup.subtree_control` (v1:
    /// its `cgroup.procs`).
    fn writable(&self, path: &str) -> bool;
}

/// The real tree under a cgroup2 mount.
pub struct MountedTree<'a>(pub &'a std::path::Path);

impl Tree for MountedTree<'_> {
    fn read(&self, path: &str, file: &str) -> Option<String> {
        std::fs::read_to_string(self.0.join(path).join(file)).ok()
    }
    fn exists(&self, path: &str) -> bool {
        self.0.join(path).is_dir()
    }
    fn writable(&self, path: &str) -> bool {
        let dir = self.0.join(path);
        let w = nix::unistd::AccessFlags::W_OK;
        // v1 hierarchies have no subtree_control: their cgroup.procs says as much.
        let control = match dir.join("cgroup.subtree_control") {
            c if c.exists() => c,
            _ => dir.join("cgroup.procs"),
        };
        nix::unistd::access(&dir, w).is_ok() && nix::unistd::access(&control, w).is_ok()
    }
}

/// What one container asks for.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub rootless: bool,
    /// The manager in force (systemd only where its bus was reachable).
    pub driver: Driver,
    /// `--cgroups enabled|disabled`.
    pub enabled: bool,
    /// `--cgroup-parent` (a path with cgroupfs, a slice name with systemd); empty: default.
    pub parent: &'a str,
    pub id: &'a str,
    pub wants_limits: bool,
    /// Our own v2 cgroup (from /proc/self/cgroup), e.g. `/user.slice/.../run-1.scope`.
    pub own: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// No cgroup; `warn` says why when the user could have had one (warned once).
    None { warn: Option<String> },
    /// A directory skiff makes at `path` (relative to each hierarchy's root). `evacuate_root`:
    /// first move the processes of the (cgroup namespace's) root into `<root>/init`.
    Cgroupfs { path: String, evacuate_root: bool },
    /// A transient scope `unit` in `slice`, made by systemd; skiff's cgroups live inside it.
    Systemd { slice: String, unit: String },
}

/// The name of a container's scope.
pub fn scope_unit(id: &str) -> String {
    format!("skiff-{id}.scope")
}

/// podman's and docker's slices: the user's `user.slice` rootless, `machine.slice` as root.
pub fn default_slice(rootless: bool) -> &'static str {
    if rootless {
        "user.slice"
    } else {
        "machine.slice"
    }
}

/// Decide. `h` is None on a host without any cgroup filesystem.
pub fn decide(
    h: Option<&Hierarchy>,
    tree: &dyn Tree,
    req: &Request,
) -> Result<Placement, CgroupError> {
    let refuse = |why: String, fix: &str| {
        if req.wants_limits {
            Err(CgroupError::Unsupported(format!(
                "resource limits are not available: {why}{fix}"
            )))
        } else {
            Ok(Placement::None { warn: Some(why) })
        }
    };
    if !req.enabled {
        return if req.wants_limits {
            Err(CgroupError::Unsupported(
                "resource limits need a cgroup: drop --cgroups=disabled, or the limits".into(),
            ))
        } else {
            Ok(Placement::None { warn: None })
        };
    }
    let leaf = format!("skiff-{}", req.id);
    let parent = req.parent.trim_matches('/');
    let Some(h) = h else {
        return refuse("no cgroup filesystem is mounted on this host".into(), "");
    };
    if let Hierarchy::Legacy { controllers, .. } = h
        && !req.rootless
    {
        // v1: `tree` is rooted at "/". A CI job's container often has /sys/fs/cgroup
        // mounted read-only: run without a cgroup rather than fail every container.
        let read_only = controllers
            .iter()
            .map(|(_, m)| m.to_string_lossy().trim_start_matches('/').to_string())
            .find(|m| !tree.writable(m));
        if let Some(m) = read_only {
            return refuse(
                format!("the cgroup tree is read-only here (/{m})"),
                "; give the environment skiff runs in a writable /sys/fs/cgroup (for a container: --privileged, or a read-write bind of /sys/fs/cgroup), or drop the limits",
            );
        }
    }
    let Hierarchy::Unified(_) = h else {
        if !req.rootless {
            return Ok(Placement::Cgroupfs {
                path: join(parent, &leaf),
                evacuate_root: false,
            });
        }
        // Only root creates v1 cgroups: nothing to warn about on every run.
        return if req.wants_limits {
            Err(CgroupError::Unsupported(
                "resource limits are not available rootless on this host: it uses cgroup v1, where only root can create cgroups; run as root, or boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1) and a delegated user cgroup".into(),
            ))
        } else {
            Ok(Placement::None { warn: None })
        };
    };
    if req.driver == Driver::Systemd {
        let slice = if parent.is_empty() {
            default_slice(req.rootless).to_string()
        } else if parent.ends_with(".slice") && !parent.contains('/') {
            parent.to_string()
        } else {
            return Err(CgroupError::Unsupported(format!(
                "invalid --cgroup-parent {:?}: with the systemd cgroup manager it names a slice, like machine.slice (or use --cgroup-manager cgroupfs)",
                req.parent
            )));
        };
        return Ok(Placement::Systemd {
            slice,
            unit: scope_unit(req.id),
        });
    }
    let base = if !parent.is_empty() {
        parent.to_string()
    } else if req.rootless {
        req.own.trim_matches('/').to_string()
    } else {
        String::new()
    };
    // The first existing cgroup on the way down is the one skiff did not make: what it may do
    // there decides everything (the directories below it are skiff's own).
    let mut existing = base.as_str();
    while !tree.exists(existing) {
        existing = match existing.rsplit_once('/') {
            Some((up, _)) => up,
            None if existing.is_empty() => break,
            None => "",
        };
    }
    let shown = format!("/{existing}");
    let fix = if req.rootless {
        ": with systemd, skiff asks your user manager for a delegated scope (is user@UID.service running? `loginctl enable-linger $USER`), or name an empty cgroup of your own with --cgroup-parent"
    } else {
        ": name another parent with --cgroup-parent"
    };
    let kind = tree.read(existing, "cgroup.type");
    if let Some(kind) = kind.as_deref().map(str::trim)
        && kind != "domain"
    {
        return refuse(
            format!("{shown} is a {kind} cgroup, which cannot have containers' cgroups below it"),
            fix,
        );
    }
    if !tree.writable(existing) {
        return refuse(format!("{shown} is not writable by this user"), fix);
    }
    let populated = tree
        .read(existing, "cgroup.procs")
        .is_some_and(|p| !p.trim().is_empty());
    // The real root (it has no cgroup.type) may hold processes and enable controllers; any
    // other cgroup that holds processes is someone else's leaf (a terminal's scope, a
    // service): nothing is enabled or made there.
    let mut evacuate_root = false;
    if populated && kind.is_some() {
        if !req.rootless && existing.is_empty() && req.own.trim_matches('/').is_empty() {
            // Root at the root of its own cgroup namespace: docker-in-docker's case.
            evacuate_root = true;
        } else {
            return refuse(
                format!(
                    "{shown} holds processes, and cgroup v2 enables controllers only in cgroups without any"
                ),
                fix,
            );
        }
    }
    Ok(Placement::Cgroupfs {
        path: join(&base, &leaf),
        evacuate_root,
    })
}

fn join(parent: &str, leaf: &str) -> String {
    if parent.is_empty() {
        leaf.to_string()
    } else {
        format!("{parent}/{leaf}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    /// A fixture tree: files by (cgroup, file name), and the cgroups this user may write.
    #[derive(Default)]
    struct Fixture {
        files: HashMap<(String, String), String>,
        writable: HashSet<String>,
    }

    impl Fixture {
        fn cgroup(mut self, path: &str, kind: Option<&str>, procs: &str, subtree: &str) -> Self {
            let mut put = |f: &str, v: &str| {
                self.files.insert((path.into(), f.into()), v.into());
            };
            if let Some(k) = kind {
                put("cgroup.type", k);
            }
            put("cgroup.procs", procs);
            put("cgroup.subtree_control", subtree);
            put("cgroup.controllers", "cpuset cpu io memory hugetlb pids");
            self
        }
        fn writable(mut self, path: &str) -> Self {
            self.writable.insert(path.into());
            self
        }
    }

    impl Tree for Fixture {
        fn read(&self, path: &str, file: &str) -> Option<String> {
            self.files.get(&(path.into(), file.into())).cloned()
        }
        fn exists(&self, path: &str) -> bool {
            self.files
                .contains_key(&(path.into(), "cgroup.procs".into()))
        }
        fn writable(&self, path: &str) -> bool {
            self.writable.contains(path)
        }
    }

    fn v2() -> Hierarchy {
        Hierarchy::Unified("/sys/fs/cgroup".into())
    }

    fn req<'a>(rootless: bool, own: &'a str, limits: bool) -> Request<'a> {
        Request {
            rootless,
            driver: Driver::Cgroupfs,
            enabled: true,
            parent: "",
            id: "abc",
            wants_limits: limits,
            own,
        }
    }

    /// A systemd host: the real root, and a user's terminal scope that holds the shell.
    fn desktop() -> Fixture {
        let term = "user.slice/user-1000.slice/user@1000.service/app.slice/run-r1.scope";
        Fixture::default()
            .cgroup("", None, "1\n", "cpu io memory pids")
            .cgroup(term, Some("domain"), "4242\n", "")
            .writable("")
            .writable(term)
    }

    #[test]
    fn root_on_the_real_root_always_gets_a_cgroup() {
        let p = decide(
            Some(&v2()),
            &desktop(),
            &req(false, "/system.slice/x", true),
        );
        assert_eq!(
            p.expect("placed"),
            Placement::Cgroupfs {
                path: "skiff-abc".into(),
                evacuate_root: false
            }
        );
    }

    #[test]
    fn rootless_in_a_terminal_scope_never_touches_it() {
        let own = "/user.slice/user-1000.slice/user@1000.service/app.slice/run-r1.scope";
        // Without limits: no cgroup, and a warning that says why.
        let p = decide(Some(&v2()), &desktop(), &req(true, own, false)).expect("runs");
        let Placement::None { warn: Some(why) } = p else {
            panic!("expected no cgroup: {p:?}");
        };
        assert!(why.contains("holds processes"), "{why}");
        // With limits: refused, naming the fix.
        let err = decide(Some(&v2()), &desktop(), &req(true, own, true)).expect_err("refused");
        assert!(err.to_string().contains("enable-linger"), "{err}");
    }

    #[test]
    fn rootless_under_an_empty_delegated_parent() {
        let parent = "user.slice/user-1000.slice/user@1000.service/skiff.slice";
        let tree = desktop()
            .cgroup(parent, Some("domain"), "", "")
            .writable(parent);
        let mut r = req(true, "/elsewhere", true);
        r.parent = parent;
        assert_eq!(
            decide(Some(&v2()), &tree, &r).expect("placed"),
            Placement::Cgroupfs {
                path: format!("{parent}/skiff-abc"),
                evacuate_root: false
            }
        );
    }

    #[test]
    fn not_writable_or_threaded_parents_are_refused() {
        let session = "user.slice/user-1001.slice/session-3.scope";
        let tree = desktop().cgroup(session, Some("domain"), "77\n", "");
        let err = decide(Some(&v2()), &tree, &req(true, session, true)).expect_err("no");
        assert!(err.to_string().contains("not writable"), "{err}");

        let threaded = "t.slice";
        let tree = desktop()
            .cgroup(threaded, Some("domain threaded"), "", "pids")
            .writable(threaded);
        let mut r = req(false, "/", false);
        r.parent = threaded;
        let p = decide(Some(&v2()), &tree, &r).expect("runs without");
        assert!(
            matches!(&p, Placement::None { warn: Some(w) } if w.contains("domain threaded")),
            "{p:?}"
        );
    }

    #[test]
    fn root_of_a_private_cgroup_namespace_is_evacuated() {
        // A privileged CI container: its namespace's root holds the job, and is no real root.
        let tree = Fixture::default()
            .cgroup("", Some("domain"), "1\n17\n", "")
            .writable("");
        let p = decide(Some(&v2()), &tree, &req(false, "/", true)).expect("placed");
        assert_eq!(
            p,
            Placement::Cgroupfs {
                path: "skiff-abc".into(),
                evacuate_root: true
            }
        );
        // Once evacuated (we live in /init), controllers are enabled and nothing moves.
        let tree = Fixture::default()
            .cgroup("", Some("domain"), "", "cpu memory pids io cpuset")
            .cgroup("init", Some("domain"), "1\n17\n", "")
            .writable("");
        let p = decide(Some(&v2()), &tree, &req(false, "/init", true)).expect("placed");
        assert_eq!(
            p,
            Placement::Cgroupfs {
                path: "skiff-abc".into(),
                evacuate_root: false
            }
        );
    }

    #[test]
    fn a_missing_parent_is_made_below_the_first_existing_one() {
        let mut r = req(false, "/", true);
        r.parent = "/ci/jobs/";
        assert_eq!(
            decide(Some(&v2()), &desktop(), &r).expect("placed"),
            Placement::Cgroupfs {
                path: "ci/jobs/skiff-abc".into(),
                evacuate_root: false
            }
        );
    }

    #[test]
    fn systemd_gets_a_scope_in_the_usual_slices() {
        let mut r = req(true, "/", true);
        r.driver = Driver::Systemd;
        assert_eq!(
            decide(Some(&v2()), &desktop(), &r).expect("scope"),
            Placement::Systemd {
                slice: "user.slice".into(),
                unit: "skiff-abc.scope".into()
            }
        );
        r.rootless = false;
        r.parent = "ci.slice";
        assert_eq!(
            decide(Some(&v2()), &desktop(), &r).expect("scope"),
            Placement::Systemd {
                slice: "ci.slice".into(),
                unit: "skiff-abc.scope".into()
            }
        );
        r.parent = "/ci/jobs";
        let err = decide(Some(&v2()), &desktop(), &r).expect_err("not a slice");
        assert!(err.to_string().contains("names a slice"), "{err}");
    }

    #[test]
    fn disabled_and_v1() {
        let mut r = req(false, "/", false);
        r.enabled = false;
        assert_eq!(
            decide(Some(&v2()), &desktop(), &r).expect("none"),
            Placement::None { warn: None }
        );
        r.wants_limits = true;
        assert!(decide(Some(&v2()), &desktop(), &r).is_err());

        let v1 = Hierarchy::Legacy {
            controllers: vec![("memory".into(), "/sys/fs/cgroup/memory".into())],
            unified: None,
        };
        let root = req(false, "/", true);
        let writable_v1 = desktop().writable("sys/fs/cgroup/memory");
        assert!(matches!(
            decide(Some(&v1), &writable_v1, &root),
            Ok(Placement::Cgroupfs { .. })
        ));
        // A read-only cgroup tree (a CI container): limits refused clearly, else no cgroup
        // with a warning.
        let err = decide(Some(&v1), &desktop(), &root).expect_err("read-only v1");
        assert!(
            err.to_string()
                .contains("the cgroup tree is read-only here (/sys/fs/cgroup/memory)"),
            "{err}"
        );
        let plain = req(false, "/", false);
        assert!(matches!(
            decide(Some(&v1), &desktop(), &plain),
            Ok(Placement::None { warn: Some(w) }) if w.contains("read-only")
        ));
        let user = req(true, "/", false);
        assert_eq!(
            decide(Some(&v1), &desktop(), &user).expect("none"),
            Placement::None { warn: None }
        );
        let user = req(true, "/", true);
        let err = decide(Some(&v1), &desktop(), &user).expect_err("v1 rootless");
        assert!(err.to_string().contains("cgroup v1"), "{err}");
        assert!(decide(None, &desktop(), &req(false, "/", true)).is_err());
    }
}
