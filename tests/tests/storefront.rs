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
    let css = browser.get("/static/shop-v2.css").await;
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
    let (registered, email) = register(&mut browser).await;
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

/// The storefront's CSRF key is a secret of its own: the storefront never holds the key that
/// signs access tokens, and no other component holds its key.
#[test]
fn the_storefront_keys_its_forms_with_a_secret_of_its_own() {
    let manifest = local_infra::manifest::Manifest::from_file(&manifest_path()).expect("spin.toml");
    let declared = &manifest.variables["storefront_csrf_secret"];
    assert!(declared.required && declared.secret && declared.default.is_none());
    let storefront = &manifest.components["storefront"];
    assert_eq!(
        storefront.variables.get("csrf_key").map(String::as_str),
        Some("{{ storefront_csrf_secret }}")
    );
    for (id, component) in &manifest.components {
        for template in component.variables.values() {
            if id == "storefront" {
                assert!(!template.contains("jwt_secret"), "{template}");
            } else {
                assert!(!template.contains("storefront_csrf_secret"), "{id}");
            }
        }
    }
}

/// Static assets come from the component's `files` mount (`components/storefront/static` at
/// `/static`), byte for byte, cacheable and typed; nothing else on the mount is reachable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_are_served_from_the_files_mount() {
    let shop = Wasmshop::boot().await.expect("boot");
    let mut browser = Browser::new(&shop, None);
    let dir = wasmshop_tests::workspace_root().join("components/storefront/static");
    for (name, content_type) in [
        ("shop-v2.css", "text/css; charset=utf-8"),
        ("favicon-v1.svg", "image/svg+xml"),
    ] {
        let on_disk = std::fs::read_to_string(dir.join(name)).expect("the asset's file");
        let asset = browser.get(&format!("/static/{name}")).await;
        assert_eq!(asset.status, 200, "{name}: {}", asset.body);
        assert_eq!(asset.header("content-type"), Some(content_type), "{name}");
        assert_eq!(
            asset.header("cache-control"),
            Some("public, max-age=31536000, immutable"),
            "{name}"
        );
        assert_eq!(asset.header("x-content-type-options"), Some("nosniff"));
        assert!(
            asset.set_cookies().is_empty(),
            "a cacheable asset sets no cookie"
        );
        assert_eq!(asset.body, on_disk, "{name}");
    }
    let home = browser.get("/").await;
    assert!(home.body.contains(r#"href="/static/shop-v2.css""#));
    assert!(home.body.contains(r#"href="/static/favicon-v1.svg""#));
    for path in [
        "/static/nope.css",
        "/static/",
        "/static/shop-v2.css/x",
        "/static/..%2Fspin.toml",
        "/static/%2e%2e/spin.toml",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, 404, "{path}: {}", page.body);
        assert_html(&page);
    }
}

/// Registers a new shopper through the pages (logged in afterwards): the answer and the email.
async fn register(browser: &mut Browser) -> (Page, String) {
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

/// Puts `quantity` of the product in the cart through its page.
async fn add_to_cart(browser: &mut Browser, product: &str, quantity: &str) {
    let page = browser.get(&format!("/products/{product}")).await;
    let added = browser
        .post(
            "/cart/items",
            &[
                ("csrf", &page.csrf()),
                ("product_id", product),
                ("quantity", quantity),
            ],
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
}

/// The value of the page's hidden `idempotency_key` field.
/// Sends the checkout `form` filled in with `address`, `country` and the test card `token`;
/// expects the redirect to the order page: its path, and the fields sent (to send them again).
async fn place(
    browser: &mut Browser,
    form: &Page,
    address: &[(&str, &str)],
    country: &str,
    token: &str,
) -> (String, Vec<(String, String)>) {
    let mut fields: Vec<(String, String)> = address
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    fields.extend([
        ("country".to_owned(), country.to_owned()),
        ("payment_token".to_owned(), token.to_owned()),
        ("csrf".to_owned(), form.csrf()),
        ("idempotency_key".to_owned(), idempotency_key(form)),
    ]);
    let placed = browser.post("/checkout", &pairs(&fields)).await;
    assert_eq!(placed.status, 303, "{}", placed.body);
    let location = placed
        .header("location")
        .expect("the order page")
        .to_owned();
    (location, fields)
}

fn pairs(fields: &[(String, String)]) -> Vec<(&str, &str)> {
    fields
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect()
}

fn idempotency_key(page: &Page) -> String {
    let marker = r#"name="idempotency_key" value=""#;
    let start = page.body.find(marker).expect("the checkout form") + marker.len();
    let end = start + page.body[start..].find('"').expect("closing quote");
    page.body[start..end].to_owned()
}

/// The order page until it shows a settled status (it refreshes itself until then).
async fn settled_order_page(browser: &mut Browser, path: &str) -> Page {
    let refresh = r#"<meta http-equiv="refresh" content="2">"#;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let page = browser.get(path).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_html(&page);
        let settled = ["confirmed", "cancelled", "failed"]
            .iter()
            .any(|s| page.body.contains(&format!(r#"data-status="{s}""#)));
        assert_eq!(page.body.contains(refresh), !settled, "{}", page.body);
        if settled || std::time::Instant::now() > deadline {
            return page;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_checks_out_and_follows_the_order() {
    let shop = Wasmshop::boot().await.expect("boot");
    let admin = ApiClient::admin(&shop.base_url, &shop.client)
        .await
        .expect("admin");
    let product = admin.stocked_product(1250, 10).await.expect("product");
    let mut browser = Browser::new(&shop, None);
    let anonymous = browser.get("/checkout").await;
    assert_eq!(anonymous.header("location"), Some("/login"));
    register(&mut browser).await;
    add_to_cart(&mut browser, &product, "2").await;
    let cart = browser.get("/cart").await;
    assert!(cart.body.contains(r#"href="/checkout""#), "{}", cart.body);

    // The API's field errors come back on the form, which keeps what was typed.
    let form = browser.get("/checkout").await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert_html(&form);
    assert!(form.body.contains("tok_visa") && form.body.contains("tok_declined"));
    let address = [
        ("name", "Ada Lovelace"),
        ("line1", "1 Analytical Way"),
        ("line2", ""),
        ("city", "Berlin"),
        ("postal_code", "10115"),
    ];
    let csrf = form.csrf();
    let mut wrong: Vec<(&str, &str)> = address.to_vec();
    wrong.extend([
        ("country", "Germany"),
        ("payment_token", "tok_visa"),
        ("csrf", &csrf),
    ]);
    let key = idempotency_key(&form);
    wrong.push(("idempotency_key", &key));
    let refused = browser.post("/checkout", &wrong).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_html(&refused);
    assert!(
        refused
            .body
            .contains(r#"aria-invalid="true" aria-describedby="address-country-error""#),
        "{}",
        refused.body
    );
    assert!(refused.body.contains(r#"value="GERMANY""#));
    assert!(refused.body.contains(r#"value="Ada Lovelace""#));

    // Placed with the approved test card: one order however often the form is sent.
    let (location, right) = place(&mut browser, &refused, &address, "de", "tok_visa").await;
    assert!(location.starts_with("/orders/"), "{location}");
    let again = browser.post("/checkout", &pairs(&right)).await;
    assert_eq!(
        again.header("location"),
        Some(location.as_str()),
        "{}",
        again.body
    );

    let order = settled_order_page(&mut browser, &location).await;
    assert!(
        order.body.contains(r#"data-status="confirmed""#),
        "{}",
        order.body
    );
    assert!(order.body.contains("25.00 EUR"), "{}", order.body);
    assert!(order.body.contains("Timeline"));
    let orders = browser.get("/orders").await;
    assert_eq!(orders.status, 200, "{}", orders.body);
    assert!(
        orders.body.contains(&format!(r#"href="{location}""#)),
        "{}",
        orders.body
    );

    // The declined test card: the order is cancelled, and the page says why.
    add_to_cart(&mut browser, &product, "1").await;
    let form = browser.get("/checkout").await;
    let (location, _) = place(&mut browser, &form, &address, "DE", "tok_declined").await;
    let order = settled_order_page(&mut browser, &location).await;
    assert!(
        order.body.contains(r#"data-status="cancelled""#),
        "{}",
        order.body
    );
    assert!(order.body.contains("card_declined"), "{}", order.body);

    // Someone else's order is not found.
    let mut other = Browser::new(&shop, None);
    register(&mut other).await;
    let foreign = other.get(&location).await;
    assert_eq!(foreign.status, 404, "{}", foreign.body);
}
