//! Components' stdout and stderr, kept per component in `<log dir>/<id>_stdout.txt` and
//! `_stderr.txt` as `spin up` keeps them.
//!
//! Each instance writes into its own buffer, appended to the file in one write when the
//! instance ends (or whenever 64 KiB have piled up). A guest writing a line token by token —
//! `eprintln!` of a `serde_json::Value` makes dozens of writes — then costs memory copies, not
//! a syscall per token, and lines of concurrent instances never interleave mid-line.

use std::fs::File;
use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Past this much, an instance's output goes to the file before the instance ends.
const FLUSH_AT: usize = 64 * 1024;

/// One instance's output to one log file.
#[derive(Clone)]
pub struct InstanceLog {
    buffer: Arc<Mutex<Buffer>>,
}

struct Buffer {
    file: Arc<File>,
    pending: Vec<u8>,
}

impl Buffer {
    fn append(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        if self.pending.len() >= FLUSH_AT {
            self.write_out();
        }
    }

    /// A log that cannot be written must not fail the request: the output is dropped.
    fn write_out(&mut self) {
        if !self.pending.is_empty() {
            let _ = (&*self.file).write_all(&self.pending);
            self.pending.clear();
        }
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        self.write_out();
    }
}

impl InstanceLog {
    pub fn new(file: Arc<File>) -> Self {
        Self {
            buffer: Arc::new(Mutex::new(Buffer {
                file,
                pending: Vec::new(),
            })),
        }
    }

    fn append(&self, bytes: &[u8]) {
        self.buffer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .append(bytes);
    }
}

impl IsTerminal for InstanceLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for InstanceLog {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for InstanceLog {
    async fn ready(&mut self) {}
}

impl OutputStream for InstanceLog {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(FLUSH_AT)
    }
}

impl AsyncWrite for InstanceLog {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_log() -> (tempfile::TempDir, std::path::PathBuf, Arc<File>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c_stderr.txt");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("open");
        (dir, path, Arc::new(file))
    }

    #[test]
    fn an_instances_lines_reach_the_file_whole_when_it_ends() {
        let (_dir, path, file) = file_log();
        let first = InstanceLog::new(file.clone());
        let second = InstanceLog::new(file);
        let mut a = first.p2_stream();
        let mut b = second.p2_stream();
        a.write(Bytes::from_static(b"{\"a\":")).expect("write");
        b.write(Bytes::from_static(b"{\"b\":2}\n")).expect("write");
        a.write(Bytes::from_static(b"1}\n")).expect("write");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "");
        drop((b, second));
        drop((a, first));
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "{\"b\":2}\n{\"a\":1}\n"
        );
    }

    #[test]
    fn a_chatty_instance_is_written_out_as_it_goes() {
        let (_dir, path, file) = file_log();
        let log = InstanceLog::new(file);
        let mut stream = log.p2_stream();
        let line = Bytes::from(vec![b'x'; 1024]);
        for _ in 0..70 {
            stream.write(line.clone()).expect("write");
        }
        let written = std::fs::metadata(&path).expect("meta").len();
        assert!(written >= FLUSH_AT as u64, "{written}");
        drop((stream, log));
        assert_eq!(std::fs::metadata(&path).expect("meta").len(), 70 * 1024);
    }
}
