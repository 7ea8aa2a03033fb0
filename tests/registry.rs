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
    assert_eq!(out.status.code(), Some(1), "skiff {args:?}: {err}");
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
    // To another repository of the same registry: the layer is mounted, not sent again.
    let sibling = format!("{}/other/app:1", reg.host);
    ok(&env, &["tag", &name, &sibling]);
    let mounted = run(&env, &["push", &sibling]);
    assert!(mounted.status.success(), "{}", stderr(&mounted));
    assert!(
        stderr(&mounted).contains("Mounted from team/app"),
        "{}",
        stderr(&mounted)
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

    // Registry errors: one line, exit 1, the store unchanged.
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
    assert_eq!(out.status.code(), Some(1));
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
    // A corrupt tarball: one line, exit 1, nothing added.
    let junk = env.dir.path().join("junk.tar");
    std::fs::write(&junk, b"not a tar at all").expect("junk");
    let before = image_count(&env);
    env.fails(
        &["load", "-i", junk.to_str().expect("utf8")],
        1,
        "invalid archive",
    );
    assert_eq!(image_count(&env), before);
}

/// A one-layer image of `mb` MB that gzip cannot shrink, so its pull takes a while.
fn import_big_image(env: &Env, name: &str, mb: usize) {
    let mut data = vec![0u8; mb * 1_000_000];
    // xorshift: incompressible and quick, with no randomness crate.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let bytes = x.to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
    let mut tar_bytes = Vec::new();
    {
        let mut b = tar::Builder::new(&mut tar_bytes);
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, "big.bin", &data[..]).expect("tar");
        b.finish().expect("tar");
    }
    let mut child = env
        .cmd(&["import", "-", name])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("import");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&tar_bytes)
        .expect("write");
    assert!(child.wait().expect("wait").success());
}

fn scratch_dirs(env: &Env) -> Vec<String> {
    std::fs::read_dir(env.root.join("tmp"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn killed_pull_leaves_no_image_and_the_next_pull_succeeds() {
    if !require_root() || !have_registry() {
        return;
    }
    let reg = Registry::start(false, false);
    let env = Env::root();
    let name = format!("{}/big/blob:1", reg.host);
    import_big_image(&env, &name, 64);
    ok(&env, &["push", &name]);

    let other = Env::root();
    let mut pull = other
        .cmd(&["pull", "-q", &name])
        .env("XDG_RUNTIME_DIR", other.dir.path())
        .spawn()
        .expect("pull");
    // Kill it once its layer is on the way: a scratch dir with some of the blob in it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut midway = false;
    while std::time::Instant::now() < deadline {
        let started = scratch_dirs(&other).iter().any(|d| {
            d.starts_with("pull-")
                && std::fs::metadata(other.root.join("tmp").join(d).join("blob"))
                    .is_ok_and(|m| m.len() > 0)
        });
        if started {
            midway = true;
            break;
        }
        if pull.try_wait().expect("try_wait").is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let _ = pull.kill();
    let _ = pull.wait();
    if midway {
        assert!(
            !other
                .ok(&["images", "--format", "{{.Repository}}"])
                .contains("big/blob"),
            "a killed pull registered the image"
        );
    }
    // The next pull sweeps the dead one's scratch, then succeeds.
    ok(&other, &["pull", "-q", &name]);
    assert!(
        scratch_dirs(&other).iter().all(|d| !d.starts_with("pull-")),
        "scratch left behind: {:?}",
        scratch_dirs(&other)
    );
    let size: u64 = ok(&other, &["image", "inspect", "-f", "{{.Size}}", &name])
        .parse()
        .expect("size");
    assert!(size >= 64_000_000, "size {size}");
    eprintln!("killed midway: {midway}");
}

#[test]
fn export_is_the_merged_tree_without_mounts() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let name = format!("exp-{}", std::process::id());
    let vol = env.dir.path().join("vol");
    std::fs::create_dir(&vol).expect("vol");
    std::fs::write(vol.join("secret"), b"not in the export").expect("write");
    let bind = format!("{}:/data", vol.display());
    env.ok(&[
        "run", "-d", "--name", &name, "-v", &bind, "busybox", "sleep", "60",
    ]);
    env.ok(&["exec", &name, "sh", "-c", "echo new > /added && rm /bin/ls"]);
    let list = |file: &std::path::Path| -> Vec<String> {
        let mut a = tar::Archive::new(std::fs::File::open(file).expect("open"));
        a.entries()
            .expect("entries")
            .map(|e| {
                e.expect("entry")
                    .path()
                    .expect("path")
                    .display()
                    .to_string()
            })
            .collect()
    };
    let running = env.dir.path().join("running.tar");
    env.ok(&["export", "-o", running.to_str().expect("utf8"), &name]);
    env.ok(&["stop", "-t", "0", &name]);
    let stopped = env.dir.path().join("stopped.tar");
    let out = env.cmd(&["export", &name]).output().expect("export");
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(&stopped, &out.stdout).expect("write");
    for file in [&running, &stopped] {
        let names = list(file);
        assert!(names.iter().any(|n| n == "added"), "{names:?}");
        assert!(names.iter().any(|n| n == "bin/sh"), "{names:?}");
        assert!(
            !names.iter().any(|n| n == "bin/ls"),
            "deleted file exported"
        );
        assert!(names.iter().any(|n| n == "data"), "mountpoint missing");
        assert!(
            !names.iter().any(|n| n.starts_with("data/")),
            "volume content exported"
        );
        assert!(
            !names.iter().any(|n| n.starts_with("proc/")),
            "/proc exported"
        );
    }
    // The export imports back as an image that runs.
    let img = format!("exported-{}", std::process::id());
    env.ok(&["import", stopped.to_str().expect("utf8"), &img]);
    assert_eq!(env.ok(&["run", "--rm", &img, "cat", "/added"]), "new");
    // Bad input: an unknown container; a failed export leaves no file.
    let missing = env.dir.path().join("missing.tar");
    env.fails(
        &[
            "export",
            "-o",
            missing.to_str().expect("utf8"),
            "no-such-ctr",
        ],
        1,
        "No such container",
    );
    assert!(
        std::fs::read_dir(env.dir.path())
            .expect("dir")
            .flatten()
            .all(|e| !e.file_name().to_string_lossy().starts_with("missing.tar"))
    );
    env.ok(&["rm", &name]);
}

#[test]
fn save_load_round_trips_through_skopeo() {
    if !require_root() {
        return;
    }
    if std::process::Command::new("skopeo")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipping: skopeo is not installed (.ci/run installs it)");
        return;
    }
    let env = Env::root();
    let dir = env.dir.path();
    let saved = dir.join("saved.tar");
    env.ok(&["save", "-o", saved.to_str().expect("utf8"), "busybox"]);
    // skopeo reads skiff's docker-archive and writes an oci-archive, which skiff loads;
    // then the other way: skiff's oci-archive through skopeo into a docker-archive.
    let skopeo = |from: String, to: String| {
        let out = std::process::Command::new("skopeo")
            .args(["--insecure-policy", "copy", "-q", &from, &to])
            .output()
            .expect("skopeo");
        assert!(
            out.status.success(),
            "skopeo copy {from} {to}: {}",
            stderr(&out)
        );
    };
    let oci = dir.join("via-skopeo-oci.tar");
    skopeo(
        format!("docker-archive:{}", saved.display()),
        format!("oci-archive:{}:busybox:latest", oci.display()),
    );
    let other = Env::root();
    other.ok(&["rmi", "busybox"]);
    other.ok(&["load", "-i", oci.to_str().expect("utf8")]);
    assert_eq!(other.ok(&["run", "--rm", "busybox", "echo", "oci"]), "oci");

    let saved_oci = dir.join("saved-oci.tar");
    env.ok(&[
        "save",
        "--format",
        "oci-archive",
        "-o",
        saved_oci.to_str().expect("utf8"),
        "busybox",
    ]);
    let docker = dir.join("via-skopeo-docker.tar");
    skopeo(
        // skiff names the image in index.json as podman does: the full reference.
        format!(
            "oci-archive:{}:docker.io/library/busybox:latest",
            saved_oci.display()
        ),
        format!("docker-archive:{}:busybox:latest", docker.display()),
    );
    let third = Env::root();
    third.ok(&["rmi", "busybox"]);
    third.ok(&["load", "-i", docker.to_str().expect("utf8")]);
    assert_eq!(
        third.ok(&["run", "--rm", "busybox", "echo", "docker"]),
        "docker"
    );
    // The same image all along: the config digest survives both round trips.
    let id = env.ok(&["inspect", "-f", "{{.Id}}", "busybox"]);
    assert_eq!(other.ok(&["inspect", "-f", "{{.Id}}", "busybox"]), id);
    assert_eq!(third.ok(&["inspect", "-f", "{{.Id}}", "busybox"]), id);
}

/// A token server for docker-registry's `auth: token` (the Docker Hub scheme): it answers
/// `GET /token?service=&scope=` with an RS256 JWT signed by `openssl dgst`, granting pull to
/// anyone and push only with the test user's Basic credentials. Serves until the test ends.
struct TokenServer {
    realm: String,
    /// Every request line and Authorization header seen, for the test to check.
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

fn b64url(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

fn query_values(query: &str, key: &str) -> Vec<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| {
            // The few escapes a scope has.
            v.replace("%3A", ":")
                .replace("%3a", ":")
                .replace("%2F", "/")
                .replace("%2f", "/")
                .replace("%2C", ",")
                .replace("%2c", ",")
        })
        .collect()
}

impl TokenServer {
    fn start(dir: &std::path::Path) -> TokenServer {
        use std::io::{BufRead, BufReader, Write};
        let (key, cert) = (dir.join("token.key"), dir.join("token.crt"));
        let status = std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=skiff-test-token"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl");
        assert!(status.success());
        let der = std::process::Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert)
            .output()
            .expect("openssl x509");
        use base64::Engine;
        let x5c = base64::engine::general_purpose::STANDARD.encode(&der.stdout);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let realm = format!("http://{}/token", listener.local_addr().expect("addr"));
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{REGISTRY_USER}:{REGISTRY_PASSWORD}"))
        );
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(&stream);
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    continue;
                }
                let mut auth = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':')
                        && k.eq_ignore_ascii_case("authorization")
                    {
                        auth = v.trim().to_string();
                    }
                }
                let target = request.split_whitespace().nth(1).unwrap_or("").to_string();
                log.lock()
                    .expect("log")
                    .push(format!("{target} auth={auth}"));
                let query = target.split_once('?').map_or("", |(_, q)| q);
                let mut out = &stream;
                let authenticated = auth == basic;
                if !auth.is_empty() && !authenticated {
                    let _ = out.write_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    continue;
                }
                let access: Vec<serde_json::Value> = query_values(query, "scope")
                    .iter()
                    .filter_map(|s| {
                        let mut p = s.splitn(3, ':');
                        let (kind, name, actions) = (p.next()?, p.next()?, p.next()?);
                        let granted: Vec<&str> = actions
                            .split(',')
                            .filter(|a| *a == "pull" || authenticated)
                            .collect();
                        Some(serde_json::json!({"type": kind, "name": name, "actions": granted}))
                    })
                    .collect();
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .expect("time")
                    .as_secs();
                let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c]});
                let claims = serde_json::json!({
                    "iss": "skiff-test-issuer", "sub": if authenticated { REGISTRY_USER } else { "" },
                    "aud": "skiff-test-registry", "exp": now + 300, "nbf": now - 10, "iat": now,
                    "jti": format!("{now}-{}", access.len()), "access": access,
                });
                let signing_input = format!(
                    "{}.{}",
                    b64url(header.to_string().as_bytes()),
                    b64url(claims.to_string().as_bytes())
                );
                let mut sign = std::process::Command::new("openssl")
                    .args(["dgst", "-sha256", "-sign"])
                    .arg(&key)
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .expect("openssl dgst");
                sign.stdin
                    .take()
                    .expect("stdin")
                    .write_all(signing_input.as_bytes())
                    .expect("sign input");
                let signature = sign.wait_with_output().expect("signature").stdout;
                let token = format!("{signing_input}.{}", b64url(&signature));
                let body = serde_json::json!({"token": token}).to_string();
                let _ = out.write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                );
            }
        });
        TokenServer { realm, seen }
    }
}

#[test]
fn bearer_tokens_anonymous_pull_and_authenticated_push() {
    if !require_root() || !have_registry() {
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("skiff-registry-")
        .tempdir_in("/var/tmp")
        .expect("tempdir");
    let tokens = TokenServer::start(dir.path());
    let auth = format!(
        "auth:\n  token:\n    realm: {}\n    service: skiff-test-registry\n    issuer: skiff-test-issuer\n    rootcertbundle: {}\n",
        tokens.realm,
        dir.path().join("token.crt").display()
    );
    let reg = Registry::start_in(dir, false, false, &auth);
    let env = Env::root();
    let name = format!("{}/team/tokened:1", reg.host);
    ok(&env, &["tag", "busybox", &name]);
    // Anonymous tokens grant pull only: the push is refused.
    let out = run(&env, &["push", &name]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // A wrong password is refused by the token server.
    let mut wrong = env
        .cmd(&["login", "-u", REGISTRY_USER, "--password-stdin", &reg.host])
        .env("XDG_RUNTIME_DIR", env.dir.path())
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("login");
    use std::io::Write;
    wrong
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"wrong-password\n")
        .expect("write");
    let wrong = wrong.wait_with_output().expect("login");
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("incorrect username or password"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
    // With credentials, the token grants push.
    let mut login = env
        .cmd(&["login", "-u", REGISTRY_USER, "--password-stdin", &reg.host])
        .env("XDG_RUNTIME_DIR", env.dir.path())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("login");
    login
        .stdin
        .take()
        .expect("stdin")
        .write_all(REGISTRY_PASSWORD.as_bytes())
        .expect("write");
    assert!(login.wait().expect("login").success());
    ok(&env, &["push", &name]);
    let seen = tokens.seen.lock().expect("seen").clone();
    assert!(
        seen.iter().any(
            |l| l.contains("scope=repository%3Ateam%2Ftokened%3Apull%2Cpush")
                || l.contains("scope=repository:team/tokened:pull,push")
        ),
        "{seen:?}"
    );
    // A fresh store with no credentials pulls with an anonymous token and runs it.
    let other = Env::root();
    ok(&other, &["pull", "-q", &name]);
    assert_eq!(
        other.ok(&["run", "--rm", &name, "echo", "bearer"]),
        "bearer"
    );
    // The password never reached the token server other than in the Basic header.
    assert!(seen.iter().all(|l| !l.contains(REGISTRY_PASSWORD)));
}

#[test]
fn pull_progress_is_live_on_a_terminal_and_plain_otherwise() {
    if !require_root() || !have_registry() {
        return;
    }
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIP: script is missing (util-linux)");
        return;
    }
    let reg = Registry::start(false, false);
    let env = Env::root();
    // A layer no fresh store has (each imports busybox).
    let name = format!("{}/progress/img:1", reg.host);
    import_big_image(&env, &name, 8);
    ok(&env, &["push", &name]);

    // Not a terminal: status lines, no escape sequences.
    let plain = Env::root();
    let out = run(&plain, &["pull", &name]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(": Pull complete"), "{err}");
    assert!(
        !err.contains('\x1b'),
        "escape codes without a terminal: {err:?}"
    );

    // On a terminal (script(1) gives it a pty): the layer's line is redrawn in place.
    let live = Env::root();
    let line = format!(
        "{} --root {} --runroot {} pull {name}",
        common::binary().display(),
        live.root.display(),
        live.runroot.display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("XDG_RUNTIME_DIR", live.dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script");
    assert!(out.status.success(), "{}", stdout(&out));
    let screen = stdout(&out);
    assert!(screen.contains("\x1b[1A\x1b[2K"), "no redraw: {screen:?}");
    assert!(screen.contains("Pull complete"), "{screen:?}");
    // With -q: nothing on stderr at all.
    let quiet = Env::root();
    let out = run(&quiet, &["pull", "-q", &name]);
    assert!(out.status.success());
    assert_eq!(stderr(&out), "");
}

#[test]
fn search_lists_a_private_registrys_catalog() {
    if !require_root() || !have_registry() {
        return;
    }
    let reg = Registry::start(false, false);
    let env = Env::root();
    for repo in ["busyapps/one:1", "busyapps/two:1", "tools/other:1"] {
        let name = format!("{}/{repo}", reg.host);
        ok(&env, &["tag", "busybox", &name]);
        ok(&env, &["push", "-q", &name]);
    }
    let out = ok(&env, &["search", &format!("{}/busy", reg.host)]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("STARS"),
        "{out}"
    );
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[1].starts_with(&format!("{}/busyapps/one", reg.host)),
        "{out}"
    );
    let limited = ok(
        &env,
        &[
            "search",
            "--limit",
            "1",
            "--format",
            "{{.Name}}",
            &format!("{}/busy", reg.host),
        ],
    );
    assert_eq!(limited.lines().count(), 1);
    let none = ok(
        &env,
        &[
            "search",
            "--format",
            "{{.Name}}",
            &format!("{}/nothing-like-it", reg.host),
        ],
    );
    assert!(none.trim().is_empty());
    // An unreachable registry: one clear line.
    let down = run(&env, &["search", "127.0.0.1:1/busy"]);
    assert_eq!(down.status.code(), Some(1));
    assert!(stderr(&down).contains("127.0.0.1:1"), "{}", stderr(&down));
    let bad = run(
        &env,
        &["search", "--limit", "0", &format!("{}/busy", reg.host)],
    );
    assert!(stderr(&bad).contains("--limit"), "{}", stderr(&bad));
}
