//! Users and tasks for a run, made through the server's own REST API: the development
//! test login (`POST /api/auth/test/login?email=…`) and `POST /api/video/tasks`. Both are
//! rate limited (TASKHUB_RATE_AUTH_PER_MIN per IP, TASKHUB_RATE_TASK_CREATE_PER_MIN per user):
//! the server must run with them raised, as scripts/bench-hub.sh starts it.

use std::sync::atomic::AtomicU64;

use anyhow::{bail, Context};
use futures_util::{StreamExt, TryStreamExt};
use serde_json::{json, Value};

/// A loadgen user: its token and the ids of the tasks it owns.
#[derive(Debug)]
pub struct LgUser {
    pub id: String,
    pub token: String,
    pub tasks: Vec<String>,
    /// Its sockets subscribed and still open.
    pub sockets: AtomicU64,
}

/// Signs in `count` users (`{prefix}{i}@loadgen.test`, created on first use) and gives each
/// `tasks` tasks, `parallel` requests at a time.
pub async fn users(
    base: &str,
    prefix: &str,
    count: usize,
    tasks: usize,
    parallel: usize,
) -> anyhow::Result<Vec<LgUser>> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(parallel)
        .build()?;
    futures_util::stream::iter(0..count)
        .map(|i| {
            let http = http.clone();
            async move { one_user(&http, base, prefix, i, tasks).await }
        })
        .buffered(parallel)
        .try_collect()
        .await
}

async fn one_user(
    http: &reqwest::Client,
    base: &str,
    prefix: &str,
    i: usize,
    tasks: usize,
) -> anyhow::Result<LgUser> {
    let url = format!("{base}/api/auth/test/login?email={prefix}{i}@loadgen.test");
    let v: Value = http
        .post(&url)
        .send()
        .await
        .context("test login")?
        .json()
        .await?;
    let (Some(token), Some(id)) = (
        v["data"]["accessToken"].as_str(),
        v["data"]["user"]["id"].as_str(),
    ) else {
        bail!("test login failed (is the server in development mode, with the REST rate limits raised as scripts/bench-hub.sh does?): {v}");
    };
    let mut user = LgUser {
        id: id.to_string(),
        token: token.to_string(),
        tasks: Vec::new(),
        sockets: AtomicU64::new(0),
    };
    for t in 0..tasks {
        let vid = create_task(http, base, &user.token, &format!("loadgen {i}/{t}")).await?;
        user.tasks.push(vid);
    }
    Ok(user)
}

/// Creates one task over REST (`POST /api/video/tasks`, a 4 s text-to-video job) and returns
/// its id.
pub async fn create_task(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    prompt: &str,
) -> anyhow::Result<String> {
    let body = json!({"prompt": prompt, "model": "sora-2", "seconds": 4, "size": "720x1280"});
    let v: Value = http
        .post(format!("{base}/api/video/tasks"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?
        .json()
        .await?;
    match v["data"]["videoId"].as_str() {
        Some(vid) => Ok(vid.to_string()),
        None => bail!("creating a task failed: {v}"),
    }
}
