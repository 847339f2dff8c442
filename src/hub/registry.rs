//! Who watches what on this node: task id -> sockets with a task subscription, and user id
//! -> that user's socket count and sockets with a user subscription.
//!
//! Both maps are sharded (`DashMap`), so the fan-out takes one shard's read lock for the
//! task and one for the user, never a global lock; the lists are short (a task is watched
//! only by its owner's sockets, at most `ws_max_sockets_per_user`). No guard is held across
//! an `.await`.

use std::sync::Arc;

use dashmap::DashMap;

use super::outbox::{Conn, Scope};
use crate::bus::BusEvent;

#[derive(Default)]
pub struct Registry {
    tasks: DashMap<Arc<str>, Vec<Arc<Conn>>>,
    users: DashMap<Arc<str>, UserEntry>,
}

#[derive(Default)]
struct UserEntry {
    /// Authenticated sockets of this user on this node.
    sockets: Vec<Arc<Conn>>,
    /// Those with a user subscription.
    scope: Vec<Arc<Conn>>,
}

impl Registry {
    /// Counts an authenticated socket of `user_id` and returns the user's shared id; None
    /// when the user already has `max`.
    pub fn add_socket(&self, user_id: &str, max: usize, conn: &Arc<Conn>) -> Option<Arc<str>> {
        let mut e = match self.users.get_mut(user_id) {
            Some(e) => e,
            None => self.users.entry(Arc::from(user_id)).or_default(),
        };
        if e.sockets.len() >= max {
            return None;
        }
        e.sockets.push(conn.clone());
        crate::ops::metrics::get().ws_authenticated.increment(1.0);
        Some(e.key().clone())
    }

    pub fn remove_socket(&self, user_id: &str, conn_id: u64) {
        crate::ops::metrics::get().ws_authenticated.decrement(1.0);
        self.users.remove_if_mut(user_id, |_, e| {
            e.sockets.retain(|c| c.id != conn_id);
            e.sockets.is_empty() && e.scope.is_empty()
        });
    }

    /// Every authenticated socket of `user_id` on this node.
    pub fn sockets_of(&self, user_id: &str) -> Vec<Arc<Conn>> {
        self.users
            .get(user_id)
            .map(|e| e.sockets.clone())
            .unwrap_or_default()
    }

    /// `video_id` as a shared string: the one this registry already holds when the task is
    /// watched here, so the sockets that follow a task do not each keep a copy of its id.
    pub fn task_key(&self, video_id: &str) -> Arc<str> {
        match self.tasks.get(video_id) {
            Some(e) => e.key().clone(),
            None => Arc::from(video_id),
        }
    }

    pub fn watch_task(&self, video_id: Arc<str>, conn: &Arc<Conn>) {
        let mut list = self.tasks.entry(video_id).or_default();
        if !list.iter().any(|c| c.id == conn.id) {
            list.push(conn.clone());
        }
    }

    pub fn unwatch_task(&self, video_id: &str, conn_id: u64) {
        self.tasks.remove_if_mut(video_id, |_, list| {
            list.retain(|c| c.id != conn_id);
            list.is_empty()
        });
    }

    pub fn watch_user(&self, user_id: &str, conn: &Arc<Conn>) {
        let mut e = self.users.entry(Arc::from(user_id)).or_default();
        if !e.scope.iter().any(|c| c.id == conn.id) {
            e.scope.push(conn.clone());
        }
    }

    pub fn unwatch_user(&self, user_id: &str, conn_id: u64) {
        self.users.remove_if_mut(user_id, |_, e| {
            e.scope.retain(|c| c.id != conn_id);
            e.sockets.is_empty() && e.scope.is_empty()
        });
    }

    /// Hands `ev` to every socket that watches its task or its user. A finished task's
    /// subscriptions end with its terminal frame, so its entry goes.
    pub fn dispatch(&self, ev: &Arc<BusEvent>) {
        self.dispatch_with(ev, Scope::User)
    }

    /// [`Registry::dispatch`], with `user_scope` saying how user subscriptions take it
    /// (live, or read back from the log).
    pub fn dispatch_with(&self, ev: &Arc<BusEvent>, user_scope: Scope) {
        if let Some(list) = self.tasks.get(&*ev.video_id) {
            for conn in list.iter() {
                conn.push_event(ev, Scope::Task);
            }
        }
        if let Some(user) = self.users.get(&*ev.user_id) {
            for conn in user.scope.iter() {
                conn.push_event(ev, user_scope);
            }
        }
        if ev.kind.is_terminal() {
            self.tasks.remove(&*ev.video_id);
        }
    }

    /// Task subscriptions now: each task and its watchers (for the log refill).
    pub fn watched_tasks(&self) -> Vec<(Arc<str>, Vec<Arc<Conn>>)> {
        self.tasks
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect()
    }

    /// User subscriptions now: each user and the sockets with one.
    pub fn user_scopes(&self) -> Vec<(Arc<str>, Vec<Arc<Conn>>)> {
        self.users
            .iter()
            .filter(|e| !e.scope.is_empty())
            .map(|e| (e.key().clone(), e.scope.clone()))
            .collect()
    }

    /// Every authenticated socket here.
    pub fn all_sockets(&self) -> Vec<Arc<Conn>> {
        self.users.iter().flat_map(|e| e.sockets.clone()).collect()
    }

    /// Users with an authenticated socket here.
    pub fn users_online(&self) -> Vec<Arc<str>> {
        self.users.iter().map(|e| e.key().clone()).collect()
    }

    /// (authenticated sockets, watched tasks, users) on this node.
    pub fn counts(&self) -> (usize, usize, usize) {
        let sockets = self.users.iter().map(|e| e.sockets.len()).sum();
        (sockets, self.tasks.len(), self.users.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_following_a_task_share_its_id() {
        let registry = Registry::default();
        let id = "video_00000000-0000-4000-8000-000000000001";
        let first = registry.task_key(id);
        let conn = Arc::new(Conn::new(1, 16, true, 8));
        registry.watch_task(first.clone(), &conn);
        let second = registry.task_key(id);
        assert!(
            Arc::ptr_eq(&first, &second),
            "the registry's copy, not a new one"
        );
        let other = registry.task_key("video_00000000-0000-4000-8000-000000000002");
        assert!(!Arc::ptr_eq(&first, &other));
    }
}
