//! `healthcheck run` (podman's), and `generate systemd`: unit files that give skiff's containers a life across reboots without a
//! daemon. Without a container, the boot unit: `skiff start --all --at-boot` once at start-up,
//! which brings back what docker's daemon would (restart policy `always`, and
//! `unless-stopped` unless a user stopped it); the containers' own monitors restart them
//! after that. With a container, podman's per-container unit: started and stopped with it.

use clap::{Args, Subcommand};

use super::CliError;
use crate::container::Ctx;

#[derive(Debug, Subcommand)]
pub enum GenerateCommand {
    /// Print a systemd unit: the boot unit, or one for CONTAINER
    Systemd(SystemdArgs),
}

#[derive(Debug, Args)]
pub struct SystemdArgs {
    /// Seconds `systemctl stop` gives the container before it is killed
    #[arg(short = 't', long = "time", default_value_t = 10)]
    pub time: u32,
    /// A container (name or id); without it, the unit that starts containers at boot
    pub container: Option<String>,
}

pub fn dispatch(ctx: &Ctx, c: GenerateCommand) -> Result<i32, CliError> {
    match c {
        GenerateCommand::Systemd(a) => {
            print!("{}", systemd_unit(ctx, &a)?);
            Ok(0)
        }
    }
}

fn systemd_unit(ctx: &Ctx, a: &SystemdArgs) -> Result<String, CliError> {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "/usr/local/bin/skiff".into());
    // The store this command used, so the unit works on the same containers.
    let store = format!(
        "--root {} --runroot {}",
        ctx.paths.root.display(),
        ctx.paths.runroot.display()
    );
    let target = if ctx.paths.rootless {
        "default.target"
    } else {
        "multi-user.target"
    };
    Ok(match &a.container {
        None => format!(
            "# skiff: start containers with a restart policy when the host boots.\n\
             # Install: skiff generate systemd > /etc/systemd/system/skiff-restart.service\n\
             #          systemctl daemon-reload && systemctl enable skiff-restart.service\n\
             # (rootless: ~/.config/systemd/user/, systemctl --user, and loginctl enable-linger)\n\
             [Unit]\n\
             Description=skiff: start containers with restart policies\n\
             Wants=network-online.target\n\
             After=network-online.target\n\
             \n\
             [Service]\n\
             Type=oneshot\n\
             RemainAfterExit=yes\n\
             ExecStart={exe} {store} start --all --at-boot\n\
             \n\
             [Install]\n\
             WantedBy={target}\n"
        ),
        Some(name) => {
            let record = ctx.find(name)?;
            format!(
                "# skiff: container {name} ({id}), started and stopped with this unit.\n\
                 [Unit]\n\
                 Description=skiff container {name}\n\
                 Wants=network-online.target\n\
                 After=network-online.target\n\
                 \n\
                 [Service]\n\
                 Type=oneshot\n\
                 RemainAfterExit=yes\n\
                 ExecStart={exe} {store} start {id}\n\
                 ExecStop={exe} {store} stop -t {time} {id}\n\
                 \n\
                 [Install]\n\
                 WantedBy={target}\n",
                name = record.name,
                id = record.id,
                time = a.time,
            )
        }
    })
}

#[derive(Debug, Subcommand)]
pub enum HealthcheckCommand {
    /// Run a container's healthcheck now; exit 0 when healthy, 1 when not
    Run(HealthcheckRunArgs),
}

#[derive(Debug, Args)]
pub struct HealthcheckRunArgs {
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::cli::complete::containers))]
    pub container: String,
}

pub fn healthcheck(ctx: &Ctx, c: HealthcheckCommand) -> Result<i32, CliError> {
    match c {
        HealthcheckCommand::Run(a) => {
            let code = crate::container::health::probe(ctx, &a.container)?;
            if code != 0 {
                eprintln!("unhealthy");
            }
            Ok(code)
        }
    }
}
