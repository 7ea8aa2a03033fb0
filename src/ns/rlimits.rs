//! `--ulimit name=soft[:hard]`: parsed here (pure), applied with setrlimit in the container's
//! first process just before it switches user, so a limit above our own hard limit fails
//! loudly instead of silently.

use serde::{Deserialize, Serialize};

use super::sync::{ChildError, Stage};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    /// docker's name: nofile, nproc, core, ...
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Soft")]
    pub soft: i64,
    #[serde(rename = "Hard")]
    pub hard: i64,
}

/// docker's names and the resource each one sets.
const NAMES: &[(&str, libc::__rlimit_resource_t)] = &[
    ("as", libc::RLIMIT_AS),
    ("core", libc::RLIMIT_CORE),
    ("cpu", libc::RLIMIT_CPU),
    ("data", libc::RLIMIT_DATA),
    ("fsize", libc::RLIMIT_FSIZE),
    ("locks", libc::RLIMIT_LOCKS),
    ("memlock", libc::RLIMIT_MEMLOCK),
    ("msgqueue", libc::RLIMIT_MSGQUEUE),
    ("nice", libc::RLIMIT_NICE),
    ("nofile", libc::RLIMIT_NOFILE),
    ("nproc", libc::RLIMIT_NPROC),
    ("rss", libc::RLIMIT_RSS),
    ("rtprio", libc::RLIMIT_RTPRIO),
    ("rttime", libc::RLIMIT_RTTIME),
    ("sigpending", libc::RLIMIT_SIGPENDING),
    ("stack", libc::RLIMIT_STACK),
];

/// `nofile=1024:2048`, `nproc=64` (hard = soft), `-1` for unlimited.
pub fn parse(spec: &str) -> Result<Ulimit, String> {
    let bad = |why: &str| {
        format!(
            "invalid --ulimit {spec:?}: {why} (expected name=soft[:hard], e.g. nofile=1024:2048)"
        )
    };
    let (name, values) = spec.split_once('=').ok_or_else(|| bad("no '='"))?;
    if !NAMES.iter().any(|(n, _)| *n == name) {
        let known: Vec<&str> = NAMES.iter().map(|(n, _)| *n).collect();
        return Err(bad(&format!(
            "unknown limit {name:?}; known: {}",
            known.join(", ")
        )));
    }
    let (soft, hard) = values.split_once(':').unwrap_or((values, values));
    let num = |s: &str| s.parse::<i64>().ok().filter(|v| *v >= -1);
    let (Some(soft), Some(hard)) = (num(soft), num(hard)) else {
        return Err(bad("limits must be numbers, or -1 for unlimited"));
    };
    let as_u = |v: i64| if v < 0 { u64::MAX } else { v as u64 };
    if as_u(soft) > as_u(hard) {
        return Err(bad("the soft limit is above the hard limit"));
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

/// setrlimit for each; called in the container's first process (still root in its namespace).
pub fn apply(limits: &[Ulimit]) -> Result<(), ChildError> {
    for l in limits {
        let Some((_, resource)) = NAMES.iter().find(|(n, _)| *n == l.name) else {
            continue;
        };
        let v = |x: i64| {
            if x < 0 {
                libc::RLIM_INFINITY
            } else {
                x as libc::rlim_t
            }
        };
        let lim = libc::rlimit {
            rlim_cur: v(l.soft),
            rlim_max: v(l.hard),
        };
        // SAFETY: plain syscall with a valid pointer to a local struct.
        if unsafe { libc::setrlimit(*resource, &lim) } != 0 {
            let e = std::io::Error::last_os_error();
            let hint = if e.raw_os_error() == Some(libc::EPERM) {
                " (above the hard limit skiff itself runs with: see ulimit -H)"
            } else {
                ""
            };
            return Err(ChildError::new(
                Stage::Setup,
                e.raw_os_error().unwrap_or(libc::EINVAL),
                format!("--ulimit {}={}:{}: {e}{hint}", l.name, l.soft, l.hard),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(
            parse("nofile=1024:2048"),
            Ok(Ulimit {
                name: "nofile".into(),
                soft: 1024,
                hard: 2048
            })
        );
        assert_eq!(parse("nproc=64").map(|u| (u.soft, u.hard)), Ok((64, 64)));
        assert_eq!(parse("core=-1").map(|u| u.hard), Ok(-1));
        for bad in [
            "nofile",
            "nofiles=1",
            "nofile=a",
            "nofile=10:5",
            "nofile=-2",
            "nofile=1:2:3",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
