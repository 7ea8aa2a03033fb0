//! The event journal: docker-shaped lines from every command and from monitors, filters and
//! formats, whole lines from 20 parallel runs, live following woken by new events (and ended
//! by a closed reader), bad input.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use common::{Env, require_root};

#[test]
fn history_filters_formats_and_parallel_writers() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let out = env.run(&[
        "run",
        "--name",
        "dies",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    // The monitor wrote `die` with the exit code; the CLI wrote create and start.
    assert_eq!(
        env.ok(&[
            "events",
            "--since",
            "1m",
            "--until",
            "now",
            "--filter",
            "event=die",
            "--format",
            "{{.Actor.Attributes.exitCode}}"
        ])
        .trim(),
        "3"
    );
    let actions = env.ok(&[
        "events",
        "--since",
        "1m",
        "--until",
        "now",
        "--filter",
        "container=dies",
        "--format",
        "{{.Action}}",
    ]);
    assert_eq!(
        actions.split_whitespace().collect::<Vec<_>>(),
        ["create", "start", "die"]
    );
    env.ok(&["tag", "busybox", "tagged:1"]);
    let json = env.ok(&[
        "events",
        "--since",
        "1m",
        "--until",
        "now",
        "--filter",
        "type=image",
        "--filter",
        "event=tag",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).expect("json");
    assert_eq!(v["Action"], "tag");
    assert_eq!(
        v["Actor"]["Attributes"]["name"],
        "docker.io/library/tagged:1"
    );
    let plain = env.ok(&[
        "events",
        "--since",
        "1m",
        "--until",
        "now",
        "--filter",
        "event=die",
    ]);
    assert!(
        plain.contains(" container die ")
            && plain.contains("exitCode=3")
            && plain.contains("name=dies"),
        "{plain}"
    );

    // 20 runs at once: 40 whole lines (create and start of each), none torn.
    let children: Vec<_> = (0..20)
        .map(|i| {
            env.cmd(&[
                "run",
                "-d",
                "--name",
                &format!("par{i}"),
                "--network",
                "none",
                "busybox",
                "sleep",
                "60",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn")
        })
        .collect();
    for mut c in children {
        assert!(c.wait().expect("wait").success());
    }
    let lines = env.ok(&[
        "events",
        "--since",
        "1m",
        "--until",
        "now",
        "--filter",
        "event=create",
        "--filter",
        "event=start",
        "--filter",
        "label=nothing-has-this",
        "--format",
        "json",
    ]);
    assert!(lines.trim().is_empty(), "label filter: {lines}");
    let lines = env.ok(&[
        "events",
        "--since",
        "1m",
        "--until",
        "now",
        "--filter",
        "event=create",
        "--filter",
        "event=start",
        "--format",
        "{{.Actor.Attributes.name}}",
    ]);
    let par = lines.lines().filter(|l| l.starts_with("par")).count();
    assert_eq!(par, 40, "{lines}");
    let raw = std::fs::read_to_string(env.runroot.join("events.log")).expect("journal");
    for l in raw.lines() {
        serde_json::from_str::<serde_json::Value>(l)
            .unwrap_or_else(|e| panic!("torn line {l:?}: {e}"));
    }
    let names: Vec<String> = (0..20).map(|i| format!("par{i}")).collect();
    let mut rm = vec!["rm", "-f", "dies"];
    rm.extend(names.iter().map(String::as_str));
    env.ok(&rm);
}

#[test]
fn follows_live_and_ends_with_its_reader() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let mut follower = env
        .cmd(&[
            "events",
            "--filter",
            "type=volume",
            "--format",
            "{{.Action}} {{.Actor.ID}}",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(300));
    env.ok(&["volume", "create", "watched"]);
    env.ok(&["volume", "rm", "watched"]);
    let mut reader = BufReader::new(follower.stdout.take().expect("stdout"));
    let mut first = String::new();
    reader.read_line(&mut first).expect("line");
    assert_eq!(first.trim(), "create watched");
    let mut second = String::new();
    reader.read_line(&mut second).expect("line");
    assert_eq!(second.trim(), "destroy watched");
    // The reader goes: the follower notices (its next write fails, or poll sees the hangup).
    drop(reader);
    env.ok(&["volume", "create", "after"]);
    let mut ended = false;
    for _ in 0..100 {
        if follower.try_wait().expect("try_wait").is_some() {
            ended = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if !ended {
        let _ = follower.kill();
    }
    assert!(ended, "events kept running after its reader went away");
    env.ok(&["volume", "rm", "after"]);
}

#[test]
fn events_bad_input() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    env.fails(
        &["events", "--since", "garbage"],
        1,
        "invalid --since \"garbage\"",
    );
    env.fails(
        &["events", "--filter", "colour=red", "--until", "now"],
        1,
        "invalid filter \"colour\"",
    );
    env.fails(&["events", "--format", "{{.Nope", "--until", "now"], 1, "");
}
