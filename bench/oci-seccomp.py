#!/usr/bin/env python3
"""Print the seccomp section of an OCI config.json equal to skiff's built-in filter for
docker's default capabilities: the allow-list of src/ns/seccomp.rs (ALWAYS and NEWER), clone
without namespace flags, clone3 answered ENOSYS, personality for the harmless personas, and
CAP_SYS_CHROOT's chroot. bench/run.sh gives it to crun, so that both run the same filter."""
import json, re, sys
src = open(sys.argv[1]).read()
def block(name):
    m = re.search(r"const " + name + r"[^=]*=\s*calls!\((.*?)\);", src, re.S)
    return re.findall(r"SYS_(\w+)", re.sub(r"//[^\n]*", "", m.group(1)))
allow = block("ALWAYS") + block("ALWAYS_X86") + [n for n, _ in re.findall(r'\("(\w+)", (\d+)\)', src.split("const NEWER")[1].split("];")[0])] + ["chroot"]
profile = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 1,
    "architectures": ["SCMP_ARCH_X86_64"],
    "syscalls": [
        {"names": sorted(set(allow)), "action": "SCMP_ACT_ALLOW"},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
    ],
}
for v in (0, 8, 131072, 131080, 4294967295):
    profile["syscalls"].append({"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                                "args": [{"index": 0, "value": v, "op": "SCMP_CMP_EQ"}]})
json.dump(profile, sys.stdout)
