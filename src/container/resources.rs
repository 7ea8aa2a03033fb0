//! What a container uses and may use: `update` (new limits, live), stats samples, and the
//! list of its processes (for `top`).

use std::path::Path;

use super::{ContainerError, Ctx};
use crate::cgroup::{HostCpus, ResourceFlags, Stats};
use crate::spec::NetworkMode;
use crate::state::container::{ContainerRecord, Status};

/// Change the limits of a container; a running one gets them in its cgroup right away, and
/// every later start uses them.
pub fn update(ctx: &Ctx, query: &str, flags: &ResourceFlags) -> Result<(), ContainerError> {
    let id = ctx.store.resolve(query)?;
    let _lock = ctx.store.lock(&id)?;
    let mut record = ctx.load_live(&id)?;
    let new = record
        .config
        .resources
        .merged(flags, &HostCpus::read())
        .map_err(ContainerError::Invalid)?;
    if record.state.status == Status::Running {
        match ctx.cgroup_of(&record) {
            Some(cg) => cg.apply(&new)?,
            None if !new.is_empty() => {
                // The reason (rootless without delegation) is the one create gives.
                ctx.cgroup_placement(
                    &record.id,
                    &record.config.cgroup_parent,
                    record.config.cgroups_enabled(),
                    true,
                )?;
                return Err(ContainerError::Invalid(format!(
                    "container {} runs without a cgroup: restart it to apply limits",
                    record.name
                )));
            }
            None => {}
        }
    }
    record.config.resources = new;
    ctx.store.save(&record)?;
    Ok(())
}

/// One reading of a container's usage.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub usage: Stats,
    pub net_rx: u64,
    pub net_tx: u64,
    /// When it was taken (monotonic), for CPU %.
    pub at: Option<std::time::Instant>,
}

/// Read what the container uses now: from its cgroup, or from /proc for one without a
/// cgroup (rootless on v1). A stopped container reads as zeros.
pub fn sample(ctx: &Ctx, record: &ContainerRecord) -> Sample {
    if record.state.status != Status::Running {
        return Sample::default();
    }
    let pid = record.state.pid;
    let usage = match ctx.cgroup_of(record) {
        Some(cg) => cg.stats(),
        None => proc_stats(&processes(pid)),
    };
    let (net_rx, net_tx) = if record.config.network == NetworkMode::Host {
        (0, 0)
    } else {
        net_bytes(&std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default())
    };
    Sample {
        usage,
        net_rx,
        net_tx,
        at: Some(std::time::Instant::now()),
    }
}

/// Bytes received and sent on every interface but lo, from a /proc/net/dev text.
pub fn net_bytes(dev: &str) -> (u64, u64) {
    let mut rx = 0;
    let mut tx = 0;
    for line in dev.lines().skip(2) {
        let Some((name, counters)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = counters
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if f.len() >= 9 {
            rx += f[0];
            tx += f[8];
        }
    }
    (rx, tx)
}

/// Usage summed over processes, for a container without a cgroup.
fn proc_stats(pids: &[i32]) -> Stats {
    // SAFETY: sysconf has no preconditions.
    let (tick, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK).max(1) as u64,
            libc::sysconf(libc::_SC_PAGESIZE).max(1) as u64,
        )
    };
    let mut s = Stats {
        pids: pids.len() as u64,
        ..Stats::default()
    };
    for pid in pids {
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            && let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..])
        {
            // utime and stime are fields 14 and 15: the 12th and 13th after the state.
            let f: Vec<&str> = rest.split_whitespace().collect();
            let t = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
            s.cpu_ns += (t(11) + t(12)) * 1_000_000_000 / tick;
        }
        if let Ok(statm) = std::fs::read_to_string(format!("/proc/{pid}/statm")) {
            let rss: u64 = statm
                .split_whitespace()
                .nth(1)
                .and_then(|x| x.parse().ok())
                .unwrap_or(0);
            s.memory += rss * page;
        }
    }
    s
}

/// The host's memory, the "limit" of a container without one (as docker shows it).
pub fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Host pids of every process in the pid namespace of `pid` (a container's pid 1).
pub fn processes(pid: i32) -> Vec<i32> {
    let ns = |p: &Path| std::fs::read_link(p.join("ns/pid")).ok();
    let Some(target) = ns(Path::new(&format!("/proc/{pid}"))) else {
        return Vec::new();
    };
    let mut out: Vec<i32> = std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                .filter(|p| ns(Path::new(&format!("/proc/{p}"))).as_ref() == Some(&target))
                .collect()
        })
        .unwrap_or_default();
    out.sort_unstable();
    out
}

/// `update --restart`: the monitor reads the policy when the command next ends.
pub fn set_restart_policy(
    ctx: &Ctx,
    query: &str,
    policy: crate::spec::restart::RestartPolicy,
) -> Result<(), ContainerError> {
    let record = ctx.find(query)?;
    let _lock = ctx.store.lock(&record.id)?;
    let mut record = ctx.store.load(&record.id)?;
    if record.config.auto_remove && !policy.is_none() {
        return Err(ContainerError::Invalid(format!(
            "cannot give container {query} a restart policy: it is removed when it exits (--rm)"
        )));
    }
    record.config.restart = policy;
    ctx.store.save(&record)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev_skips_lo() {
        let dev = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n  eth0:    2000      20    0    0    0     0          0         0     3000      30    0    0    0     0       0          0\n";
        assert_eq!(net_bytes(dev), (2000, 3000));
    }

    #[test]
    fn own_pid_namespace_has_us() {
        let me = std::process::id() as i32;
        assert!(processes(me).contains(&me));
    }
}
