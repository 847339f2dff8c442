//! Users and tasks for a run, made through the server's own REST API: the development
//! test login (`POST /api/auth/test/login?email=…`) and `POST /api/video/tasks`. Both are
//! rate limited (TASKHUB_RATE_AUTH_PER_MIN per IP, TASKHUB_RATE_TASK_CREATE_PER_MIN per user):
//! the server must run with them raised, as scripts/bench-hub.sh starts it.

use anyhow::{bail, Context};
use futures_util::{StreamExt, TryStreamExt};
use serde_json::{json, Value};

/// A loadgen user: its token and the ids of the tasks it owns.
#[derive(Clone, Debug)]
pub struct LgUser {
    pub id: String,
    pub token: String,
    pub tasks: Vec<String>,
}

/// Signs in `count` users (`lg{i}@loadgen.test`, created on first use) and gives each
/// `tasks` tasks, `parallel` requests at a time.
pub async fn users(
    base: &str,
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
            async move { one_user(&http, base, i, tasks).await }
        })
        .buffered(parallel)
        .try_collect()
        .await
}

async fn one_user(
    http: &reqwest::Client,
    base: &str,
    i: usize,
    tasks: usize,
) -> anyhow::Result<LgUser> {
    let url = format!("{base}/api/auth/test/login?email=lg{i}@loadgen.test");
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
    };
    for t in 0..tasks {
        let body = json!({"prompt": format!("loadgen {i}/{t}"), "model": "sora-2", "seconds": 4, "size": "720x1280"});
        let v: Value = http
            .post(format!("{base}/api/video/tasks"))
            .bearer_auth(&user.token)
            .json(&body)
            .send()
            .await?
            .json()
            .await?;
        let Some(vid) = v["data"]["videoId"].as_str() else {
            bail!("creating a task failed: {v}");
        };
        user.tasks.push(vid.to_string());
    }
    Ok(user)
}
