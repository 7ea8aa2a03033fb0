//! `skiff compose` (also `skiff-compose`): docker compose v2's command line over skiff's own
//! containers, networks and volumes. A project's state is only its objects' labels
//! (`com.docker.compose.*`), as with docker compose, so `up` converges from whatever it finds;
//! a per-project lock keeps two `up`s from making two containers for one replica.

mod args;
mod project;
mod up;
mod verbs;
mod view;

use std::io::IsTerminal;

pub use args::*;

use super::CliError;
use crate::compose::{LoadOptions, Project};
use crate::container::Ctx;

pub fn compose(ctx: &Ctx, a: ComposeArgs) -> Result<i32, CliError> {
    let opts = LoadOptions {
        files: a.file.clone(),
        project_name: a.project_name.clone(),
        project_directory: a.project_directory.clone(),
        env_files: a.env_file.clone(),
        profiles: a.profile.clone(),
        named_services: a.command.named_services(),
    };
    let progress = Progress::new(&a);
    let load = || Project::load(&opts).map_err(CliError::Usage);
    // What makes containers also needs the project's generated secret files.
    let load_for_containers = || -> Result<Project, CliError> {
        let mut p = load()?;
        project::materialize_secrets(ctx, &mut p)?;
        Ok(p)
    };
    match a.command {
        ComposeCommand::Config(c) => view::config(load()?, c),
        ComposeCommand::Ls(c) => view::ls(ctx, c),
        ComposeCommand::Version(c) => view::version(c),
        // Commands that only need the project's name work without a compose file, as in
        // docker compose (`-p name down`).
        ComposeCommand::Down(c) => verbs::down(ctx, &project::locate(&opts)?, &progress, c),
        ComposeCommand::Ps(c) => view::ps(ctx, &project::locate(&opts)?, c),
        ComposeCommand::Logs(c) => view::logs(ctx, &project::locate(&opts)?, c),
        ComposeCommand::Up(c) => up::up(ctx, &load_for_containers()?, &progress, c),
        ComposeCommand::Create(c) => up::create(ctx, &load_for_containers()?, &progress, c),
        ComposeCommand::Start(c) => verbs::start(ctx, &load_for_containers()?, &progress, c),
        ComposeCommand::Stop(c) => verbs::stop(ctx, &project::locate(&opts)?, &progress, c),
        ComposeCommand::Restart(c) => verbs::restart(ctx, &project::locate(&opts)?, &progress, c),
        ComposeCommand::Kill(c) => verbs::kill(ctx, &project::locate(&opts)?, &progress, c),
        ComposeCommand::Rm(c) => verbs::rm(ctx, &project::locate(&opts)?, &progress, c),
        ComposeCommand::Pause(c) => verbs::pause(ctx, &project::locate(&opts)?, &progress, c, true),
        ComposeCommand::Unpause(c) => {
            verbs::pause(ctx, &project::locate(&opts)?, &progress, c, false)
        }
        ComposeCommand::Exec(c) => verbs::exec(ctx, &project::locate(&opts)?, c),
        ComposeCommand::Run(c) => up::run(ctx, &load_for_containers()?, &progress, *c),
        ComposeCommand::Top(c) => view::top(ctx, &project::locate(&opts)?, c),
        ComposeCommand::Port(c) => view::port(ctx, &project::locate(&opts)?, c),
        ComposeCommand::Images(c) => view::images(ctx, &project::locate(&opts)?, c),
        ComposeCommand::Pull(c) => up::pull(ctx, &load()?, &progress, c),
        ComposeCommand::Push(c) => up::push(ctx, &load()?, c),
        ComposeCommand::Build(c) => up::build(ctx, &load()?, &progress, c),
        ComposeCommand::Cp(c) => verbs::cp(ctx, &project::locate(&opts)?, c),
        ComposeCommand::Events(c) => view::events(ctx, &project::locate(&opts)?, c),
        ComposeCommand::Wait(c) => verbs::wait(ctx, &project::locate(&opts)?, &progress, c),
        ComposeCommand::Scale(c) => up::scale(ctx, &load_for_containers()?, &progress, c),
    }
}

/// docker compose's plain progress lines on stderr (` Container app-web-1  Started`); quiet
/// with `--progress quiet`.
pub struct Progress {
    quiet: bool,
}

impl Progress {
    fn new(a: &ComposeArgs) -> Progress {
        Progress {
            quiet: a.progress.as_deref() == Some("quiet"),
        }
    }

    pub fn event(&self, kind: &str, name: &str, text: &str) {
        if !self.quiet {
            eprintln!(" {kind} {name}  {text}");
        }
    }
}

/// Colours for log prefixes, as docker compose cycles them.
pub fn colour(i: usize) -> &'static str {
    const C: [&str; 6] = ["36", "33", "32", "35", "34", "31"];
    C[i % C.len()]
}

pub fn use_colour(no_color: bool, ansi: Option<&str>) -> bool {
    match ansi {
        Some("never") => false,
        Some("always") => true,
        _ => !no_color && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    }
}
