//! REST calls through the load balancer, each recorded (time, route, status) so the checker
//! can tell the 5xx answers inside declared outage windows from those outside.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

use crate::Clock;

#[derive(Clone, Debug)]
pub struct Call {
    pub at_ms: u64,
    pub what: String,
    /// 0: no answer (connection refused, reset, timeout).
    pub status: u16,
}

pub struct Rest {
    pub base: String,
    http: reqwest::Client,
    clock: Clock,
    calls: Mutex<Vec<Call>>,
}

impl Rest {
    pub fn new(base: String, clock: Clock) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .pool_max_idle_per_host(64)
            .build()
            .expect("http client");
        Self {
            base,
            http,
            clock,
            calls: Mutex::new(Vec::new()),
        }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// One call; `Ok((status, body))` for any answer, `Err` when none came.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<(u16, Value)> {
        let what = format!("{method} {}", route_of(path));
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let result = req.send().await;
        let at_ms = self.clock.ms();
        let (status, out) = match result {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let body = resp.json::<Value>().await.unwrap_or(Value::Null);
                (status, Ok((status, body)))
            }
            Err(e) => (0, Err(anyhow::Error::from(e))),
        };
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Call {
                at_ms,
                what,
                status,
            });
        out
    }

    /// Repeats a call that got no answer or a 5xx (at most `tries` times, 500 ms apart).
    pub async fn call_retrying(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
        tries: usize,
    ) -> anyhow::Result<(u16, Value)> {
        let mut last = Err(anyhow::anyhow!("not tried"));
        for _ in 0..tries.max(1) {
            last = self.call(method.clone(), path, token, body, headers).await;
            match &last {
                Ok((s, _)) if *s < 500 => return last,
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
        last
    }
}

/// A path with its ids replaced by `{id}` (logs group by route).
fn route_of(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    path.split('/')
        .map(|seg| {
            if seg.starts_with("video_") {
                "{id}"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}
