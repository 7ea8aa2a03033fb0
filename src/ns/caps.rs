//! Capabilities: docker's default set for a container's root, everything else dropped from the
//! bounding set so no later exec can regain it.

use caps::{CapSet, Capability, CapsHashSet};

use super::sync::{ChildError, Stage};

/// Docker's default capabilities (moby `oci/caps/defaults.go`).
pub const DEFAULT_CAPS: &[Capability] = &[
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FSETID,
    Capability::CAP_FOWNER,
    Capability::CAP_MKNOD,
    Capability::CAP_NET_RAW,
    Capability::CAP_SETGID,
    Capability::CAP_SETUID,
    Capability::CAP_SETFCAP,
    Capability::CAP_SETPCAP,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_SYS_CHROOT,
    Capability::CAP_KILL,
    Capability::CAP_AUDIT_WRITE,
];

pub fn default_set() -> CapsHashSet {
    DEFAULT_CAPS.iter().copied().collect()
}

/// Drop from the bounding set every capability not in `keep`. Must run while we still have
/// CAP_SETPCAP, i.e. before switching to the container's user.
pub fn limit_bounding(keep: &CapsHashSet) -> Result<(), ChildError> {
    for cap in caps::all() {
        if !keep.contains(&cap) && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
            caps::drop(None, CapSet::Bounding, cap).map_err(|e| {
                ChildError::new(Stage::Setup, libc::EPERM, format!("dropping {cap}: {e}"))
            })?;
        }
    }
    Ok(())
}

/// After the switch to the container's user: root keeps `keep` as effective, permitted and
/// inheritable; any other uid ends with none (the kernel cleared them on setuid).
pub fn apply_for_user(uid: u32, keep: &CapsHashSet) -> Result<(), ChildError> {
    let set = if uid == 0 {
        keep.clone()
    } else {
        CapsHashSet::new()
    };
    for which in [CapSet::Effective, CapSet::Inheritable] {
        // Effective must shrink before permitted may.
        caps::set(None, which, &set).map_err(|e| {
            ChildError::new(
                Stage::Setup,
                libc::EPERM,
                format!("setting capabilities: {e}"),
            )
        })?;
    }
    caps::set(None, CapSet::Permitted, &set).map_err(|e| {
        ChildError::new(
            Stage::Setup,
            libc::EPERM,
            format!("setting capabilities: {e}"),
        )
    })?;
    caps::clear(None, CapSet::Ambient).map_err(|e| {
        ChildError::new(
            Stage::Setup,
            libc::EPERM,
            format!("clearing ambient capabilities: {e}"),
        )
    })
}

/// An OCI process's capability sets, each applied as given (the bounding set is limited
/// separately, before the switch of user).
#[derive(Debug, Clone, Default)]
pub struct CapSets {
    pub effective: CapsHashSet,
    pub permitted: CapsHashSet,
    pub inheritable: CapsHashSet,
    pub ambient: CapsHashSet,
}

fn setting(what: &str) -> impl FnOnce(caps::errors::CapsError) -> ChildError + '_ {
    move |e| {
        ChildError::new(
            Stage::Setup,
            libc::EPERM,
            format!("setting {what} capabilities: {e}"),
        )
    }
}

/// After the switch of user (made with PR_SET_KEEPCAPS, so the permitted set survived it):
/// inheritable, effective, permitted, then each ambient capability raised, as runc does.
pub fn apply_sets(sets: &CapSets) -> Result<(), ChildError> {
    caps::set(None, CapSet::Inheritable, &sets.inheritable).map_err(setting("inheritable"))?;
    let effective: CapsHashSet = sets
        .effective
        .intersection(&sets.permitted)
        .copied()
        .collect();
    caps::set(None, CapSet::Effective, &effective).map_err(setting("effective"))?;
    caps::set(None, CapSet::Permitted, &sets.permitted).map_err(setting("permitted"))?;
    caps::clear(None, CapSet::Ambient).map_err(setting("ambient"))?;
    for cap in &sets.ambient {
        // The kernel raises an ambient capability only if it is permitted and inheritable.
        if sets.permitted.contains(cap) && sets.inheritable.contains(cap) {
            caps::raise(None, CapSet::Ambient, *cap).map_err(setting("ambient"))?;
        }
    }
    Ok(())
}
