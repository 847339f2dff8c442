//! Unit-test support: a log writer that keeps what `tracing` writes, so a test can read the
//! lines a request logged.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// A cloneable in-memory writer for `tracing_subscriber::fmt().with_writer(..)`.
#[derive(Clone, Default)]
pub struct LogBuf(pub Arc<Mutex<Vec<u8>>>);

impl Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
