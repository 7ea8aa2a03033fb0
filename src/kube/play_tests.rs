use super::*;

const POD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  restartPolicy: OnFailure
  volumes:
  - name: data
    hostPath: {path: /srv/data}
  - name: scratch
    emptyDir: {}
  containers:
  - name: server
    image: busybox
    command: [httpd, -f]
    args: [-p, "80"]
    ports:
    - {containerPort: 80, hostPort: 8080}
    volumeMounts:
    - {name: data, mountPath: /data, readOnly: true}
    resources: {limits: {memory: 64Mi, cpu: 500m}}
  - name: sidecar
    image: busybox
    env: [{name: A, value: b}]
    volumeMounts:
    - {name: scratch, mountPath: /scratch}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {type: NodePort, selector: {app: web}, ports: [{port: 80}]}
"#;

#[test]
fn a_pod_becomes_containers_sharing_the_first() {
    let pods = plan(&parse(POD).unwrap()).unwrap();
    assert_eq!(pods.len(), 1);
    let p = &pods[0];
    assert_eq!(p.name, "web");
    let server = &p.containers[0];
    assert_eq!(server.name.as_deref(), Some("web-server"));
    assert_eq!(
        server.run.entrypoint_argv,
        Some(vec!["httpd".into(), "-f".into()])
    );
    assert_eq!(server.run.command, vec!["-p".to_string(), "80".into()]);
    assert_eq!(server.run.net.publish, vec!["8080:80/tcp".to_string()]);
    assert_eq!(server.run.volumes, vec!["/srv/data:/data:ro".to_string()]);
    assert_eq!(server.resources.memory.as_deref(), Some("67108864"));
    assert_eq!(server.resources.cpus.as_deref(), Some("0.5"));
    assert_eq!(server.run.restart.as_deref(), Some("on-failure"));
    assert_eq!(server.run.hostname.as_deref(), Some("web"));
    let sidecar = &p.containers[1];
    assert_eq!(
        sidecar.run.net.networks,
        vec!["container:web-server".to_string()]
    );
    assert_eq!(sidecar.run.ipc.as_deref(), Some("container:web-server"));
    assert_eq!(sidecar.run.env, vec!["A=b".to_string()]);
    assert_eq!(
        sidecar.run.volumes,
        vec!["web-scratch:/scratch".to_string()]
    );
    assert!(p.volumes.contains(&("web-scratch".to_string(), true)));
    assert_eq!(pod_names(&parse(POD).unwrap()), vec!["web".to_string()]);
}

#[test]
fn unsupported_things_are_named() {
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n";
    assert!(plan(&parse(cm).unwrap()).unwrap_err().contains("ConfigMap"));
    let secret_vol = POD.replace("emptyDir: {}", "secret: {secretName: s}");
    assert!(
        plan(&parse(&secret_vol).unwrap())
            .unwrap_err()
            .contains("\"secret\"")
    );
    let bad_mem = POD.replace("64Mi", "lots");
    assert!(
        plan(&parse(&bad_mem).unwrap())
            .unwrap_err()
            .contains("memory quantity")
    );
    let undefined = POD.replace("name: scratch\n    emptyDir", "name: other\n    emptyDir");
    assert!(
        plan(&parse(&undefined).unwrap())
            .unwrap_err()
            .contains("does not define")
    );
    assert!(plan(&parse("kind: Service\nmetadata: {name: s}\n").unwrap()).is_err());
}

#[test]
fn a_deployment_plays_one_pod_and_says_so() {
    let d = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  replicas: 3
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: main, image: busybox}]
"#;
    let pods = plan(&parse(d).unwrap()).unwrap();
    assert_eq!(pods[0].name, "api-pod");
    assert!(pods[0].warnings[0].contains("3 replicas"));
}
