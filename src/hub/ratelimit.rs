//! A socket's inbound rate limit: a token bucket that drops excess frames (saying so once
//! a second) and tells the session to close a socket that keeps flooding.

use std::time::Duration;

use tokio::time::Instant;

pub(super) enum Admit {
    Yes,
    /// Over the limit: drop the frame and say so (once per second).
    NoAndSay,
    No,
    /// Far over the limit: close with 1008.
    Flood,
}

/// `rate` frames per second, bursts of `burst` (at least twice the rate).
pub(super) struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
    window_start: Instant,
    denied_in_window: u32,
}

impl TokenBucket {
    pub(super) fn new(rate: u32, burst: usize) -> Self {
        let rate = f64::from(rate.max(1));
        let burst = (burst as f64).max(rate * 2.0);
        let now = Instant::now();
        Self {
            rate,
            burst,
            tokens: burst,
            last: now,
            window_start: now,
            denied_in_window: 0,
        }
    }

    pub(super) fn take(&mut self) -> Admit {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Admit::Yes;
        }
        if now.duration_since(self.window_start) >= Duration::from_secs(1) {
            self.window_start = now;
            self.denied_in_window = 0;
        }
        self.denied_in_window += 1;
        if f64::from(self.denied_in_window) > self.rate * 3.0 + 10.0 {
            Admit::Flood
        } else if self.denied_in_window == 1 {
            Admit::NoAndSay
        } else {
            Admit::No
        }
    }
}
