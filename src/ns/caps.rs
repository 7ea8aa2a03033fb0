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
