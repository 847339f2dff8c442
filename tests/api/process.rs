//! The real `taskhub` binary as a child process, for tests that must signal or kill a node.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// JWT secret every test node shares, so one node's tokens work on another.
pub const SECRET: &str = "fake-test-jwt-secret-0123456789abcdef";

/// Rate and hashing-queue limits high enough for tests that sign up many users from one
/// address (a test's own `envs` come after and win).
pub const RELAXED_LIMITS: &[(&str, &str)] = &[
    ("TASKHUB_RATE_AUTH_PER_MIN", "1000000"),
    ("TASKHUB_RATE_TASK_CREATE_PER_MIN", "1000000"),
    ("TASKHUB_RATE_TASK_QUERY_PER_MIN", "1000000"),
    ("TASKHUB_RATE_OTHER_PER_MIN", "1000000"),
    ("TASKHUB_HASH_QUEUE_TIMEOUT_MS", "120000"),
    ("TASKHUB_HASH_QUEUE_MAX", "100000"),
];

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
        Self::spawn_under(&[], envs)
    }

    /// Like [`Process::spawn`], run through `wrapper` (e.g. `["prlimit", "--nofile=64", "--"]`).
    pub fn spawn_under(wrapper: &[&str], envs: &[(&str, &str)]) -> Process {
        let dir = tempfile::tempdir().unwrap();
        let bin = env!("CARGO_BIN_EXE_taskhub");
        let mut cmd = match wrapper.split_first() {
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(bin);
                cmd
            }
            None => Command::new(bin),
        };
        cmd.arg("serve")
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .env("TASKHUB_ADDR", "127.0.0.1:0")
            .env("TASKHUB_DATA_DIR", dir.path())
            .env("JWT_SECRET", SECRET)
            .env("RUST_LOG", "warn")
            .envs(RELAXED_LIMITS.iter().copied())
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

/// The "listening" line names the address the node listens on (it said 127.0.0.1 whatever the
/// bind address was), and the node answers there.
#[tokio::test]
async fn the_listening_line_names_the_listeners_own_address() {
    let node = Process::spawn(&[("TASKHUB_ADDR", "127.0.0.2:0")]);
    assert!(node.url.starts_with("http://127.0.0.2:"), "{}", node.url);
    let addr = node.url.trim_start_matches("http://");
    tokio::net::TcpStream::connect(addr)
        .await
        .expect("the node answers at the address it printed");
}
