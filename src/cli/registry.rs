//! Handlers for pull, push, login, logout and tag.

use std::io::{IsTerminal, Read};

use super::{CliError, LoginArgs, LogoutArgs, PullArgs, PushArgs, TagArgs};
use crate::container::Ctx;
use crate::image::auth;
use crate::image::pull::PullOptions;
use crate::image::push::PushOptions;
use crate::image::reference::Reference;
use crate::image::registry::{Client, Credentials, Endpoint};

fn registry_of(name: &str) -> Result<String, CliError> {
    Ok(Reference::parse(name)?.registry)
}

/// Pull `name` for run/create and pull itself.
pub fn pull_image(
    ctx: &Ctx,
    name: &str,
    quiet: bool,
    platform: Option<String>,
    tls_verify: bool,
) -> Result<(), CliError> {
    let host = registry_of(name)?;
    let opts = PullOptions {
        quiet,
        platform,
        insecure: !tls_verify,
        credentials: auth::lookup(ctx.host_ids.0, &host),
    };
    crate::image::pull::pull(&ctx.images, name, &opts)?;
    let canonical = Reference::parse(name)
        .map(|r| r.canonical())
        .unwrap_or_else(|_| name.to_string());
    ctx.image_event("pull", &canonical, &canonical);
    Ok(())
}

pub fn pull(ctx: &Ctx, a: PullArgs) -> Result<i32, CliError> {
    pull_image(ctx, &a.image, a.quiet, a.platform, a.tls_verify)?;
    println!("{}", Reference::parse(&a.image)?.canonical());
    Ok(0)
}

pub fn push(ctx: &Ctx, a: PushArgs) -> Result<i32, CliError> {
    let host = registry_of(&a.image)?;
    let opts = PushOptions {
        quiet: a.quiet,
        insecure: !a.tls_verify,
        credentials: auth::lookup(ctx.host_ids.0, &host),
    };
    crate::image::push::push(&ctx.images, &a.image, &opts)?;
    ctx.image_event("push", &a.image, &a.image);
    Ok(0)
}

fn server_host(server: Option<&str>) -> String {
    let s = server.unwrap_or("docker.io");
    let s = s
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let s = s.split('/').next().unwrap_or(s);
    if s == "index.docker.io" || s == "registry-1.docker.io" {
        "docker.io".into()
    } else {
        s.to_string()
    }
}

pub fn login(ctx: &Ctx, a: LoginArgs) -> Result<i32, CliError> {
    let host = server_host(a.server.as_deref());
    let password = if a.password_stdin {
        if a.password.is_some() {
            return Err(CliError::Usage(
                "--password and --password-stdin are mutually exclusive".into(),
            ));
        }
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| CliError::Usage(format!("reading the password from stdin: {e}")))?;
        s.trim_end_matches(['\n', '\r']).to_string()
    } else if let Some(p) = a.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p
    } else if std::io::stdin().is_terminal() {
        prompt_password()?
    } else {
        return Err(CliError::Usage(
            "no password given: use --password-stdin (or -p) when stdin is not a terminal".into(),
        ));
    };
    let Some(username) = a.username else {
        return Err(CliError::Usage("a username is needed: -u NAME".into()));
    };
    let creds = Credentials { username, password };
    let client = Client::connect(
        &Endpoint {
            host: host.clone(),
            insecure: !a.tls_verify,
        },
        Some(creds.clone()),
    )?;
    client.check_login()?;
    auth::store(ctx.host_ids.0, &host, &creds)?;
    println!("Login Succeeded");
    Ok(0)
}

/// Read a password from the terminal without echo.
fn prompt_password() -> Result<String, CliError> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    use std::os::fd::AsFd;
    eprint!("Password: ");
    let stdin = std::io::stdin();
    let saved = tcgetattr(stdin.as_fd()).map_err(|e| CliError::Usage(format!("terminal: {e}")))?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    let _ = tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &quiet);
    let mut line = String::new();
    let read = stdin.read_line(&mut line);
    let _ = tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &saved);
    eprintln!();
    read.map_err(|e| CliError::Usage(format!("reading the password: {e}")))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

pub fn logout(ctx: &Ctx, a: LogoutArgs) -> Result<i32, CliError> {
    let host = server_host(a.server.as_deref());
    if auth::remove(ctx.host_ids.0, &host)? {
        println!("Removing login credentials for {host}");
    } else {
        println!("Not logged in to {host}");
    }
    Ok(0)
}

pub fn tag(ctx: &Ctx, a: TagArgs) -> Result<i32, CliError> {
    let image = ctx.images.lookup(&a.source)?;
    let target = Reference::parse(&a.target)?;
    if target.digest.is_some() {
        return Err(CliError::Usage(format!(
            "invalid tag {:?}: a tag cannot carry a digest",
            a.target
        )));
    }
    let id = image.id.clone();
    ctx.images.register(crate::image::store::ImageRecord {
        names: vec![target.canonical()],
        ..image
    })?;
    ctx.image_event("tag", &id, &target.canonical());
    Ok(0)
}
