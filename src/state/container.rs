//! The persisted container record: its validated config plus its lifecycle state.

use serde::{Deserialize, Serialize};

use crate::spec::ContainerConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    /// Between two runs of a restart policy: the monitor waits out the back-off.
    Restarting,
    Exited,
    Removing,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Restarting => "restarting",
            Status::Exited => "exited",
            Status::Removing => "removing",
            Status::Dead => "dead",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerState {
    pub status: Status,
    /// The container's pid 1 as seen on the host (0 when not running).
    #[serde(default)]
    pub pid: i32,
    /// Its start time in clock ticks, so a reused pid is never mistaken for it.
    #[serde(default)]
    pub pid_start: u64,
    /// The process that waits for pid 1 and records its exit (the CLI itself in the foreground).
    #[serde(default)]
    pub monitor_pid: i32,
    #[serde(default)]
    pub monitor_start: u64,
    #[serde(default)]
    pub boot_id: String,
    #[serde(default)]
    pub exit_code: i32,
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub oom_killed: bool,
    /// The container's cgroup, relative to the hierarchy root ("" when it has none).
    #[serde(default)]
    pub cgroup: String,
    /// The container's addresses while it runs (bridge networks).
    #[serde(default)]
    pub networks: Vec<crate::net::bridge::Attachment>,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub finished_at: Option<String>,
    /// `stop`, `kill` or `rm -f` ended it (docker's HasBeenManuallyStopped): no restart
    /// policy brings it back, and `unless-stopped` does not start it at boot.
    #[serde(default)]
    pub stopped_by_user: bool,
    /// Frozen by `pause` (the status stays Running, as docker's does).
    #[serde(default)]
    pub paused: bool,
    /// State.Health, when the container has a healthcheck.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::spec::health::Health>,
}

impl ContainerState {
    pub fn created() -> ContainerState {
        ContainerState {
            status: Status::Created,
            pid: 0,
            pid_start: 0,
            monitor_pid: 0,
            monitor_start: 0,
            boot_id: String::new(),
            exit_code: 0,
            error: String::new(),
            oom_killed: false,
            cgroup: String::new(),
            networks: Vec::new(),
            started_at: None,
            finished_at: None,
            stopped_by_user: false,
            paused: false,
            health: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    pub name: String,
    pub created: String,
    /// The image as the user named it.
    pub image: String,
    /// `sha256:<config digest>`.
    pub image_id: String,
    pub config: ContainerConfig,
    pub state: ContainerState,
    #[serde(default)]
    pub restart_count: u32,
}

impl ContainerRecord {
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }
}
