//! The workload: `users` users signed in through the load balancer, `tasks` tasks created
//! over REST spread over `create_secs` (some fail at the provider, some are cancelled), every
//! created task registered so watchers can follow it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use reqwest::Method;
use serde_json::json;

use crate::rest::Rest;
use crate::rnd;

pub struct User {
    pub token: String,
}

#[derive(Default)]
pub struct Registry {
    pub users: Vec<User>,
    /// `(user index, videoId)` of every task the workload was told was created.
    tasks: Mutex<Vec<(usize, String)>>,
    /// The same tasks by user: task-mode watchers look theirs up every 300 ms, and a scan of
    /// every task would cost the large run's load generator a core.
    by_user: Mutex<std::collections::HashMap<usize, Vec<String>>>,
    pub create_failures: Mutex<Vec<String>>,
}

impl Registry {
    pub fn new(users: Vec<User>) -> Self {
        Self {
            users,
            ..Default::default()
        }
    }

    pub fn tasks_of(&self, user: usize) -> Vec<String> {
        let by_user = self.by_user.lock().unwrap_or_else(|p| p.into_inner());
        by_user.get(&user).cloned().unwrap_or_default()
    }

    pub fn all_tasks(&self) -> Vec<(usize, String)> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Signs in `n` users (test login through the load balancer).
pub async fn sign_in(rest: &Rest, n: usize, run: &str) -> anyhow::Result<Vec<User>> {
    let mut users = Vec::with_capacity(n);
    for i in 0..n {
        let path = format!("/api/auth/test/login?email=chaos{i}-{run}@example.com");
        let (status, body) = rest
            .call_retrying(Method::POST, &path, None, None, &[], 10)
            .await?;
        let token = body["data"]["accessToken"].as_str().map(str::to_string);
        match (status, token) {
            (200, Some(token)) => users.push(User { token }),
            _ => bail!("test login {i}: {status} {body}"),
        }
    }
    Ok(users)
}

pub struct Mix {
    pub tasks: usize,
    pub create_secs: u64,
    pub fail_per_mille: u64,
    pub cancel_per_mille: u64,
}

/// Creates the tasks, paced evenly over `create_secs`, each in its own task; returns when
/// every creation (and cancellation) has ended.
pub async fn create_tasks(rest: Arc<Rest>, reg: Arc<Registry>, mix: Mix) -> anyhow::Result<()> {
    let pace = Duration::from_millis(mix.create_secs * 1000 / mix.tasks.max(1) as u64);
    let mut handles = Vec::with_capacity(mix.tasks);
    for i in 0..mix.tasks {
        let user = i % reg.users.len();
        let fail = rnd(0, 1000) < mix.fail_per_mille;
        let cancel = rnd(0, 1000) < mix.cancel_per_mille;
        handles.push(tokio::spawn(create_one(
            rest.clone(),
            reg.clone(),
            user,
            i,
            fail,
            cancel,
        )));
        tokio::time::sleep(pace).await;
    }
    for h in handles {
        h.await.context("creation task")?;
    }
    Ok(())
}

async fn create_one(
    rest: Arc<Rest>,
    reg: Arc<Registry>,
    user: usize,
    i: usize,
    fail: bool,
    cancel: bool,
) {
    let prompt = format!("chaos task {i}{}", if fail { " [fail]" } else { "" });
    let token = &reg.users[user].token;
    let body = json!({ "prompt": prompt });
    // One key per intended task: a retry after an answer that never came (a node killed
    // mid-request) gets the task the first try made, so the run makes exactly its tasks.
    let key = format!("chaos-task-{i}");
    let created = rest
        .call_retrying(
            Method::POST,
            "/api/video/tasks",
            Some(token),
            Some(&body),
            &[("idempotency-key", &key)],
            8,
        )
        .await;
    let id = match created {
        Ok((201, ref b)) => b["data"]["videoId"].as_str().map(str::to_string),
        _ => None,
    };
    let Some(id) = id else {
        let why = format!("task {i}: {created:?}");
        reg.create_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(why);
        return;
    };
    reg.tasks
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((user, id.clone()));
    reg.by_user
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(user)
        .or_default()
        .push(id.clone());
    if cancel {
        tokio::time::sleep(Duration::from_millis(rnd(300, 3000))).await;
        let path = format!("/api/video/tasks/{id}/cancel");
        let _ = rest
            .call_retrying(Method::POST, &path, Some(token), None, &[], 8)
            .await;
    }
}
