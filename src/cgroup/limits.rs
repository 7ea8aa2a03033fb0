//! Resource limits: docker's flags -> a validated `Resources`, and `Resources` -> the files and
//! values to write, for cgroup v1 and for cgroup v2. Pure; the managers execute the writes.

use serde::{Deserialize, Serialize};

/// The limits of one container, as docker's HostConfig holds them (0/None: unset).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Resources {
    /// Bytes.
    pub memory: Option<i64>,
    /// Memory plus swap in bytes; -1 unlimited swap.
    pub memory_swap: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub oom_kill_disable: bool,
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub cpu_period: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    /// <= 0: unlimited.
    pub pids_limit: Option<i64>,
    pub blkio_weight: Option<u16>,
    /// Device rules beyond docker's defaults (`--device`: `c 1:3 rwm`; `--privileged`:
    /// `a *:* rwm`), for the v1 devices controller.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_rules: Vec<String>,
}

/// The resource flags as typed, before validation (shared by run/create and update).
#[derive(Debug, Clone, Default)]
pub struct ResourceFlags {
    pub memory: Option<String>,
    pub memory_swap: Option<String>,
    pub memory_reservation: Option<String>,
    pub oom_kill_disable: bool,
    pub cpus: Option<String>,
    pub cpu_shares: Option<i64>,
    pub cpu_period: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub pids_limit: Option<i64>,
    pub blkio_weight: Option<u16>,
}

impl ResourceFlags {
    pub fn any(&self) -> bool {
        self.memory.is_some()
            || self.memory_swap.is_some()
            || self.memory_reservation.is_some()
            || self.oom_kill_disable
            || self.cpus.is_some()
            || self.cpu_shares.is_some()
            || self.cpu_period.is_some()
            || self.cpu_quota.is_some()
            || self.cpuset_cpus.is_some()
            || self.cpuset_mems.is_some()
            || self.pids_limit.is_some()
            || self.blkio_weight.is_some()
    }
}

/// What the host offers, for the checks that depend on it.
#[derive(Debug, Clone)]
pub struct HostCpus {
    /// Online CPUs, e.g. `0-1` (from /sys/devices/system/cpu/online).
    pub cpus: String,
    /// Online memory nodes, e.g. `0`.
    pub mems: String,
}

impl HostCpus {
    pub fn read() -> HostCpus {
        let read = |p: &str| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "0".into())
        };
        HostCpus {
            cpus: read("/sys/devices/system/cpu/online"),
            mems: read("/sys/devices/system/node/online"),
        }
    }
    fn count(&self) -> usize {
        parse_cpu_list(&self.cpus).map_or(1, |v| v.len().max(1))
    }
}

const MIN_MEMORY: i64 = 6 << 20;

fn size_flag(flag: &str, value: &str) -> Result<i64, String> {
    crate::units::parse_size(value)
        .and_then(|v| i64::try_from(v).ok())
        .ok_or_else(|| {
            format!(
                "invalid {flag} {value:?}: expected a size such as 512m or 2g (units b, k, m, g)"
            )
        })
}

impl Resources {
    /// No limit asked for (device rules are the runtime's, not limits).
    pub fn is_empty(&self) -> bool {
        Resources {
            device_rules: Vec::new(),
            ..self.clone()
        } == Resources::default()
    }

    /// Apply `flags` over `self` (empty for a new container; the current limits for `update`)
    /// and check the result as docker's daemon does.
    pub fn merged(&self, flags: &ResourceFlags, host: &HostCpus) -> Result<Resources, String> {
        let mut r = self.clone();
        if let Some(m) = &flags.memory {
            r.memory = Some(size_flag("--memory", m)?).filter(|v| *v > 0);
        }
        if let Some(s) = &flags.memory_swap {
            r.memory_swap = Some(if s == "-1" {
                -1
            } else {
                size_flag("--memory-swap", s)?
            })
            .filter(|v| *v != 0);
        }
        if let Some(m) = &flags.memory_reservation {
            r.memory_reservation = Some(size_flag("--memory-reservation", m)?).filter(|v| *v > 0);
        }
        r.oom_kill_disable |= flags.oom_kill_disable;
        if let Some(c) = &flags.cpus {
            let count = host.count();
            let nano = crate::units::parse_cpus(c)
                .ok_or_else(|| format!("invalid --cpus {c:?}: expected a number such as 1.5"))?;
            if nano < 0 || nano > count as i64 * 1_000_000_000 {
                return Err(format!(
                    "invalid --cpus {c:?}: range of CPUs is from 0.01 to {count}.00, as there are only {count} CPUs available"
                ));
            }
            r.nano_cpus = Some(nano).filter(|v| *v > 0);
        }
        if let Some(s) = flags.cpu_shares {
            if s != 0 && s < 2 {
                return Err(format!("invalid --cpu-shares {s}: the minimum is 2"));
            }
            r.cpu_shares = Some(s).filter(|v| *v > 0);
        }
        if let Some(p) = flags.cpu_period {
            if p != 0 && !(1000..=1_000_000).contains(&p) {
                return Err(format!(
                    "invalid --cpu-period {p}: must be between 1000 and 1000000 microseconds"
                ));
            }
            r.cpu_period = Some(p).filter(|v| *v > 0);
        }
        if let Some(q) = flags.cpu_quota {
            if q > 0 && q < 1000 {
                return Err(format!(
                    "invalid --cpu-quota {q}: the minimum is 1000 microseconds"
                ));
            }
            r.cpu_quota = Some(q).filter(|v| *v > 0);
        }
        if let Some(c) = &flags.cpuset_cpus {
            check_subset("--cpuset-cpus", c, &host.cpus, "CPUs")?;
            r.cpuset_cpus = Some(c.clone()).filter(|v| !v.is_empty());
        }
        if let Some(m) = &flags.cpuset_mems {
            check_subset("--cpuset-mems", m, &host.mems, "memory nodes")?;
            r.cpuset_mems = Some(m.clone()).filter(|v| !v.is_empty());
        }
        if let Some(p) = flags.pids_limit {
            r.pids_limit = Some(p).filter(|v| *v > 0);
        }
        if let Some(w) = flags.blkio_weight {
            if w != 0 && !(10..=1000).contains(&w) {
                return Err(format!(
                    "invalid --blkio-weight {w}: must be between 10 and 1000"
                ));
            }
            r.blkio_weight = Some(w).filter(|v| *v > 0);
        }
        r.check()?;
        Ok(r)
    }

    fn check(&self) -> Result<(), String> {
        if let Some(m) = self.memory
            && m < MIN_MEMORY
        {
            return Err(format!(
                "invalid --memory {m}: the minimum memory limit is 6MB"
            ));
        }
        if let Some(s) = self.memory_swap.filter(|s| *s > 0) {
            let Some(m) = self.memory else {
                return Err(
                    "--memory-swap needs --memory: set the memory limit too when limiting swap"
                        .into(),
                );
            };
            if s < m {
                return Err(format!(
                    "invalid --memory-swap {s}: it limits memory plus swap, so it must be at least --memory ({m})"
                ));
            }
        }
        if let (Some(res), Some(m)) = (self.memory_reservation, self.memory)
            && res > m
        {
            return Err(format!(
                "invalid --memory-reservation {res}: it must be smaller than --memory ({m})"
            ));
        }
        if self.nano_cpus.is_some() && (self.cpu_period.is_some() || self.cpu_quota.is_some()) {
            return Err(
                "conflicting options: --cpus cannot be combined with --cpu-period or --cpu-quota"
                    .into(),
            );
        }
        Ok(())
    }

    /// docker's default for an unset --memory-swap: as much swap as memory (memsw = 2 x).
    pub fn memsw(&self) -> Option<i64> {
        match (self.memory, self.memory_swap) {
            (_, Some(-1)) => Some(-1),
            (_, Some(s)) => Some(s),
            (Some(m), None) => Some(m * 2),
            (None, None) => None,
        }
    }

    /// The quota and period to write, from --cpus or --cpu-quota/--cpu-period.
    fn cfs(&self) -> (Option<i64>, Option<i64>) {
        match self.nano_cpus {
            Some(n) => (Some(n / 10_000), Some(100_000)),
            None => (self.cpu_quota, self.cpu_period),
        }
    }
}

/// One file write: `files` are alternatives, the first that exists is written (the kernel
/// names some knobs differently by version or I/O scheduler). `optional` writes are skipped
/// when no file exists (docker: "memory limited without swap" when swap accounting is off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub controller: &'static str,
    pub files: &'static [&'static str],
    pub value: String,
    pub optional: bool,
}

fn w(controller: &'static str, files: &'static [&'static str], value: impl ToString) -> Write {
    Write {
        controller,
        files,
        value: value.to_string(),
        optional: false,
    }
}

/// docker's default device rules (runc's AllowedDevices), for the v1 devices controller.
pub const DEVICE_RULES: &[&str] = &[
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
    "c 10:200 rwm",
];

/// cgroup v1: one file per knob in each controller's hierarchy.
pub fn v1_writes(r: &Resources, devices: bool) -> Vec<Write> {
    let mut out = Vec::new();
    if devices {
        out.push(w("devices", &["devices.deny"], "a"));
        for rule in DEVICE_RULES
            .iter()
            .copied()
            .chain(r.device_rules.iter().map(String::as_str))
        {
            out.push(w("devices", &["devices.allow"], rule));
        }
    }
    if let Some(c) = &r.cpuset_cpus {
        out.push(w("cpuset", &["cpuset.cpus"], c));
    }
    if let Some(m) = &r.cpuset_mems {
        out.push(w("cpuset", &["cpuset.mems"], m));
    }
    // memory before memsw: the kernel keeps memsw >= memory at every step (the manager
    // swaps the order when raising a live limit, see v1::apply).
    if let Some(m) = r.memory {
        out.push(w("memory", &["memory.limit_in_bytes"], m));
    }
    if let Some(s) = r.memsw() {
        out.push(Write {
            optional: r.memory_swap.is_none(),
            ..w("memory", &["memory.memsw.limit_in_bytes"], s)
        });
    }
    if let Some(res) = r.memory_reservation {
        out.push(w("memory", &["memory.soft_limit_in_bytes"], res));
    }
    if r.oom_kill_disable {
        out.push(w("memory", &["memory.oom_control"], 1));
    }
    if let Some(s) = r.cpu_shares {
        out.push(w("cpu", &["cpu.shares"], s));
    }
    let (quota, period) = r.cfs();
    if let Some(p) = period {
        out.push(w("cpu", &["cpu.cfs_period_us"], p));
    }
    if let Some(q) = quota {
        out.push(w("cpu", &["cpu.cfs_quota_us"], q));
    }
    if let Some(p) = r.pids_limit {
        out.push(w("pids", &["pids.max"], p));
    }
    if let Some(b) = r.blkio_weight {
        out.push(w("blkio", &["blkio.weight", "blkio.bfq.weight"], b));
    }
    out
}

/// cgroup v2: one directory, files prefixed by controller.
pub fn v2_writes(r: &Resources) -> Vec<Write> {
    let mut out = Vec::new();
    if let Some(c) = &r.cpuset_cpus {
        out.push(w("cpuset", &["cpuset.cpus"], c));
    }
    if let Some(m) = &r.cpuset_mems {
        out.push(w("cpuset", &["cpuset.mems"], m));
    }
    if let Some(m) = r.memory {
        out.push(w("memory", &["memory.max"], m));
    }
    // v2 limits swap alone, not memory plus swap.
    let swap = match (r.memsw(), r.memory) {
        (Some(-1), _) => Some("max".to_string()),
        (Some(s), Some(m)) => Some((s - m).to_string()),
        _ => None,
    };
    if let Some(s) = swap {
        out.push(Write {
            optional: r.memory_swap.is_none(),
            ..w("memory", &["memory.swap.max"], s)
        });
    }
    if let Some(res) = r.memory_reservation {
        out.push(w("memory", &["memory.low"], res));
    }
    if let Some(s) = r.cpu_shares {
        out.push(w("cpu", &["cpu.weight"], shares_to_weight(s)));
    }
    let (quota, period) = r.cfs();
    if quota.is_some() || period.is_some() {
        let q = quota.map_or("max".to_string(), |q| q.to_string());
        out.push(w(
            "cpu",
            &["cpu.max"],
            format!("{q} {}", period.unwrap_or(100_000)),
        ));
    }
    if let Some(p) = r.pids_limit {
        out.push(w("pids", &["pids.max"], p));
    }
    if let Some(b) = r.blkio_weight {
        // io.weight takes 1-10000; blkio's 10-1000 scale maps linearly (runc's conversion).
        let weight = 1 + (u64::from(b) - 10) * 9999 / 990;
        out.push(w(
            "io",
            &["io.weight", "io.bfq.weight"],
            format!("default {weight}"),
        ));
    }
    out
}

/// runc's cpu.shares (2-262144) -> cpu.weight (1-10000).
pub fn shares_to_weight(shares: i64) -> i64 {
    let s = shares.clamp(2, 262_144);
    1 + ((s - 2) * 9999) / 262_142
}

/// The controllers a v2 cgroup needs enabled in its parent for these limits.
pub fn v2_controllers(r: &Resources) -> Vec<&'static str> {
    let mut c: Vec<&'static str> = v2_writes(r).iter().map(|w| w.controller).collect();
    c.dedup();
    c.sort_unstable();
    c.dedup();
    c
}

/// `0-2,5` -> [0, 1, 2, 5]; None when malformed.
pub fn parse_cpu_list(s: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
        if a > b || b - a > 4096 {
            return None;
        }
        out.extend(a..=b);
    }
    Some(out)
}

fn check_subset(flag: &str, wanted: &str, available: &str, what: &str) -> Result<(), String> {
    let Some(list) = parse_cpu_list(wanted) else {
        return Err(format!(
            "invalid {flag} {wanted:?}: expected a list such as 0-3 or 0,2"
        ));
    };
    let have = parse_cpu_list(available).unwrap_or_default();
    if let Some(missing) = list.iter().find(|c| !have.contains(c)) {
        return Err(format!(
            "invalid {flag} {wanted:?}: requested {what} are not available ({missing} is not; this host has {available})"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> HostCpus {
        HostCpus {
            cpus: "0-1".into(),
            mems: "0".into(),
        }
    }

    fn flags(f: impl FnOnce(&mut ResourceFlags)) -> Result<Resources, String> {
        let mut fl = ResourceFlags::default();
        f(&mut fl);
        Resources::default().merged(&fl, &host())
    }

    fn find<'a>(ws: &'a [Write], file: &str) -> Option<&'a str> {
        ws.iter()
            .find(|w| w.files[0] == file)
            .map(|w| w.value.as_str())
    }

    #[test]
    fn memory_and_default_swap() {
        let r = flags(|f| f.memory = Some("32m".into())).expect("valid");
        assert_eq!(r.memory, Some(32 << 20));
        let v1 = v1_writes(&r, false);
        assert_eq!(find(&v1, "memory.limit_in_bytes"), Some("33554432"));
        assert_eq!(find(&v1, "memory.memsw.limit_in_bytes"), Some("67108864"));
        assert!(v1.iter().any(|w| w.optional), "default swap is optional");
        let v2 = v2_writes(&r);
        assert_eq!(find(&v2, "memory.max"), Some("33554432"));
        assert_eq!(find(&v2, "memory.swap.max"), Some("33554432"));
    }

    #[test]
    fn unlimited_swap() {
        let r = flags(|f| {
            f.memory = Some("64m".into());
            f.memory_swap = Some("-1".into());
        })
        .expect("valid");
        assert_eq!(
            find(&v1_writes(&r, false), "memory.memsw.limit_in_bytes"),
            Some("-1")
        );
        assert_eq!(find(&v2_writes(&r), "memory.swap.max"), Some("max"));
    }

    #[test]
    fn cpus_become_a_quota() {
        let r = flags(|f| f.cpus = Some("0.5".into())).expect("valid");
        let v1 = v1_writes(&r, false);
        assert_eq!(find(&v1, "cpu.cfs_quota_us"), Some("50000"));
        assert_eq!(find(&v1, "cpu.cfs_period_us"), Some("100000"));
        assert_eq!(find(&v2_writes(&r), "cpu.max"), Some("50000 100000"));
    }

    #[test]
    fn shares_weights_pids_blkio() {
        let r = flags(|f| {
            f.cpu_shares = Some(1024);
            f.pids_limit = Some(8);
            f.blkio_weight = Some(500);
            f.cpuset_cpus = Some("1".into());
        })
        .expect("valid");
        let v1 = v1_writes(&r, true);
        assert_eq!(v1[0].files, ["devices.deny"]);
        assert_eq!(find(&v1, "cpu.shares"), Some("1024"));
        assert_eq!(find(&v1, "pids.max"), Some("8"));
        assert_eq!(find(&v1, "cpuset.cpus"), Some("1"));
        assert_eq!(find(&v1, "blkio.weight"), Some("500"));
        let v2 = v2_writes(&r);
        assert_eq!(find(&v2, "cpu.weight"), Some("39"));
        assert_eq!(find(&v2, "io.weight"), Some("default 4950"));
        assert_eq!(v2_controllers(&r), vec!["cpu", "cpuset", "io", "pids"]);
    }

    #[test]
    fn bad_values() {
        for (f, needle) in [
            (
                Box::new(|f: &mut ResourceFlags| f.memory = Some("1x".into()))
                    as Box<dyn FnOnce(&mut ResourceFlags)>,
                "invalid --memory \"1x\"",
            ),
            (Box::new(|f| f.memory = Some("1k".into())), "minimum memory"),
            (Box::new(|f| f.cpus = Some("-1".into())), "range of CPUs"),
            (Box::new(|f| f.cpus = Some("3".into())), "only 2 CPUs"),
            (Box::new(|f| f.cpuset_cpus = Some("99".into())), "99 is not"),
            (
                Box::new(|f| f.cpuset_cpus = Some("a-b".into())),
                "expected a list",
            ),
            (
                Box::new(|f| f.memory_swap = Some("1g".into())),
                "needs --memory",
            ),
            (Box::new(|f| f.cpu_period = Some(10)), "--cpu-period"),
            (Box::new(|f| f.blkio_weight = Some(5)), "--blkio-weight"),
            (
                Box::new(|f| {
                    f.cpus = Some("1".into());
                    f.cpu_quota = Some(5000);
                }),
                "conflicting",
            ),
        ] {
            let err = flags(f).expect_err(needle);
            assert!(err.contains(needle), "{err:?} lacks {needle:?}");
        }
    }

    #[test]
    fn update_merges_over_current() {
        let cur = flags(|f| {
            f.memory = Some("64m".into());
            f.pids_limit = Some(10);
        })
        .expect("valid");
        let upd = ResourceFlags {
            memory: Some("128m".into()),
            ..Default::default()
        };
        let r = cur.merged(&upd, &host()).expect("valid");
        assert_eq!(r.memory, Some(128 << 20));
        assert_eq!(r.pids_limit, Some(10));
    }

    #[test]
    fn shares_conversion_matches_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10000);
        assert_eq!(shares_to_weight(1024), 39);
    }
}
