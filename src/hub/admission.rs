//! Caps on sockets that have not authenticated yet: one for the node, one per peer address.
//!
//! A socket takes an [`UnauthSlot`] before its upgrade is answered and gives it back when it
//! authenticates or goes, whichever is first (the slot's `Drop`). A socket over a cap is
//! upgraded and closed at once with [`CLOSE_TRY_AGAIN`], so a browser sees why.
//!
//! The per-address counts live in a sharded map whose entries go when their count reaches 0:
//! it never holds more entries than there are unauthenticated sockets, so it is bounded by
//! the node-wide cap. IPv6 peers are counted per /64 (one host usually owns a whole /64).

use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use dashmap::DashMap;

use super::HubInner;

/// Close code for a socket over an unauthenticated-socket cap (RFC 6455 "try again later").
pub const CLOSE_TRY_AGAIN: u16 = 1013;

#[derive(Default)]
pub struct Admission {
    total: AtomicUsize,
    per_ip: DashMap<IpAddr, usize>,
}

/// Which cap refused a socket; its close reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Node,
    Address,
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Node => "too many unauthenticated sockets; try again later",
            Refusal::Address => "too many unauthenticated sockets from this address",
        }
    }
}

/// One unauthenticated socket, counted until dropped.
pub struct UnauthSlot {
    hub: Arc<HubInner>,
    key: Option<IpAddr>,
}

impl Drop for UnauthSlot {
    fn drop(&mut self) {
        self.hub.admission.release(self.key);
    }
}

/// The address a peer is counted under.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

impl Admission {
    /// Counts one more unauthenticated socket from `peer` (if known), or says which cap
    /// it would pass.
    pub(super) fn admit(hub: &Arc<HubInner>, peer: Option<IpAddr>) -> Result<UnauthSlot, Refusal> {
        let me = &hub.admission;
        let s = &hub.settings;
        if me.total.fetch_add(1, Ordering::AcqRel) >= s.ws_max_unauthenticated {
            me.total.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::Node);
        }
        let per_ip = s.ws_max_unauthenticated_per_ip;
        let key = peer.filter(|_| per_ip > 0).map(key);
        if let Some(k) = key {
            let mut n = me.per_ip.entry(k).or_insert(0);
            if *n >= per_ip {
                drop(n);
                me.total.fetch_sub(1, Ordering::AcqRel);
                return Err(Refusal::Address);
            }
            *n += 1;
        }
        Ok(UnauthSlot {
            hub: hub.clone(),
            key,
        })
    }

    fn release(&self, key: Option<IpAddr>) {
        if let Some(k) = key {
            self.per_ip.remove_if_mut(&k, |_, n| {
                *n = n.saturating_sub(1);
                *n == 0
            });
        }
        self.total.fetch_sub(1, Ordering::AcqRel);
    }

    /// (unauthenticated sockets, addresses counted) now.
    pub fn counts(&self) -> (usize, usize) {
        (self.total.load(Ordering::Acquire), self.per_ip.len())
    }
}

#[cfg(test)]
mod tests {
    use super::key;
    use std::net::IpAddr;

    #[test]
    fn ipv6_peers_count_per_64_and_mapped_v4_as_v4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(key(a), key(b));
        assert_ne!(key(a), key(c));
        let mapped: IpAddr = "::ffff:10.0.0.7".parse().unwrap();
        assert_eq!(key(mapped), "10.0.0.7".parse::<IpAddr>().unwrap());
    }
}
