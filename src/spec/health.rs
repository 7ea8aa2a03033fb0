//! Healthchecks as docker defines them: the image's HEALTHCHECK merged with `--health-*`
//! flags, the defaults, and how a probe's result moves `State.Health` (pure; the monitor in
//! `container/health.rs` runs the probes).

use serde::{Deserialize, Serialize};

use crate::image::config::Healthcheck;

const SECOND: i64 = 1_000_000_000;
/// docker's defaults for what the image and the flags leave at 0.
pub const DEFAULT_INTERVAL: i64 = 30 * SECOND;
pub const DEFAULT_TIMEOUT: i64 = 30 * SECOND;
pub const DEFAULT_START_INTERVAL: i64 = 5 * SECOND;
pub const DEFAULT_RETRIES: i64 = 3;
/// Probes kept in State.Health.Log, and bytes of output kept per probe.
pub const LOG_ENTRIES: usize = 5;
pub const OUTPUT_BYTES: usize = 4096;

/// The `--health-*` flags as typed.
#[derive(Debug, Clone, Default)]
pub struct HealthFlags {
    pub cmd: Option<String>,
    /// A whole test (`["CMD", ...]` or `["CMD-SHELL", ...]`), as compose gives it.
    pub test: Option<Vec<String>>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub retries: Option<i64>,
    pub start_period: Option<String>,
    pub start_interval: Option<String>,
    pub none: bool,
}

impl HealthFlags {
    fn any_set(&self) -> bool {
        self.cmd.is_some()
            || self.test.is_some()
            || self.interval.is_some()
            || self.timeout.is_some()
            || self.retries.is_some()
            || self.start_period.is_some()
            || self.start_interval.is_some()
    }
}

fn duration_flag(name: &str, value: &Option<String>) -> Result<Option<i64>, String> {
    let Some(v) = value else { return Ok(None) };
    if v.starts_with('-') {
        return Err(format!("invalid --{name} {v:?}: it cannot be negative"));
    }
    let ns = crate::units::parse_go_duration(v).map_err(|e| format!("invalid --{name}: {e}"))?;
    if ns != 0 && ns < 1_000_000 {
        return Err(format!(
            "invalid --{name} {v:?}: it must be at least 1ms (or 0 for the default)"
        ));
    }
    Ok(Some(ns))
}

/// The container's healthcheck: the image's, with each flag given replacing its field.
/// None when neither has one; `["NONE"]` disables the image's (`--no-healthcheck`).
pub fn effective(
    image: Option<&Healthcheck>,
    flags: &HealthFlags,
) -> Result<Option<Healthcheck>, String> {
    if flags.none {
        if flags.any_set() {
            return Err("--no-healthcheck conflicts with the --health-* options".into());
        }
        return Ok(Some(Healthcheck {
            test: vec!["NONE".into()],
            ..Healthcheck::default()
        }));
    }
    let interval = duration_flag("health-interval", &flags.interval)?;
    let timeout = duration_flag("health-timeout", &flags.timeout)?;
    let start_period = duration_flag("health-start-period", &flags.start_period)?;
    let start_interval = duration_flag("health-start-interval", &flags.start_interval)?;
    if let Some(r) = flags.retries
        && r < 0
    {
        return Err(format!(
            "invalid --health-retries {r}: it cannot be negative"
        ));
    }
    if image.is_none() && !flags.any_set() {
        return Ok(None);
    }
    let mut h = image.cloned().unwrap_or_default();
    if let Some(cmd) = &flags.cmd {
        h.test = vec!["CMD-SHELL".into(), cmd.clone()];
    }
    if let Some(test) = &flags.test {
        h.test = test.clone();
    }
    h.interval = interval.unwrap_or(h.interval);
    h.timeout = timeout.unwrap_or(h.timeout);
    h.start_period = start_period.unwrap_or(h.start_period);
    h.start_interval = start_interval.unwrap_or(h.start_interval);
    h.retries = flags.retries.unwrap_or(h.retries);
    if h.test.is_empty() {
        return Err("a healthcheck needs a command: give --health-cmd".into());
    }
    Ok(Some(h))
}

/// Whether a healthcheck is there to run (not absent, not `NONE`).
pub fn active(h: Option<&Healthcheck>) -> bool {
    h.is_some_and(|h| h.test.first().is_some_and(|t| t != "NONE"))
}

/// The command a probe runs in the container: `CMD-SHELL x` is `/bin/sh -c x`.
pub fn probe_argv(h: &Healthcheck) -> Option<Vec<String>> {
    match h.test.split_first()? {
        (kind, rest) if kind == "CMD" && !rest.is_empty() => Some(rest.to_vec()),
        (kind, [cmd]) if kind == "CMD-SHELL" => {
            Some(vec!["/bin/sh".into(), "-c".into(), cmd.clone()])
        }
        _ => None,
    }
}

fn or_default(v: i64, d: i64) -> i64 {
    if v > 0 { v } else { d }
}

pub fn interval(h: &Healthcheck) -> i64 {
    or_default(h.interval, DEFAULT_INTERVAL)
}
pub fn timeout(h: &Healthcheck) -> i64 {
    or_default(h.timeout, DEFAULT_TIMEOUT)
}
pub fn start_interval(h: &Healthcheck) -> i64 {
    or_default(h.start_interval, DEFAULT_START_INTERVAL)
}
pub fn retries(h: &Healthcheck) -> i64 {
    or_default(h.retries, DEFAULT_RETRIES)
}

/// State.Health.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// starting, healthy or unhealthy.
    pub status: String,
    pub failing_streak: i64,
    #[serde(default)]
    pub log: Vec<Probe>,
}

/// One probe, as State.Health.Log shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Probe {
    pub start: String,
    pub end: String,
    pub exit_code: i32,
    pub output: String,
}

impl Health {
    pub fn starting() -> Health {
        Health {
            status: "starting".into(),
            ..Health::default()
        }
    }

    /// Take a probe's result (docker's rules): success makes it healthy and clears the
    /// streak; a failure inside the start period does not count; otherwise the streak grows
    /// and reaching `retries` makes it unhealthy. Returns whether the status changed.
    pub fn record(&mut self, probe: Probe, in_start_period: bool, retries: i64) -> bool {
        let before = self.status.clone();
        if probe.exit_code == 0 {
            self.failing_streak = 0;
            self.status = "healthy".into();
        } else if !in_start_period {
            self.failing_streak += 1;
            if self.failing_streak >= retries {
                self.status = "unhealthy".into();
            }
        }
        self.log.push(probe);
        if self.log.len() > LOG_ENTRIES {
            let extra = self.log.len() - LOG_ENTRIES;
            self.log.drain(..extra);
        }
        self.status != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> HealthFlags {
        HealthFlags::default()
    }

    #[test]
    fn flags_override_the_image_field_by_field() {
        let image = Healthcheck {
            test: vec!["CMD".into(), "true".into()],
            interval: 10 * SECOND,
            retries: 5,
            ..Healthcheck::default()
        };
        let h = effective(
            Some(&image),
            &HealthFlags {
                cmd: Some("test -f /ok".into()),
                interval: Some("1s".into()),
                ..flags()
            },
        )
        .expect("ok")
        .expect("some");
        assert_eq!(h.test, ["CMD-SHELL", "test -f /ok"]);
        assert_eq!((h.interval, h.retries), (SECOND, 5));
        assert_eq!(effective(None, &flags()), Ok(None));
        let none = effective(
            Some(&image),
            &HealthFlags {
                none: true,
                ..flags()
            },
        )
        .expect("ok")
        .expect("some");
        assert!(!active(Some(&none)));
        for bad in [
            HealthFlags {
                interval: Some("-1s".into()),
                cmd: Some("x".into()),
                ..flags()
            },
            HealthFlags {
                timeout: Some("soon".into()),
                cmd: Some("x".into()),
                ..flags()
            },
            HealthFlags {
                interval: Some("10us".into()),
                cmd: Some("x".into()),
                ..flags()
            },
            HealthFlags {
                retries: Some(-2),
                cmd: Some("x".into()),
                ..flags()
            },
            HealthFlags {
                none: true,
                cmd: Some("x".into()),
                ..flags()
            },
            HealthFlags {
                interval: Some("1s".into()),
                ..flags()
            },
        ] {
            assert!(effective(None, &bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            probe_argv(&h),
            Some(vec!["/bin/sh".into(), "-c".into(), "test -f /ok".into()])
        );
    }

    #[test]
    fn results_move_the_status_as_docker_does() {
        let probe = |code| Probe {
            exit_code: code,
            ..Probe::default()
        };
        let mut h = Health::starting();
        assert!(
            !h.record(probe(1), true, 3),
            "a failure in the start period does not count"
        );
        assert_eq!((h.status.as_str(), h.failing_streak), ("starting", 0));
        assert!(h.record(probe(0), true, 3));
        assert_eq!(h.status, "healthy");
        h.record(probe(1), false, 2);
        assert_eq!((h.status.as_str(), h.failing_streak), ("healthy", 1));
        assert!(h.record(probe(1), false, 2));
        assert_eq!(h.status, "unhealthy");
        for _ in 0..10 {
            h.record(probe(1), false, 2);
        }
        assert_eq!(h.log.len(), LOG_ENTRIES);
        assert!(h.record(probe(0), false, 2));
        assert_eq!((h.status.as_str(), h.failing_streak), ("healthy", 0));
    }
}
