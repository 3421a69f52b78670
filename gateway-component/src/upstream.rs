//! Calls to other components through Spin service chaining (`http://<id>.spin.internal`), with
//! a deadline: a WASI monotonic-clock timer raced against the request.

use std::pin::{Pin, pin};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::{Either, select};
use spin_sdk::http::{Request, Response};
use wasi::clocks::monotonic_clock;

#[derive(Debug)]
pub enum UpstreamError {
    Timeout,
    /// Connection refused, unknown component, denied host, broken response...
    Failed(String),
}

/// Resolves after `duration` (the executor wakes it through a clock pollable).
pub fn sleep(duration: Duration) -> Sleep {
    let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    Sleep {
        deadline: monotonic_clock::now().saturating_add(nanos),
        registration: None,
    }
}

pub struct Sleep {
    deadline: u64,
    /// The pending clock registration; replacing or dropping it cancels it.
    registration: Option<spin_executor::CancelOnDropToken>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if monotonic_clock::now() >= self.deadline {
            self.registration = None;
            return Poll::Ready(());
        }
        let pollable = monotonic_clock::subscribe_instant(self.deadline);
        self.registration =
            Some(spin_executor::push_waker_and_get_token(pollable, cx.waker().clone()).into());
        Poll::Pending
    }
}

/// Sends `request`, giving up after `timeout`.
pub async fn send(request: Request, timeout: Duration) -> Result<Response, UpstreamError> {
    let call = pin!(spin_sdk::http::send::<_, Response>(request));
    let timer = pin!(sleep(timeout));
    match select(call, timer).await {
        Either::Left((result, _)) => result.map_err(|e| UpstreamError::Failed(e.to_string())),
        Either::Right(((), _)) => Err(UpstreamError::Timeout),
    }
}

/// The base URL of a component reached by service chaining.
pub fn base_url(component: &str) -> String {
    format!("http://{component}.spin.internal")
}
