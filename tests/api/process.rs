//! The real `taskhub` binary as a child process, for tests that must signal or kill a node.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// JWT secret every test node shares, so one node's tokens work on another.
pub const SECRET: &str = "fake-test-jwt-secret-0123456789abcdef";

pub struct Process {
    pub child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    /// Starts `taskhub serve` on a free port with a fresh data dir and `envs` on top (no
    /// `DATABASE_URL`/`REDIS_URL` unless given), and reads its one "listening" line.
    pub fn spawn(envs: &[(&str, &str)]) -> Process {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_taskhub"));
        cmd.arg("serve")
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .env("TASKHUB_ADDR", "127.0.0.1:0")
            .env("TASKHUB_DATA_DIR", dir.path())
            .env("JWT_SECRET", SECRET)
            .env("RUST_LOG", "warn")
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().expect("spawn taskhub");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("taskhub listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .to_string();
        Process {
            child,
            url,
            _dir: dir,
        }
    }

    /// The node's WebSocket URL.
    pub fn ws_url(&self) -> String {
        format!("{}/ws", self.url.replacen("http://", "ws://", 1))
    }
}
