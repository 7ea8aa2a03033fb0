//! Volumes and mounts, root and rootless: docker's tutorial flows verbatim (but the image),
//! copy-up, --volumes-from, rm -v, tmpfs, single-file binds, volume commands, cp, bad input.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::{Env, ensure_test_user, require_root, stderr, stdout};

fn volume_names(env: &Env) -> Vec<String> {
    env.ok(&["volume", "ls", "-q"])
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn docker_tutorial_data_volume_container_backup_and_restore() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    env.ok(&[
        "run",
        "-v",
        "/dbdata",
        "--name",
        "dbdata",
        "busybox",
        "sh",
        "-c",
        "echo x > /dbdata/f",
    ]);
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "--volumes-from",
            "dbdata",
            "busybox",
            "cat",
            "/dbdata/f"
        ]),
        "x"
    );
    // Transitive: db1 took dbdata's volume; a container taking db1's sees it too.
    env.ok(&[
        "run",
        "--name",
        "db1",
        "--volumes-from",
        "dbdata",
        "busybox",
        "true",
    ]);
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "--volumes-from",
            "db1",
            "busybox",
            "cat",
            "/dbdata/f"
        ]),
        "x"
    );

    // Backup into $(pwd) and restore into a second volume container.
    let pwd = env.dir.path().join("pwd");
    std::fs::create_dir(&pwd).expect("pwd");
    let backup = format!("{}:/backup", pwd.display());
    env.ok(&[
        "run",
        "--rm",
        "--volumes-from",
        "dbdata",
        "-v",
        &backup,
        "busybox",
        "tar",
        "cvf",
        "/backup/backup.tar",
        "/dbdata",
    ]);
    assert!(pwd.join("backup.tar").metadata().expect("backup.tar").len() > 0);
    env.ok(&[
        "run", "-v", "/dbdata", "--name", "dbstore2", "busybox", "true",
    ]);
    env.ok(&[
        "run",
        "--rm",
        "--volumes-from",
        "dbstore2",
        "-v",
        &backup,
        "busybox",
        "sh",
        "-c",
        "cd /dbdata && tar xvf /backup/backup.tar --strip 1",
    ]);
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "--volumes-from",
            "dbstore2",
            "busybox",
            "cat",
            "/dbdata/f"
        ]),
        "x"
    );

    // rm keeps the anonymous volume while db1 still uses it; rm -v of the last user removes it.
    let vol = env.ok(&["inspect", "-f", "{{(index .Mounts 0).Name}}", "dbdata"]);
    assert_eq!(
        vol.len(),
        64,
        "anonymous volumes are named by a 64-hex id: {vol}"
    );
    env.ok(&["rm", "-v", "dbdata"]);
    assert!(volume_names(&env).contains(&vol), "db1 still uses it");
    env.ok(&["rm", "db1"]);
    assert!(volume_names(&env).contains(&vol), "plain rm keeps it");
    env.ok(&["volume", "rm", &vol]);
    env.ok(&["rm", "-v", "dbstore2"]);
    assert!(volume_names(&env).is_empty(), "{:?}", volume_names(&env));
    env.assert_no_containers();
    env.assert_no_mounts();
}

/// A rootfs tarball with content under /data, for an image whose VOLUME is /data.
fn data_image_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o750);
    dir.set_uid(1000);
    dir.set_gid(1000);
    dir.set_size(0);
    dir.set_path("data/").expect("path");
    dir.set_cksum();
    b.append(&dir, &b""[..]).expect("dir");
    let mut f = tar::Header::new_gnu();
    f.set_mode(0o640);
    f.set_uid(1000);
    f.set_gid(1000);
    f.set_size(5);
    f.set_path("data/seed").expect("path");
    f.set_cksum();
    b.append(&f, &b"seed\n"[..]).expect("file");
    b.into_inner().expect("tar")
}

#[test]
fn data_packed_image_through_a_created_only_container() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let tar_path = env.dir.path().join("data.tar");
    std::fs::write(&tar_path, data_image_tar()).expect("tar");
    env.ok(&[
        "import",
        "--change",
        "VOLUME /data",
        "--change",
        "CMD [\"true\"]",
        tar_path.to_str().expect("utf8"),
        "datapack",
    ]);
    // Created, never started: the image's /data was copied into its volume at create,
    // with owner and mode.
    env.ok(&["create", "--name", "store", "datapack"]);
    let vol = env.ok(&["inspect", "-f", "{{(index .Mounts 0).Name}}", "store"]);
    let data = env.root.join("volumes").join(&vol).join("_data");
    let meta = std::fs::metadata(&data).expect("_data");
    assert_eq!((meta.uid(), meta.mode() & 0o777), (1000, 0o750));
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "--volumes-from",
            "store",
            "busybox",
            "sh",
            "-c",
            "cat /data/seed; stat -c '%u %a' /data/seed"
        ]),
        "seed\n1000 640"
    );
    assert_eq!(
        env.ok(&["inspect", "-f", "{{json .Config.Volumes}}", "store"]),
        "{\"/data\":{}}"
    );
    // nocopy: an empty volume, not the image's content.
    env.ok(&[
        "create",
        "--name",
        "nc",
        "-v",
        "empty:/data:nocopy",
        "datapack",
    ]);
    let empty = env.root.join("volumes/empty/_data");
    assert_eq!(std::fs::read_dir(&empty).expect("_data").count(), 0);
    env.ok(&["rm", "-v", "store", "nc"]);
    env.ok(&["volume", "rm", "empty"]);
    assert!(volume_names(&env).is_empty(), "{:?}", volume_names(&env));
}

#[test]
fn ro_tmpfs_single_file_and_named_volumes() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    // :ro refuses writes.
    let out = env.run(&[
        "run",
        "--rm",
        "-v",
        "ro-vol:/data:ro",
        "busybox",
        "touch",
        "/data/x",
    ]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    // A named volume is created on first use and keeps data across containers.
    env.ok(&[
        "run",
        "--rm",
        "-v",
        "keep:/k",
        "busybox",
        "sh",
        "-c",
        "echo kept > /k/f",
    ]);
    assert_eq!(
        env.ok(&["run", "--rm", "-v", "keep:/k", "busybox", "cat", "/k/f"]),
        "kept"
    );
    // A single-file bind mount, read-only.
    let host_file = env.dir.path().join("conf.txt");
    std::fs::write(&host_file, "from host\n").expect("write");
    let spec = format!("{}:/etc/app.conf:ro", host_file.display());
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "-v",
            &spec,
            "busybox",
            "cat",
            "/etc/app.conf"
        ]),
        "from host"
    );
    // --mount type=tmpfs is a tmpfs of the given size; --tmpfs too.
    let mounts = env.ok(&[
        "run",
        "--rm",
        "--mount",
        "type=tmpfs,destination=/scratch,tmpfs-size=1m",
        "--tmpfs",
        "/run:size=2m",
        "busybox",
        "sh",
        "-c",
        "grep -E ' /(scratch|run) ' /proc/mounts",
    ]);
    assert!(
        mounts.contains("tmpfs /scratch tmpfs") && mounts.contains("size=1024k"),
        "{mounts}"
    );
    assert!(
        mounts.contains("tmpfs /run tmpfs") && mounts.contains("noexec"),
        "{mounts}"
    );
    // -v makes a missing host directory; --mount type=bind refuses a missing source.
    let missing = env.dir.path().join("made-by-v");
    env.ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/m", missing.display()),
        "busybox",
        "true",
    ]);
    assert!(missing.is_dir());
    env.fails(
        &[
            "run",
            "--rm",
            "--mount",
            &format!(
                "type=bind,source={}/nope,target=/m",
                env.dir.path().display()
            ),
            "busybox",
            "true",
        ],
        125,
        "bind source path does not exist",
    );
    // Files written by the container land in the volume's _data.
    assert_eq!(
        std::fs::read_to_string(env.root.join("volumes/keep/_data/f")).expect("f"),
        "kept\n"
    );
    // inspect: docker's Mounts shape.
    env.ok(&[
        "create",
        "--name",
        "shape",
        "-v",
        "keep:/k:ro",
        "-v",
        &format!("{}:/b", missing.display()),
        "busybox",
    ]);
    let m: serde_json::Value =
        serde_json::from_str(&env.ok(&["inspect", "-f", "{{json .Mounts}}", "shape"]))
            .expect("json");
    assert_eq!(m[0]["Type"], "volume");
    assert_eq!(m[0]["Name"], "keep");
    assert_eq!(m[0]["Driver"], "local");
    assert_eq!(m[0]["RW"], false);
    assert_eq!(m[0]["Mode"], "ro");
    assert_eq!(m[1]["Type"], "bind");
    assert_eq!(m[1]["Propagation"], "rprivate");
    assert_eq!(m[1]["Source"], missing.display().to_string());
    // volume rm refuses a volume a (stopped) container uses; prune keeps named ones.
    env.fails(&["volume", "rm", "keep"], 1, "volume is in use");
    env.ok(&["rm", "shape"]);
    env.ok(&["volume", "prune", "-f"]);
    assert!(volume_names(&env).contains(&"keep".to_string()));
    let v: serde_json::Value =
        serde_json::from_str(&env.ok(&["volume", "inspect", "keep"])).expect("json");
    assert_eq!(v[0]["Name"], "keep");
    assert_eq!(v[0]["Driver"], "local");
    assert_eq!(v[0]["Scope"], "local");
    assert!(
        v[0]["Mountpoint"]
            .as_str()
            .is_some_and(|p| p.ends_with("/volumes/keep/_data"))
    );
    env.ok(&["volume", "prune", "-af"]);
    assert!(volume_names(&env).is_empty());
    env.assert_no_containers();
    env.assert_no_mounts();
}

#[test]
fn volume_commands() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    assert_eq!(
        env.ok(&["volume", "create", "--label", "team=a", "v1"]),
        "v1"
    );
    assert_eq!(env.ok(&["volume", "create", "v1"]), "v1", "idempotent");
    env.ok(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=1m",
        "t1",
    ]);
    let anon = env.ok(&["volume", "create"]);
    assert_eq!(anon.len(), 64);
    let out = env.ok(&["volume", "ls"]);
    assert!(out.starts_with("DRIVER    VOLUME NAME"), "{out}");
    assert_eq!(
        env.ok(&["volume", "ls", "-q", "--filter", "label=team=a"]),
        "v1"
    );
    assert_eq!(env.ok(&["volume", "ls", "-q", "--filter", "name=t1"]), "t1");
    env.ok(&["create", "--name", "user", "-v", "v1:/v", "busybox"]);
    let dangling = env.ok(&["volume", "ls", "-q", "--filter", "dangling=true"]);
    assert!(
        !dangling.contains("v1") && dangling.contains("t1"),
        "{dangling}"
    );
    // A tmpfs volume mounts as tmpfs.
    let m = env.ok(&[
        "run",
        "--rm",
        "-v",
        "t1:/t",
        "busybox",
        "grep",
        " /t ",
        "/proc/mounts",
    ]);
    assert!(m.starts_with("tmpfs /t tmpfs"), "{m}");
    assert_eq!(
        env.ok(&[
            "volume",
            "inspect",
            "-f",
            "{{.Options.type}} {{.Labels}}",
            "t1"
        ]),
        "tmpfs <no value>"
    );
    env.fails(&["volume", "rm", "v1"], 1, "volume is in use - [user]");
    env.fails(&["volume", "rm", "nope"], 1, "No such volume: nope");
    env.ok(&["volume", "rm", "-f", "nope"]);
    env.fails(&["volume", "create", "-d", "nfs", "x"], 1, "only local");
    env.fails(
        &["volume", "create", "-o", "type=ext4", "x"],
        1,
        "unsupported volume type",
    );
    env.fails(&["volume", "create", "bad/name"], 1, "invalid volume name");
    env.ok(&["rm", "user"]);
    env.ok(&["volume", "rm", "v1", "t1", &anon]);
    assert!(volume_names(&env).is_empty());
}

#[test]
fn bad_mounts_are_refused_and_leave_nothing() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    for (args, needle) in [
        (
            &["--mount", "type=bind,source=relative/dir,target=/x"][..],
            "absolute host path",
        ),
        (&["-v", "/a:relative"], "must be an absolute path"),
        (
            &["--mount", "type=volume,source=v,target=rel"],
            "must be an absolute path",
        ),
        (&["-v", "a:/b:xyz"], "unknown option \"xyz\""),
        (
            &["--volumes-from", "no-such-container"],
            "No such container: no-such-container",
        ),
        (
            &["-v", "made:/a", "-v", "other:/a"],
            "duplicate mount point",
        ),
        (&["--tmpfs", "/t:bogus"], "invalid --tmpfs"),
        (
            &["--mount", "type=tmpfs,target=/t,tmpfs-size=huge"],
            "tmpfs-size",
        ),
        (
            &["-v", "fresh:/f", "--name", "bad name"],
            "invalid container name",
        ),
    ] {
        let mut full = vec!["run", "--rm"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["busybox", "true"]);
        env.fails(&full, 125, needle);
    }
    assert!(
        volume_names(&env).is_empty(),
        "volumes left: {:?}",
        volume_names(&env)
    );
    env.assert_no_containers();
    env.ok(&[
        "run", "-d", "--name", "busy", "-v", "inuse:/x", "busybox", "sleep", "60",
    ]);
    env.fails(&["volume", "rm", "inuse"], 1, "volume is in use");
    env.ok(&["rm", "-f", "busy"]);
    env.ok(&["volume", "rm", "inuse"]);
}

#[test]
fn run_rm_removes_its_anonymous_volumes_only() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    env.ok(&[
        "run",
        "--rm",
        "-v",
        "/anon",
        "-v",
        "named:/n",
        "busybox",
        "sh",
        "-c",
        "touch /anon/x /n/y",
    ]);
    assert_eq!(volume_names(&env), vec!["named".to_string()]);
    env.ok(&[
        "run", "-d", "--rm", "--name", "dd", "-v", "/anon2", "busybox", "sleep", "60",
    ]);
    assert_eq!(volume_names(&env).len(), 2);
    env.ok(&["stop", "-t", "0", "dd"]);
    assert_eq!(volume_names(&env), vec!["named".to_string()]);
}

#[test]
fn cp_in_and_out_running_and_stopped() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let host = env.dir.path().join("host");
    std::fs::create_dir_all(host.join("tree/sub")).expect("tree");
    std::fs::write(host.join("tree/sub/a"), "A").expect("a");
    std::fs::write(host.join("file"), "F").expect("file");
    let h = |p: &str| host.join(p).display().to_string();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "box",
        "-v",
        "cpvol:/vol",
        "busybox",
        "sleep",
        "300",
    ]);

    // A file into an existing directory keeps its name; into a new name is renamed.
    env.ok(&["cp", &h("file"), "box:/tmp"]);
    env.ok(&["cp", &h("file"), "box:/tmp/renamed"]);
    assert_eq!(
        env.ok(&["exec", "box", "cat", "/tmp/file", "/tmp/renamed"]),
        "FF"
    );
    // A directory: copied into an existing one, created when missing, content with /.
    env.ok(&["cp", &h("tree"), "box:/tmp"]);
    env.ok(&["cp", &h("tree"), "box:/tmp/newtree"]);
    env.ok(&["exec", "box", "mkdir", "/tmp/dot"]);
    env.ok(&["cp", &format!("{}/.", h("tree")), "box:/tmp/dot"]);
    assert_eq!(
        env.ok(&[
            "exec",
            "box",
            "cat",
            "/tmp/tree/sub/a",
            "/tmp/newtree/sub/a",
            "/tmp/dot/sub/a"
        ]),
        "AAA"
    );
    // Into a volume: it lands in the volume's data on the host. Owned by container root.
    env.ok(&["cp", &h("file"), "box:/vol/"]);
    let in_vol = env.root.join("volumes/cpvol/_data/file");
    assert_eq!(std::fs::read_to_string(&in_vol).expect("in volume"), "F");
    // Docker's errors: a directory onto a file, a file into a missing directory.
    env.fails(
        &["cp", &h("tree"), "box:/tmp/file"],
        1,
        "cannot copy a directory to a file",
    );
    env.fails(&["cp", &h("file"), "box:/nope/dir/"], 1, "must exist");
    env.fails(
        &["cp", &h("missing"), "box:/tmp"],
        1,
        "could not find the file",
    );
    env.fails(
        &["cp", "box:/missing", &h("x")],
        1,
        "could not find the file",
    );
    env.fails(&["cp", &h("file"), &h("other")], 1, "needs a container");

    // Out of the container: a file, a directory, a tar stream.
    env.ok(&["cp", "box:/etc/passwd", &h("passwd")]);
    assert!(
        std::fs::read_to_string(host.join("passwd"))
            .expect("passwd")
            .contains("root:")
    );
    env.ok(&["cp", "box:/tmp/tree", &h("back")]);
    assert_eq!(
        std::fs::read_to_string(host.join("back/sub/a")).expect("a"),
        "A"
    );
    let out = env
        .cmd(&["cp", "box:/tmp/tree", "-"])
        .output()
        .expect("cp -");
    assert!(out.status.success());
    let names: Vec<String> = tar::Archive::new(&out.stdout[..])
        .entries()
        .expect("tar")
        .map(|e| {
            e.expect("entry")
                .path()
                .expect("path")
                .display()
                .to_string()
        })
        .collect();
    assert!(names.iter().any(|n| n == "tree/sub/a"), "{names:?}");

    // A link in the container pointing at a host path stays inside the container's root.
    env.ok(&["exec", "box", "ln", "-s", "/etc", "/tmp/etc-link"]);
    env.ok(&["cp", &h("file"), "box:/tmp/etc-link/"]);
    assert!(
        !Path::new("/etc/file").exists()
            || std::fs::read_to_string("/etc/file")
                .map(|s| s != "F")
                .unwrap_or(true)
    );
    assert_eq!(env.ok(&["exec", "box", "cat", "/etc/file"]), "F");

    // Stopped: still works, through the same volumes.
    env.ok(&["stop", "-t", "0", "box"]);
    env.ok(&["cp", &h("file"), "box:/stopped"]);
    env.ok(&["cp", "box:/vol/file", &h("from-stopped-volume")]);
    assert_eq!(
        std::fs::read_to_string(host.join("from-stopped-volume")).expect("f"),
        "F"
    );
    env.ok(&["start", "box"]);
    assert_eq!(env.ok(&["exec", "box", "cat", "/stopped"]), "F");
    env.ok(&["rm", "-f", "box"]);
    env.assert_no_mounts();
}

#[test]
fn rootless_volumes_belong_to_the_user() {
    if !require_root() {
        return;
    }
    let env = Env::rootless();
    let (uid, gid) = ensure_test_user();
    env.ok(&[
        "run",
        "--rm",
        "-v",
        "rl:/d",
        "busybox",
        "sh",
        "-c",
        "echo hi > /d/f; mkdir /d/sub; chown 1000:1000 /d/sub",
    ]);
    let data = env.root.join("volumes/rl/_data");
    assert_eq!(std::fs::metadata(data.join("f")).expect("f").uid(), uid);
    let sub_uid = common::test_user_subuid_start() + 999;
    assert_eq!(
        std::fs::metadata(data.join("sub")).expect("sub").uid(),
        sub_uid
    );
    // --volumes-from and rm -v work the same way rootless.
    env.ok(&[
        "run",
        "--name",
        "src",
        "-v",
        "/anon",
        "busybox",
        "sh",
        "-c",
        "echo a > /anon/a",
    ]);
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "--volumes-from",
            "src:ro",
            "busybox",
            "cat",
            "/anon/a"
        ]),
        "a"
    );
    env.ok(&["rm", "-v", "src"]);
    assert_eq!(volume_names(&env), vec!["rl".to_string()]);

    // A project directory of the user's, bind-mounted: a non-root container user cannot
    // write it, with :U it can (the directory now belongs to that user's mapped id).
    let project = env.dir.path().join("project");
    std::fs::create_dir(&project).expect("project");
    std::os::unix::fs::chown(&project, Some(uid), Some(gid)).expect("chown");
    let bind = format!("{}:/src", project.display());
    let out = env.run(&[
        "run", "--rm", "-u", "1000", "-v", &bind, "busybox", "touch", "/src/x",
    ]);
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
    let bind_u = format!("{}:/src:U", project.display());
    env.ok(&[
        "run", "--rm", "-u", "1000", "-v", &bind_u, "busybox", "touch", "/src/x",
    ]);
    assert_eq!(
        std::fs::metadata(project.join("x")).expect("x").uid(),
        sub_uid
    );

    // cp as the user.
    let f = env.dir.path().join("hostfile");
    std::fs::write(&f, "R").expect("write");
    std::os::unix::fs::chown(&f, Some(uid), Some(gid)).expect("chown");
    env.ok(&["run", "-d", "--name", "cc", "busybox", "sleep", "60"]);
    env.ok(&["cp", f.to_str().expect("utf8"), "cc:/tmp/"]);
    assert_eq!(env.ok(&["exec", "cc", "cat", "/tmp/hostfile"]), "R");
    env.ok(&["rm", "-f", "cc"]);
}

#[test]
fn rootless_keep_id_keeps_the_users_uid() {
    if !require_root() {
        return;
    }
    let env = Env::rootless();
    let (uid, gid) = ensure_test_user();
    let project = env.dir.path().join("kid-project");
    std::fs::create_dir(&project).expect("project");
    std::os::unix::fs::chown(&project, Some(uid), Some(gid)).expect("chown");
    let bind = format!("{}:/src", project.display());
    // The caller's uid inside; the image's files still belong to root.
    let out = env.ok(&[
        "run",
        "--rm",
        "--userns=keep-id",
        "-v",
        &bind,
        "busybox",
        "sh",
        "-c",
        "id -u; id -g; stat -c '%u' /bin/busybox /; touch /src/made-inside",
    ]);
    assert_eq!(out, format!("{uid}\n{gid}\n0\n0"));
    // What it wrote in the project belongs to the user on the host.
    assert_eq!(
        std::fs::metadata(project.join("made-inside"))
            .expect("made")
            .uid(),
        uid
    );
    // exec joins its user namespace too; -u 0 is the container's root.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "kid",
        "--userns=keep-id",
        "busybox",
        "sleep",
        "60",
    ]);
    assert_eq!(env.ok(&["exec", "kid", "id", "-u"]), uid.to_string());
    assert_eq!(env.ok(&["exec", "-u", "0", "kid", "id", "-u"]), "0");
    env.ok(&["rm", "-f", "kid"]);
    env.fails(
        &["run", "--rm", "--userns=bogus", "busybox", "true"],
        125,
        "invalid --userns",
    );
}

#[test]
fn keep_id_is_refused_as_root() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    env.fails(
        &["run", "--rm", "--userns=keep-id", "busybox", "true"],
        125,
        "for rootless containers",
    );
    env.assert_no_containers();
}
