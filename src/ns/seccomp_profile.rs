//! docker's JSON seccomp profile format (`--security-opt seccomp=PROFILE.json`), compiled to
//! BPF with seccompiler: `defaultAction` (+ `defaultErrnoRet`), and `syscalls` entries of
//! `names`, `action`, `errnoRet`, `args` (index, value, valueTwo, op) and `includes` /
//! `excludes` by capability. Names this architecture lacks are skipped, as docker skips them.
//!
//! seccompiler gives one filter a single match action, so the profile becomes several
//! filters: one with every ALLOW rule and the default action for the rest, and one per other
//! action holding its rules (allowing everything else). The kernel runs them all and keeps
//! the most restrictive answer, which is what a profile means unless it both allows and
//! refuses the same call with overlapping arguments.

use std::collections::{BTreeMap, HashMap};

use caps::CapsHashSet;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule,
};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    syscalls: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    name: Option<String>,
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Vec<Arg>,
    #[serde(default)]
    includes: Filter,
    #[serde(default)]
    excludes: Filter,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Arg {
    index: u8,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

#[derive(Debug, Default, Deserialize)]
struct Filter {
    #[serde(default)]
    caps: Vec<String>,
    #[serde(default)]
    arches: Vec<String>,
}

fn action(
    name: &str,
    errno: Option<u32>,
    default_errno: Option<u32>,
) -> Result<SeccompAction, String> {
    Ok(match name {
        "SCMP_ACT_ALLOW" => SeccompAction::Allow,
        "SCMP_ACT_ERRNO" => {
            SeccompAction::Errno(errno.or(default_errno).unwrap_or(libc::EPERM as u32))
        }
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => SeccompAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => SeccompAction::KillProcess,
        "SCMP_ACT_TRAP" => SeccompAction::Trap,
        "SCMP_ACT_LOG" => SeccompAction::Log,
        other => {
            return Err(format!(
                "unknown action {other:?} (expected SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL, SCMP_ACT_KILL_PROCESS, SCMP_ACT_TRAP or SCMP_ACT_LOG)"
            ));
        }
    })
}

fn condition(a: &Arg) -> Result<SeccompCondition, String> {
    let op = match a.op.as_str() {
        "SCMP_CMP_EQ" => SeccompCmpOp::Eq,
        "SCMP_CMP_NE" => SeccompCmpOp::Ne,
        "SCMP_CMP_LT" => SeccompCmpOp::Lt,
        "SCMP_CMP_LE" => SeccompCmpOp::Le,
        "SCMP_CMP_GT" => SeccompCmpOp::Gt,
        "SCMP_CMP_GE" => SeccompCmpOp::Ge,
        "SCMP_CMP_MASKED_EQ" => {
            return SeccompCondition::new(
                a.index,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::MaskedEq(a.value),
                a.value_two,
            )
            .map_err(|e| e.to_string());
        }
        other => return Err(format!("unknown argument operator {other:?}")),
    };
    SeccompCondition::new(a.index, SeccompCmpArgLen::Qword, op, a.value).map_err(|e| e.to_string())
}

/// This architecture in docker's names.
fn our_arch(arches: &[String]) -> bool {
    arches.is_empty()
        || arches.iter().any(|a| {
            if cfg!(target_arch = "aarch64") {
                a == "arm64" || a == "aarch64" || a == "SCMP_ARCH_AARCH64"
            } else {
                a == "amd64" || a == "x86_64" || a == "SCMP_ARCH_X86_64"
            }
        })
}

/// Whether a profile's text is one skiff can compile (checked at create).
pub fn check(text: &str) -> Result<(), String> {
    compile(
        text,
        &CapsHashSet::new(),
        &super::seccomp::syscall_numbers(),
    )
    .map(drop)
}

/// The filters for a profile and a container's capabilities, in install order.
pub fn compile(
    text: &str,
    caps: &CapsHashSet,
    numbers: &HashMap<&'static str, i64>,
) -> Result<Vec<BpfProgram>, String> {
    let profile: Profile =
        serde_json::from_str(text).map_err(|e| format!("not a seccomp profile: {e}"))?;
    let default = action(&profile.default_action, None, profile.default_errno_ret)?;
    let holds = |names: &[String]| {
        names.iter().all(|c| {
            let full = if c.starts_with("CAP_") {
                c.clone()
            } else {
                format!("CAP_{c}")
            };
            full.parse::<caps::Capability>()
                .is_ok_and(|cap| caps.contains(&cap))
        })
    };
    let mut allowed: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    let mut others: Vec<(SeccompAction, BTreeMap<i64, Vec<SeccompRule>>)> = Vec::new();
    for e in &profile.syscalls {
        let act = action(&e.action, e.errno_ret, profile.default_errno_ret)?;
        let conditions = e
            .args
            .iter()
            .map(condition)
            .collect::<Result<Vec<_>, _>>()?;
        if !our_arch(&e.includes.arches)
            || (!e.excludes.arches.is_empty() && our_arch(&e.excludes.arches))
            || (!e.includes.caps.is_empty() && !holds(&e.includes.caps))
            || (!e.excludes.caps.is_empty()
                && e.excludes
                    .caps
                    .iter()
                    .any(|c| holds(std::slice::from_ref(c))))
        {
            continue;
        }
        let names = e.names.iter().chain(e.name.iter());
        let target = if act == SeccompAction::Allow {
            &mut allowed
        } else {
            let i = match others.iter().position(|(a, _)| *a == act) {
                Some(i) => i,
                None => {
                    others.push((act.clone(), BTreeMap::new()));
                    others.len() - 1
                }
            };
            &mut others[i].1
        };
        for name in names {
            let Some(nr) = numbers.get(name.as_str()) else {
                continue; // not a call of this architecture
            };
            let rules = target.entry(*nr).or_default();
            if conditions.is_empty() {
                // Unconditional: an empty rule list matches every call.
                rules.clear();
                continue;
            }
            rules.push(SeccompRule::new(conditions.clone()).map_err(|e| e.to_string())?);
        }
    }
    let arch = super::seccomp::arch();
    let mut programs = Vec::new();
    // With an allowing default the ALLOW rules add nothing (and seccompiler refuses a
    // filter whose two actions are equal).
    if default != SeccompAction::Allow {
        programs.push(super::seccomp_tree::compile(
            &allowed,
            default.clone(),
            arch,
        )?);
    }
    for (act, rules) in others {
        if rules.is_empty() {
            continue;
        }
        let f = SeccompFilter::new(rules, SeccompAction::Allow, act, arch)
            .map_err(|e| e.to_string())?;
        programs.push(BpfProgram::try_from(f).map_err(|e| e.to_string())?);
    }
    Ok(programs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_compile_and_bad_ones_are_named() {
        let numbers = crate::ns::seccomp::syscall_numbers();
        let deny_mkdir = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["mkdir","mkdirat","no_such_call"],"action":"SCMP_ACT_ERRNO","errnoRet":13},
            {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":0,"op":"SCMP_CMP_EQ"}]}]}"#;
        let p = compile(deny_mkdir, &CapsHashSet::new(), &numbers).expect("compiles");
        assert_eq!(p.len(), 1, "only the ERRNO filter (the default allows)");
        assert!(
            check(r#"{"defaultAction":"SCMP_ACT_NOPE"}"#)
                .unwrap_err()
                .contains("unknown action")
        );
        assert!(check("[]").unwrap_err().contains("not a seccomp profile"));
        let bad_op = r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_ABOUT"}]}]}"#;
        assert!(
            check(bad_op)
                .unwrap_err()
                .contains("unknown argument operator")
        );
    }
}
