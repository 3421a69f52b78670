//! The operator console (`components/storefront/src/console.rs`), booted with the whole app
//! and driven as a browser without JavaScript would. Two tests, one app each: who may use it,
//! and what an operator does with it.

use wasmshop_tests::Wasmshop;
use wasmshop_tests::client::{ADMIN_EMAIL, ApiClient};
use wasmshop_tests::html::{Browser, Page, assert_html, register};

async fn admin_browser(shop: &Wasmshop) -> (ApiClient, Browser) {
    let admin = ApiClient::admin(&shop.base_url, &shop.client)
        .await
        .expect("admin");
    let mut browser = Browser::new(shop, None);
    browser.log_in(ADMIN_EMAIL).await;
    (admin, browser)
}

/// Follows the `303` a console form answers with, expecting it to lead to `prefix`.
async fn follow(browser: &mut Browser, answer: &Page, prefix: &str) -> Page {
    assert_eq!(answer.status, 303, "{}", answer.body);
    let location = answer.header("location").expect("a location").to_owned();
    assert!(location.starts_with(prefix), "{location}");
    let page = browser.get(&location).await;
    assert_eq!(page.status, 200, "{location}: {}", page.body);
    assert_html(&page);
    page
}

async fn price_of(admin: &ApiClient, product: &str) -> i64 {
    let (status, body) = admin
        .requests()
        .get(&format!("/api/v1/products/{product}"))
        .send()
        .await;
    assert_eq!(status, 200, "{body}");
    body["price"]["amount"].as_i64().expect("amount")
}

async fn on_hand(admin: &ApiClient, product: &str) -> i64 {
    let (status, body) = admin
        .requests()
        .get(&format!("/api/v1/inventory/{product}"))
        .send()
        .await;
    assert_eq!(status, 200, "{body}");
    body["on_hand"].as_i64().expect("on_hand")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_operators_use_the_console_and_its_forms_need_their_token() {
    let shop = Wasmshop::app().start().await.expect("boot");
    let (admin, mut operator) = admin_browser(&shop).await;
    let product = admin.stocked_product(1250, 10).await.expect("product");

    // Nobody logged in: to the login page.
    let mut anonymous = Browser::new(&shop, None);
    let page = anonymous.get("/console/products").await;
    assert_eq!(
        (page.status, page.header("location")),
        (303, Some("/login"))
    );

    // A customer: the API refuses them, and the console says so kindly, on every page,
    // including those whose own reads a customer may make (their shipments, the products).
    let mut customer = Browser::new(&shop, None);
    register(&mut customer).await;
    for path in [
        "/console",
        "/console/products",
        "/console/stock",
        "/console/shipments",
        "/console/payments",
        "/console/dead-letters/orders",
        "/console/audit",
    ] {
        let page = customer.get(path).await;
        assert_eq!(page.status, 403, "{path}: {}", page.body);
        assert_html(&page);
        assert!(page.body.contains("Operators only"), "{path}");
    }
    // A customer's well-formed console POST (their own valid token) changes nothing.
    let token = customer.get("/console").await.csrf();
    let refused = customer
        .post(
            &format!("/console/products/{product}"),
            &[
                ("csrf", &token),
                ("name", "Hijacked"),
                ("description", ""),
                ("price", "0.01"),
                ("currency", "EUR"),
                ("active", "on"),
            ],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("Operators only"));
    let refused = customer
        .post(
            &format!("/console/stock/{product}"),
            &[("csrf", &token), ("on_hand", "0")],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(price_of(&admin, &product).await, 1250);
    assert_eq!(on_hand(&admin, &product).await, 10);

    // The operator's own POSTs without the page's token are refused too.
    let form = [("on_hand", "1")];
    let missing = operator
        .post(&format!("/console/stock/{product}"), &form)
        .await;
    assert_eq!(missing.status, 403, "{}", missing.body);
    assert_html(&missing);
    let forged = "0".repeat(64);
    let wrong = operator
        .post(
            &format!("/console/stock/{product}"),
            &[("csrf", forged.as_str()), form[0]],
        )
        .await;
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    // The customer's token is not the operator's (it is bound to the session).
    let replayed = operator
        .post(
            &format!("/console/stock/{product}"),
            &[("csrf", token.as_str()), form[0]],
        )
        .await;
    assert_eq!(replayed.status, 403, "{}", replayed.body);
    assert_eq!(on_hand(&admin, &product).await, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_reprices_restocks_recovers_and_reads_the_audit_trail() {
    let shop = Wasmshop::app().start().await.expect("boot");
    let (admin, mut operator) = admin_browser(&shop).await;
    let product = admin.stocked_product(1250, 10).await.expect("product");

    let home = operator.get("/console").await;
    assert_eq!(home.status, 200, "{}", home.body);
    assert_html(&home);
    assert!(home.body.contains(r#"href="/static/console-v1.css""#));
    for section in [
        "products",
        "stock",
        "shipments",
        "payments",
        "dead-letters",
        "audit",
    ] {
        assert!(
            home.body.contains(&format!(r#"href="/console/{section}""#)),
            "{section}"
        );
    }
    let css = operator.get("/static/console-v1.css").await;
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));

    // A new price (and a name that lists first), through the product's form.
    let listing = operator.get("/console/products").await;
    assert_eq!(listing.status, 200, "{}", listing.body);
    assert!(listing.body.contains("Page 1 of"), "{}", listing.body);
    let path = format!("/console/products/{product}");
    let form = operator.get(&path).await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains(r#"value="12.50""#), "{}", form.body);
    let name = "000 Console mug";
    let saved = operator
        .post(
            &path,
            &[
                ("csrf", &form.csrf()),
                ("name", name),
                ("description", "Repriced by the console"),
                ("price", "19.99"),
                ("currency", "EUR"),
                ("category_id", ""),
                ("active", "on"),
            ],
        )
        .await;
    let page = follow(&mut operator, &saved, &path).await;
    assert!(page.body.contains("Changes saved."), "{}", page.body);
    assert_eq!(price_of(&admin, &product).await, 1999);
    let shop_page = operator.get(&format!("/products/{product}")).await;
    assert_eq!(shop_page.status, 200, "{}", shop_page.body);
    assert!(shop_page.body.contains("19.99 EUR"), "{}", shop_page.body);
    // A price the form cannot read comes back on the form, marked.
    let wrong = operator
        .post(
            &path,
            &[
                ("csrf", &page.csrf()),
                ("name", name),
                ("price", "nineteen"),
                ("currency", "EUR"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    assert!(
        wrong
            .body
            .contains(r#"aria-describedby="product-price-error""#)
    );
    assert_eq!(price_of(&admin, &product).await, 1999);

    // Three on hand is below a threshold of 5: the stock page marks the product low (the
    // harness's products start with no threshold).
    let stock = operator.get("/console/stock").await;
    assert_eq!(stock.status, 200, "{}", stock.body);
    let set = operator
        .post(
            &format!("/console/stock/{product}"),
            &[
                ("csrf", &stock.csrf()),
                ("on_hand", "3"),
                ("low_stock_threshold", "5"),
                ("page", "1"),
            ],
        )
        .await;
    let stock = follow(&mut operator, &set, "/console/stock?page=1").await;
    assert!(stock.body.contains("Stock level set."), "{}", stock.body);
    assert_eq!(on_hand(&admin, &product).await, 3);
    let row = format!(
        r#"<tr class="low"><td data-label="Product"><a href="/console/products/{product}">{name}</a>"#
    );
    assert!(stock.body.contains(&row), "{}", stock.body);
    assert!(stock.body.contains("low-stock threshold"));

    // Shipments and payments list; dead letters list; a recovery pass reports back.
    for path in [
        "/console/shipments",
        "/console/payments",
        "/console/dead-letters",
    ] {
        let page = operator.get(path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert_html(&page);
    }
    let letters = operator.get("/console/dead-letters/orders").await;
    assert_eq!(letters.status, 200, "{}", letters.body);
    assert!(letters.body.contains("Dead letters of orders"));
    let ran = operator
        .post("/console/recovery/orders", &[("csrf", &letters.csrf())])
        .await;
    let letters = follow(&mut operator, &ran, "/console/dead-letters/orders?").await;
    assert!(
        letters.body.contains("Recovery pass run:"),
        "{}",
        letters.body
    );

    // The audit trail names the price change, by its action filter.
    let audit = operator
        .get("/console/audit?action=catalog.product.update")
        .await;
    assert_eq!(audit.status, 200, "{}", audit.body);
    assert!(
        audit.body.contains(&format!("/api/v1/products/{product}")),
        "{}",
        audit.body
    );
    assert!(audit.body.contains("catalog.product.update"));
    assert!(!audit.body.contains("catalog.stock.set"), "filtered");
    let bad = operator.get("/console/audit?since=yesterday").await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert_html(&bad);
}
