//! wasmshop's shop front: server-rendered HTML pages at `/` (home, categories, products,
//! register, login, logout, cart, checkout, orders, search, notifications, profile), the
//! public API staying at `/api/...`
//! behind the gateway. Its stylesheet and icon are files of a Spin `files` mount at `/static`.
//!
//! Every read and write goes to the gateway by service chaining
//! (`http://gateway.spin.internal/api/v1/...`), so authentication, rate limits and the
//! resilience policies apply to the shop exactly as to any API client. The shopper's address
//! travels in `X-Forwarded-For`, which the gateway believes only on a chained request
//! (`gateway-component/src/limiter.rs`). Pages (`pages.rs`) are pure; cookies and CSRF
//! (`session.rs`), routing and paging (`route.rs`), a listing's URL state (`listing.rs`) and
//! the API's shapes (`model.rs`) too. The pages are served by concern: the catalogue
//! (`catalog.rs`), accounts (`account.rs`), cart and checkout (`cart.rs`), the shopper's own
//! pages (`shopper.rs`) and the operator console (`console.rs`).

mod account;
mod cart;
mod catalog;
mod console;
mod listing;
mod model;
mod pages;
mod route;
mod session;
mod shopper;

use maud::Markup;
use serde_json::Value;
use spin_sdk::http::{Method, Request, Response};

use model::Token;
use pages::Chrome;
use route::{Asset, Page};
use session::{CSRF_FIELD, NONCE_COOKIE, SESSION_COOKIE};

const GATEWAY: &str = "http://gateway.spin.internal";
/// The largest form body read (a login or cart form is a few hundred bytes).
const MAX_FORM_BYTES: usize = 16 * 1024;
/// Lifetime of the nonce cookie: a day, renewed by every page that lacks it.
const NONCE_MAX_AGE: u64 = 24 * 60 * 60;
/// Static assets are versioned by name, so a browser may keep them for a year.
const ASSET_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; object-src 'none'; \
    frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Why a page could not be made; each becomes a friendly page, never the API's JSON.
#[derive(Debug, thiserror::Error)]
enum FrontError {
    #[error("the gateway could not be reached: {0}")]
    Unreachable(String),
    /// The API answered this status (with its message, if any).
    #[error("the API answered {0}")]
    Api(u16, Option<String>),
    #[error("invalid CSRF token")]
    Csrf,
    #[error("form too large")]
    TooLarge,
    #[error("`csrf_key` is not set")]
    Misconfigured,
}

/// What the storefront knows of the visitor: cookies, the CSRF key, where they came from.
struct Visit {
    session: Option<String>,
    nonce: String,
    /// The nonce was made for this response and must be set.
    fresh_nonce: bool,
    secure: bool,
    forwarded_for: Option<String>,
    traceparent: Option<String>,
    key: Vec<u8>,
    /// `Set-Cookie` values of the response.
    cookies: Vec<String>,
}

impl Visit {
    fn new(req: &Request) -> Result<Self, FrontError> {
        let header = |name: &str| req.header(name).and_then(|v| v.as_str());
        let cookies = header("cookie");
        let ours = |name| session::cookie(cookies, name).filter(|v| session::sane_cookie_value(v));
        let (nonce, fresh_nonce) = match ours(NONCE_COOKIE) {
            Some(nonce) => (nonce.to_owned(), false),
            None => (session::new_nonce(), true),
        };
        let forwarded: Vec<&str> = req
            .headers()
            .filter(|(name, _)| name.eq_ignore_ascii_case("x-forwarded-for"))
            .filter_map(|(_, value)| value.as_str())
            .collect();
        let key = spin_sdk::variables::get("csrf_key")
            .ok()
            .filter(|key| !key.is_empty())
            .ok_or(FrontError::Misconfigured)?;
        Ok(Self {
            session: ours(SESSION_COOKIE).map(str::to_owned),
            nonce,
            fresh_nonce,
            secure: header("spin-full-url").is_some_and(|url| url.starts_with("https://")),
            forwarded_for: model::forwarded_for(&forwarded, header("spin-client-addr")),
            traceparent: header("traceparent").map(str::to_owned),
            key: key.into_bytes(),
            cookies: Vec::new(),
        })
    }

    fn csrf(&self) -> String {
        session::csrf_token(&self.key, &self.nonce, self.session.as_deref())
    }

    fn start_session(&mut self, token: &Token) {
        self.cookies.push(session::set_cookie(
            SESSION_COOKIE,
            &token.access_token,
            token.expires_in,
            self.secure,
        ));
        self.session = Some(token.access_token.clone());
    }

    fn end_session(&mut self) {
        self.cookies
            .push(session::set_cookie(SESSION_COOKIE, "", 0, self.secure));
        self.session = None;
    }

    /// A page of HTML with this visit's chrome.
    fn html(&self, status: u16, render: impl FnOnce(&Chrome<'_>) -> Markup) -> Response {
        let csrf = self.csrf();
        let chrome = Chrome {
            logged_in: self.session.is_some(),
            csrf: &csrf,
        };
        Response::builder()
            .status(status)
            .header("content-type", "text/html; charset=utf-8")
            .body(render(&chrome).into_string())
            .build()
    }

    /// A call to the public API through the gateway: status and JSON body.
    async fn api(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), FrontError> {
        self.api_with(method, path, body, None).await
    }

    /// [`api`](Self::api) with one more request header.
    async fn api_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        header: Option<(&str, &str)>,
    ) -> Result<(u16, Value), FrontError> {
        let mut builder = Request::builder();
        builder
            .method(method)
            .uri(format!("{GATEWAY}{path}"))
            .header("accept", "application/json");
        if let Some(forwarded) = &self.forwarded_for {
            builder.header("x-forwarded-for", forwarded.clone());
        }
        if let Some(traceparent) = &self.traceparent {
            builder.header("traceparent", traceparent.clone());
        }
        if let Some(token) = &self.session {
            builder.header("authorization", format!("Bearer {token}"));
        }
        if let Some((name, value)) = header {
            builder.header(name, value);
        }
        if let Some(body) = body {
            builder
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response: Response = spin_sdk::http::send(builder.build())
            .await
            .map_err(|e| FrontError::Unreachable(e.to_string()))?;
        let status = *response.status();
        let body = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// A call whose only acceptable answer is `ok`, parsed as `T`.
    async fn fetch<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        ok: u16,
    ) -> Result<T, FrontError> {
        let (status, body) = self.api(Method::Get, path, None).await?;
        expect(status, ok, body)
    }
}

fn expect<T: serde::de::DeserializeOwned>(
    status: u16,
    ok: u16,
    body: Value,
) -> Result<T, FrontError> {
    if status != ok {
        return Err(FrontError::Api(status, model::error_message(&body)));
    }
    serde_json::from_value(body)
        .map_err(|e| FrontError::Unreachable(format!("unexpected answer: {e}")))
}

fn redirect(to: &str) -> Response {
    Response::builder()
        .status(303)
        .header("location", to)
        .body(Vec::new())
        .build()
}

// Only Wasm builds export the handler: a native link cannot carry WIT export names, and the
// workspace is also built natively (tests, clippy).
#[cfg_attr(target_arch = "wasm32", spin_sdk::http_component)]
pub async fn handle(req: Request) -> Response {
    let method = req.method().to_string();
    let page = route::route(&method, req.path());
    if let Page::Asset(asset) = page
        && let Some(response) = asset_response(asset, method == "HEAD")
    {
        return secure_headers(response);
    }
    let mut visit = match Visit::new(&req) {
        Ok(visit) => visit,
        Err(e) => {
            eprintln!("storefront: {e}");
            return secure_headers(
                Response::builder()
                    .status(500)
                    .header("content-type", "text/plain; charset=utf-8")
                    .body("The shop is misconfigured.")
                    .build(),
            );
        }
    };
    let mut response = match serve(&req, &page, &mut visit).await {
        Ok(response) => response,
        Err(e) => failure(&mut visit, e),
    };
    if visit.fresh_nonce {
        let nonce = session::set_cookie(NONCE_COOKIE, &visit.nonce, NONCE_MAX_AGE, visit.secure);
        visit.cookies.push(nonce);
    }
    // One `Set-Cookie` per cookie: a comma-joined header is not one browsers read.
    let mut builder = response_builder(&response);
    for cookie in &visit.cookies {
        builder.header("set-cookie", cookie.clone());
    }
    if method == "HEAD" {
        builder.body(Vec::new());
    } else {
        builder.body(std::mem::take(response.body_mut()));
    }
    secure_headers(builder.build())
}

/// A file of the `files` mount, the same for every visitor: no cookie, cached for a year (its
/// name changes with its content). `None` when the file is not there: a 404 page then.
fn asset_response(asset: &Asset, head: bool) -> Option<Response> {
    let bytes = match std::fs::read(asset.path()) {
        Ok(bytes) => bytes,
        Err(e) => {
            // Listed but not mounted: `spin.toml`'s `files` lost it.
            eprintln!(
                "storefront: {} is not in the files mount: {e}",
                asset.path()
            );
            return None;
        }
    };
    Some(
        Response::builder()
            .status(200)
            .header("content-type", asset.content_type)
            .header("cache-control", ASSET_CACHE_CONTROL)
            .body(if head { Vec::new() } else { bytes })
            .build(),
    )
}

fn response_builder(response: &Response) -> spin_sdk::http::ResponseBuilder {
    let mut builder = Response::builder();
    builder.status(*response.status());
    for (name, value) in response.headers() {
        builder.header(name, value.as_str().unwrap_or_default());
    }
    builder
}

fn secure_headers(mut response: Response) -> Response {
    response.set_header("content-security-policy", CONTENT_SECURITY_POLICY);
    response.set_header("x-content-type-options", "nosniff");
    response.set_header("referrer-policy", "same-origin");
    if response.header("cache-control").is_none() {
        // Pages carry the visitor's session state and CSRF token.
        response.set_header("cache-control", "no-store");
    }
    response
}

/// The friendly page of a failure.
fn failure(visit: &mut Visit, error: FrontError) -> Response {
    let (status, detail) = match &error {
        FrontError::Api(401, _) => {
            // The session expired or was revoked: log in again.
            visit.end_session();
            return redirect("/login");
        }
        FrontError::Api(status @ (404 | 429), _) => (*status, None),
        FrontError::Api(status @ 400..=499, message) => (*status, message.clone()),
        FrontError::Api(_, _) | FrontError::Unreachable(_) => (503, None),
        FrontError::Csrf => (403, None),
        FrontError::TooLarge => (413, None),
        FrontError::Misconfigured => (500, None),
    };
    if status >= 500 {
        eprintln!("storefront: {error}");
    }
    visit.html(status, |chrome| {
        pages::error(chrome, status, detail.as_deref())
    })
}

fn form(req: &Request) -> Result<Vec<(String, String)>, FrontError> {
    if req.body().len() > MAX_FORM_BYTES {
        return Err(FrontError::TooLarge);
    }
    Ok(form_urlencoded::parse(req.body()).into_owned().collect())
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

async fn serve(req: &Request, page: &Page<'_>, visit: &mut Visit) -> Result<Response, FrontError> {
    let form = if page.is_form_post() {
        checked_form(req, visit)?
    } else {
        Vec::new()
    };
    match *page {
        Page::Home => catalog::home(visit).await,
        Page::Category { id } => catalog::category(visit, id, req.query()).await,
        Page::Search => catalog::search(visit, req.query()).await,
        Page::Product { id } => catalog::product(visit, id).await,
        // `handle` serves assets before any visit; one reaching here is missing from the mount.
        Page::Asset(_) => Err(FrontError::Api(404, None)),
        Page::RegisterForm => Ok(visit.html(200, |c| pages::account_form(c, true, None, ""))),
        Page::LoginForm => Ok(visit.html(200, |c| pages::account_form(c, false, None, ""))),
        Page::Register => account::register(visit, &form).await,
        Page::Login => account::log_in(visit, &form).await,
        Page::Logout => account::log_out(visit).await,
        Page::Cart => cart::show(visit).await,
        Page::AddToCart => cart::add(visit, &form).await,
        Page::SetQuantity { product_id } => cart::set_quantity(visit, product_id, &form).await,
        Page::RemoveFromCart { product_id } => cart::remove(visit, product_id).await,
        Page::CheckoutForm => cart::checkout_form(visit).await,
        Page::Checkout => cart::checkout(visit, &form).await,
        Page::Orders => shopper::orders(visit, req.query()).await,
        Page::Order { id } => shopper::order(visit, id).await,
        Page::CancelOrder { id } => shopper::cancel_order(visit, id).await,
        Page::Notifications => shopper::notifications(visit, req.query()).await,
        Page::MarkRead { id } => shopper::mark_read(visit, id, &form).await,
        Page::Profile => shopper::profile(visit, req.query()).await,
        Page::UpdateProfile => shopper::update_profile(visit, &form).await,
        Page::Console(ref console_page) => console::serve(req, console_page, visit, &form).await,
        Page::MethodNotAllowed(allowed) => {
            let mut response = visit.html(405, |c| pages::error(c, 405, None));
            response.set_header("allow", allowed);
            Ok(response)
        }
        Page::NotFound => Ok(visit.html(404, |c| pages::error(c, 404, None))),
    }
}

/// A POST's form, once its CSRF token proves that a page of ours is behind it.
fn checked_form(req: &Request, visit: &Visit) -> Result<Vec<(String, String)>, FrontError> {
    let form = form(req)?;
    let presented = field(&form, CSRF_FIELD).unwrap_or_default();
    // A fresh nonce means the browser sent none: no form of ours was behind this POST.
    if visit.fresh_nonce
        || !session::csrf_valid(
            &visit.key,
            &visit.nonce,
            visit.session.as_deref(),
            presented,
        )
    {
        return Err(FrontError::Csrf);
    }
    Ok(form)
}
