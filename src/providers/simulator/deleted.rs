//! The ids a simulator node was asked to delete: a set bounded by the bytes of its ids,
//! forgetting the oldest first when a new id would not fit (it is a simulator; a forgotten
//! deletion only makes an old job answer again).

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

/// Bookkeeping per remembered id beyond its own bytes (two copies, hash slot, queue slot).
const OVERHEAD: usize = 64;

pub(super) struct DeletedSet {
    budget: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    ids: HashSet<String>,
    order: VecDeque<String>,
    bytes: usize,
}

fn cost(id: &str) -> usize {
    2 * id.len() + OVERHEAD
}

impl DeletedSet {
    /// A set that never holds more than `budget` bytes of ids (plus bookkeeping).
    pub(super) fn new(budget: usize) -> Self {
        Self {
            budget,
            inner: Mutex::default(),
        }
    }

    pub(super) fn contains(&self, id: &str) -> bool {
        self.inner
            .lock()
            .map(|g| g.ids.contains(id))
            .unwrap_or(false)
    }

    /// Remembers `id`, forgetting the oldest ids until it fits. `false` when `id` alone is
    /// larger than the budget (nothing is stored).
    pub(super) fn insert(&self, id: &str) -> bool {
        let need = cost(id);
        if need > self.budget {
            return false;
        }
        let Ok(mut g) = self.inner.lock() else {
            return false;
        };
        if g.ids.contains(id) {
            return true;
        }
        while g.bytes + need > self.budget {
            let Some(old) = g.order.pop_front() else {
                break;
            };
            g.ids.remove(&old);
            g.bytes -= cost(&old);
        }
        g.ids.insert(id.to_string());
        g.order.push_back(id.to_string());
        g.bytes += need;
        true
    }

    /// Bytes accounted to the ids held now.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.inner.lock().map(|g| g.bytes).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_set_stays_within_its_byte_budget_forgetting_the_oldest() {
        let set = DeletedSet::new(10 * cost(&"x".repeat(100)));
        let ids: Vec<String> = (0..50).map(|i| format!("{i:0>100}")).collect();
        for id in &ids {
            assert!(set.insert(id));
            assert!(set.bytes() <= 10 * cost(&ids[0]), "{}", set.bytes());
        }
        assert!(set.contains(&ids[49]) && set.contains(&ids[40]));
        assert!(!set.contains(&ids[39]), "the oldest are forgotten");
        assert!(!set.contains(&ids[0]));
        // An id larger than the whole budget is refused and evicts nothing.
        assert!(!set.insert(&"y".repeat(10_000)));
        assert!(set.contains(&ids[49]));
    }
}
