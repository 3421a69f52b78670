//! What the HTTP edge holds for its clients, and for how long: a request head must arrive
//! within a deadline, a keep-alive connection with nothing to do is closed, connections are
//! capped in all and per client address, and an accept that fails for want of file descriptors
//! is retried after a pause rather than at once. None of this is Spin's (`spin up` has no such
//! limit); without it one client could hold every socket the process may open.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long an accept loop waits after an error that is the process's, not the connection's.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Limits of the HTTP edge.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// From the moment a connection is ready for a request (accepted, or done with the
    /// previous one) until the request's head has fully arrived.
    pub header_read_timeout: Duration,
    /// How long a connection may carry nothing, no request being handled, before it is closed.
    pub idle_timeout: Duration,
    /// Open connections in all; past it, new ones wait in the listen backlog.
    pub max_connections: usize,
    /// Open connections per client IP address; past it, new ones are closed at once.
    pub max_connections_per_client: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            // nginx's `client_header_timeout`. hyper also counts it while a keep-alive
            // connection waits for its next request, so it bounds idleness too.
            header_read_timeout: Duration::from_secs(60),
            // nginx's `keepalive_timeout`. Far shorter (Apache's and Node's 5 s) and a client
            // that reuses a pooled connection as the server closes it loses its request: a
            // POST is not retried. Clients should keep idle connections for less than this.
            idle_timeout: Duration::from_secs(75),
            max_connections: 1024,
            // Half of all: one address (a NAT, a proxy, a load test) may hold many clients,
            // but not every connection the runtime will take.
            max_connections_per_client: 512,
        }
    }
}

/// Whether a failed `accept` calls for a pause: out of file descriptors (EMFILE, ENFILE),
/// buffers or memory, retrying at once fails again at once, and the loop would spin on the
/// connection still waiting in the backlog. An error of the one connection (reset, aborted)
/// does not.
pub fn accept_needs_backoff(error: &io::Error) -> bool {
    !matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// Open connections, in all and per client address.
pub struct ConnectionLimiter {
    total: Arc<Semaphore>,
    per_client: Mutex<HashMap<IpAddr, usize>>,
    max_per_client: usize,
}

/// One admitted connection; dropping it frees its slots.
pub struct Admitted {
    limiter: Arc<ConnectionLimiter>,
    client: IpAddr,
    _slot: OwnedSemaphorePermit,
}

impl ConnectionLimiter {
    pub fn new(limits: &HttpLimits) -> Arc<Self> {
        Arc::new(Self {
            total: Arc::new(Semaphore::new(
                limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
            )),
            per_client: Mutex::new(HashMap::new()),
            max_per_client: limits.max_connections_per_client.max(1),
        })
    }

    /// Waits until there is room for one more connection. Meanwhile clients wait in the
    /// kernel's listen backlog, which is the back-pressure the total limit is for.
    pub async fn slot(&self) -> OwnedSemaphorePermit {
        match self.total.clone().acquire_owned().await {
            Ok(permit) => permit,
            // The semaphore is never closed.
            Err(_) => std::future::pending().await,
        }
    }

    /// Admits a connection from `client` into `slot`, unless that client has its fill.
    pub fn admit(self: &Arc<Self>, client: IpAddr, slot: OwnedSemaphorePermit) -> Option<Admitted> {
        let mut per_client = self
            .per_client
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let open = per_client.entry(client).or_insert(0);
        if *open >= self.max_per_client {
            return None;
        }
        *open += 1;
        Some(Admitted {
            limiter: self.clone(),
            client,
            _slot: slot,
        })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut per_client = self
            .limiter
            .per_client
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(open) = per_client.get_mut(&self.client) {
            *open -= 1;
            // Only addresses with a connection are kept: the map is bounded by the total.
            if *open == 0 {
                per_client.remove(&self.client);
            }
        }
    }
}

/// When a connection last carried a byte, and how many of its requests are being handled.
pub struct Activity {
    started: Instant,
    /// Milliseconds after `started`.
    last: AtomicU64,
    in_flight: AtomicUsize,
}

/// A request being handled; the connection is not idle until it is dropped.
pub struct InFlight(Arc<Activity>);

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            started: Instant::now(),
            last: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        })
    }

    fn touch(&self) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(now, Ordering::Relaxed);
    }

    pub fn request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// When the connection will have been idle for `timeout`, if nothing happens meanwhile;
    /// `None` if it already has.
    pub fn idle_deadline(&self, timeout: Duration) -> Option<Instant> {
        let now = Instant::now();
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return Some(now + timeout);
        }
        let last = self.started + Duration::from_millis(self.last.load(Ordering::Relaxed));
        Some(last + timeout).filter(|deadline| *deadline > now)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // Idle time counts from the end of the request, however long it took.
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection's I/O, noting each byte that moves in [`Activity`].
pub struct Tracked<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> Tracked<T> {
    pub fn new(inner: T, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn clients_are_capped_each_and_together() {
        let limiter = ConnectionLimiter::new(&HttpLimits {
            max_connections: 3,
            max_connections_per_client: 2,
            ..HttpLimits::default()
        });
        let (a, b): (IpAddr, IpAddr) = (
            "10.0.0.1".parse().expect("ip"),
            "10.0.0.2".parse().expect("ip"),
        );
        let first = limiter.admit(a, limiter.slot().await).expect("a's first");
        let _second = limiter.admit(a, limiter.slot().await).expect("a's second");
        assert!(
            limiter.admit(a, limiter.slot().await).is_none(),
            "a's third"
        );
        let _other = limiter.admit(b, limiter.slot().await).expect("b's first");
        // All three slots are taken: the next waits.
        let waiting = tokio::time::timeout(Duration::from_millis(50), limiter.slot()).await;
        assert!(waiting.is_err());
        drop(first);
        let slot = limiter.slot().await;
        assert!(limiter.admit(a, slot).is_some(), "a's slot freed");
        assert_eq!(limiter.per_client.lock().expect("lock").len(), 2);
    }

    #[test]
    fn idle_counts_from_the_last_byte_or_request() {
        let activity = Activity::new();
        let timeout = Duration::from_millis(30);
        assert!(activity.idle_deadline(timeout).is_some());
        let request = activity.request();
        std::thread::sleep(timeout * 2);
        assert!(
            activity.idle_deadline(timeout).is_some(),
            "busy is not idle"
        );
        drop(request);
        assert!(
            activity.idle_deadline(timeout).is_some(),
            "idle from the end"
        );
        std::thread::sleep(timeout * 2);
        assert!(activity.idle_deadline(timeout).is_none());
    }

    #[test]
    fn only_process_wide_accept_errors_back_off() {
        assert!(accept_needs_backoff(&io::Error::from_raw_os_error(24))); // EMFILE
        assert!(accept_needs_backoff(&io::Error::from_raw_os_error(23))); // ENFILE
        assert!(!accept_needs_backoff(&io::Error::from(
            io::ErrorKind::ConnectionAborted
        )));
    }
}
