use super::*;

fn spec_from(json: serde_json::Value) -> Spec {
    serde_json::from_value(json).expect("spec")
}

fn minimal() -> serde_json::Value {
    serde_json::json!({
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs", "readonly": true},
        "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/data", "type": "bind", "source": "data",
             "options": ["rbind", "ro", "nosuid", "rslave"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}
        ],
        "linux": {"namespaces": [{"type": "mount"}, {"type": "pid"},
                                 {"type": "network", "path": "/proc/1/ns/net"}]}
    })
}

#[test]
fn a_valid_spec_passes_and_bad_ones_name_the_field() {
    assert!(validate(&spec_from(minimal())).is_ok());
    let mut no_args = minimal();
    no_args["process"]["args"] = serde_json::json!([]);
    assert!(
        validate(&spec_from(no_args))
            .unwrap_err()
            .contains("process.args")
    );
    let mut relative_cwd = minimal();
    relative_cwd["process"]["cwd"] = serde_json::json!("tmp");
    assert!(
        validate(&spec_from(relative_cwd))
            .unwrap_err()
            .contains("process.cwd")
    );
    let mut no_mount_ns = minimal();
    no_mount_ns["linux"]["namespaces"] = serde_json::json!([{"type": "pid"}]);
    assert!(
        validate(&spec_from(no_mount_ns))
            .unwrap_err()
            .contains("mount namespace")
    );
    let mut twice = minimal();
    twice["linux"]["namespaces"] = serde_json::json!([{"type": "mount"}, {"type": "mount"}]);
    assert!(validate(&spec_from(twice)).unwrap_err().contains("twice"));
    let mut old = minimal();
    old["ociVersion"] = serde_json::json!("0.5.0");
    assert!(
        validate(&spec_from(old))
            .unwrap_err()
            .contains("ociVersion")
    );
}

#[test]
fn options_become_flags_propagation_and_data() {
    let o = |v: &[&str]| mount_options(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    let (flags, prop, data) = o(&["rbind", "ro", "nosuid", "rslave", "mode=755"]).unwrap();
    assert!(flags.contains(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY));
    assert!(flags.contains(MsFlags::MS_NOSUID));
    assert_eq!(prop, MsFlags::MS_SLAVE | MsFlags::MS_REC);
    assert_eq!(data, vec!["mode=755".to_string()]);
    // A later option undoes an earlier one, as in runc.
    let (flags, _, _) = o(&["ro", "rw"]).unwrap();
    assert!(!flags.contains(MsFlags::MS_RDONLY));
    assert!(o(&["idmap"]).unwrap_err().contains("idmap"));
}

#[test]
fn namespaces_split_into_new_and_joined() {
    let ns = namespaces(&spec_from(minimal()));
    assert!(
        ns.clone
            .contains(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID)
    );
    assert!(!ns.clone.contains(CloneFlags::CLONE_NEWNET));
    assert_eq!(
        ns.join,
        vec![(PathBuf::from("/proc/1/ns/net"), CloneFlags::CLONE_NEWNET)]
    );
    let mut with_user = minimal();
    with_user["linux"]["namespaces"] = serde_json::json!([
        {"type": "mount"}, {"type": "uts", "path": "/u"}, {"type": "user", "path": "/x"},
        {"type": "cgroup"}
    ]);
    let ns = namespaces(&spec_from(with_user));
    // The user namespace is joined first, whatever its place in the list.
    assert_eq!(ns.join[0].0, PathBuf::from("/x"));
    assert!(ns.cgroup);
    assert!(!ns.clone.contains(CloneFlags::CLONE_NEWCGROUP));
}

#[test]
fn mounts_devices_and_root_in_order() {
    let spec = spec_from(minimal());
    let ops = mount_ops(&spec, Path::new("/b"), &CgroupView::None, false).unwrap();
    let MountOp::Generic(bind) = &ops[1] else {
        panic!("{:?}", ops[1])
    };
    // A relative bind source is the bundle's.
    assert_eq!(bind.source, PathBuf::from("/b/data"));
    assert!(bind.flags.contains(MsFlags::MS_BIND));
    assert!(ops.iter().any(|o| matches!(o,
        MountOp::Mknod { target, major: 1, minor: 3 } if target == Path::new("/dev/null"))));
    assert!(ops.iter().any(|o| matches!(o,
        MountOp::Symlink { link, .. } if link == Path::new("/dev/ptmx"))));
    assert_eq!(ops.last(), Some(&MountOp::RootReadOnly));
    // In a user namespace the host's nodes are bound instead of made.
    let ops = mount_ops(&spec, Path::new("/b"), &CgroupView::None, true).unwrap();
    assert!(ops.iter().any(|o| matches!(o,
        MountOp::Bind { source, .. } if source == Path::new("/dev/null"))));
}

#[test]
fn rlimits_caps_and_resources_translate() {
    let mut j = minimal();
    j["process"]["rlimits"] =
        serde_json::json!([{"type": "RLIMIT_NOFILE", "hard": 2048, "soft": 1024}]);
    j["process"]["capabilities"] = serde_json::json!({"bounding": ["CAP_CHOWN", "CAP_KILL"]});
    let spec = spec_from(j);
    let process = spec.process().clone().unwrap();
    let limits = ulimits(&process).unwrap();
    assert_eq!(
        (limits[0].name.as_str(), limits[0].soft, limits[0].hard),
        ("nofile", 1024, 2048)
    );
    let caps = capabilities(&process);
    assert!(caps.contains(&caps::Capability::CAP_KILL));
    assert_eq!(caps.len(), 2);
    let r: oci_spec::runtime::LinuxResources = serde_json::from_value(serde_json::json!({
        "memory": {"limit": 67108864},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000},
        "pids": {"limit": 64},
        "devices": [{"allow": false, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]
    }))
    .unwrap();
    let res = resources(&r);
    assert_eq!(res.memory, Some(67108864));
    assert_eq!(res.cpu_shares, Some(512));
    assert_eq!(res.pids_limit, Some(64));
    assert_eq!(res.device_rules, vec!["c 1:3 rwm".to_string()]);
}
