//! The shop front (`components/storefront`), booted with the whole app from the real
//! `spin.toml`, driven as a browser without JavaScript would: GET pages, POST forms, follow
//! `303`s by hand, keep cookies. The public API stays the gateway's, at `/api/...`.

use serde_json::{Value, json};
use wasmshop_tests::client::{ApiClient, PASSWORD};
use wasmshop_tests::html::{Browser, Page, assert_html, register};
use wasmshop_tests::{Wasmshop, json, manifest_path};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_registers_fills_the_cart_and_logs_out() {
    let shop = Wasmshop::app().start().await.expect("boot");
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
    let css = browser.get("/static/shop-v3.css").await;
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
    let shop = Wasmshop::app().start().await.expect("boot");
    let admin = ApiClient::admin(&shop.base_url, &shop.client)
        .await
        .expect("admin");
    let body = json!({ "sku": "XSS-1", "name": "<script>alert(1)</script>",
        "description": "<img src=x onerror=alert(2)>",
        "price": { "amount": 100, "currency": "EUR" }, "category_id": null });
    let (status, product) = admin
        .requests()
        .post("/api/v1/products")
        .json(&body)
        .send()
        .await;
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
    let shop = Wasmshop::app().start().await.expect("boot");
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
    let shop = Wasmshop::app()
        .variables(&[("rate_limit_read", "5/60")])
        .start()
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
    let shop = Wasmshop::app().start().await.expect("boot");
    let mut browser = Browser::new(&shop, None);
    let dir = wasmshop_tests::workspace_root().join("components/storefront/static");
    for (name, content_type) in [
        ("shop-v3.css", "text/css; charset=utf-8"),
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
    assert!(home.body.contains(r#"href="/static/shop-v3.css""#));
    assert!(home.body.contains(r#"href="/static/favicon-v1.svg""#));
    for path in [
        "/static/nope.css",
        "/static/",
        "/static/shop-v3.css/x",
        "/static/..%2Fspin.toml",
        "/static/%2e%2e/spin.toml",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, 404, "{path}: {}", page.body);
        assert_html(&page);
    }
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

/// The shopper's `order_confirmed` notification, as the API lists it, once it exists.
async fn confirmation_notice(shop: &Wasmshop, token: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (status, page) = json(
            shop.client
                .get(shop.url("/api/v1/notifications?limit=100"))
                .bearer_auth(token)
                .send()
                .await
                .expect("notifications"),
        )
        .await;
        assert_eq!(status, 200, "{page}");
        let found = page["items"]
            .as_array()
            .and_then(|items| items.iter().find(|n| n["template"] == "order_confirmed"));
        if let Some(found) = found {
            return found.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never notified: {page}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
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
    let shop = Wasmshop::app().start().await.expect("boot");
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
    assert!(
        !order
            .body
            .contains(&format!(r#"action="{location}/cancel""#)),
        "a confirmed order cannot be cancelled: {}",
        order.body
    );
    // A cancel sent anyway (a form from before the confirmation) is refused with a page.
    let late = browser
        .post(&format!("{location}/cancel"), &[("csrf", &order.csrf())])
        .await;
    assert_eq!(late.status, 409, "{}", late.body);
    assert_html(&late);
    assert!(
        late.body.contains("This order is confirmed already"),
        "{}",
        late.body
    );

    // The confirmation is among the shopper's notifications, unread until marked read.
    let token = browser.cookies["ws_session"].clone();
    let confirmed = confirmation_notice(&shop, &token).await;
    let id = confirmed["id"].as_str().expect("id");
    let subject = confirmed["subject"].as_str().expect("subject");
    let notices = browser.get("/notifications").await;
    assert_eq!(notices.status, 200, "{}", notices.body);
    assert_html(&notices);
    assert!(
        notices.body.contains(&maud_escape(subject)),
        "{}",
        notices.body
    );
    let mark = format!(r#"action="/notifications/{id}/read""#);
    assert!(notices.body.contains(&mark), "{}", notices.body);
    assert!(notices.body.contains(r#"<li class="unread">"#));
    let read = browser
        .post(
            &format!("/notifications/{id}/read"),
            &[("csrf", &notices.csrf()), ("page", "1")],
        )
        .await;
    assert_eq!(
        (read.status, read.header("location")),
        (303, Some("/notifications")),
        "{}",
        read.body
    );
    let notices = browser.get("/notifications").await;
    assert!(!notices.body.contains(&mark), "{}", notices.body);
    assert!(notices.body.contains(" · read "), "{}", notices.body);
    let foreign = browser
        .post(
            "/notifications/no-such-notification/read",
            &[("csrf", &notices.csrf())],
        )
        .await;
    assert_eq!(foreign.status, 404, "{}", foreign.body);
    assert_html(&foreign);
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

/// The `href` of every product card on a listing page, in the page's order.
fn product_links(page: &Page) -> Vec<String> {
    page.body
        .match_indices(r#"<h3><a href="/products/"#)
        .map(|(at, marker)| {
            let start = at + marker.len() - "/products/".len();
            let end = start + page.body[start..].find('"').expect("closing quote");
            page.body[start..end].to_owned()
        })
        .collect()
}

/// As the admin: a new category with products of these prices (in cents), named after the
/// category and their price: the category's id and the products' page paths by price.
async fn category_with_prices(
    admin: &ApiClient,
    name: &str,
    prices: &[i64],
) -> (String, Vec<String>) {
    let (status, category) = admin
        .requests()
        .post("/api/v1/categories")
        .json(&json!({ "name": name }))
        .send()
        .await;
    assert_eq!(status, 201, "{category}");
    let category = category["id"].as_str().expect("id").to_owned();
    let mut products = Vec::new();
    for price in prices {
        let sku = format!("S-{}", &uuid::Uuid::now_v7().simple().to_string()[16..]).to_uppercase();
        let body = json!({ "sku": sku, "name": format!("{name} at {price}"), "description": "",
            "price": { "amount": price, "currency": "EUR" }, "category_id": category });
        let (status, product) = admin
            .requests()
            .post("/api/v1/products")
            .json(&body)
            .send()
            .await;
        assert_eq!(status, 201, "{product}");
        products.push((
            *price,
            format!("/products/{}", product["id"].as_str().expect("id")),
        ));
    }
    products.sort();
    (
        category,
        products.into_iter().map(|(_, path)| path).collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_searches_sorts_filters_and_edits_the_profile() {
    let shop = Wasmshop::app().start().await.expect("boot");
    let admin = ApiClient::admin(&shop.base_url, &shop.client)
        .await
        .expect("admin");
    let unique = uuid::Uuid::now_v7().simple().to_string()[20..].to_owned();
    let name = format!("Quokka {unique}");
    let (category, by_price) = category_with_prices(&admin, &name, &[300, 100, 200]).await;
    let mut browser = Browser::new(&shop, None);

    // Every page has the search box; a search finds the products by name, the URL keeping
    // the words for the next page.
    let home = browser.get("/").await;
    assert!(
        home.body
            .contains(r#"<form class="search" role="search" method="get" action="/search">"#),
        "{}",
        home.body
    );
    let found = browser.get(&format!("/search?q=quokka+{unique}")).await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_html(&found);
    assert_eq!(product_links(&found).len(), 3, "{}", found.body);
    assert!(found.body.contains("3 products"));
    assert!(
        found
            .body
            .contains(&format!(r#"name="q" value="quokka {unique}""#))
    );
    let missing = browser.get("/search?q=no+such+thing+anywhere+xyzzy").await;
    assert_eq!(missing.status, 200);
    assert!(
        missing.body.contains("Nothing matches your search."),
        "{}",
        missing.body
    );
    let empty = browser.get("/search?q=").await;
    assert_eq!(empty.status, 200);
    assert!(empty.body.contains("Type a product"), "{}", empty.body);
    let long = browser.get(&format!("/search?q={}", "a".repeat(300))).await;
    assert_eq!(long.status, 200, "{}", long.body);
    assert_html(&long);
    assert!(
        long.body.contains("Search for at most 100 characters."),
        "{}",
        long.body
    );
    let hostile = browser
        .get("/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
        .await;
    assert_eq!(hostile.status, 200);
    assert!(!hostile.body.contains("<script>alert"), "{}", hostile.body);

    // The category sorts by price both ways and filters by a price range.
    let path = format!("/category/{category}");
    let cheapest_first = browser.get(&format!("{path}?sort=price-asc")).await;
    assert_eq!(cheapest_first.status, 200, "{}", cheapest_first.body);
    assert_eq!(product_links(&cheapest_first), by_price);
    assert!(
        cheapest_first
            .body
            .contains(r#"<option value="price-asc" selected>"#)
    );
    let dearest_first = browser.get(&format!("{path}?sort=price-desc")).await;
    let mut reversed = by_price.clone();
    reversed.reverse();
    assert_eq!(product_links(&dearest_first), reversed);
    let ranged = browser
        .get(&format!("{path}?sort=price-asc&min=1.50&max=2.5"))
        .await;
    assert_eq!(product_links(&ranged), by_price[1..2], "{}", ranged.body);
    assert!(ranged.body.contains(r#"value="1.50""#) && ranged.body.contains(r#"value="2.50""#));
    let reversed_range = browser.get(&format!("{path}?min=3&max=1")).await;
    assert_eq!(reversed_range.status, 200);
    assert!(
        reversed_range
            .body
            .contains("The lowest price must not be above the highest.")
    );
    assert_eq!(product_links(&reversed_range).len(), 3);

    // The profile: the account as stored, a new name saved, a bad field marked.
    let anonymous = browser.get("/profile").await;
    assert_eq!(anonymous.header("location"), Some("/login"));
    let (_, email) = register(&mut browser).await;
    let profile = browser.get("/profile").await;
    assert_eq!(profile.status, 200, "{}", profile.body);
    assert_html(&profile);
    assert!(profile.body.contains(&email) && profile.body.contains(r#"value="Shopper""#));
    assert!(profile.body.contains(r#"href="/notifications""#));
    let saved = browser
        .post(
            "/profile",
            &[
                ("csrf", &profile.csrf()),
                ("name", "Ada <Renamed>"),
                ("line1", ""),
            ],
        )
        .await;
    assert_eq!(
        (saved.status, saved.header("location")),
        (303, Some("/profile?saved=1")),
        "{}",
        saved.body
    );
    let profile = browser.get("/profile?saved=1").await;
    assert!(
        profile.body.contains(r#"value="Ada &lt;Renamed&gt;""#),
        "{}",
        profile.body
    );
    assert!(profile.body.contains("Your profile was saved."));
    let refused = browser
        .post(
            "/profile",
            &[
                ("csrf", &profile.csrf()),
                ("name", "Ada"),
                ("city", "Berlin"),
                ("country", "zz"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_html(&refused);
    assert!(
        refused
            .body
            .contains(r#"aria-invalid="true" aria-describedby="profile-country-error""#),
        "{}",
        refused.body
    );
    assert!(refused.body.contains(r#"value="Berlin""#));
    let unchanged = browser.get("/profile").await;
    assert!(unchanged.body.contains(r#"value="Ada &lt;Renamed&gt;""#));
    let forged = browser.post("/profile", &[("name", "Mallory")]).await;
    assert_eq!(forged.status, 403);
}

/// With the payment provider down (and no recovery tick to retry it), an order waits at the
/// payment step, where the shopper may still cancel it from its page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_cancels_an_order_from_its_page() {
    let shop = Wasmshop::app()
        .variables(&[("payments_fault", "error")])
        .start()
        .await
        .expect("boot");
    let admin = ApiClient::admin(&shop.base_url, &shop.client)
        .await
        .expect("admin");
    let product = admin.stocked_product(700, 5).await.expect("product");
    let mut browser = Browser::new(&shop, None);
    register(&mut browser).await;
    add_to_cart(&mut browser, &product, "1").await;
    let form = browser.get("/checkout").await;
    let address = [
        ("name", "Ada Lovelace"),
        ("line1", "1 Analytical Way"),
        ("line2", ""),
        ("city", "Berlin"),
        ("postal_code", "10115"),
    ];
    let (location, _) = place(&mut browser, &form, &address, "DE", "tok_visa").await;
    let cancel = format!(r#"action="{location}/cancel""#);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let waiting = loop {
        let page = browser.get(&location).await;
        assert_eq!(page.status, 200, "{}", page.body);
        if page.body.contains(r#"data-status="awaiting_payment""#) {
            break page;
        }
        assert!(std::time::Instant::now() < deadline, "{}", page.body);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(waiting.body.contains(&cancel), "{}", waiting.body);

    let cancelled = browser
        .post(&format!("{location}/cancel"), &[("csrf", &waiting.csrf())])
        .await;
    assert_eq!(
        (cancelled.status, cancelled.header("location")),
        (303, Some(location.as_str())),
        "{}",
        cancelled.body
    );
    let order = settled_order_page(&mut browser, &location).await;
    assert!(
        order.body.contains(r#"data-status="cancelled""#),
        "{}",
        order.body
    );
    assert!(
        order.body.contains("cancelled by customer"),
        "{}",
        order.body
    );
    assert!(!order.body.contains(&cancel), "{}", order.body);

    // A second cancel (an old tab's form) is refused with a page saying why.
    let again = browser
        .post(&format!("{location}/cancel"), &[("csrf", &order.csrf())])
        .await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert_html(&again);
    assert!(
        again.body.contains("nothing left to cancel"),
        "{}",
        again.body
    );
    let forged = browser.post(&format!("{location}/cancel"), &[]).await;
    assert_eq!(forged.status, 403);
}
