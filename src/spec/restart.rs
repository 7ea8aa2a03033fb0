//! `--restart` and what a container's monitor does when the command ends: docker's policies
//! and back-off, as pure decisions (the monitor in `container/restart.rs` carries them out).

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyName {
    #[default]
    No,
    OnFailure,
    Always,
    UnlessStopped,
}

/// HostConfig.RestartPolicy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RestartPolicy {
    pub name: PolicyName,
    /// on-failure's limit; 0: no limit.
    #[serde(default)]
    pub max_retries: u32,
}

impl RestartPolicy {
    /// `no`, `on-failure[:N]`, `always`, `unless-stopped`.
    pub fn parse(text: &str) -> Result<RestartPolicy, String> {
        let (name, count) = match text.split_once(':') {
            Some((n, c)) => (n, Some(c)),
            None => (text, None),
        };
        let name = match name {
            "" | "no" => PolicyName::No,
            "on-failure" => PolicyName::OnFailure,
            "always" => PolicyName::Always,
            "unless-stopped" => PolicyName::UnlessStopped,
            _ => {
                return Err(format!(
                    "invalid restart policy {text:?}: expected no, on-failure[:max-retries], always or unless-stopped"
                ));
            }
        };
        let max_retries = match count {
            None => 0,
            Some(c) if name == PolicyName::OnFailure => c.parse::<u32>().map_err(|_| {
                format!(
                    "invalid restart policy {text:?}: maximum retry count must be a number from 0"
                )
            })?,
            Some(_) => {
                return Err(format!(
                    "invalid restart policy {text:?}: maximum retry count can only be used with 'on-failure'"
                ));
            }
        };
        Ok(RestartPolicy { name, max_retries })
    }

    /// docker's name for it.
    pub fn name(&self) -> &'static str {
        match self.name {
            PolicyName::No => "no",
            PolicyName::OnFailure => "on-failure",
            PolicyName::Always => "always",
            PolicyName::UnlessStopped => "unless-stopped",
        }
    }

    pub fn is_none(&self) -> bool {
        self.name == PolicyName::No
    }

    /// Whether a host's start-up brings the container back (docker's daemon does this for
    /// `always`, and for `unless-stopped` unless a user stopped it).
    pub fn starts_at_boot(&self, stopped_by_user: bool) -> bool {
        match self.name {
            PolicyName::Always => true,
            PolicyName::UnlessStopped => !stopped_by_user,
            PolicyName::No | PolicyName::OnFailure => false,
        }
    }
}

/// docker's back-off: 100 ms, doubled at each restart, back to 100 ms once the command ran
/// 10 s; never more than a minute.
const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(60);
const RAN_LONG_ENOUGH: Duration = Duration::from_secs(10);

/// What the monitor does when the command ended with `code` after running `ran`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Finish,
    RestartAfter(Duration),
}

/// `previous`: the delay before the last restart (None before the first).
pub fn next(
    policy: &RestartPolicy,
    code: i32,
    restarts_so_far: u32,
    stopped_by_user: bool,
    ran: Duration,
    previous: Option<Duration>,
) -> Next {
    if stopped_by_user {
        return Next::Finish;
    }
    let again = match policy.name {
        PolicyName::No => false,
        PolicyName::OnFailure => {
            code != 0 && (policy.max_retries == 0 || restarts_so_far < policy.max_retries)
        }
        PolicyName::Always | PolicyName::UnlessStopped => true,
    };
    if !again {
        return Next::Finish;
    }
    let delay = match previous {
        Some(d) if ran < RAN_LONG_ENOUGH => (d * 2).min(MAX_DELAY),
        _ => FIRST_DELAY,
    };
    Next::RestartAfter(delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_as_docker_reads_them() {
        assert_eq!(RestartPolicy::parse("no"), Ok(RestartPolicy::default()));
        assert_eq!(
            RestartPolicy::parse("on-failure:3"),
            Ok(RestartPolicy {
                name: PolicyName::OnFailure,
                max_retries: 3
            })
        );
        assert_eq!(
            RestartPolicy::parse("unless-stopped").map(|p| p.name()),
            Ok("unless-stopped")
        );
        for bad in ["sometimes", "always:3", "on-failure:x", "on-failure:-1"] {
            assert!(RestartPolicy::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn decisions_and_back_off() {
        let quick = Duration::from_millis(5);
        let on3 = RestartPolicy::parse("on-failure:3").expect("policy");
        assert_eq!(
            next(&on3, 1, 0, false, quick, None),
            Next::RestartAfter(Duration::from_millis(100))
        );
        assert_eq!(
            next(&on3, 1, 2, false, quick, Some(Duration::from_millis(200))),
            Next::RestartAfter(Duration::from_millis(400))
        );
        assert_eq!(next(&on3, 1, 3, false, quick, None), Next::Finish);
        assert_eq!(next(&on3, 0, 0, false, quick, None), Next::Finish);
        let always = RestartPolicy::parse("always").expect("policy");
        assert_eq!(next(&always, 0, 9, true, quick, None), Next::Finish);
        assert_eq!(
            next(
                &always,
                0,
                9,
                false,
                Duration::from_secs(11),
                Some(MAX_DELAY)
            ),
            Next::RestartAfter(FIRST_DELAY)
        );
        assert_eq!(
            next(&always, 0, 9, false, quick, Some(MAX_DELAY)),
            Next::RestartAfter(MAX_DELAY)
        );
        assert!(always.starts_at_boot(true));
        let unless = RestartPolicy::parse("unless-stopped").expect("policy");
        assert!(unless.starts_at_boot(false) && !unless.starts_at_boot(true));
        assert!(!on3.starts_at_boot(false));
    }
}
