//! A socket's cursors by task: a short vector while the socket follows a few tasks (most
//! sockets follow one or none), a hash map beyond that. A hash map's smallest table holds
//! four entries and its control bytes (about 290 bytes for one cursor); the vector holds
//! exactly what is in it. Lookups in the vector are a scan of at most [`SMALL`] keys.

use std::collections::HashMap;
use std::sync::Arc;

use super::outbox::Cursor;

/// Entries kept in the vector; one more moves them to a hash map.
const SMALL: usize = 8;

type Large = HashMap<Arc<str>, Cursor, rustc_hash::FxBuildHasher>;

pub(super) enum CursorMap {
    Small(Vec<(Arc<str>, Cursor)>),
    /// Boxed: the map's header (32 bytes) is paid only by sockets that need it.
    #[allow(clippy::box_collection)]
    Large(Box<Large>),
}

impl Default for CursorMap {
    fn default() -> Self {
        Self::Small(Vec::new())
    }
}

impl CursorMap {
    pub(super) fn len(&self) -> usize {
        match self {
            Self::Small(v) => v.len(),
            Self::Large(m) => m.len(),
        }
    }

    pub(super) fn get(&self, key: &str) -> Option<&Cursor> {
        match self {
            Self::Small(v) => v.iter().find(|(k, _)| &**k == key).map(|(_, c)| c),
            Self::Large(m) => m.get(key),
        }
    }

    pub(super) fn get_mut(&mut self, key: &str) -> Option<&mut Cursor> {
        match self {
            Self::Small(v) => v.iter_mut().find(|(k, _)| &**k == key).map(|(_, c)| c),
            Self::Large(m) => m.get_mut(key),
        }
    }

    pub(super) fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Inserts or replaces `key`'s cursor.
    pub(super) fn insert(&mut self, key: Arc<str>, cursor: Cursor) {
        if let Some(c) = self.get_mut(&key) {
            *c = cursor;
            return;
        }
        match self {
            Self::Small(v) if v.len() < SMALL => {
                // Grown one at a time: a socket following one task holds one entry.
                v.reserve_exact(1);
                v.push((key, cursor));
            }
            Self::Small(v) => {
                let mut m: Large = std::mem::take(v).into_iter().collect();
                m.insert(key, cursor);
                *self = Self::Large(Box::new(m));
            }
            Self::Large(m) => {
                m.insert(key, cursor);
            }
        }
    }

    /// `key`'s cursor, a default one inserted if it has none.
    pub(super) fn get_or_default(&mut self, key: &Arc<str>) -> &mut Cursor {
        if !self.contains_key(key) {
            self.insert(key.clone(), Cursor::default());
        }
        self.get_mut(key).expect("just inserted")
    }

    pub(super) fn remove(&mut self, key: &str) -> Option<Cursor> {
        let removed = match self {
            Self::Small(v) => {
                let i = v.iter().position(|(k, _)| &**k == key)?;
                Some(v.swap_remove(i).1)
            }
            Self::Large(m) => m.remove(key),
        };
        self.shrink();
        removed
    }

    pub(super) fn retain(&mut self, mut keep: impl FnMut(&Arc<str>, &mut Cursor) -> bool) {
        match self {
            Self::Small(v) => v.retain_mut(|(k, c)| keep(k, c)),
            Self::Large(m) => m.retain(|k, c| keep(k, c)),
        }
        self.shrink();
    }

    pub(super) fn iter(&self) -> Box<dyn Iterator<Item = (&Arc<str>, &Cursor)> + '_> {
        match self {
            Self::Small(v) => Box::new(v.iter().map(|(k, c)| (k, c))),
            Self::Large(m) => Box::new(m.iter()),
        }
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &Cursor> + '_ {
        self.iter().map(|(_, c)| c)
    }

    /// Gives memory back once the socket follows fewer tasks: an empty map holds nothing,
    /// and a large one that fits the vector again becomes one.
    fn shrink(&mut self) {
        match self {
            Self::Small(v) if v.is_empty() => *v = Vec::new(),
            Self::Small(v) => v.shrink_to_fit(),
            Self::Large(m) if m.len() <= SMALL / 2 => {
                let mut v: Vec<_> = std::mem::take(&mut **m).into_iter().collect();
                v.shrink_to_fit();
                *self = Self::Small(v);
            }
            Self::Large(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: usize) -> Arc<str> {
        Arc::from(format!("video_{i}"))
    }

    fn cursor(delivered: i64) -> Cursor {
        Cursor {
            delivered,
            ..Cursor::default()
        }
    }

    #[test]
    fn it_behaves_as_a_map_across_the_switch_to_a_hash_map_and_back() {
        let mut m = CursorMap::default();
        let mut model: HashMap<Arc<str>, i64> = HashMap::new();
        for i in 0..40 {
            m.insert(key(i % 20), cursor(i as i64));
            model.insert(key(i % 20), i as i64);
        }
        assert!(matches!(m, CursorMap::Large(_)));
        assert_eq!(m.len(), model.len());
        for (k, v) in &model {
            assert_eq!(m.get(k).map(|c| c.delivered), Some(*v));
        }
        m.get_or_default(&key(99)).delivered = 7;
        assert_eq!(m.get("video_99").map(|c| c.delivered), Some(7));
        m.retain(|_, c| c.delivered % 2 == 1 || c.delivered == 7);
        model.retain(|_, v| *v % 2 == 1);
        model.insert(key(99), 7);
        assert_eq!(m.len(), model.len());
        for k in model.keys().cloned().collect::<Vec<_>>() {
            assert!(m.remove(&k).is_some());
            assert!(!m.contains_key(&k));
        }
        assert_eq!(m.len(), 0);
        assert!(m.remove("video_1").is_none());
    }

    #[test]
    fn one_cursor_holds_one_entry_and_an_empty_map_holds_nothing() {
        let mut m = CursorMap::default();
        m.insert(key(1), cursor(1));
        match &m {
            CursorMap::Small(v) => assert_eq!(v.capacity(), 1),
            CursorMap::Large(_) => panic!("one cursor in a hash map"),
        }
        m.remove("video_1");
        match &m {
            CursorMap::Small(v) => assert_eq!(v.capacity(), 0),
            CursorMap::Large(_) => panic!("an empty hash map"),
        }
        for i in 0..=SMALL {
            m.insert(key(i), cursor(0));
        }
        assert!(matches!(m, CursorMap::Large(_)));
        for i in 0..SMALL {
            m.remove(&key(i));
        }
        assert!(matches!(&m, CursorMap::Small(v) if v.len() == 1 && v.capacity() == 1));
    }
}
