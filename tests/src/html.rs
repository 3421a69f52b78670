//! The shop front as a browser without JavaScript drives it: GET pages, POST forms, follow
//! `303`s by hand, keep cookies. Shared by the storefront's and the console's tests.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::Wasmshop;
use crate::client::PASSWORD;

/// The storefront's Content-Security-Policy: no inline script or style, nothing framed.
pub const CSP: &str = "default-src 'self'; script-src 'self'; object-src 'none'; \
    frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// A browser: its own cookies, no automatic redirects (each `303` is looked at), optionally
/// connecting from its own loopback address.
pub struct Browser {
    base_url: String,
    http: reqwest::Client,
    /// Name to value, as the shop set them.
    pub cookies: HashMap<String, String>,
}

/// Status, headers (lower-case names; `set-cookie` once per cookie), body.
pub struct Page {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "set-cookie")
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The CSRF token of the page's forms.
    pub fn csrf(&self) -> String {
        let marker = r#"name="csrf" value=""#;
        let start = self.body.find(marker).expect("the page has a form") + marker.len();
        self.body[start..start + 64].to_owned()
    }
}

impl Browser {
    pub fn new(shop: &Wasmshop, from: Option<&str>) -> Self {
        let mut builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
        if let Some(address) = from {
            builder = builder.local_address(address.parse::<IpAddr>().expect("an address"));
        }
        Self {
            base_url: shop.base_url.clone(),
            http: builder.build().expect("client"),
            cookies: HashMap::new(),
        }
    }

    pub async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let request = if cookie.is_empty() {
            request
        } else {
            request.header("cookie", cookie)
        };
        let response = request.send().await.expect("the storefront answers");
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        for (name, value) in &headers {
            if name != "set-cookie" {
                continue;
            }
            let pair = value.split(';').next().unwrap_or("");
            if let Some((key, cookie)) = pair.split_once('=') {
                if cookie.is_empty() || value.contains("Max-Age=0") {
                    self.cookies.remove(key);
                } else {
                    self.cookies.insert(key.to_owned(), cookie.to_owned());
                }
            }
        }
        let body = response.text().await.unwrap_or_default();
        Page {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = self.http.get(format!("{}{path}", self.base_url));
        self.send(request).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let request = self
            .http
            .post(format!("{}{path}", self.base_url))
            .form(form);
        self.send(request).await
    }

    /// Logs in through the login form as `email` (password [`PASSWORD`]); expects success.
    pub async fn log_in(&mut self, email: &str) {
        let form = self.get("/login").await;
        let answer = self
            .post(
                "/login",
                &[
                    ("csrf", &form.csrf()),
                    ("email", email),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(answer.status, 303, "log in {email}: {}", answer.body);
    }
}

pub fn assert_html(page: &Page) {
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8"),
        "{}",
        page.body
    );
    assert_eq!(page.header("content-security-policy"), Some(CSP));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert!(page.body.starts_with("<!DOCTYPE html>"));
    assert!(!page.body.contains(r#"{"error""#), "never the API's JSON");
}

/// Registers a new shopper through the pages (logged in afterwards): the answer and the email.
pub async fn register(browser: &mut Browser) -> (Page, String) {
    let form = browser.get("/register").await;
    let email = format!("shopper-{}@wasmshop.test", uuid::Uuid::now_v7().simple());
    let registered = browser
        .post(
            "/register",
            &[
                ("csrf", &form.csrf()),
                ("name", "Shopper"),
                ("email", &email),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(registered.status, 303, "{}", registered.body);
    (registered, email)
}
