//! `--init`: skiff itself stays pid 1 of the container, reaps every zombie, forwards signals to
//! the command and exits with the command's status (128+N when a signal killed it).

use std::convert::Infallible;

use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

use super::process::{ProcessSpec, exec_process};
use super::sync::{ChildError, Stage};

pub fn run_as_init(spec: &ProcessSpec) -> Result<Infallible, ChildError> {
    // SIGKILL and SIGSTOP can be neither blocked nor waited for.
    let mut all = SigSet::all();
    all.remove(Signal::SIGKILL);
    all.remove(Signal::SIGSTOP);
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&all), None)
        .map_err(|e| ChildError::os(Stage::Setup, "blocking signals for init", e))?;
    // SAFETY: single-threaded; the child only execs.
    match unsafe { fork() }.map_err(|e| ChildError::os(Stage::Setup, "fork for --init", e))? {
        ForkResult::Child => exec_process(spec),
        ForkResult::Parent { child } => {
            // From here on the command's exec (or error) is reported by the child alone: our
            // copy of the sync socket must close so its EOF can be seen.
            // SAFETY: closes descriptors >= 3 of this process only.
            unsafe {
                libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
            }
            let code = supervise(child, &all);
            // SAFETY: plain process exit.
            unsafe { libc::_exit(code) }
        }
    }
}

fn supervise(child: Pid, all: &SigSet) -> i32 {
    loop {
        let sig = match all.wait() {
            Ok(s) => s,
            Err(_) => continue,
        };
        if sig != Signal::SIGCHLD {
            let _ = nix::sys::signal::kill(child, sig);
            continue;
        }
        // Reap everything that exited: orphans are reparented to us.
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == child => return code,
                Ok(WaitStatus::Signaled(pid, s, _)) if pid == child => return 128 + s as i32,
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }
}
