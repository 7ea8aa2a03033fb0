//! `kube generate` / `kube play` / `kube down`: YAML from running containers, the same YAML
//! brought back up as a pod, pods of several containers sharing a network and volumes.

mod common;

use common::Env;
use common::compose::{free_port, http_get};

fn yaml_docs(text: &str) -> Vec<serde_json::Value> {
    serde_saphyr::from_multiple(text).expect("YAML")
}

fn write(env: &Env, name: &str, text: &str) -> String {
    let path = env.dir.path().join(name);
    std::fs::write(&path, text).expect("write");
    if env.rootless {
        let (uid, gid) = common::ensure_test_user();
        nix::unistd::chown(
            &path,
            Some(nix::unistd::Uid::from_raw(uid)),
            Some(nix::unistd::Gid::from_raw(gid)),
        )
        .expect("chown");
    }
    path.display().to_string()
}

#[test]
fn generate_then_play_brings_the_container_back_as_a_pod() {
    if !common::require_root() {
        return;
    }
    let env = Env::root();
    let www = env.dir.path().join("www");
    std::fs::create_dir_all(&www).expect("dir");
    std::fs::write(www.join("index.html"), "hello from a pod\n").expect("page");
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    let bind = format!("{}:/www:ro", www.display());
    env.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        &publish,
        "-v",
        &bind,
        "-v",
        "kubedata:/data",
        "-m",
        "64m",
        "--cap-add",
        "NET_ADMIN",
        "-e",
        "GREETING=hi",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ]);
    let yaml = env.ok(&["kube", "generate", "--service", "web"]);
    let docs = yaml_docs(&yaml);
    assert_eq!(docs.len(), 2, "{yaml}");
    let pod = &docs[0];
    assert_eq!(pod["kind"], "Pod");
    assert_eq!(pod["metadata"]["name"], "web-pod");
    let c = &pod["spec"]["containers"][0];
    assert_eq!(c["image"], "busybox");
    assert_eq!(c["args"][0], "httpd");
    assert_eq!(c["ports"][0]["containerPort"], 80);
    assert_eq!(c["ports"][0]["hostPort"].as_u64(), Some(u64::from(port)));
    assert_eq!(c["ports"][0]["hostIP"], "127.0.0.1");
    assert_eq!(c["resources"]["limits"]["memory"], "67108864");
    assert_eq!(c["securityContext"]["capabilities"]["add"][0], "NET_ADMIN");
    assert!(
        c["env"]
            .as_array()
            .expect("env")
            .iter()
            .any(|e| e["name"] == "GREETING")
    );
    let volumes = pod["spec"]["volumes"].as_array().expect("volumes");
    assert!(
        volumes
            .iter()
            .any(|v| v["hostPath"]["path"] == www.display().to_string())
    );
    assert!(
        volumes
            .iter()
            .any(|v| v["persistentVolumeClaim"]["claimName"] == "kubedata")
    );
    assert_eq!(docs[1]["kind"], "Service");
    assert_eq!(docs[1]["spec"]["ports"][0]["targetPort"], 80);
    assert_eq!(docs[1]["spec"]["selector"]["app"], "web-pod");

    // Round trip: the original goes, the YAML brings it back on the same port.
    env.ok(&["rm", "-f", "web"]);
    let file = write(&env, "web.yaml", &yaml);
    let played = env.ok(&["kube", "play", &file]);
    assert!(played.starts_with("Pod:\nweb-pod\n"), "{played}");
    assert!(http_get(port).contains("hello from a pod"));
    let inspect = env.ok(&["inspect", "-f", "{{.HostConfig.Memory}}", "web-pod-web"]);
    assert_eq!(inspect, "67108864");
    // A second play of the same pod is refused; --replace makes it anew.
    env.fails(&["kube", "play", &file], 1, "already exists");
    env.ok(&["kube", "play", "--replace", &file]);
    assert_eq!(env.ok(&["kube", "down", &file]), "Pods removed:\nweb-pod");
    assert_eq!(env.ok(&["ps", "-aq"]), "");
    // A claim is the user's data: it stays.
    assert!(env.ok(&["volume", "ls", "-q"]).contains("kubedata"));
    env.assert_no_mounts();
}

const TWO_CONTAINERS: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: duo
spec:
  restartPolicy: Never
  volumes:
  - name: shared
    emptyDir: {}
  containers:
  - name: server
    image: busybox
    command: [sh, -c]
    args: ["echo served-by-server > /shared/index.html; httpd -f -p 8080 -h /shared"]
    volumeMounts: [{name: shared, mountPath: /shared}]
  - name: client
    image: busybox
    command: [sh, -c, "sleep 300"]
    volumeMounts: [{name: shared, mountPath: /from-server, readOnly: true}]
"#;

#[test]
fn a_pods_containers_share_localhost_hostname_and_empty_dirs() {
    if !common::require_root() {
        return;
    }
    let env = Env::root();
    let file = write(&env, "duo.yaml", TWO_CONTAINERS);
    env.ok(&["kube", "play", &file]);
    env.wait_for("duo-server", "{{.State.Status}}", "running", 10);
    // The client reaches the server on localhost: one network namespace.
    let mut got = String::new();
    for _ in 0..50 {
        let o = env.run(&[
            "exec",
            "duo-client",
            "wget",
            "-qO-",
            "http://127.0.0.1:8080/",
        ]);
        got = common::stdout(&o);
        if got.contains("served-by-server") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(got.contains("served-by-server"), "{got}");
    assert_eq!(env.ok(&["exec", "duo-client", "hostname"]), "duo");
    assert_eq!(
        env.ok(&["exec", "duo-client", "cat", "/from-server/index.html"]),
        "served-by-server"
    );
    env.fails(
        &["exec", "duo-client", "touch", "/from-server/x"],
        1,
        "Read-only",
    );
    env.ok(&["kube", "down", &file]);
    assert_eq!(env.ok(&["ps", "-aq"]), "");
    // The emptyDir went with the pod.
    assert_eq!(env.ok(&["volume", "ls", "-q"]), "");
}

#[test]
fn bad_yaml_is_refused_and_leaves_nothing() {
    if !common::require_root() {
        return;
    }
    let env = Env::root();
    let cm = write(
        &env,
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
    );
    env.fails(&["kube", "play", &cm], 1, "ConfigMap");
    let secret = write(
        &env,
        "secret.yaml",
        &TWO_CONTAINERS.replace("emptyDir: {}", "secret: {secretName: s}"),
    );
    env.fails(&["kube", "play", &secret], 1, "\"secret\"");
    let broken = write(&env, "broken.yaml", "kind: Pod\nmetadata: [\n");
    env.fails(&["kube", "play", &broken], 1, "not valid YAML");
    env.fails(
        &["kube", "play", "/nonexistent.yaml"],
        1,
        "/nonexistent.yaml",
    );
    // A pod whose second container cannot be made: the first goes too.
    let missing_image = write(
        &env,
        "missing.yaml",
        // A claim this play makes goes with the failure too.
        &TWO_CONTAINERS
            .replace(
                "image: busybox\n    command: [sh, -c, \"sleep 300\"]",
                "image: 127.0.0.1:1/none\n    command: [sh]",
            )
            .replace(
                "emptyDir: {}",
                "persistentVolumeClaim: {claimName: kubeclaim}",
            ),
    );
    let o = env.run(&["kube", "play", &missing_image]);
    assert_eq!(o.status.code(), Some(1), "{}", common::stderr(&o));
    assert_eq!(env.ok(&["ps", "-aq"]), "");
    assert_eq!(env.ok(&["volume", "ls", "-q"]), "");
    env.fails(&["kube", "generate", "nosuch"], 1, "nosuch");
    env.ok(&["run", "-d", "--name", "quiet", "busybox", "sleep", "30"]);
    env.fails(
        &["kube", "generate", "--service", "quiet"],
        1,
        "publishes no ports",
    );
    env.fails(&["kube", "generate", "--type", "job", "quiet"], 1, "--type");
}

#[test]
fn rootless_play_and_down() {
    if !common::require_root() {
        return;
    }
    let env = Env::rootless();
    let file = write(&env, "duo.yaml", TWO_CONTAINERS);
    env.ok(&["kube", "play", &file]);
    env.wait_for("duo-client", "{{.State.Status}}", "running", 10);
    assert_eq!(env.ok(&["exec", "duo-client", "hostname"]), "duo");
    env.ok(&["kube", "down", &file]);
    assert_eq!(env.ok(&["ps", "-aq"]), "");
    assert_eq!(env.ok(&["volume", "ls", "-q"]), "");
}

#[test]
fn generate_for_a_network_gives_a_pod_per_container() {
    if !common::require_root() {
        return;
    }
    let env = Env::root();
    let net = format!("kubenet{}", std::process::id());
    env.ok(&["network", "create", &net]);
    for name in ["alpha", "beta"] {
        env.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            &net,
            "busybox",
            "sleep",
            "300",
        ]);
    }
    env.ok(&[
        "run",
        "-d",
        "--name",
        "elsewhere",
        "--network",
        "none",
        "busybox",
        "sleep",
        "300",
    ]);
    let docs = yaml_docs(&env.ok(&["kube", "generate", &net]));
    let mut names: Vec<String> = docs
        .iter()
        .map(|d| d["metadata"]["name"].as_str().expect("name").to_string())
        .collect();
    names.sort();
    assert_eq!(names, vec!["alpha-pod", "beta-pod"]);
    let empty = format!("kubeempty{}", std::process::id());
    env.ok(&["network", "create", &empty]);
    env.fails(&["kube", "generate", &empty], 1, "has no containers");
}
