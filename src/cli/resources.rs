//! Handlers for update, stats and top.

use std::io::IsTerminal;

use super::format::{human_size, print_rows, tabulate};
use super::{CliError, StatsArgs, TopArgs, UpdateArgs, for_each};
use crate::container::Ctx;
use crate::container::resources::{self, Sample};
use crate::state::container::{ContainerRecord, Status};
use crate::units::bytes_size;

pub fn update(ctx: &Ctx, a: UpdateArgs) -> Result<i32, CliError> {
    let flags = a.resources.flags();
    let policy = a
        .restart
        .as_deref()
        .map(crate::spec::restart::RestartPolicy::parse)
        .transpose()
        .map_err(CliError::Usage)?;
    if !flags.any() && policy.is_none() {
        return Err(CliError::Usage(
            "update needs at least one thing to change, e.g. --memory 256m, --cpus 1 or --restart always".into(),
        ));
    }
    for_each(&a.containers, |c| {
        if let Some(p) = policy {
            resources::set_restart_policy(ctx, c, p)?;
        }
        if flags.any() {
            resources::update(ctx, c, &flags)?;
        }
        Ok(())
    })
}

const STATS_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

/// How long `stats` waits between the two readings that make a CPU percentage.
const NO_STREAM_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);
const STREAM_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

pub fn stats(ctx: &Ctx, a: StatsArgs) -> Result<i32, CliError> {
    let format = a.format.clone().unwrap_or_else(|| STATS_TABLE.into());
    let header = serde_json::json!({
        "Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
        "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
        "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
    });
    let clear = !a.no_stream && std::io::stdout().is_terminal();
    let host_memory = resources::host_memory();
    let mut previous: Vec<(String, Sample)> = Vec::new();
    loop {
        let records = selected(ctx, &a)?;
        let now: Vec<(String, Sample)> = records
            .iter()
            .map(|r| (r.id.clone(), resources::sample(ctx, r)))
            .collect();
        if previous.is_empty() && !now.is_empty() {
            // The first reading only sets the baseline for CPU %.
            previous = now;
            std::thread::sleep(if a.no_stream {
                NO_STREAM_INTERVAL
            } else {
                STREAM_INTERVAL
            });
            continue;
        }
        let rows: Vec<serde_json::Value> = records
            .iter()
            .zip(&now)
            .map(|(r, (id, s))| {
                let before = previous.iter().find(|(p, _)| p == id).map(|(_, s)| s);
                row(r, s, before, host_memory, a.no_trunc)
            })
            .collect();
        if clear {
            print!("\x1b[2J\x1b[H");
        }
        print_rows(&format, &header, &rows)?;
        if a.no_stream {
            return Ok(0);
        }
        previous = now;
        std::thread::sleep(STREAM_INTERVAL);
    }
}

/// The containers named, or every running one (every one with -a).
fn selected(ctx: &Ctx, a: &StatsArgs) -> Result<Vec<ContainerRecord>, CliError> {
    if a.containers.is_empty() {
        return Ok(ctx
            .all()?
            .into_iter()
            .filter(|r| a.all || r.state.status == Status::Running)
            .collect());
    }
    a.containers
        .iter()
        .map(|c| ctx.find(c).map_err(CliError::from))
        .collect()
}

fn row(
    r: &ContainerRecord,
    s: &Sample,
    before: Option<&Sample>,
    host_memory: u64,
    no_trunc: bool,
) -> serde_json::Value {
    let cpu = match (before.and_then(|b| b.at.map(|t| (b, t))), s.at) {
        (Some((b, t0)), Some(t1)) if t1 > t0 => {
            let used = s.usage.cpu_ns.saturating_sub(b.usage.cpu_ns) as f64;
            used / (t1 - t0).as_nanos() as f64 * 100.0
        }
        _ => 0.0,
    };
    let running = r.state.status == Status::Running;
    let limit = if running {
        s.usage
            .memory_limit
            .unwrap_or(host_memory)
            .min(host_memory.max(1))
    } else {
        0
    };
    let mem_perc = if limit > 0 {
        s.usage.memory as f64 / limit as f64 * 100.0
    } else {
        0.0
    };
    let id = if no_trunc {
        r.id.clone()
    } else {
        r.short_id().to_string()
    };
    serde_json::json!({
        "Container": id,
        "ID": id,
        "Name": r.name,
        "CPUPerc": format!("{cpu:.2}%"),
        "MemUsage": format!("{} / {}", bytes_size(s.usage.memory), bytes_size(limit)),
        "MemPerc": format!("{mem_perc:.2}%"),
        "NetIO": format!("{} / {}", human_size(s.net_rx), human_size(s.net_tx)),
        "BlockIO": format!("{} / {}", human_size(s.usage.blk_read), human_size(s.usage.blk_write)),
        "PIDs": s.usage.pids.to_string(),
    })
}

pub fn top(ctx: &Ctx, a: TopArgs) -> Result<i32, CliError> {
    let record = ctx.find(&a.container)?;
    if record.state.status != Status::Running {
        return Err(CliError::Usage(format!(
            "container {} is not running",
            a.container
        )));
    }
    let pids = resources::processes(record.state.pid);
    let args = if a.ps_args.is_empty() {
        vec!["-ef".to_string()]
    } else {
        a.ps_args
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .map_err(|e| {
            CliError::Usage(format!(
                "top runs the host's ps, which could not be started ({e}): install procps"
            ))
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(CliError::Usage(format!(
            "ps {}: {}",
            args.join(" "),
            err.lines().next().unwrap_or("failed")
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{}", filter_ps(&text, &pids).map_err(CliError::Usage)?);
    Ok(0)
}

/// Keep ps's header and the lines whose PID column is one of `pids`, as aligned columns (the
/// last column, the command, keeps its spaces).
pub fn filter_ps(text: &str, pids: &[i32]) -> Result<String, String> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    let Some(pid_col) = header.iter().position(|h| *h == "PID") else {
        return Err("ps options must include the PID column (e.g. -ef or aux)".into());
    };
    let mut rows = vec![header.join("\t")];
    for line in lines {
        let cells = split_columns(line, header.len());
        if cells
            .get(pid_col)
            .and_then(|p| p.parse::<i32>().ok())
            .is_some_and(|p| pids.contains(&p))
        {
            rows.push(cells.join("\t"));
        }
    }
    Ok(tabulate(&rows))
}

fn split_columns(line: &str, n: usize) -> Vec<&str> {
    let mut out = Vec::with_capacity(n);
    let mut rest = line.trim_start();
    while out.len() + 1 < n {
        let Some(end) = rest.find(char::is_whitespace) else {
            break;
        };
        out.push(&rest[..end]);
        rest = rest[end..].trim_start();
    }
    if !rest.is_empty() {
        out.push(rest.trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_lines_of_the_container_only() {
        let ps = "UID          PID    PPID  C STIME TTY          TIME CMD\n\
                  root           1       0  0 07:00 ?        00:00:00 /sbin/init\n\
                  root         420       1  0 07:01 ?        00:00:00 sleep 1000 --flag\n";
        let out = filter_ps(ps, &[420]).expect("filtered");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert!(lines[0].starts_with("UID"));
        assert!(lines[1].contains("420") && lines[1].ends_with("sleep 1000 --flag"));
        assert!(filter_ps("USER COMMAND\nroot x\n", &[1]).is_err());
    }
}
