//! man/ holds one page per command, generated from the clap definitions. This test fails when
//! they drift; `SKIFF_UPDATE_MAN=1 cargo test --test man_pages` rewrites them.

use std::path::Path;

use clap::CommandFactory;

fn render(cmd: &clap::Command) -> Vec<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut out)
        .expect("render man page");
    out
}

#[test]
fn man_pages_match_the_cli() {
    let cli = skiff::cli::Cli::command();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let update = std::env::var_os("SKIFF_UPDATE_MAN").is_some();
    let mut pages = vec![("skiff.1".to_string(), render(&cli))];
    for sub in cli.get_subcommands() {
        let name: &'static str = format!("skiff-{}", sub.get_name()).leak();
        pages.push((
            format!("{name}.1"),
            render(&sub.clone().name(name).bin_name(name).display_name(name)),
        ));
    }
    // The runtime mode has a command line of its own (runc's).
    let runtime = skiff::oci::cli::OciCli::command();
    pages.push(("skiff-runc.1".to_string(), render(&runtime)));
    for (file, content) in pages {
        let path = dir.join(&file);
        if update {
            std::fs::create_dir_all(&dir).expect("man dir");
            std::fs::write(&path, &content).expect("write page");
            continue;
        }
        let current = std::fs::read(&path).unwrap_or_default();
        assert!(
            current == content,
            "man/{file} is out of date: run SKIFF_UPDATE_MAN=1 cargo test --test man_pages"
        );
    }
}
