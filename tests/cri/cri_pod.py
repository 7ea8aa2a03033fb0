#!/usr/bin/env python3
"""Drive one Kubernetes-style pod through containerd's built-in CRI (v1) API.

Used by tests/cri/run.sh to check an OCI runtime (skiff-runc, or runc for parity) under
containerd's CRI plugin without crictl or a kubelet. The Python stubs for
tests/cri/api.proto are generated at test time; pass their directory with --stubs.

Steps: Version; RunPodSandbox (host network, so no CNI); CreateContainer (busybox,
`sleep 300`, joining the sandbox's pid and ipc namespaces); StartContainer; ContainerStatus
is RUNNING; ExecSync exit code and stdout; ExecSync `ps` sees the sandbox's process;
UpdateContainerResources (64 MiB memory limit, checked in the host's memory cgroup);
StopContainer; RemoveContainer; StopPodSandbox; RemovePodSandbox; then nothing of the pod
is left (CRI lists, the runtime's state dirs, cgroups, mounts).

Prints one line per step; exits 1 with a FAIL line on the first failure, after cleaning
up whatever it created.
"""

import argparse
import os
import signal
import sys
import time
import uuid

MIB = 1024 * 1024
CALL_TIMEOUT = 60  # seconds, every gRPC call


class StepFailed(Exception):
    pass


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--socket", required=True, help="containerd's gRPC socket path")
    p.add_argument("--stubs", required=True, help="dir holding api_pb2.py and api_pb2_grpc.py")
    p.add_argument("--image", default="docker.io/library/busybox:latest")
    p.add_argument("--pause-process", default="sleep 2147483647",
                   help="command line of the sandbox image's process, looked for in `ps`")
    p.add_argument("--runtime-root", default="/run/containerd/runc/k8s.io",
                   help="the OCI runtime's --root as the shim passes it (runc options Root + "
                        "namespace); no dir of the pod may be left there")
    p.add_argument("--cgroup-parent", default="",
                   help="the pod's linux cgroup_parent (cgroupfs), e.g. /skiff-cri-test")
    p.add_argument("--log-dir", default="", help="the pod's log_directory (optional)")
    p.add_argument("--bundle-root", default="",
                   help="containerd's task bundles for the namespace (STATE/io.containerd."
                        "runtime.v2.task/k8s.io): on failure the runtime's log.json there "
                        "is printed")
    return p.parse_args()


def main():
    args = parse_args()
    sys.path.insert(0, args.stubs)
    import grpc  # noqa: E402
    import api_pb2 as pb  # noqa: E402
    import api_pb2_grpc as pbg  # noqa: E402

    channel = grpc.insecure_channel("unix://" + os.path.abspath(args.socket))
    try:
        grpc.channel_ready_future(channel).result(timeout=30)
    except grpc.FutureTimeoutError:
        print(f"FAIL connect: containerd socket {args.socket} not ready after 30s")
        return 1
    rt = pbg.RuntimeServiceStub(channel)
    img = pbg.ImageServiceStub(channel)

    state = {"pod": None, "ctr": None, "ctr_removed": False, "pod_stopped": False,
             "pod_removed": False}
    step_name = ["setup"]

    def step(name):
        step_name[0] = name

    def ok(msg):
        print(f"ok   {step_name[0]}: {msg}", flush=True)

    def fail(msg):
        raise StepFailed(f"{step_name[0]}: {msg}")

    def call(method, req, timeout=CALL_TIMEOUT):
        try:
            return method(req, timeout=timeout)
        except grpc.RpcError as e:  # pylint: disable=no-member
            fail(f"gRPC {e.code().name}: {e.details()}")

    suffix = uuid.uuid4().hex[:8]
    pod_meta = pb.PodSandboxMetadata(name=f"skiff-cri-{suffix}", uid=uuid.uuid4().hex,
                                     namespace="skiff-test", attempt=0)
    ns_pod = pb.NamespaceOption(network=pb.NODE, pid=pb.POD, ipc=pb.POD)
    pod_config = pb.PodSandboxConfig(
        metadata=pod_meta,
        log_directory=args.log_dir,
        labels={"skiff-test": "cri"},
        linux=pb.LinuxPodSandboxConfig(
            cgroup_parent=args.cgroup_parent,
            security_context=pb.LinuxSandboxSecurityContext(namespace_options=ns_pod),
        ),
    )

    def exec_sync(cmd, timeout=20):
        r = call(rt.ExecSync, pb.ExecSyncRequest(container_id=state["ctr"], cmd=cmd,
                                                 timeout=timeout), timeout=timeout + 30)
        return r.exit_code, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")

    def cgroup_dirs(name):
        """Dirs named NAME anywhere under /sys/fs/cgroup/<controller> (bounded depth)."""
        found = []
        base = "/sys/fs/cgroup"
        for ctl in sorted(os.listdir(base)):
            top = os.path.join(base, ctl)
            if os.path.islink(top) or not os.path.isdir(top):
                continue
            for dirpath, dirnames, _ in os.walk(top):
                if dirpath[len(top):].count("/") >= 6:
                    dirnames[:] = []
                    continue
                if name in dirnames:
                    found.append(os.path.join(dirpath, name))
        return found

    def mounts_mentioning(ident):
        with open("/proc/self/mountinfo") as f:
            return [ln.split()[4] for ln in f if ident in ln]

    def on_term(signum, _frame):
        raise StepFailed(f"{step_name[0]}: killed by signal {signum} (timeout?)")
    signal.signal(signal.SIGTERM, on_term)

    rc = 0
    try:
        step("Version")
        v = call(rt.Version, pb.VersionRequest(version="v1"))
        ok(f"runtime {v.runtime_name} {v.runtime_version}, CRI {v.runtime_api_version}")

        step("ImageStatus")
        st = call(img.ImageStatus, pb.ImageStatusRequest(image=pb.ImageSpec(image=args.image)))
        if not st.image.id:
            fail(f"image {args.image} not found in containerd's k8s.io namespace")
        ok(f"{args.image} is {st.image.id[:19]}")

        step("RunPodSandbox")
        r = call(rt.RunPodSandbox, pb.RunPodSandboxRequest(config=pod_config), timeout=120)
        state["pod"] = r.pod_sandbox_id
        ok(f"sandbox {state['pod'][:12]} (host network, cgroup parent "
           f"{args.cgroup_parent or '(none)'})")

        step("PodSandboxStatus")
        ps = call(rt.PodSandboxStatus, pb.PodSandboxStatusRequest(pod_sandbox_id=state["pod"]))
        if ps.status.state != pb.SANDBOX_READY:
            fail(f"sandbox state {pb.PodSandboxState.Name(ps.status.state)}, want SANDBOX_READY")
        ok("SANDBOX_READY")

        step("CreateContainer")
        ctr_config = pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name="sleeper", attempt=0),
            image=pb.ImageSpec(image=args.image),
            command=["sleep", "300"],
            log_path="sleeper.log" if args.log_dir else "",
            linux=pb.LinuxContainerConfig(
                security_context=pb.LinuxContainerSecurityContext(
                    namespace_options=pb.NamespaceOption(network=pb.NODE, pid=pb.POD,
                                                         ipc=pb.POD)),
            ),
        )
        r = call(rt.CreateContainer, pb.CreateContainerRequest(
            pod_sandbox_id=state["pod"], config=ctr_config, sandbox_config=pod_config),
            timeout=120)
        state["ctr"] = r.container_id
        ok(f"container {state['ctr'][:12]}")

        step("StartContainer")
        call(rt.StartContainer, pb.StartContainerRequest(container_id=state["ctr"]), timeout=120)
        ok("started")

        step("ContainerStatus")
        cs = call(rt.ContainerStatus, pb.ContainerStatusRequest(container_id=state["ctr"]))
        if cs.status.state != pb.CONTAINER_RUNNING:
            fail(f"state {pb.ContainerState.Name(cs.status.state)}, want CONTAINER_RUNNING "
                 f"(reason {cs.status.reason!r}, message {cs.status.message!r})")
        ok("CONTAINER_RUNNING")

        step("ExecSync exit code")
        code, out, err = exec_sync(["sh", "-c", "echo hi; exit 3"])
        if code != 3 or out.strip() != "hi":
            fail(f"got exit {code}, stdout {out!r}, stderr {err!r}; want exit 3, stdout 'hi'")
        ok("stdout 'hi', exit code 3")

        step("ExecSync ps (shared pid namespace)")
        code, out, err = exec_sync(["ps", "-o", "pid,args"])
        if code != 0:
            fail(f"ps exited {code}, stderr {err!r}")
        procs = [ln.strip() for ln in out.splitlines()[1:] if ln.strip()]
        if not any(p.split(None, 1)[-1] == args.pause_process for p in procs):
            fail(f"no sandbox process {args.pause_process!r} in ps output: {procs}")
        if not any(p.split(None, 1)[-1] == "sleep 300" for p in procs):
            fail(f"no 'sleep 300' in ps output: {procs}")
        ok(f"sees {len(procs)} processes: {'; '.join(procs)}")

        step("UpdateContainerResources")
        call(rt.UpdateContainerResources, pb.UpdateContainerResourcesRequest(
            container_id=state["ctr"],
            linux=pb.LinuxContainerResources(memory_limit_in_bytes=64 * MIB)))
        dirs = cgroup_dirs(state["ctr"])
        mem = [d for d in dirs if d.startswith("/sys/fs/cgroup/memory/")]
        if len(mem) != 1:
            fail(f"want one memory cgroup dir named after the container, found {mem} "
                 f"(all cgroup dirs: {dirs})")
        with open(os.path.join(mem[0], "memory.limit_in_bytes")) as f:
            limit = int(f.read().strip())
        if limit != 64 * MIB:
            fail(f"{mem[0]}/memory.limit_in_bytes is {limit}, want {64 * MIB}")
        ok(f"{mem[0]}/memory.limit_in_bytes = {limit}")

        step("ExecSync sees the new limit")
        code, out, err = exec_sync(["cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"])
        if code != 0 or out.strip() != str(64 * MIB):
            fail(f"cat inside the container: exit {code}, stdout {out!r}, stderr {err!r}; "
                 f"want {64 * MIB}")
        ok(f"inside: {out.strip()}")

        step("StopContainer")
        call(rt.StopContainer, pb.StopContainerRequest(container_id=state["ctr"], timeout=10),
             timeout=90)
        cs = call(rt.ContainerStatus, pb.ContainerStatusRequest(container_id=state["ctr"]))
        if cs.status.state != pb.CONTAINER_EXITED:
            fail(f"state {pb.ContainerState.Name(cs.status.state)}, want CONTAINER_EXITED")
        ok(f"CONTAINER_EXITED, exit code {cs.status.exit_code} ({cs.status.reason})")

        step("RemoveContainer")
        call(rt.RemoveContainer, pb.RemoveContainerRequest(container_id=state["ctr"]),
             timeout=90)
        state["ctr_removed"] = True
        ok("removed")

        step("StopPodSandbox")
        call(rt.StopPodSandbox, pb.StopPodSandboxRequest(pod_sandbox_id=state["pod"]),
             timeout=90)
        state["pod_stopped"] = True
        ps = call(rt.PodSandboxStatus, pb.PodSandboxStatusRequest(pod_sandbox_id=state["pod"]))
        if ps.status.state != pb.SANDBOX_NOTREADY:
            fail(f"sandbox state {pb.PodSandboxState.Name(ps.status.state)}, "
                 f"want SANDBOX_NOTREADY")
        ok("SANDBOX_NOTREADY")

        step("RemovePodSandbox")
        call(rt.RemovePodSandbox, pb.RemovePodSandboxRequest(pod_sandbox_id=state["pod"]),
             timeout=90)
        state["pod_removed"] = True
        ok("removed")

        step("nothing left")
        ids = [state["pod"], state["ctr"]]
        left = []
        ctrs = call(rt.ListContainers, pb.ListContainersRequest()).containers
        left += [f"CRI container {c.id}" for c in ctrs if c.id in ids]
        pods = call(rt.ListPodSandbox, pb.ListPodSandboxRequest()).items
        left += [f"CRI sandbox {p.id}" for p in pods if p.id in ids]
        # The shim deletes the task asynchronously after the RPC answers; give it a moment.
        deadline = time.time() + 10
        while True:
            fs_left = []
            for i in ids:
                if os.path.exists(os.path.join(args.runtime_root, i)):
                    fs_left.append(f"runtime state dir {os.path.join(args.runtime_root, i)}")
                fs_left += [f"cgroup {d}" for d in cgroup_dirs(i)]
                fs_left += [f"mount {m}" for m in mounts_mentioning(i)]
            if not fs_left or time.time() > deadline:
                break
            time.sleep(0.5)
        left += fs_left
        if left:
            fail("left behind: " + "; ".join(left))
        ok(f"no state dir in {args.runtime_root}, no cgroup, no mount, no CRI object")
        print("PASS", flush=True)
    except StepFailed as e:
        print(f"FAIL {e}", flush=True)
        rc = 1
    except Exception as e:  # pylint: disable=broad-except
        print(f"FAIL {step_name[0]}: unexpected {type(e).__name__}: {e}", flush=True)
        rc = 1
    finally:
        if rc and args.bundle_root:
            # The bundles (and their log.json) go away with the cleanup below: show them now.
            for i in (state["pod"], state["ctr"]):
                path = os.path.join(args.bundle_root, i or "-", "log.json")
                if i and os.path.exists(path):
                    with open(path, errors="replace") as f:
                        text = f.read()[-4000:]
                    print(f"---- runtime log {path} ----\n{text.rstrip()}\n----", flush=True)
        # Best-effort cleanup of whatever is still there, so a failure leaves nothing behind.
        def quiet(what, method, req):
            try:
                method(req, timeout=90)
                print(f"cleanup: {what}", flush=True)
            except grpc.RpcError as e:  # pylint: disable=no-member
                print(f"cleanup: {what} failed: {e.code().name}: {e.details()}", flush=True)

        if state["ctr"] and not state["ctr_removed"]:
            quiet("StopContainer", rt.StopContainer,
                  pb.StopContainerRequest(container_id=state["ctr"], timeout=5))
            quiet("RemoveContainer", rt.RemoveContainer,
                  pb.RemoveContainerRequest(container_id=state["ctr"]))
        if state["pod"] and not state["pod_removed"]:
            if not state["pod_stopped"]:
                quiet("StopPodSandbox", rt.StopPodSandbox,
                      pb.StopPodSandboxRequest(pod_sandbox_id=state["pod"]))
            quiet("RemovePodSandbox", rt.RemovePodSandbox,
                  pb.RemovePodSandboxRequest(pod_sandbox_id=state["pod"]))
        channel.close()
    return rc


if __name__ == "__main__":
    sys.exit(main())
