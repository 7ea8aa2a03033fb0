//! The leaving side of bridge networking: a container's leases, veths and forwarding rules go
//! when it ends (`detach`), leaves one network (`disconnect`), or crashed (`reconcile`, run by
//! the next command that looks).

use super::NetError;
use super::bridge::{bridge_side, stop_if_unused, sync_firewall, within};
use super::netlink::Netlink;
use crate::config::Paths;
use crate::state::network::{Lease, NetworkStore};

/// Give back what a container holds: its leases (so its address and ports) and its rules;
/// other members' hosts files lose it. Called once its namespace is gone.
pub fn detach(paths: &Paths, container_id: &str) {
    // Its published ports, when this process forwards them (rootless).
    super::forward::stop(container_id);
    // Its own pasta or slirp4netns, if it has one.
    super::rootless::detach(&paths.runroot, container_id);
    let Ok(store) = NetworkStore::open(paths) else {
        return;
    };
    let Ok(_lock) = store.lock() else { return };
    let dropped = store.release(container_id);
    if dropped.is_empty() {
        return;
    }
    stop_if_unused(paths, &store);
    // No netlink here: the veths went with the container's namespace, and asking the kernel
    // about links now would wait for the rtnl lock that namespace's teardown holds through
    // RCU grace periods (~40 ms per run, measured). `network disconnect` deletes its veth.
    let _ = sync_firewall(paths, &store);
    for l in &dropped {
        super::hosts::refresh_members(&store, &l.network);
    }
}

/// Delete the host side of each of the container's veths (its peer goes with it): for a
/// namespace that outlives the container.
pub fn unplug(paths: &Paths, container_id: &str) {
    let Ok(store) = NetworkStore::open(paths) else {
        return;
    };
    let veths: Vec<String> = store
        .all_leases()
        .into_iter()
        .filter(|l| l.container_id == container_id)
        .map(|l| l.veth)
        .collect();
    delete_veths(paths, &veths);
}

/// Delete these host-side veths, where they live (the host, or the user's namespace).
fn delete_veths(paths: &Paths, veths: &[String]) {
    let Ok(side) = bridge_side(paths, false) else {
        return;
    };
    if paths.rootless && side.is_none() {
        return;
    }
    let _ = within(side.as_ref(), || {
        if let Ok(mut nl) = Netlink::open() {
            for v in veths {
                if let Ok(Some(i)) = nl.link_index(v) {
                    let _ = nl.delete_link(i);
                }
            }
        }
        Ok(())
    });
}

/// Drop leases whose holder died (a `kill -9`ed monitor) and rebuild the rules, when any.
pub fn reconcile(paths: &Paths) {
    if count_lease_files(paths) == 0 {
        return;
    }
    let Ok(store) = NetworkStore::open(paths) else {
        return;
    };
    let Ok(_lock) = store.lock() else { return };
    let stale: Vec<Lease> = lease_files(paths)
        .into_iter()
        .filter(|l| !l.is_live())
        .collect();
    if stale.is_empty() {
        return;
    }
    let live = store.all_leases();
    let crashed: Vec<&str> = stale
        .iter()
        .map(|l| l.container_id.as_str())
        .filter(|id| !live.iter().any(|l| l.container_id == *id))
        .collect();
    if paths.rootless {
        // A crashed container's pasta would hold its namespace alive: end it.
        for id in &crashed {
            super::rootless::detach(&paths.runroot, id);
        }
        stop_if_unused(paths, &store);
    }
    // Unlike a clean exit, a crash is rare: delete the host ends now rather than leave them
    // to the kernel's namespace teardown, which can lag seconds behind on a loaded host.
    let veths: Vec<String> = stale.iter().map(|l| l.veth.clone()).collect();
    delete_veths(paths, &veths);
    let _ = sync_firewall(paths, &store);
    let nets: Vec<String> = live.iter().map(|l| l.network.clone()).collect();
    for n in nets {
        super::hosts::refresh_members(&store, &n);
    }
}

/// Every lease file that parses, live or not.
fn lease_files(paths: &Paths) -> Vec<Lease> {
    let dir = paths.runroot.join("leases");
    let mut leases = Vec::new();
    for net in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(net.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Some(l) = std::fs::read(f.path())
                .ok()
                .and_then(|b| serde_json::from_slice::<Lease>(&b).ok())
            {
                leases.push(l);
            }
        }
    }
    leases
}

fn count_lease_files(paths: &Paths) -> usize {
    let dir = paths.runroot.join("leases");
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|n| std::fs::read_dir(n.path()).map(|e| e.count()).unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

/// `network disconnect`: drop the container's lease on `network`, and its interface.
pub fn disconnect(paths: &Paths, container_id: &str, network: &str) -> Result<(), NetError> {
    let store = NetworkStore::open(paths)?;
    let _lock = store.lock()?;
    let Some(lease) = store
        .leases(network)
        .into_iter()
        .find(|l| l.container_id == container_id)
    else {
        return Ok(());
    };
    let _ = std::fs::remove_file(store.lease_path(network, lease.ip));
    // Deleting the host side takes the container's side with it.
    let side = bridge_side(paths, false)?;
    if !paths.rootless || side.is_some() {
        within(side.as_ref(), || {
            let mut nl = Netlink::open()?;
            if let Some(i) = nl.link_index(&lease.veth)? {
                nl.delete_link(i)?;
            }
            Ok(())
        })?;
    }
    sync_firewall(paths, &store)?;
    stop_if_unused(paths, &store);
    super::hosts::refresh_members(&store, network);
    // Its own file loses the others of that network.
    super::hosts::write_hosts(&store, &lease);
    Ok(())
}
