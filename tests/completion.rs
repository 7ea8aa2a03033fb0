//! `completion bash|zsh|fish`: each script loads in its shell, and completing asks skiff,
//! which offers subcommands and the store's container, image, volume and network names.

mod common;

use std::process::Command;

use common::{Env, binary, require_root};

/// A PATH where `skiff` is the binary under test (the scripts call it by name).
fn path_with_skiff(env: &Env) -> String {
    let bin = env.dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let link = bin.join("skiff");
    if !link.exists() {
        std::os::unix::fs::symlink(binary(), &link).expect("symlink");
    }
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn shell(env: &Env, sh: &str, script: &str) -> Option<String> {
    if Command::new("sh")
        .args(["-c", &format!("command -v {sh}")])
        .output()
        .ok()?
        .stdout
        .is_empty()
    {
        eprintln!("skipped: {sh} is not installed (apt-get install {sh})");
        return None;
    }
    let out = Command::new(sh)
        .args(["-c", script])
        .env("PATH", path_with_skiff(env))
        .env("SKIFF_ROOT", &env.root)
        .env("SKIFF_RUNROOT", &env.runroot)
        .output()
        .expect("shell");
    assert!(
        out.status.success(),
        "{sh}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn scripts_load_and_complete_names_from_the_store() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    env.ok(&["create", "--name", "complete-me", "busybox", "true"]);
    env.ok(&["volume", "create", "vol-complete"]);
    // bash: the function is registered, and calling it as bash would lists the candidates.
    let out = shell(
        &env,
        "bash",
        "source <(skiff completion bash) && complete -p skiff && \
         COMP_WORDS=(skiff rm comp); COMP_CWORD=2; COMP_TYPE=9; _clap_complete_skiff skiff comp rm; \
         printf '%s\\n' \"${COMPREPLY[@]}\"; \
         COMP_WORDS=(skiff volume rm vol); COMP_CWORD=3; _clap_complete_skiff skiff vol rm; \
         printf '%s\\n' \"${COMPREPLY[@]}\"; \
         COMP_WORDS=(skiff pau); COMP_CWORD=1; _clap_complete_skiff skiff pau skiff; \
         printf '%s\\n' \"${COMPREPLY[@]}\"",
    )
    .expect("bash is always there");
    assert!(out.contains("_clap_complete_skiff"), "{out}");
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert!(lines.contains(&"complete-me"), "{out}");
    assert!(lines.contains(&"vol-complete"), "{out}");
    assert!(lines.contains(&"pause"), "{out}");
    if let Some(out) = shell(
        &env,
        "fish",
        "skiff completion fish | source; complete -C 'skiff start comp'",
    ) {
        assert!(out.contains("complete-me"), "{out}");
    }
    if let Some(out) = shell(
        &env,
        "zsh",
        "autoload -U compinit && compinit -u && source <(skiff completion zsh) && print -r -- ${_comps[skiff]}",
    ) {
        assert!(!out.trim().is_empty(), "zsh registered nothing: {out}");
    }
    assert!(env.run(&["completion", "tcsh"]).status.code() != Some(0));
    env.ok(&["rm", "complete-me"]);
    env.ok(&["volume", "rm", "vol-complete"]);
}
