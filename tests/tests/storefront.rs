//! The shop front (`components/storefront`), booted with the whole app from the real
//! `spin.toml`, driven as a browser without JavaScript would: GET pages, POST forms, follow
//! `303`s by hand, keep cookies. The public API stays the gateway's, at `/api/...`.

use std::collections::HashMap;
use std::net::IpAddr;

use serde_json::{Value, json};
use wasmshop_tests::client::{ApiClient, PASSWORD};
use wasmshop_tests::{Wasmshop, build_app, json, manifest_path};

const CSP: &str = "default-src 'self'; script-src 'self'; object-src 'none'; \
    frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// A browser: its own cookies, no automatic redirects (each `303` is looked at), optionally
/// connecting from its own loopback address.
struct Browser {
    base_url: String,
    http: reqwest::Client,
    cookies: HashMap<String, String>,
}

/// Status, headers (lower-case names; `set-cookie` once per cookie), body.
struct Page {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Page {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "set-cookie")
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The CSRF token of the page's forms.
    fn csrf(&self) -> String {
        let marker = r#"name="csrf" value=""#;
        let start = self.body.find(marker).expect("the page has a form") + marker.len();
        self.body[start..start + 64].to_owned()
    }
}

impl Browser {
    fn new(shop: &Wasmshop, from: Option<&str>) -> Self {
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

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
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

    async fn get(&mut self, path: &str) -> Page {
        let request = self.http.get(format!("{}{path}", self.base_url));
        self.send(request).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let request = self
            .http
            .post(format!("{}{path}", self.base_url))
            .form(form);
        self.send(request).await
    }
}

/// Any product of the demo catalogue, as the API lists it.
async fn some_product(shop: &Wasmshop) -> Value {
    let (status, page) = json(
        shop.client
            .get(shop.url("/api/v1/products?limit=1"))
            .send()
            .await
            .expect("products"),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    page["items"][0].clone()
}

fn assert_html(page: &Page) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_registers_fills_the_cart_and_logs_out() {
    let shop = Wasmshop::boot().await.expect("boot");
    let mut browser = Browser::new(&shop, None);

    // Home: categories and products of the demo catalogue, a nonce cookie for the forms.
    let home = browser.get("/").await;
    assert_eq!(home.status, 200, "{}", home.body);
    assert_html(&home);
    assert!(home.body.contains(r#"href="/category/"#), "{}", home.body);
    assert!(home.body.contains(r#"href="/products/"#));
    let nonce = home.set_cookies();
    assert!(
        nonce.iter().any(|c| c.starts_with("ws_nonce=")
            && c.contains("HttpOnly")
            && c.contains("SameSite=Lax")),
        "{nonce:?}"
    );
    let css = browser.get("/static/shop-v1.css").await;
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));

    // A category lists its products, 12 a page, with links to the neighbours.
    let start = home.body.find(r#"href="/category/"#).expect("a category") + 6;
    let end = start + home.body[start..].find('"').expect("closing quote");
    let category = home.body[start..end].to_owned();
    let listing = browser.get(&category).await;
    assert_eq!(listing.status, 200, "{}", listing.body);
    assert!(listing.body.contains("Page 1 of"), "{}", listing.body);
    let beyond = browser.get(&format!("{category}?page=999")).await;
    assert_eq!(beyond.status, 200);
    assert!(beyond.body.contains("No products here yet."));

    // The cart wants a session.
    let cart = browser.get("/cart").await;
    assert_eq!(
        (cart.status, cart.header("location")),
        (303, Some("/login"))
    );

    // Register: logged in at once with an HttpOnly, SameSite=Lax session cookie.
    let form = browser.get("/register").await;
    assert_html(&form);
    assert!(form.body.contains(r#"<label for="email">"#));
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
    assert_eq!(registered.header("location"), Some("/"));
    let session = registered
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("ws_session="))
        .expect("a session cookie")
        .to_owned();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    assert!(!session.contains("Secure"), "plain http here");
    let token = browser.cookies["ws_session"].clone();

    // Add a product, see it in the cart, change its quantity, remove it.
    let product = some_product(&shop).await;
    let id = product["id"].as_str().expect("id");
    let name = product["name"].as_str().expect("name");
    let page = browser.get(&format!("/products/{id}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Log out"), "logged in");
    assert!(page.body.contains("Available"));
    let added = browser
        .post(
            "/cart/items",
            &[
                ("csrf", &page.csrf()),
                ("product_id", id),
                ("quantity", "2"),
            ],
        )
        .await;
    assert_eq!(
        (added.status, added.header("location")),
        (303, Some("/cart")),
        "{}",
        added.body
    );
    let cart = browser.get("/cart").await;
    assert_eq!(cart.status, 200, "{}", cart.body);
    assert!(cart.body.contains(&maud_escape(name)), "{}", cart.body);
    assert!(cart.body.contains(r#"value="2""#), "{}", cart.body);
    let changed = browser
        .post(
            &format!("/cart/items/{id}"),
            &[("csrf", &cart.csrf()), ("quantity", "3")],
        )
        .await;
    assert_eq!(changed.status, 303, "{}", changed.body);
    let cart = browser.get("/cart").await;
    assert!(cart.body.contains(r#"value="3""#), "{}", cart.body);
    let removed = browser
        .post(
            &format!("/cart/items/{id}/remove"),
            &[("csrf", &cart.csrf())],
        )
        .await;
    assert_eq!(removed.status, 303, "{}", removed.body);
    let cart = browser.get("/cart").await;
    assert!(cart.body.contains("Your cart is empty."), "{}", cart.body);

    // Log out: the cookie goes, and the token is revoked at the gateway.
    let out = browser.post("/logout", &[("csrf", &cart.csrf())]).await;
    assert_eq!(
        (out.status, out.header("location")),
        (303, Some("/")),
        "{}",
        out.body
    );
    assert!(
        out.set_cookies()
            .iter()
            .any(|c| c.starts_with("ws_session=;") && c.contains("Max-Age=0")),
        "{:?}",
        out.set_cookies()
    );
    let (status, body) = json(
        shop.client
            .get(shop.url("/api/v1/cart"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("cart"),
    )
    .await;
    assert_eq!(status, 401, "the logged-out token is revoked: {body}");

    // Log in again with the form; a wrong password is a page, not JSON.
    let form = browser.get("/login").await;
    let wrong = browser
        .post(
            "/login",
            &[
                ("csrf", &form.csrf()),
                ("email", &email),
                ("password", "not the password"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert_html(&wrong);
    assert!(wrong.body.contains("Wrong email or password."));
    let again = browser
        .post(
            "/login",
            &[
                ("csrf", &wrong.csrf()),
                ("email", &email),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(again.status, 303, "{}", again.body);
    assert!(browser.cookies.contains_key("ws_session"));
}

fn maud_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_product_names_render_inert_and_forms_need_their_token() {
    let shop = Wasmshop::boot().await.expect("boot");
    let admin = ApiClient::admin(&shop.base_url, &shop.client)
        .await
        .expect("admin");
    let body = json!({ "sku": "XSS-1", "name": "<script>alert(1)</script>",
        "description": "<img src=x onerror=alert(2)>",
        "price": { "amount": 100, "currency": "EUR" }, "category_id": null });
    let (status, product) = admin
        .send("POST", "/api/v1/products", Some(&body))
        .await
        .expect("create");
    assert_eq!(status, 201, "{product}");
    let id = product["id"].as_str().expect("id");

    let mut browser = Browser::new(&shop, None);
    let page = browser.get(&format!("/products/{id}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_html(&page);
    assert!(!page.body.contains("<script>alert(1)"), "{}", page.body);
    assert!(!page.body.contains("<img src=x"), "{}", page.body);
    assert!(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));

    // State-changing POSTs without the page's token are refused with a page, changing nothing.
    let token = page.csrf();
    let add = [("product_id", id), ("quantity", "1")];
    let missing = browser.post("/cart/items", &add).await;
    assert_eq!(missing.status, 403, "{}", missing.body);
    assert_html(&missing);
    let forged = "0".repeat(64);
    let wrong = browser
        .post("/cart/items", &[("csrf", forged.as_str()), add[0], add[1]])
        .await;
    assert_eq!(wrong.status, 403);
    let login = browser
        .post("/login", &[("email", "a@b.test"), ("password", PASSWORD)])
        .await;
    assert_eq!(login.status, 403, "login too: {}", login.body);
    // Another browser (no nonce cookie: a cross-site form) cannot use this one's token.
    let mut other = Browser::new(&shop, None);
    let replayed = other
        .post(
            "/login",
            &[
                ("csrf", token.as_str()),
                ("email", "a@b.test"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(replayed.status, 403);
    // With the token the same form gets through CSRF (to the login's own answer).
    let through = browser
        .post(
            "/login",
            &[
                ("csrf", token.as_str()),
                ("email", "a@b.test"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(through.status, 401, "{}", through.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_pages_and_the_api_stays_json() {
    let shop = Wasmshop::boot().await.expect("boot");
    let mut browser = Browser::new(&shop, None);
    for path in [
        "/nope",
        "/products/no-such-product",
        "/category/no-such-category",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, 404, "{path}: {}", page.body);
        assert_html(&page);
        assert!(page.body.contains("Page not found"), "{path}");
    }
    let wrong_method = browser.get("/logout").await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.header("allow"), Some("POST"));

    let (status, body) = json(
        shop.client
            .get(shop.url("/api/v1/nope"))
            .send()
            .await
            .expect("api"),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found", "{body}");
    for path in [
        "/health",
        "/api/v1/health",
        "/ready",
        "/api/v1/openapi.json",
    ] {
        let response = shop.client.get(shop.url(path)).send().await.expect(path);
        assert_eq!(response.status(), 200, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap_or("")
                .starts_with("application/json"),
            "{path} is the gateway's"
        );
    }
}

/// Through the storefront every shopper's requests reach the gateway by chaining, from the
/// same internal address; the gateway must still count each shopper apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shoppers_behind_the_storefront_are_rate_limited_apart() {
    let shop = Wasmshop::boot_with(
        build_app().expect("build"),
        HashMap::from([("rate_limit_read".to_owned(), "5/60".to_owned())]),
    )
    .await
    .expect("boot");
    let product = some_product(&shop).await;
    let path = format!("/products/{}", product["id"].as_str().expect("id"));

    let mut first = Browser::new(&shop, Some("127.0.0.2"));
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(first.get(&path).await.status);
    }
    assert_eq!(statuses[0], 200, "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    let limited = first.get(&path).await;
    assert_html(&limited);
    assert!(limited.body.contains("Slow down"));

    let mut second = Browser::new(&shop, Some("127.0.0.3"));
    let page = second.get(&path).await;
    assert_eq!(
        page.status, 200,
        "another shopper has a budget of their own: {}",
        page.body
    );
}

/// The gateway believes `X-Forwarded-For` on chained requests: only the storefront may send
/// one.
#[test]
fn only_the_storefront_may_chain_to_the_gateway() {
    let manifest = local_infra::manifest::Manifest::from_file(&manifest_path()).expect("spin.toml");
    let chaining: Vec<&str> = manifest
        .components
        .iter()
        .filter(|(_, c)| {
            c.allowed_outbound_hosts
                .iter()
                .any(|h| h.contains("gateway.spin.internal") || h.contains("*.spin.internal"))
        })
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(chaining, ["storefront"]);
}
