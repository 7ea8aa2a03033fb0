//! The Dockerfile parser's tests: reading, every instruction's forms, and the errors.

use super::*;
use crate::build::instruction::{extract_flags, stage_name, words_keeping_quotes};
fn df(text: &str) -> Dockerfile {
    parse(text, "Dockerfile").unwrap()
}

/// The kinds of a Dockerfile's instructions after its `FROM scratch` first line.
fn body(text: &str) -> Vec<Kind> {
    let d = df(&format!("FROM scratch\n{text}"));
    d.instructions.into_iter().skip(1).map(|i| i.kind).collect()
}

fn one(text: &str) -> Kind {
    body(text).remove(0)
}

fn err(text: &str) -> String {
    parse(text, "Dockerfile").unwrap_err().to_string()
}

fn shell(s: &str) -> CmdForm {
    CmdForm::Shell(s.to_string())
}

fn exec(v: &[&str]) -> CmdForm {
    CmdForm::Exec(v.iter().map(|s| s.to_string()).collect())
}

fn flag(n: &str, v: Option<&str>) -> (String, Option<String>) {
    (n.to_string(), v.map(str::to_string))
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn basic_file_with_lines_and_originals() {
    let d = df("# a comment\nfrom alpine:3.19 AS Build\n\nrun echo hi\n  CMD [\"sh\"]\n");
    assert_eq!(d.escape, '\\');
    assert_eq!(d.syntax, None);
    let lines: Vec<usize> = d.instructions.iter().map(|i| i.line).collect();
    assert_eq!(lines, [2, 4, 5]);
    assert_eq!(
        d.instructions[0].kind,
        Kind::From {
            flags: Flags::default(),
            image: "alpine:3.19".into(),
            alias: Some("build".into())
        }
    );
    assert_eq!(d.instructions[1].original, "run echo hi");
    assert_eq!(d.instructions[2].original, "CMD [\"sh\"]");
    assert_eq!(d.instructions[2].kind, Kind::Cmd(exec(&["sh"])));
}

#[test]
fn continuations_comments_and_empty_lines() {
    let text = "FROM a\nRUN apt-get update &&   \\\n    make \\  \n# inside\n\n   \\\n  && done\nRUN echo \\\\\nRUN last \\";
    let d = df(text);
    // "   \\" is not an empty continuation line: its spaces are kept, as in BuildKit.
    let run = &d.instructions[1];
    assert_eq!(run.line, 2);
    assert_eq!(
        run.original,
        "RUN apt-get update &&       make      && done"
    );
    assert_eq!(
        run.kind,
        Kind::Run {
            flags: Flags::default(),
            cmd: shell("apt-get update &&       make      && done"),
            heredocs: vec![]
        }
    );
    // An escaped escape at the end is literal, not a continuation.
    assert_eq!(d.instructions[2].original, "RUN echo \\\\");
    assert_eq!(d.instructions[2].line, 8);
    // A continuation at the end of the file just ends the instruction.
    assert_eq!(d.instructions[3].original, "RUN last ");
}

#[test]
fn directives() {
    let d =
        df("# syntax=docker/dockerfile:1\n# escape=`\nFROM a\nRUN echo `\n  b\nCOPY a\\ b /c\n");
    assert_eq!(d.syntax.as_deref(), Some("docker/dockerfile:1"));
    assert_eq!(d.escape, '`');
    assert_eq!(d.instructions[1].original, "RUN echo   b");
    assert_eq!(d.instructions[1].line, 4);
    match &d.instructions[2].kind {
        Kind::Copy { sources, .. } => assert_eq!(sources, &["a\\", "b"]),
        k => panic!("{k:?}"),
    }
    // After a blank line or any other comment, `# escape=` is only a comment.
    assert_eq!(df("\n# escape=`\nFROM a\n").escape, '\\');
    assert_eq!(df("# hello\n# escape=`\nFROM a\n").escape, '\\');
    assert_eq!(df("FROM a\n# escape=`\n").escape, '\\');
    assert_eq!(df("#ESCAPE = ` \nFROM a\n").escape, '`');
    assert!(err("# escape=x\nFROM a\n").contains("invalid escape token"));
    assert_eq!(
        err("# escape=`\n# escape=\\\nFROM a\n"),
        "Dockerfile:2: only one escape parser directive can be used"
    );
    // A BOM before the directives is ignored.
    assert_eq!(df("\u{feff}# escape=`\nFROM a\n").escape, '`');
}

#[test]
fn exec_and_shell_forms() {
    assert_eq!(
        one("RUN [\"echo\", \"a b\"]"),
        Kind::Run {
            flags: Flags::default(),
            cmd: exec(&["echo", "a b"]),
            heredocs: vec![]
        }
    );
    // Not valid JSON: shell form, as docker does.
    assert_eq!(one("CMD [echo, hi]"), Kind::Cmd(shell("[echo, hi]")));
    assert_eq!(one("CMD [\"a\"] extra"), Kind::Cmd(shell("[\"a\"] extra")));
    assert_eq!(one("ENTRYPOINT []"), Kind::Entrypoint(exec(&[])));
    assert_eq!(one("CMD"), Kind::Cmd(shell("")));
    assert!(err("FROM a\nCMD [\"a\", 1]").contains("arrays must be comprised of strings only"));
    assert_eq!(
        one("SHELL [\"/bin/bash\", \"-c\"]"),
        Kind::Shell(vec!["/bin/bash".into(), "-c".into()])
    );
    assert!(
        err("FROM a\nSHELL /bin/sh -c").contains("SHELL requires the arguments to be in JSON form")
    );
}

#[test]
fn from_forms_and_errors() {
    let d = df("ARG V=1\nFROM --platform=linux/amd64 img:$V as base\n");
    assert_eq!(
        d.instructions[1].kind,
        Kind::From {
            flags: Flags(vec![flag("platform", Some("linux/amd64"))]),
            image: "img:$V".into(),
            alias: Some("base".into())
        }
    );
    assert_eq!(
        err("FROM"),
        "Dockerfile:1: FROM requires either one or three arguments"
    );
    assert!(err("FROM a b").contains("FROM requires either one or three arguments"));
    assert!(err("FROM a AS").contains("one or three"));
    assert!(err("FROM a IS b").contains("one or three"));
    assert!(err("FROM a AS 1x").contains("invalid name for build stage"));
    assert_eq!(
        err("RUN x\nFROM a"),
        "Dockerfile:1: no build stage in current context: RUN before the first FROM (only ARG may come before FROM)"
    );
    assert!(err("ARG a\n").contains("no stages to build"));
    assert!(err("# only\n\n").contains("file with no instructions"));
    assert_eq!(
        err("FROM a\nFOO bar"),
        "Dockerfile:2: unknown instruction: FOO"
    );
}

#[test]
fn env_label_arg() {
    assert_eq!(
        one("ENV a=1 b=\"x y\" c=z\\ w"),
        Kind::Env(pairs(&[("a", "1"), ("b", "\"x y\""), ("c", "z\\ w")]))
    );
    assert_eq!(one("ENV k v  w"), Kind::Env(pairs(&[("k", "v  w")])));
    assert_eq!(
        one("ENV a= b=''"),
        Kind::Env(pairs(&[("a", ""), ("b", "''")]))
    );
    assert_eq!(
        one("LABEL \"com.x y\"=\"v 1\" 'q'=2"),
        Kind::Label(pairs(&[("\"com.x y\"", "\"v 1\""), ("'q'", "2")]))
    );
    assert_eq!(
        one("ARG a=1 b \"c\"=\"x y\""),
        Kind::Arg(vec![
            ("a".into(), Some("1".into())),
            ("b".into(), None),
            ("\"c\"".into(), Some("\"x y\"".into()))
        ])
    );
    assert!(err("FROM a\nENV").contains("ENV requires at least one argument"));
    assert!(err("FROM a\nENV k").contains("ENV must have two arguments"));
    assert!(err("FROM a\nENV a=1 b").contains("can't find = in \"b\""));
    assert!(err("FROM a\nLABEL =x").contains("LABEL names can not be blank"));
    assert!(err("FROM a\nARG =x").contains("ARG names can not be blank"));
    assert!(err("FROM a\nARG").contains("ARG requires at least one argument"));
}

#[test]
fn simple_instructions() {
    assert_eq!(
        body(
            "MAINTAINER Jane <j@x>\nUSER app:app\nWORKDIR /a b\nSTOPSIGNAL SIGTERM\nEXPOSE 80 443/udp $P\nVOLUME [\"/data\", \"/x\"]\nVOLUME /a  /b"
        ),
        [
            Kind::Maintainer("Jane <j@x>".into()),
            Kind::User("app:app".into()),
            Kind::Workdir("/a b".into()),
            Kind::Stopsignal("SIGTERM".into()),
            Kind::Expose(vec!["80".into(), "443/udp".into(), "$P".into()]),
            Kind::Volume(vec!["/data".into(), "/x".into()]),
            Kind::Volume(vec!["/a".into(), "/b".into()]),
        ]
    );
    assert!(err("FROM a\nUSER").contains("USER requires exactly one argument"));
    assert!(err("FROM a\nworkdir").contains("WORKDIR requires exactly one argument"));
    assert!(err("FROM a\nEXPOSE").contains("EXPOSE requires at least one argument"));
    assert!(err("FROM a\nVOLUME [\"\"]").contains("VOLUME specified can not be an empty string"));
}

#[test]
fn copy_and_add() {
    assert_eq!(
        one("COPY --from=build --chown=1:1 --link a b /dst/"),
        Kind::Copy {
            flags: Flags(vec![
                flag("from", Some("build")),
                flag("chown", Some("1:1")),
                flag("link", None)
            ]),
            sources: vec!["a".into(), "b".into()],
            dest: "/dst/".into(),
            heredocs: vec![]
        }
    );
    assert_eq!(
        one("ADD [\"a b\", \"/c d\"]"),
        Kind::Add {
            flags: Flags::default(),
            sources: vec!["a b".into()],
            dest: "/c d".into(),
            heredocs: vec![]
        }
    );
    match one("COPY --exclude=*.md --exclude='*.txt' . /app") {
        Kind::Copy { flags, .. } => assert_eq!(flags.all("exclude"), ["*.md", "*.txt"]),
        k => panic!("{k:?}"),
    }
    assert!(err("FROM a\nCOPY onlyone").contains("COPY requires at least two arguments"));
    assert!(err("FROM a\nADD").contains("ADD requires at least two arguments"));
}

#[test]
fn flags_validation() {
    assert_eq!(
        err("FROM a\nCOPY --foo=1 a b"),
        "Dockerfile:2: unknown flag: --foo"
    );
    assert_eq!(
        err("FROM a\nENV --x=1 a=b"),
        "Dockerfile:2: unknown flag: --x"
    );
    assert!(err("FROM a\nCOPY --from a b").contains("missing a value on flag: --from"));
    assert!(err("FROM a\nCOPY --link=maybe a b").contains("expecting boolean value"));
    assert!(err("FROM a\nCOPY --from=a --from=b a b").contains("duplicate flag specified: --from"));
    match one(
        "RUN --mount=type=cache,target=/root/.cache --mount=\"type=secret,id=x\" --network=none -- make",
    ) {
        Kind::Run { flags, cmd, .. } => {
            assert_eq!(
                flags.all("mount"),
                ["type=cache,target=/root/.cache", "type=secret,id=x"]
            );
            assert_eq!(flags.get("network"), Some("none"));
            assert_eq!(cmd, shell("make"));
        }
        k => panic!("{k:?}"),
    }
    // Flags only lead; a later `--x` belongs to the command.
    match one("RUN ls --all") {
        Kind::Run { flags, cmd, .. } => {
            assert!(flags.0.is_empty());
            assert_eq!(cmd, shell("ls --all"));
        }
        k => panic!("{k:?}"),
    }
    let f = Flags(vec![flag("link", Some("false")), flag("parents", None)]);
    assert!(!f.bool("link") && f.bool("parents") && !f.bool("other"));
}

#[test]
fn heredocs() {
    let d = df(
        "FROM a\nRUN <<EOF\necho $HOME\n  EOF\nEOF\nRUN python3 <<'PY' > out\nprint('x')\nPY\nCMD x\n",
    );
    assert_eq!(
        d.instructions[1].kind,
        Kind::Run {
            flags: Flags::default(),
            cmd: shell("<<EOF"),
            heredocs: vec![Heredoc {
                name: "EOF".into(),
                content: "echo $HOME\n  EOF\n".into(),
                expand: true,
                strip_tabs: false
            }]
        }
    );
    assert_eq!(d.instructions[1].original, "RUN <<EOF");
    match &d.instructions[2].kind {
        Kind::Run { cmd, heredocs, .. } => {
            assert_eq!(cmd, &shell("python3 <<'PY' > out"));
            assert_eq!(heredocs[0].name, "PY");
            assert!(!heredocs[0].expand);
        }
        k => panic!("{k:?}"),
    }
    assert_eq!(d.instructions[2].line, 6);
    assert_eq!(d.instructions[3].line, 9);
}

#[test]
fn several_heredocs_strip_tabs_and_copy() {
    let kinds = body(
        "COPY <<one <<-\"two\" /dst/\n1\none\n\t\t2\n\tx\n\ttwo\nRUN cat <<A && cat << B\na\nA\nb\nB\n",
    );
    match &kinds[0] {
        Kind::Copy {
            sources,
            dest,
            heredocs,
            ..
        } => {
            assert_eq!(sources, &["<<one", "<<-\"two\""]);
            assert_eq!(dest, "/dst/");
            assert_eq!(heredocs.len(), 2);
            assert_eq!(
                (heredocs[0].name.as_str(), heredocs[0].content.as_str()),
                ("one", "1\n")
            );
            assert!(heredocs[0].expand && !heredocs[0].strip_tabs);
            assert_eq!(
                (heredocs[1].name.as_str(), heredocs[1].content.as_str()),
                ("two", "2\nx\n")
            );
            assert!(!heredocs[1].expand && heredocs[1].strip_tabs);
        }
        k => panic!("{k:?}"),
    }
    match &kinds[1] {
        Kind::Run { heredocs, .. } => {
            let names: Vec<&str> = heredocs.iter().map(|h| h.name.as_str()).collect();
            assert_eq!(names, ["A", "B"]);
            assert_eq!(heredocs[1].content, "b\n");
        }
        k => panic!("{k:?}"),
    }
}

#[test]
fn heredoc_edge_cases() {
    // Quoted `<<` and JSON forms carry no heredoc; neither do other instructions.
    assert_eq!(body("RUN echo \"<<EOF\"\nCMD y").len(), 2);
    assert_eq!(body("RUN [\"cat\", \"<<EOF\"]\nCMD y").len(), 2);
    assert_eq!(body("CMD cat <<EOF\nCMD y").len(), 2);
    assert_eq!(
        err("FROM a\nRUN <<EOF\nnever ends\n"),
        "Dockerfile:2: unterminated heredoc: EOF"
    );
    assert!(
        err("FROM a\nCOPY a <<EOF\nx\nEOF\n").contains("cannot accept a heredoc as a destination")
    );
    assert_eq!(
        heredoc_word("2<<-  'E O'").map(|h| h.name),
        Some("E O".into())
    );
    assert_eq!(heredoc_word("<<"), None);
    assert_eq!(heredoc_word("a<<EOF"), None);
    assert_eq!(heredoc_word("<<a<b"), None);
    assert_eq!(heredoc_word("<<\"\""), None);
    assert_eq!(heredoc_name("<<-\"EOF\""), Some("EOF".into()));
    assert_eq!(heredoc_name("/etc/passwd"), None);
}

#[test]
fn onbuild() {
    let d = df("FROM a\nONBUILD RUN echo hi\nonbuild  COPY <<EOF /x\nbody\nEOF\nCMD y\n");
    assert_eq!(d.instructions[1].kind, Kind::Onbuild("RUN echo hi".into()));
    let Kind::Onbuild(text) = &d.instructions[2].kind else {
        panic!("{:?}", d.instructions[2].kind)
    };
    assert_eq!(text, "COPY <<EOF /x\nbody\nEOF");
    assert_eq!(d.instructions[3].line, 6);
    // The trigger parses back into the instruction it names.
    let inst = parse_instruction(text, 3, "Dockerfile", '\\').unwrap();
    match inst.kind {
        Kind::Copy { heredocs, .. } => assert_eq!(heredocs[0].content, "body\n"),
        k => panic!("{k:?}"),
    }
    assert!(
        err("FROM a\nONBUILD ONBUILD RUN x")
            .contains("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    );
    assert!(err("FROM a\nONBUILD from b").contains("FROM isn't allowed as an ONBUILD trigger"));
    assert!(err("FROM a\nONBUILD MAINTAINER me").contains("MAINTAINER isn't allowed"));
    assert_eq!(
        err("FROM a\nONBUILD BOGUS x"),
        "Dockerfile:2: unknown instruction: BOGUS"
    );
    assert!(err("FROM a\nONBUILD").contains("ONBUILD requires at least one argument"));
}

#[test]
fn parse_instruction_alone() {
    let i = parse_instruction("RUN a \\\n b", 7, "Dockerfile", '\\').unwrap();
    assert_eq!(i.line, 7);
    assert_eq!(i.original, "RUN a  b");
    let e = parse_instruction("", 3, "Dockerfile", '\\').unwrap_err();
    assert_eq!(e.line(), 3);
    assert!(parse_instruction("RUN a\nRUN b", 1, "Dockerfile", '\\').is_err());
    let e = parse_instruction("COPY x", 9, "child", '\\').unwrap_err();
    assert_eq!(
        e.to_string(),
        "child:9: COPY requires at least two arguments, but only one was provided. Destination could not be determined"
    );
}

#[test]
fn healthcheck() {
    assert_eq!(one("HEALTHCHECK NONE"), Kind::Healthcheck(Health::None));
    assert_eq!(
        one("HEALTHCHECK --interval=5s --retries=3 CMD curl -f http://x/ || exit 1"),
        Kind::Healthcheck(Health::Check {
            test: shell("curl -f http://x/ || exit 1"),
            interval: Some("5s".into()),
            timeout: None,
            start_period: None,
            start_interval: None,
            retries: Some("3".into()),
        })
    );
    match one("HEALTHCHECK cmd [\"true\"]") {
        Kind::Healthcheck(Health::Check { test, .. }) => assert_eq!(test, exec(&["true"])),
        k => panic!("{k:?}"),
    }
    assert!(err("FROM a\nHEALTHCHECK NONE x").contains("HEALTHCHECK NONE takes no arguments"));
    assert!(err("FROM a\nHEALTHCHECK CMD").contains("Missing command after HEALTHCHECK CMD"));
    assert!(err("FROM a\nHEALTHCHECK CMD []").contains("Missing command"));
    assert!(
        err("FROM a\nHEALTHCHECK RUN x").contains("Unknown type \"RUN\" in HEALTHCHECK (try CMD)")
    );
    assert!(err("FROM a\nHEALTHCHECK --retries=-1 CMD x").contains("--retries"));
    assert!(err("FROM a\nHEALTHCHECK --bogus=1 CMD x").contains("unknown flag: --bogus"));
    assert!(err("FROM a\nHEALTHCHECK").contains("HEALTHCHECK requires at least one argument"));
}

#[test]
fn word_helpers() {
    assert_eq!(
        words_keeping_quotes(r#"a="x y" b='p q' c=d\ e "" f"#, '\\'),
        [r#"a="x y""#, "b='p q'", r"c=d\ e", r#""""#, "f"]
    );
    assert_eq!(words_keeping_quotes("  ", '\\'), Vec::<String>::new());
    let (flags, rest) = extract_flags("--a=\"x y\" --b=c\\ d  rest of it", '\\');
    assert_eq!(flags, ["--a=x y", "--b=c d"]);
    assert_eq!(rest, "rest of it");
    assert_eq!(stage_name("Build-1.x"), Some("build-1.x".into()));
    assert_eq!(stage_name("-x"), None);
}
