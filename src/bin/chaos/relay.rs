//! A TCP relay the chaos run controls: it forwards one local port to a target, and can cut
//! every connection through it and refuse new ones for a while (a node cut off Redis), or
//! delay and reset connections at random (a flaky provider).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::rnd;

pub struct Relay {
    pub port: u16,
    cut: AtomicBool,
    /// Cancelled when the relay is cut: every connection made before ends.
    generation: Mutex<CancellationToken>,
    /// Per mille of new connections reset at once.
    reset_per_mille: AtomicU64,
    /// Largest delay before a new connection is forwarded (ms).
    max_delay_ms: AtomicU64,
    pub connections: AtomicU64,
    pub resets: AtomicU64,
}

impl Relay {
    /// Listens on `127.0.0.1:port` (0: any) and forwards to `target` until `stop`.
    pub async fn start(
        port: u16,
        target: String,
        stop: CancellationToken,
    ) -> anyhow::Result<Arc<Relay>> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let relay = Arc::new(Relay {
            port: listener.local_addr()?.port(),
            cut: AtomicBool::new(false),
            generation: Mutex::new(CancellationToken::new()),
            reset_per_mille: AtomicU64::new(0),
            max_delay_ms: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            resets: AtomicU64::new(0),
        });
        let r = relay.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = stop.cancelled() => return,
                    a = listener.accept() => a,
                };
                let Ok((inbound, _)) = accepted else { continue };
                if r.cut.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                r.connections.fetch_add(1, Ordering::Relaxed);
                let generation = r
                    .generation
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                tokio::spawn(r.clone().forward(inbound, target.clone(), generation));
            }
        });
        Ok(relay)
    }

    async fn forward(
        self: Arc<Self>,
        mut inbound: TcpStream,
        target: String,
        generation: CancellationToken,
    ) {
        let delay = self.max_delay_ms.load(Ordering::Relaxed);
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(rnd(0, delay))).await;
        }
        if rnd(0, 1000) < self.reset_per_mille.load(Ordering::Relaxed) {
            self.resets.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let Ok(mut outbound) = TcpStream::connect(&target).await else {
            return;
        };
        tokio::select! {
            _ = generation.cancelled() => {}
            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
        }
    }

    /// Ends every connection and refuses new ones until [`Relay::restore`].
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        let mut g = self.generation.lock().unwrap_or_else(|p| p.into_inner());
        g.cancel();
        *g = CancellationToken::new();
    }

    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }

    /// New connections wait up to `max_delay_ms` and `per_mille` of them are reset.
    pub fn flaky(&self, max_delay_ms: u64, per_mille: u64) {
        self.max_delay_ms.store(max_delay_ms, Ordering::Relaxed);
        self.reset_per_mille.store(per_mille, Ordering::Relaxed);
    }
}
