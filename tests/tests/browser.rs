//! The shop in a real browser: headless Chromium (Debian's `chromium`), driven over WebDriver by
//! `chromedriver`, against the whole app booted from `spin.toml`. Where `storefront.rs` reads
//! the HTML, these tests click, type and follow what a person would, with the browser's own
//! cookies, redirects, meta refreshes and Content-Security-Policy.
//!
//! Every page a test visits is saved as a PNG under `target/browser-screenshots/<test>/`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use wasmshop_tests::Wasmshop;
use wasmshop_tests::client::{ADMIN_EMAIL, ApiClient, PASSWORD};

/// How long a page may take to show what a test waits for (an order settling included).
const PATIENCE: Duration = Duration::from_secs(30);

/// A `chromedriver` of this test alone, on a free loopback port; killed with the test.
struct Chromedriver {
    /// Held for its `kill_on_drop`.
    _process: tokio::process::Child,
    url: String,
}

impl Chromedriver {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let process = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver (scripts/ensure-test-tools.sh installs it)");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http.get(format!("{url}/status")).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            _process: process,
            url,
        }
    }
}

/// One browser window with its own profile, and where its screenshots go.
struct Browser {
    client: Client,
    base_url: String,
    shots: PathBuf,
    taken: usize,
    /// Holds the profile directory until the browser is gone.
    _profile: tempfile::TempDir,
    _driver: Chromedriver,
}

impl Browser {
    async fn open(shop: &Wasmshop, test: &str) -> Self {
        let driver = Chromedriver::start().await;
        let profile = tempfile::tempdir().expect("a profile directory");
        // Debian's /usr/bin/chromium is a wrapper script; the browser itself is beside it.
        let binary = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"]
            .into_iter()
            .find(|path| std::path::Path::new(path).exists())
            .expect("chromium (scripts/ensure-test-tools.sh installs it)");
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": binary,
                "args": [
                    "--headless=new",
                    // Containers run the tests as root, where Chromium's sandbox cannot start.
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object literal");
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .expect("a WebDriver session");
        let shots = wasmshop_tests::workspace_root()
            .join("target/browser-screenshots")
            .join(test);
        // Screenshots of an earlier run are not this run's.
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).expect("the screenshot directory");
        Self {
            client,
            base_url: shop.base_url.clone(),
            shots,
            taken: 0,
            _profile: profile,
            _driver: driver,
        }
    }

    /// Opens a page of the shop by its path.
    async fn visit(&mut self, path: &str) {
        let url = format!("{}{path}", self.base_url);
        self.client.goto(&url).await.expect("navigation");
    }

    /// Saves what the window shows now as `<nn>-<label>.png`.
    async fn shot(&mut self, label: &str) {
        self.taken += 1;
        let png = self.client.screenshot().await.expect("a screenshot");
        let path = self.shots.join(format!("{:02}-{label}.png", self.taken));
        std::fs::write(&path, png).expect("the screenshot saved");
    }

    async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("the current URL")
            .path()
            .to_owned()
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) => panic!("`{css}` on {}: {e}", self.path().await),
        }
    }

    /// Clears the field and types `text` into it.
    async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("typing");
    }

    /// Clicks a link or a submit button and waits until the page it leads to has loaded: a
    /// marker set on the old page is gone and the new one is complete. (A click returns as soon
    /// as the browser acted; the next page may still be on its way.)
    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.client
            .execute("window.wasmshopLeaving = true", Vec::new())
            .await
            .expect("marking the page");
        element.click().await.expect("click");
        let deadline = Instant::now() + PATIENCE;
        loop {
            let arrived = self
                .client
                .execute(
                    "return window.wasmshopLeaving === undefined && document.readyState === 'complete'",
                    Vec::new(),
                )
                .await;
            if arrived.is_ok_and(|arrived| arrived == json!(true)) {
                return;
            }
            assert!(Instant::now() < deadline, "clicking `{css}` led nowhere");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The visible text of the page's main landmark.
    async fn main_text(&self) -> String {
        self.find("main").await.text().await.expect("text")
    }

    /// Waits until an element matching `css` is on the page (the page may reload meanwhile).
    async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                return element;
            }
            assert!(
                Instant::now() < deadline,
                "`{css}` never appeared on {}: {}",
                self.path().await,
                self.main_text().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Registers a new shopper through the form; the session cookie is the browser's.
    async fn register(&mut self) -> String {
        let email = format!("browser-{}@wasmshop.test", uuid::Uuid::now_v7().simple());
        self.visit("/register").await;
        self.fill("input[name=name]", "Grace Hopper").await;
        self.fill("input[name=email]", &email).await;
        self.fill("input[name=password]", PASSWORD).await;
        self.shot("register").await;
        self.click("main form button[type=submit]").await;
        assert_eq!(self.path().await, "/", "registered and logged in");
        assert!(
            self.find("form[action='/logout']")
                .await
                .is_displayed()
                .await
                .expect("shown"),
            "the header offers to log out"
        );
        email
    }

    /// Logs in through the form with the harness's password.
    async fn log_in(&mut self, email: &str) {
        self.visit("/login").await;
        self.fill("input[name=email]", email).await;
        self.fill("input[name=password]", PASSWORD).await;
        self.click("main form button[type=submit]").await;
        assert_eq!(self.path().await, "/", "logged in as {email}");
    }

    /// Adds `quantity` of a product from its page.
    async fn add_to_cart(&mut self, product: &str, quantity: u32) {
        self.visit(&format!("/products/{product}")).await;
        self.fill("input[name=quantity]", &quantity.to_string())
            .await;
        self.shot("product").await;
        self.click("form[action='/cart/items'] button[type=submit]")
            .await;
        assert_eq!(self.path().await, "/cart");
    }

    /// Fills the checkout form with an address in Germany and picks the test card `token`;
    /// places the order and returns the order page's path.
    async fn check_out(&mut self, token: &str) -> String {
        self.visit("/cart").await;
        self.click("a[href='/checkout']").await;
        for (name, value) in [
            ("name", "Grace Hopper"),
            ("line1", "1 Compiler Street"),
            ("city", "Berlin"),
            ("postal_code", "10115"),
            ("country", "DE"),
        ] {
            self.fill(&format!("form.checkout input[name={name}]"), value)
                .await;
        }
        self.find(&format!("input[name=payment_token][value={token}]"))
            .await
            .click()
            .await
            .expect("the test card picked");
        self.shot("checkout").await;
        self.click("form.checkout button[type=submit]").await;
        let path = self.path().await;
        assert!(path.starts_with("/orders/"), "the order page: {path}");
        path
    }

    async fn close(self) {
        self.client.close().await.expect("the session ends");
    }
}

async fn admin(shop: &Wasmshop) -> ApiClient {
    ApiClient::admin(&shop.base_url, &shop.client)
        .await
        .expect("admin")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_buys_two_products_and_watches_the_order_confirm() {
    let shop = Wasmshop::app().start().await.expect("boot");
    let admin = admin(&shop).await;
    let lamp = admin.stocked_product(1250, 10).await.expect("product");
    let chair = admin.stocked_product(4000, 10).await.expect("product");
    let mut browser = Browser::open(&shop, "buy").await;

    // Browse: the home page's first category, as a visitor. The stylesheet applies (the CSP
    // lets the shop's own file through): the skip link waits off-screen until focused.
    browser.visit("/").await;
    let (skip_x, ..) = browser
        .find("a.skip")
        .await
        .rectangle()
        .await
        .expect("its place");
    assert!(skip_x < 0.0, "the skip link is off-screen: x = {skip_x}");
    browser.shot("home").await;
    browser.click("main a[href^='/category/']").await;
    assert!(browser.path().await.starts_with("/category/"));
    assert!(browser.main_text().await.contains("Page 1 of"));
    browser.shot("category").await;

    // Search by the product's name from the box every page has.
    let (_, found) = admin
        .requests()
        .get(&format!("/api/v1/products/{lamp}"))
        .send()
        .await;
    let name = found["name"].as_str().expect("a name");
    browser.fill("#site-search", name).await;
    browser.click("form.search button[type=submit]").await;
    assert_eq!(browser.path().await, "/search");
    browser
        .find(&format!("main a[href='/products/{lamp}']"))
        .await;
    browser.shot("search").await;

    browser.register().await;
    browser.add_to_cart(&lamp, 1).await;
    browser.add_to_cart(&chair, 1).await;

    // Two lines; the lamp's quantity changed to 3 in the cart.
    browser
        .fill(&format!("input[name=quantity][id='quantity-{lamp}']"), "3")
        .await;
    browser
        .click(&format!(
            "form[action='/cart/items/{lamp}'] button[type=submit]"
        ))
        .await;
    assert_eq!(browser.path().await, "/cart");
    let cart = browser.main_text().await;
    assert!(cart.contains("77.50 EUR"), "3 × 12.50 + 40.00: {cart}");
    browser.shot("cart").await;

    // The order page refreshes itself until the saga settles: the browser is left alone.
    let order = browser.check_out("tok_visa").await;
    browser.shot("order-placed").await;
    browser.wait_for("[data-status=confirmed]").await;
    assert_eq!(browser.path().await, order);
    let page = browser.main_text().await;
    assert!(page.contains("37.50 EUR"), "3 × 12.50: {page}");
    browser.shot("order-confirmed").await;

    browser.click("a[href='/orders']").await;
    browser.find(&format!("main a[href='{order}']")).await;
    browser.shot("my-orders").await;
    browser.click("a[href='/profile']").await;
    browser.find("main input[name=name]").await;
    browser.shot("profile").await;

    // The confirmation is among the notifications, unread until marked read.
    browser.click("a[href='/notifications']").await;
    let unread = "main li.unread form[action^='/notifications/'] button";
    browser.wait_for(unread).await;
    let notifications = browser.main_text().await.to_lowercase();
    assert!(notifications.contains("confirmed"), "{notifications}");
    browser.shot("notifications").await;
    let before = browser
        .client
        .find_all(Locator::Css(unread))
        .await
        .expect("unread")
        .len();
    browser.click(unread).await;
    assert_eq!(browser.path().await, "/notifications");
    let after = browser
        .client
        .find_all(Locator::Css(unread))
        .await
        .expect("unread")
        .len();
    assert_eq!(after, before - 1, "one notification fewer unread");

    // At a phone's width the order page still fits: nothing scrolls sideways.
    browser
        .client
        .set_window_size(390, 844)
        .await
        .expect("a phone-sized window");
    browser.visit(&order).await;
    let overflow = browser
        .client
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
            Vec::new(),
        )
        .await
        .expect("the page's widths");
    assert_eq!(overflow.as_i64(), Some(0), "no sideways scrolling");
    browser.shot("order-phone").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_card_shows_the_failure_on_the_order_page() {
    let shop = Wasmshop::app().start().await.expect("boot");
    let product = admin(&shop)
        .await
        .stocked_product(900, 5)
        .await
        .expect("product");
    let mut browser = Browser::open(&shop, "declined").await;
    let email = browser.register().await;
    // Out and back in through the login form.
    browser
        .click("form[action='/logout'] button[type=submit]")
        .await;
    browser.visit("/login").await;
    browser.shot("login").await;
    browser.log_in(&email).await;
    browser.add_to_cart(&product, 2).await;
    browser.check_out("tok_declined").await;
    browser.wait_for("[data-status=cancelled]").await;
    let page = browser.main_text().await.to_lowercase();
    assert!(page.contains("declined"), "the page says why: {page}");
    browser.shot("order-cancelled").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_stay_text_and_a_form_without_its_token_is_refused() {
    let shop = Wasmshop::app().start().await.expect("boot");
    let body = json!({ "sku": "XSS-B", "name": "<script>alert(1)</script>",
        "description": "<img src=x onerror=alert(2)>",
        "price": { "amount": 100, "currency": "EUR" }, "category_id": null });
    let (status, product) = admin(&shop)
        .await
        .requests()
        .post("/api/v1/products")
        .json(&body)
        .send()
        .await;
    assert_eq!(status, 201, "{product}");
    let id = product["id"].as_str().expect("an id");

    let mut browser = Browser::open(&shop, "hostile").await;
    browser.visit(&format!("/products/{id}")).await;
    // Shown as text; no script ran (an alert would be open) and no element was made of it.
    assert_eq!(
        browser.find("main h1").await.text().await.expect("text"),
        "<script>alert(1)</script>"
    );
    assert!(
        browser.client.get_alert_text().await.is_err(),
        "no alert is open"
    );
    assert!(browser.client.find(Locator::Css("main img")).await.is_err());
    browser.shot("hostile-product").await;

    // The same form with its CSRF field taken out (as a forged form would lack it): refused
    // with the shop's own page, and the cart is unchanged.
    browser
        .client
        .execute(
            "document.querySelector(\"form[action='/cart/items'] input[name=csrf]\").remove()",
            Vec::new(),
        )
        .await
        .expect("the field removed");
    browser
        .click("form[action='/cart/items'] button[type=submit]")
        .await;
    let refused = browser.main_text().await;
    assert!(refused.contains("This form expired"), "{refused}");
    browser.shot("csrf-refused").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_reprices_in_the_console_and_a_customer_is_kept_out() {
    let shop = Wasmshop::app().start().await.expect("boot");
    let product = admin(&shop)
        .await
        .stocked_product(1999, 5)
        .await
        .expect("product");

    // A customer who finds the console is told it is not theirs.
    let mut customer = Browser::open(&shop, "console-customer").await;
    customer.register().await;
    customer.visit("/console").await;
    assert_eq!(
        customer.find("main h1").await.text().await.expect("text"),
        "Operators only"
    );
    customer.shot("console-refused").await;
    customer.visit(&format!("/products/{product}")).await;
    assert!(customer.main_text().await.contains("19.99 EUR"));

    // The operator changes the price in the console's product editor.
    let mut operator = Browser::open(&shop, "console-operator").await;
    operator.log_in(ADMIN_EMAIL).await;
    operator.visit("/console").await;
    operator.shot("console-home").await;
    operator
        .visit(&format!("/console/products/{product}"))
        .await;
    operator.fill("#product-price", "24.50").await;
    operator.shot("console-product").await;
    operator
        .click(&format!(
            "form[action='/console/products/{product}'] button[type=submit]"
        ))
        .await;
    operator.shot("console-saved").await;

    // Every section of the console opens for the operator (and is saved for the record).
    for (path, name) in [
        ("/console/products", "console-products"),
        ("/console/stock", "console-stock"),
        ("/console/shipments", "console-shipments"),
        ("/console/payments", "console-payments"),
        ("/console/dead-letters", "console-dead-letters"),
        (
            "/console/dead-letters/orders",
            "console-dead-letters-orders",
        ),
        ("/console/audit", "console-audit"),
    ] {
        operator.visit(path).await;
        let heading = operator.find("main h1").await.text().await.expect("text");
        assert_ne!(heading, "Operators only", "{path}");
        operator.shot(name).await;
    }
    let audit = operator.main_text().await;
    assert!(audit.contains("catalog.product.update"), "{audit}");

    // The shopper's next look at the product shows the new price.
    customer.visit(&format!("/products/{product}")).await;
    let page = customer.main_text().await;
    assert!(page.contains("24.50 EUR"), "{page}");
    customer.shot("repriced").await;
    operator.close().await;
    customer.close().await;
}
