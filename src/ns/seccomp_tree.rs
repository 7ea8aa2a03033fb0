//! A balanced search over syscall numbers in front of a compiled filter.
//!
//! seccompiler emits one comparison after another, so docker's allow-list is ~1,500
//! instructions long. Since 5.11 the kernel, when a filter is attached, runs it once for
//! every syscall number to learn which ones it always allows (and then skips the filter for
//! them): with a linear filter that alone took 0.65 ms per container start here. With this
//! tree in front a number is decided within ~25 instructions: allowed at once, refused with
//! the default answer at once, or (calls whose arguments are checked: clone, personality)
//! handed on to the compiled program, which decides exactly as before.

use std::collections::BTreeMap;

use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, SeccompRule, TargetArch, sock_filter};

const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JEQ_K: u16 = 0x15;
const BPF_JGE_K: u16 = 0x35;
const BPF_JA: u16 = 0x05;
const BPF_RET_K: u16 = 0x06;
const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;
const RET_ALLOW: u32 = 0x7fff_0000;
/// The kernel refuses longer programs.
const MAX_LEN: usize = 4096;
/// Numbers compared one by one at the bottom of the tree.
const LEAF: usize = 3;

/// The audit architecture value of this build's target (seccomp_data.arch).
pub fn audit_arch() -> u32 {
    if cfg!(target_arch = "aarch64") {
        183 | 0x8000_0000 | 0x4000_0000
    } else {
        62 | 0x8000_0000 | 0x4000_0000
    }
}

/// What the tree does with one syscall number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Its arguments matter: the compiled program decides.
    Program,
}

#[derive(Clone, Copy)]
enum Label {
    Allow,
    Default,
    Program,
    At(usize),
}

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

struct Emitter {
    code: Vec<sock_filter>,
    jumps: Vec<(usize, Label)>,
}

impl Emitter {
    /// A long jump, resolved at the end; returns its place among the jumps.
    fn jump(&mut self, to: Label) -> usize {
        self.jumps.push((self.code.len(), to));
        self.code.push(stmt(BPF_JA, 0));
        self.jumps.len() - 1
    }

    /// `if nr <op> k` falls through to the next instruction (a long jump), else skips it.
    fn test(&mut self, op: u16, k: u32) {
        self.code.push(sock_filter {
            code: op,
            jt: 0,
            jf: 1,
            k,
        });
    }

    fn tree(&mut self, calls: &[(u32, Decision)]) {
        if calls.len() <= LEAF {
            for (nr, d) in calls {
                self.test(BPF_JEQ_K, *nr);
                self.jump(match d {
                    Decision::Allow => Label::Allow,
                    Decision::Program => Label::Program,
                });
            }
            self.jump(Label::Default);
            return;
        }
        let mid = calls.len() / 2;
        self.test(BPF_JGE_K, calls[mid].0);
        let to_right = self.jump(Label::At(0));
        self.tree(&calls[..mid]);
        self.jumps[to_right].1 = Label::At(self.code.len());
        self.tree(&calls[mid..]);
    }
}

/// Compile an allow-list (`rules`: calls allowed outright when their rule list is empty,
/// else when one rule matches; `mismatch` for everything else): the tree decides the plain
/// ones, and seccompiler's program, compiled from the argument rules only, the rest.
pub fn compile(
    rules: &BTreeMap<i64, Vec<SeccompRule>>,
    mismatch: SeccompAction,
    arch: TargetArch,
) -> Result<BpfProgram, String> {
    let calls = decisions(rules);
    let with_args: BTreeMap<i64, Vec<SeccompRule>> = rules
        .iter()
        .filter(|(_, r)| !r.is_empty())
        .map(|(nr, r)| (*nr, r.clone()))
        .collect();
    let program = SeccompFilter::new(with_args, mismatch.clone(), SeccompAction::Allow, arch)
        .and_then(BpfProgram::try_from)
        .map_err(|e| e.to_string())?;
    with_tree(program, &calls, u32::from(mismatch))
}

/// What the tree does with each listed call: allowed outright when its rule list is empty.
fn decisions(rules: &BTreeMap<i64, Vec<SeccompRule>>) -> BTreeMap<i64, Decision> {
    rules
        .iter()
        .map(|(nr, r)| {
            let d = if r.is_empty() {
                Decision::Allow
            } else {
                Decision::Program
            };
            (*nr, d)
        })
        .collect()
}

/// `program` (compiled from the same rules, with `mismatch` as the answer for numbers it does
/// not list) with the tree over `calls` in front. Numbers outside `calls`, and x32 ones, get
/// `mismatch`; another architecture goes to `program`'s own check.
pub fn with_tree(
    program: BpfProgram,
    calls: &BTreeMap<i64, Decision>,
    mismatch: u32,
) -> Result<BpfProgram, String> {
    let sorted: Vec<(u32, Decision)> = calls
        .iter()
        .filter_map(|(nr, d)| u32::try_from(*nr).ok().map(|nr| (nr, *d)))
        .collect();
    let mut e = Emitter {
        code: Vec::new(),
        jumps: Vec::new(),
    };
    e.code.push(stmt(BPF_LD_W_ABS, OFFSET_ARCH));
    // This architecture skips the jump to the program (whose own check refuses others).
    e.code.push(sock_filter {
        code: BPF_JEQ_K,
        jt: 1,
        jf: 0,
        k: audit_arch(),
    });
    e.jump(Label::Program);
    e.code.push(stmt(BPF_LD_W_ABS, OFFSET_NR));
    e.tree(&sorted);
    let allow = e.code.len();
    e.code.push(stmt(BPF_RET_K, RET_ALLOW));
    let default = e.code.len();
    e.code.push(stmt(BPF_RET_K, mismatch));
    let start = e.code.len();
    for (at, label) in &e.jumps {
        let to = match label {
            Label::Allow => allow,
            Label::Default => default,
            Label::Program => start,
            Label::At(i) => *i,
        };
        e.code[*at].k = u32::try_from(to - at - 1).map_err(|_| "jump too far")?;
    }
    e.code.extend(program);
    if e.code.len() > MAX_LEN {
        return Err(format!(
            "the seccomp filter is {} instructions long; the kernel takes {MAX_LEN}",
            e.code.len()
        ));
    }
    Ok(e.code)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The classic BPF the kernel runs for seccomp, enough of it for seccompiler's output and
    /// ours: loads of seccomp_data words, AND, the K jumps, returns. (The answer, and how
    /// many instructions it took.)
    fn run(prog: &[sock_filter], data: &[u32; 16]) -> (u32, usize) {
        let (mut a, mut pc, mut steps) = (0u32, 0usize, 0usize);
        loop {
            let i = &prog[pc];
            pc += 1;
            steps += 1;
            match i.code {
                0x20 => a = data[(i.k / 4) as usize],
                0x54 => a &= i.k,
                0x05 => pc += i.k as usize,
                0x15 | 0x25 | 0x35 | 0x45 => {
                    let hit = match i.code {
                        0x15 => a == i.k,
                        0x25 => a > i.k,
                        0x35 => a >= i.k,
                        _ => a & i.k != 0,
                    };
                    pc += if hit { i.jt } else { i.jf } as usize;
                }
                0x06 => return (i.k, steps),
                other => panic!("opcode {other:#x} not emulated"),
            }
        }
    }

    fn data(arch: u32, nr: u32, arg0: u64) -> [u32; 16] {
        let mut d = [0u32; 16];
        d[0] = nr;
        d[1] = arch;
        d[4] = arg0 as u32;
        d[5] = (arg0 >> 32) as u32;
        d
    }

    #[test]
    fn the_tree_decides_as_the_program_does() {
        let caps = crate::ns::caps::default_set();
        let (rules, mismatch) = crate::ns::seccomp::default_rules(&caps).expect("rules");
        let calls = decisions(&rules);
        // The reference: seccompiler's own program for the whole list.
        let program = SeccompFilter::new(
            rules.clone(),
            mismatch.clone(),
            SeccompAction::Allow,
            crate::ns::seccomp::arch(),
        )
        .and_then(BpfProgram::try_from)
        .expect("program");
        let fast = compile(&rules, mismatch, crate::ns::seccomp::arch()).expect("tree");
        assert!(
            fast.len() < program.len(),
            "{} vs {}",
            fast.len(),
            program.len()
        );
        let arches = [audit_arch(), 0x4000_0003];
        let args = [0u64, 8, 0x1000_0000, 0x2000_0000 | 0x11, 0xffff_ffff];
        let mut allowed = 0;
        for arch in arches {
            for nr in (0..600).chain([0x4000_0000, 0x4000_0001, u32::MAX]) {
                for arg in args {
                    let d = data(arch, nr, arg);
                    let want = run(&program, &d).0;
                    assert_eq!(
                        run(&fast, &d).0,
                        want,
                        "arch {arch:#x} nr {nr} arg {arg:#x}"
                    );
                    allowed += usize::from(want == RET_ALLOW);
                }
            }
        }
        assert!(
            allowed > 1000,
            "the filter allows what it should: {allowed}"
        );
        // The point: no number walks the long program unless its arguments matter.
        let longest = (0..600)
            .filter(|nr| {
                !calls
                    .get(&i64::from(*nr))
                    .is_some_and(|d| *d == Decision::Program)
            })
            .map(|nr| run(&fast, &data(audit_arch(), nr, 0)).1)
            .max()
            .unwrap_or(0);
        assert!(longest < 40, "{longest} instructions");
    }
}
