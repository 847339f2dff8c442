//! The processes of a chaos run: taskhub nodes, the provider simulator, a Redis of its own
//! and nginx in front of the nodes. Each writes its output to a log file in the run's folder;
//! each can be killed with SIGKILL (or stopped with SIGTERM) and started again.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::process::{Child, Command};

pub struct Proc {
    pub name: String,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    pub log: PathBuf,
    child: Option<Child>,
    /// The port it serves on, for readiness checks.
    pub port: u16,
}

impl Proc {
    pub fn new(
        name: &str,
        program: impl Into<PathBuf>,
        args: &[&str],
        dir: &Path,
        port: u16,
    ) -> Self {
        Self {
            name: name.to_string(),
            program: program.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: Vec::new(),
            log: dir.join(format!("{name}.log")),
            child: None,
            port,
        }
    }

    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.to_string(), value.into()));
        self
    }

    /// Starts it (appending to its log) and waits until its port accepts connections.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        self.child = Some(
            cmd.spawn()
                .with_context(|| format!("starting {} ({})", self.name, self.program.display()))?,
        );
        self.wait_ready(Duration::from_secs(60)).await
    }

    async fn wait_ready(&mut self, limit: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                bail!(
                    "{} exited with {status} (see {})",
                    self.name,
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "{} did not listen on {} within {limit:?}",
            self.name,
            self.port
        )
    }

    /// SIGKILL, then reap.
    /// The running process's pid.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
    }

    pub async fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// SIGTERM, then at most `grace` before SIGKILL.
    pub async fn stop(&mut self, grace: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Some(pid) = child.id() {
            // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped).
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGTERM);
            }
        }
        if tokio::time::timeout(grace, child.wait()).await.is_err() {
            let _ = child.kill().await;
        }
    }
}

/// nginx in front of the nodes: round robin, no stickiness, WebSocket upgrades passed on,
/// a failed upstream tried on the next one for requests nginx may repeat. `sockets`: the
/// watcher sockets it must hold (each takes two connections, client and upstream).
pub fn nginx(dir: &Path, port: u16, nodes: &[u16], sockets: usize) -> anyhow::Result<Proc> {
    // The first large run had 8,192 here: 5,000 watchers need 10,000 connections, nginx
    // refused the rest, marked every node failed and answered "no live upstreams" (502) to
    // most task creations. Sized with room for REST calls and reconnects in flight.
    let connections = (sockets * 2 + 4096).max(8192);
    // An upstream is marked failed for 2 s after 3 failures (a killed node refuses at once);
    // 1 failure was enough to take all three out during a burst of reconnects.
    let root = dir.join("nginx");
    std::fs::create_dir_all(root.join("tmp"))?;
    let servers: String = nodes
        .iter()
        .map(|p| format!("    server 127.0.0.1:{p} max_fails=3 fail_timeout=2s;\n"))
        .collect();
    let r = root.display();
    let files = connections + 1024;
    let conf = format!(
        "worker_processes 1;
worker_rlimit_nofile {files};
daemon off;
pid {r}/nginx.pid;
error_log {r}/error.log warn;
events {{ worker_connections {connections}; }}
http {{
  access_log off;
  client_body_temp_path {r}/tmp/body;
  proxy_temp_path {r}/tmp/proxy;
  fastcgi_temp_path {r}/tmp/fastcgi;
  uwsgi_temp_path {r}/tmp/uwsgi;
  scgi_temp_path {r}/tmp/scgi;
  map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
  upstream taskhub {{
{servers}  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://taskhub;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_connect_timeout 3s;
      proxy_read_timeout 3600s;
      proxy_next_upstream error timeout http_502 http_503;
    }}
  }}
}}
"
    );
    let path = root.join("nginx.conf");
    std::fs::write(&path, conf)?;
    let nginx = which("nginx").unwrap_or_else(|| PathBuf::from("/usr/sbin/nginx"));
    let path = path.display().to_string();
    let prefix = root.display().to_string();
    Ok(Proc::new(
        "nginx",
        nginx,
        &["-p", &prefix, "-c", &path],
        dir,
        port,
    ))
}

/// A Redis of the run's own (nothing kept on disk).
pub fn redis(dir: &Path, port: u16) -> Proc {
    let port_s = port.to_string();
    Proc::new(
        "redis",
        which("redis-server").unwrap_or_else(|| PathBuf::from("redis-server")),
        &[
            "--port",
            &port_s,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        dir,
        port,
    )
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/bin".into()])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Runs a shell command (the PostgreSQL restart) and fails on a non-zero exit.
pub async fn shell(cmd: &str) -> anyhow::Result<()> {
    let out = Command::new("bash").arg("-c").arg(cmd).output().await?;
    if !out.status.success() {
        bail!(
            "`{cmd}` failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
