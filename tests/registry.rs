//! Against a real registry (Debian's docker-registry on 127.0.0.1): import -> tag -> push ->
//! rmi -> pull -> run, Basic auth with login/logout, TLS with a per-registry CA, manifest
//! lists, a corrupt blob, and registry errors.

mod common;

use std::process::Output;

use common::{
    Env, REGISTRY_PASSWORD, REGISTRY_USER, Registry, have_registry, require_root, stderr, stdout,
};

/// A skiff command with its own XDG_RUNTIME_DIR, so credentials stay in this test's dir.
fn run(env: &Env, args: &[&str]) -> Output {
    env.cmd(args)
        .env("XDG_RUNTIME_DIR", env.dir.path())
        .output()
        .expect("skiff")
}

fn ok(env: &Env, args: &[&str]) -> String {
    let out = run(env, args);
    assert!(out.status.success(), "skiff {args:?}: {}", stderr(&out));
    stdout(&out).trim().to_string()
}

fn fails(env: &Env, args: &[&str], needle: &str) -> String {
    let out = run(env, args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(125), "skiff {args:?}: {err}");
    assert!(
        err.contains(needle),
        "skiff {args:?}: expected {needle:?} in {err:?}"
    );
    err
}

fn image_count(env: &Env) -> usize {
    env.ok(&["images", "-q"]).lines().count()
}

#[test]
fn push_rmi_pull_run_round_trip() {
    if !require_root() || !have_registry() {
        return;
    }
    let reg = Registry::start(false, false);
    let env = Env::root();
    let name = format!("{}/team/app:1.2", reg.host);
    ok(&env, &["tag", "busybox", &name]);
    let pushed = ok(&env, &["push", &name]);
    assert!(pushed.starts_with("1.2: digest: sha256:"), "{pushed}");
    // Pushing again uploads nothing.
    let again = run(&env, &["push", &name]);
    assert!(
        stderr(&again).contains("Layer already exists"),
        "{}",
        stderr(&again)
    );

    // A fresh store pulls it and runs it.
    let other = Env::root();
    assert_eq!(
        ok(&other, &["pull", "-q", &name]),
        format!("{}/team/app:1.2", reg.host)
    );
    assert_eq!(
        other.ok(&["run", "--rm", &name, "echo", "pulled"]),
        "pulled"
    );
    let digest = pushed
        .split_whitespace()
        .nth(2)
        .expect("digest")
        .to_string();
    assert_eq!(
        other.ok(&["inspect", "-f", "{{.Id}}", &name]),
        env.ok(&["inspect", "-f", "{{.Id}}", "busybox"]),
        "the same image id on both sides"
    );
    // By digest, too; and pulling what is there skips the layers.
    let by_digest = format!("{}/team/app@{digest}", reg.host);
    let out = run(&other, &["pull", &by_digest]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("Already exists"), "{}", stderr(&out));

    // rmi, then run pulls it back (--pull=missing, the default).
    other.ok(&["rmi", &name]);
    let out = other.run(&["run", "--rm", &name, "echo", "again"]);
    assert_eq!(stdout(&out).trim(), "again", "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Unable to find image"),
        "{}",
        stderr(&out)
    );
    // --pull=never refuses to.
    other.ok(&["rmi", &name]);
    other.fails(
        &["run", "--rm", "--pull=never", &name, "true"],
        125,
        "No such image",
    );

    // Registry errors: one line, exit 125, the store unchanged.
    let before = image_count(&other);
    fails(
        &other,
        &["pull", &format!("{}/team/nope:1", reg.host)],
        "not found",
    );
    fails(
        &other,
        &["pull", "127.0.0.1:1/x:1"],
        "cannot reach the registry",
    );
    fails(&other, &["pull", "UPPER/case"], "invalid reference format");
    assert_eq!(image_count(&other), before);
}

#[test]
fn basic_auth_login_logout() {
    if !require_root() || !have_registry() {
        return;
    }
    let reg = Registry::start(true, false);
    let env = Env::root();
    let name = format!("{}/private/app:1", reg.host);
    ok(&env, &["tag", "busybox", &name]);
    fails(&env, &["push", &name], "log in first");
    // A wrong password: refused, and never echoed.
    let out = env
        .cmd(&["login", "-u", REGISTRY_USER, "--password-stdin", &reg.host])
        .env("XDG_RUNTIME_DIR", env.dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .expect("stdin")
                .write_all(b"wrong-password\n")?;
            c.wait_with_output()
        })
        .expect("login");
    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    assert!(
        err.contains("incorrect username or password") && !err.contains("wrong-password"),
        "{err}"
    );

    let login = |pw: &str| {
        env.cmd(&["login", "-u", REGISTRY_USER, "--password-stdin", &reg.host])
            .env("XDG_RUNTIME_DIR", env.dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().expect("stdin").write_all(pw.as_bytes())?;
                c.wait_with_output()
            })
            .expect("login")
    };
    let out = login(REGISTRY_PASSWORD);
    assert_eq!(stdout(&out).trim(), "Login Succeeded", "{}", stderr(&out));
    let auth = env.dir.path().join("containers/auth.json");
    let text = std::fs::read_to_string(&auth).expect("auth.json");
    assert!(
        text.contains(&reg.host) && !text.contains(REGISTRY_PASSWORD),
        "stored encoded: {text}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&auth).expect("meta").permissions().mode() & 0o777,
        0o600
    );
    ok(&env, &["push", &name]);
    env.ok(&["rmi", &name]);
    ok(&env, &["pull", "-q", &name]);
    assert_eq!(
        ok(&env, &["logout", &reg.host]),
        format!("Removing login credentials for {}", reg.host)
    );
    env.ok(&["rmi", &name]);
    fails(&env, &["pull", &name], "log in first");
}

#[test]
fn tls_with_a_registry_ca() {
    if !require_root() || !have_registry() {
        return;
    }
    let reg = Registry::start(false, true);
    let env = Env::root();
    let name = format!("{}/secure/app:1", reg.host);
    ok(&env, &["tag", "busybox", &name]);
    // /etc/containers/certs.d/<host>/ca.crt makes the self-signed certificate trusted.
    ok(&env, &["push", &name]);
    env.ok(&["rmi", &name]);
    ok(&env, &["pull", "-q", &name]);
    assert_eq!(env.ok(&["run", "--rm", &name, "echo", "tls"]), "tls");
}

#[test]
fn manifest_list_picks_this_platform() {
    if !require_root() || !have_registry() {
        return;
    }
    let reg = Registry::start(false, false);
    let env = Env::root();
    let single = format!("{}/multi/app:single", reg.host);
    ok(&env, &["tag", "busybox", &single]);
    let pushed = ok(&env, &["push", &single]);
    let digest = pushed
        .split_whitespace()
        .nth(2)
        .expect("digest")
        .to_string();
    let size: u64 = pushed
        .split_whitespace()
        .nth(4)
        .expect("size")
        .parse()
        .expect("n");
    // An OCI index with an arm64 entry first and ours second.
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size,
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size,
             "platform": {"os": "linux", "architecture": "amd64"}},
        ]
    });
    let resp = ureq::put(format!("http://{}/v2/multi/app/manifests/list", reg.host))
        .header("Content-Type", "application/vnd.oci.image.index.v1+json")
        .send(serde_json::to_vec(&index).expect("json").as_slice())
        .expect("put index");
    assert_eq!(resp.status().as_u16(), 201);
    let other = Env::root();
    let list = format!("{}/multi/app:list", reg.host);
    ok(&other, &["pull", "-q", &list]);
    assert_eq!(
        other.ok(&["run", "--rm", &list, "echo", "from-list"]),
        "from-list"
    );
    let err = fails(
        &other,
        &["pull", "--platform", "linux/s390x", &list],
        "no image for platform linux/s390x",
    );
    assert!(err.contains("linux/arm64"), "{err}");
}

#[test]
fn corrupt_blob_is_refused_and_leaves_nothing() {
    if !require_root() || !have_registry() {
        return;
    }
    let reg = Registry::start(false, false);
    let env = Env::root();
    let name = format!("{}/bad/app:1", reg.host);
    // An image of its own (a layer no other store has), gzip-compressed.
    let tar_path = env.dir.path().join("unique.tar.gz");
    {
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&tar_path).expect("create"),
            flate2::Compression::fast(),
        );
        let mut b = tar::Builder::new(gz);
        let body = format!("unique to {}\n", reg.host).repeat(2000);
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_size(body.len() as u64);
        h.set_path("hello").expect("path");
        h.set_cksum();
        b.append(&h, body.as_bytes()).expect("append");
        b.into_inner().expect("tar").finish().expect("gz");
    }
    ok(&env, &["import", tar_path.to_str().expect("utf8"), &name]);
    ok(&env, &["push", &name]);
    // Flip bytes of the layer blob in the registry's storage.
    let manifest: serde_json::Value = {
        let body = ureq::get(format!("http://{}/v2/bad/app/manifests/1", reg.host))
            .header("Accept", "application/vnd.oci.image.manifest.v1+json")
            .call()
            .expect("manifest")
            .body_mut()
            .read_to_vec()
            .expect("body");
        serde_json::from_slice(&body).expect("json")
    };
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .expect("digest")
        .to_string();
    let file = reg.blob_file(&layer);
    let mut data = std::fs::read(&file).expect("blob");
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    std::fs::write(&file, data).expect("corrupt");

    let other = Env::root();
    let before = image_count(&other);
    fails(&other, &["pull", &name], "does not match its digest");
    assert_eq!(image_count(&other), before, "no image registered");
    // Nothing half-done: no scratch, no layer but busybox's own.
    let tmp: Vec<_> = std::fs::read_dir(other.root.join("tmp"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(tmp.is_empty(), "scratch left: {tmp:?}");
    let layers = std::fs::read_dir(other.root.join("overlay"))
        .expect("overlay")
        .count();
    assert_eq!(layers, 1, "only busybox's layer");
}

#[test]
fn save_load_round_trips_both_formats() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    for format in ["docker-archive", "oci-archive"] {
        let file = env.dir.path().join(format!("{format}.tar"));
        env.ok(&[
            "save",
            "--format",
            format,
            "-o",
            file.to_str().expect("utf8"),
            "busybox",
        ]);
        let other = Env::root();
        other.ok(&["rmi", "busybox"]);
        assert_eq!(
            other.ok(&["load", "-i", file.to_str().expect("utf8")]),
            "Loaded image: busybox:latest"
        );
        assert_eq!(
            other.ok(&["run", "--rm", "busybox", "echo", format]),
            format
        );
        assert_eq!(
            other.ok(&["inspect", "-f", "{{.Id}}", "busybox"]),
            env.ok(&["inspect", "-f", "{{.Id}}", "busybox"])
        );
    }
    // A corrupt tarball: one line, exit 125, nothing added.
    let junk = env.dir.path().join("junk.tar");
    std::fs::write(&junk, b"not a tar at all").expect("junk");
    let before = image_count(&env);
    env.fails(
        &["load", "-i", junk.to_str().expect("utf8")],
        125,
        "invalid archive",
    );
    assert_eq!(image_count(&env), before);
}
