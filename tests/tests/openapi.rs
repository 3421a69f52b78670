//! The OpenAPI document is the API: served by the gateway as it is in the repository, and every
//! operation it lists is driven here against the running app (real Redis, every component)
//! with each response validated against the schema the document gives for its status. An
//! operation the document lists but this test does not drive fails the test; one the gateway
//! serves but the document lacks fails the gateway's own route-table test
//! (`gateway-component/src/routes.rs`).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use serde_json::{Value, json};
use wasmshop_tests::client::{ApiClient, PASSWORD, address};
use wasmshop_tests::{
    CONTEXTS, EventTransport, TEST_ADMIN_BOOTSTRAP_TOKEN, Wasmshop, eventually, workspace_root,
};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The document, the validators compiled from it, and the operations driven so far.
struct Contract {
    doc: Value,
    validators: Mutex<HashMap<String, jsonschema::Validator>>,
    driven: Mutex<BTreeSet<(String, String)>>,
    checks: Mutex<usize>,
}

/// `/` and `~` escaped for a JSON pointer.
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

impl Contract {
    fn load() -> Self {
        let path = workspace_root().join("gateway-component/openapi.json");
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read"))
            .expect("the document is JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        Self {
            doc,
            validators: Mutex::new(HashMap::new()),
            driven: Mutex::new(BTreeSet::new()),
            checks: Mutex::new(0),
        }
    }

    fn operations(&self) -> BTreeSet<(String, String)> {
        let mut all = BTreeSet::new();
        for (path, item) in self.doc["paths"].as_object().expect("paths") {
            for method in METHODS {
                if item.get(method).is_some() {
                    all.insert((path.clone(), method.to_owned()));
                }
            }
        }
        all
    }

    /// The response object for `status` (following a `$ref` to `components/responses`), and
    /// its JSON pointer.
    fn response(&self, template: &str, method: &str, status: u16) -> (String, &Value) {
        let operation = &self.doc["paths"][template][method];
        assert!(
            operation.is_object(),
            "{method} {template} is not in the document"
        );
        let responses = &operation["responses"];
        let key = [
            status.to_string(),
            format!("{}XX", status / 100),
            "default".into(),
        ]
        .into_iter()
        .find(|key| responses.get(key).is_some())
        .unwrap_or_else(|| {
            panic!("{method} {template} answered {status}, which the document does not list")
        });
        let mut pointer = format!(
            "/paths/{}/{method}/responses/{}",
            escape(template),
            escape(&key)
        );
        let mut response = &responses[&key];
        while let Some(reference) = response.get("$ref").and_then(Value::as_str) {
            pointer = reference.trim_start_matches('#').to_owned();
            response = self.doc.pointer(&pointer).expect("the reference resolves");
        }
        (pointer, response)
    }

    /// Checks one exchange against the document and records the operation as driven.
    fn check(&self, template: &str, method: &str, status: u16, body: &Value) {
        let (pointer, response) = self.response(template, method, status);
        let json_schema = &response["content"]["application/json"]["schema"];
        if json_schema.is_null() {
            assert!(
                body.is_null(),
                "{method} {template} {status}: the document promises no body, got {body}"
            );
        } else {
            let pointer = format!("{pointer}/content/application~1json/schema");
            let mut validators = self.validators.lock().expect("lock");
            let validator = validators.entry(pointer.clone()).or_insert_with(|| {
                let mut root = self.doc.clone();
                root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
                // A URI fragment: the braces of path templates must be percent-encoded.
                let fragment = pointer.replace('{', "%7B").replace('}', "%7D");
                root["$ref"] = json!(format!("#{fragment}"));
                jsonschema::validator_for(&root)
                    .unwrap_or_else(|e| panic!("the schema at {pointer} compiles: {e}"))
            });
            let errors: Vec<String> = validator
                .iter_errors(body)
                .map(|e| format!("{e} at {}", e.instance_path))
                .collect();
            assert!(
                errors.is_empty(),
                "{method} {template} {status}: {errors:#?}\nbody: {body}"
            );
        }
        *self.checks.lock().expect("lock") += 1;
        self.driven
            .lock()
            .expect("lock")
            .insert((template.to_owned(), method.to_owned()));
    }
}

/// One call through the gateway, checked against the contract.
struct Caller<'a> {
    shop: &'a Wasmshop,
    contract: &'a Contract,
}

impl Caller<'_> {
    async fn call(
        &self,
        token: Option<&str>,
        method: &str,
        template: &str,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut request = self.shop.client.request(
            method.to_uppercase().parse().expect("method"),
            format!("{}{path}", self.shop.base_url),
        );
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"))
        };
        self.contract
            .check(template, &method.to_lowercase(), status, &body);
        (status, body)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_answers_as_documented() {
    let shop = Wasmshop::boot_shop(EventTransport::HttpPush, &[])
        .await
        .expect("boot");
    let contract = Contract::load();
    let api = Caller {
        shop: &shop,
        contract: &contract,
    };

    // The gateway serves the document it was built with.
    let (status, served) = api
        .call(
            None,
            "get",
            "/api/v1/openapi.json",
            "/api/v1/openapi.json",
            None,
            &[],
        )
        .await;
    assert_eq!((status, &served), (200, &contract.doc));
    api.call(None, "get", "/health", "/health", None, &[]).await;
    api.call(None, "get", "/api/v1/health", "/api/v1/health", None, &[])
        .await;
    let (status, _) = api.call(None, "get", "/ready", "/ready", None, &[]).await;
    assert_eq!(status, 200);

    // Identity.
    let register =
        json!({ "email": "contract@example.com", "password": PASSWORD, "name": "Con Tract" });
    let (status, _) = api
        .call(
            None,
            "post",
            "/api/v1/auth/register",
            "/api/v1/auth/register",
            Some(&register),
            &[],
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = api
        .call(
            None,
            "post",
            "/api/v1/auth/register",
            "/api/v1/auth/register",
            Some(&register),
            &[],
        )
        .await;
    assert_eq!(status, 409, "the email is taken");
    let (status, _) = api
        .call(
            None,
            "post",
            "/api/v1/auth/register",
            "/api/v1/auth/register",
            Some(&json!({ "email": "x" })),
            &[],
        )
        .await;
    assert!((400..500).contains(&status));
    let login = json!({ "email": "contract@example.com", "password": PASSWORD });
    let (status, tokens) = api
        .call(
            None,
            "post",
            "/api/v1/auth/login",
            "/api/v1/auth/login",
            Some(&login),
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let customer = tokens["access_token"].as_str().expect("token").to_owned();
    let customer = Some(customer.as_str());
    let (status, _) = api
        .call(
            None,
            "post",
            "/api/v1/auth/login",
            "/api/v1/auth/login",
            Some(&json!({ "email": "contract@example.com", "password": "wrong password" })),
            &[],
        )
        .await;
    assert_eq!(status, 401);
    // The first admin: a wrong token makes nothing, the operator's makes one admin, once.
    let bootstrap = |token: &str| json!({ "token": token, "email": wasmshop_tests::client::ADMIN_EMAIL, "password": PASSWORD });
    for (token, status, code) in [
        ("wrong", 403, Some("invalid_bootstrap_token")),
        (TEST_ADMIN_BOOTSTRAP_TOKEN, 201, None),
        (
            TEST_ADMIN_BOOTSTRAP_TOKEN,
            409,
            Some("already_bootstrapped"),
        ),
    ] {
        let (answered, body) = api
            .call(
                None,
                "post",
                "/api/v1/auth/bootstrap-admin",
                "/api/v1/auth/bootstrap-admin",
                Some(&bootstrap(token)),
                &[],
            )
            .await;
        assert_eq!(answered, status, "{body}");
        if let Some(code) = code {
            assert_eq!(body["error"]["code"], code);
        } else {
            assert_eq!(body["role"], "admin");
        }
    }
    let admin = ApiClient::admin(&shop.base_url, &shop.client)
        .await
        .expect("admin")
        .token
        .expect("token");
    let admin = Some(admin.as_str());
    let (status, _) = api
        .call(
            customer,
            "get",
            "/api/v1/users/me",
            "/api/v1/users/me",
            None,
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = api
        .call(
            None,
            "get",
            "/api/v1/users/me",
            "/api/v1/users/me",
            None,
            &[],
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = api
        .call(
            customer,
            "patch",
            "/api/v1/users/me",
            "/api/v1/users/me",
            Some(&json!({ "name": "Con T. Ract" })),
            &[],
        )
        .await;
    assert_eq!(status, 200);

    // Catalog.
    let (status, page) = api
        .call(
            None,
            "get",
            "/api/v1/products",
            "/api/v1/products?limit=2&sort=price-asc",
            None,
            &[],
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let (status, _) = api
        .call(
            None,
            "get",
            "/api/v1/products",
            "/api/v1/products?limit=0",
            None,
            &[],
        )
        .await;
    assert_eq!(status, 400);
    let (status, category) = api
        .call(
            admin,
            "post",
            "/api/v1/categories",
            "/api/v1/categories",
            Some(&json!({ "name": "Contract goods", "description": null })),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{category}");
    let (status, _) = api
        .call(
            None,
            "get",
            "/api/v1/categories",
            "/api/v1/categories",
            None,
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let product_body = json!({ "sku": "CONTRACT-1", "name": "Contract mug", "description": "A mug",
        "price": { "amount": 1250, "currency": "EUR" }, "category_id": category["id"] });
    let (status, product) = api
        .call(
            admin,
            "post",
            "/api/v1/products",
            "/api/v1/products",
            Some(&product_body),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{product}");
    let (status, _) = api
        .call(
            customer,
            "post",
            "/api/v1/products",
            "/api/v1/products",
            Some(&product_body),
            &[],
        )
        .await;
    assert_eq!(status, 403);
    let product_id = product["id"].as_str().expect("id").to_owned();
    let product_path = format!("/api/v1/products/{product_id}");
    let (status, _) = api
        .call(
            None,
            "get",
            "/api/v1/products/{id}",
            &product_path,
            None,
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = api
        .call(
            None,
            "get",
            "/api/v1/products/{id}",
            "/api/v1/products/0190d7a0-0000-7000-8000-000000000000",
            None,
            &[],
        )
        .await;
    assert_eq!(status, 404);
    let mut renamed = product_body.clone();
    renamed["name"] = json!("Contract mug, large");
    let (status, _) = api
        .call(
            admin,
            "put",
            "/api/v1/products/{id}",
            &product_path,
            Some(&renamed),
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let inventory = format!("/api/v1/inventory/{product_id}");
    let (status, _) = api
        .call(
            admin,
            "put",
            "/api/v1/inventory/{id}",
            &inventory,
            Some(&json!({ "on_hand": 20, "low_stock_threshold": 0 })),
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = api
        .call(
            admin,
            "get",
            "/api/v1/inventory/{id}",
            &inventory,
            None,
            &[],
        )
        .await;
    assert_eq!(status, 200);

    // Cart.
    let item = format!("/api/v1/cart/items/{product_id}");
    let line = json!({ "product_id": product_id, "quantity": 2 });
    let (status, _) = api
        .call(
            customer,
            "post",
            "/api/v1/cart/items",
            "/api/v1/cart/items",
            Some(&line),
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = api
        .call(
            customer,
            "post",
            "/api/v1/cart/items",
            "/api/v1/cart/items",
            Some(&json!({ "product_id": product_id, "quantity": 0 })),
            &[],
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = api
        .call(
            customer,
            "patch",
            "/api/v1/cart/items/{product_id}",
            &item,
            Some(&json!({ "quantity": 3 })),
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = api
        .call(customer, "get", "/api/v1/cart", "/api/v1/cart", None, &[])
        .await;
    assert_eq!(status, 200);
    let (status, _) = api
        .call(
            customer,
            "delete",
            "/api/v1/cart/items/{product_id}",
            &item,
            None,
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = api
        .call(
            customer,
            "delete",
            "/api/v1/cart",
            "/api/v1/cart",
            None,
            &[],
        )
        .await;
    assert_eq!(status, 200);

    // Orders, payments, shipments.
    let checkout = |key: &'static str| {
        let body = json!({ "shipping_address": address(), "payment_token": "tok_visa",
            "lines": [{ "product_id": product_id, "quantity": 1 }] });
        (key, body)
    };
    let mut orders = Vec::new();
    for (key, body) in [checkout("contract-1"), checkout("contract-2")] {
        let (status, accepted) = api
            .call(
                customer,
                "post",
                "/api/v1/orders",
                "/api/v1/orders",
                Some(&body),
                &[("idempotency-key", key)],
            )
            .await;
        assert_eq!(status, 202, "{accepted}");
        orders.push(accepted["id"].as_str().expect("id").to_owned());
    }
    let (status, _) = api
        .call(
            customer,
            "post",
            "/api/v1/orders",
            "/api/v1/orders",
            Some(&checkout("x").1),
            &[],
        )
        .await;
    assert_eq!(status, 400, "no Idempotency-Key");
    for order in &orders {
        let path = format!("/api/v1/orders/{order}");
        let confirmed = eventually("a confirmed order", || async {
            let (_, order) = api
                .call(customer, "get", "/api/v1/orders/{id}", &path, None, &[])
                .await;
            (order["status"] == "confirmed").then_some(order)
        })
        .await;
        assert_eq!(confirmed["status"], "confirmed");
    }
    let (status, _) = api
        .call(
            customer,
            "get",
            "/api/v1/orders",
            "/api/v1/orders?limit=5",
            None,
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = api
        .call(
            customer,
            "post",
            "/api/v1/orders/{id}/cancel",
            &format!("/api/v1/orders/{}/cancel", orders[0]),
            None,
            &[],
        )
        .await;
    assert_eq!(status, 409, "shipped orders cannot be cancelled");

    let (status, payments) = api
        .call(
            customer,
            "get",
            "/api/v1/payments",
            &format!("/api/v1/payments?order_id={}", orders[0]),
            None,
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let payment_id = payments["items"][0]["id"]
        .as_str()
        .expect("payment")
        .to_owned();
    let (status, _) = api
        .call(
            customer,
            "get",
            "/api/v1/payments/{id}",
            &format!("/api/v1/payments/{payment_id}"),
            None,
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let refund = format!("/api/v1/admin/payments/payments/{payment_id}/refund");
    let (status, _) = api
        .call(
            admin,
            "post",
            "/api/v1/admin/payments/payments/{id}/refund",
            &refund,
            None,
            &[],
        )
        .await;
    assert_eq!(status, 200);

    let (status, _) = api
        .call(
            None,
            "get",
            "/api/v1/shipping/quotes",
            "/api/v1/shipping/quotes?country=DE&weight_grams=1500",
            None,
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = api
        .call(
            None,
            "get",
            "/api/v1/shipping/quotes",
            "/api/v1/shipping/quotes?country=XX&weight_grams=1500",
            None,
            &[],
        )
        .await;
    assert_eq!(status, 422);
    let mut shipments = Vec::new();
    for order in &orders {
        let (status, page) = api
            .call(
                customer,
                "get",
                "/api/v1/shipments",
                &format!("/api/v1/shipments?order_id={order}"),
                None,
                &[],
            )
            .await;
        assert_eq!(status, 200);
        shipments.push(
            page["items"][0]["id"]
                .as_str()
                .expect("shipment")
                .to_owned(),
        );
    }
    let (status, _) = api
        .call(
            customer,
            "get",
            "/api/v1/shipments/{id}",
            &format!("/api/v1/shipments/{}", shipments[0]),
            None,
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = api
        .call(
            admin,
            "post",
            "/api/v1/shipments/{id}/status",
            &format!("/api/v1/shipments/{}/status", shipments[0]),
            Some(&json!({ "status": "picked" })),
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = api
        .call(
            admin,
            "post",
            "/api/v1/shipments/{id}/status",
            &format!("/api/v1/shipments/{}/status", shipments[0]),
            Some(&json!({ "status": "created" })),
            &[],
        )
        .await;
    assert_eq!(status, 409);
    let (status, _) = api
        .call(
            admin,
            "post",
            "/api/v1/shipments/{id}/cancel",
            &format!("/api/v1/shipments/{}/cancel", shipments[1]),
            None,
            &[],
        )
        .await;
    assert_eq!(status, 200);

    // Notifications.
    let notification = eventually("a notification", || async {
        let (_, page) = api
            .call(
                customer,
                "get",
                "/api/v1/notifications",
                "/api/v1/notifications",
                None,
                &[],
            )
            .await;
        page["items"][0]["id"].as_str().map(str::to_owned)
    })
    .await;
    let (status, _) = api
        .call(
            customer,
            "post",
            "/api/v1/notifications/{id}/read",
            &format!("/api/v1/notifications/{notification}/read"),
            None,
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = api
        .call(
            admin,
            "get",
            "/api/v1/admin/notifications/notifications",
            "/api/v1/admin/notifications/notifications?limit=3",
            None,
            &[],
        )
        .await;
    assert_eq!(status, 200);

    // The audit trail: the refund above is in it; only admins read it.
    let (status, trail) = api
        .call(
            admin,
            "get",
            "/api/v1/admin/audit",
            "/api/v1/admin/audit?action=payments.refund&limit=5",
            None,
            &[],
        )
        .await;
    assert_eq!((status, &trail["total"]), (200, &json!(1)), "{trail}");
    let (status, _) = api
        .call(
            admin,
            "get",
            "/api/v1/admin/audit",
            "/api/v1/admin/audit?since=yesterday",
            None,
            &[],
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = api
        .call(
            customer,
            "get",
            "/api/v1/admin/audit",
            "/api/v1/admin/audit",
            None,
            &[],
        )
        .await;
    assert_eq!(status, 403);

    // Operators: a poison message gives orders a dead letter to read, retry and discard.
    let poison = json!({ "not": "an envelope" });
    assert_eq!(shop.publish("catalog.events", &poison).expect("publish"), 1);
    let letter = eventually("a dead letter", || async {
        let (_, page) = api
            .call(
                admin,
                "get",
                "/api/v1/admin/orders/dead-letters",
                "/api/v1/admin/orders/dead-letters?status=dead",
                None,
                &[],
            )
            .await;
        page["items"][0]["id"].as_str().map(str::to_owned)
    })
    .await;
    for context in CONTEXTS {
        let base = format!("/api/v1/admin/{context}");
        let (status, _) = api
            .call(
                admin,
                "post",
                &format!("/api/v1/admin/{context}/recovery"),
                &format!("{base}/recovery"),
                None,
                &[],
            )
            .await;
        assert_eq!(status, 200, "{context}");
        let (status, _) = api
            .call(
                admin,
                "get",
                &format!("/api/v1/admin/{context}/dead-letters"),
                &format!("{base}/dead-letters"),
                None,
                &[],
            )
            .await;
        assert_eq!(status, 200);
        let id = if context == "orders" {
            letter.clone()
        } else {
            uuid::Uuid::now_v7().to_string()
        };
        let one = format!("/api/v1/admin/{context}/dead-letters/{{id}}");
        let retry = format!("/api/v1/admin/{context}/dead-letters/{{id}}/retry");
        let (status, _) = api
            .call(
                admin,
                "get",
                &one,
                &format!("{base}/dead-letters/{id}"),
                None,
                &[],
            )
            .await;
        assert_eq!(
            status,
            if context == "orders" { 200 } else { 404 },
            "{context}"
        );
        let (status, _) = api
            .call(
                admin,
                "post",
                &retry,
                &format!("{base}/dead-letters/{id}/retry"),
                None,
                &[],
            )
            .await;
        assert!(
            if context == "orders" {
                status < 300
            } else {
                status == 404
            },
            "{context}: {status}"
        );
        let (status, _) = api
            .call(
                admin,
                "delete",
                &one,
                &format!("{base}/dead-letters/{id}"),
                None,
                &[],
            )
            .await;
        assert!(
            if context == "orders" {
                status < 300
            } else {
                status == 404
            },
            "{context}: {status}"
        );
        let (status, _) = api
            .call(
                customer,
                "get",
                &format!("/api/v1/admin/{context}/dead-letters"),
                &format!("{base}/dead-letters"),
                None,
                &[],
            )
            .await;
        assert_eq!(status, 403);
    }

    // Last: a product goes, a token is revoked.
    let (status, _) = api
        .call(
            admin,
            "delete",
            "/api/v1/products/{id}",
            &product_path,
            None,
            &[],
        )
        .await;
    assert!(status < 300);
    let (status, _) = api
        .call(
            customer,
            "post",
            "/api/v1/auth/logout",
            "/api/v1/auth/logout",
            None,
            &[],
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = api
        .call(
            customer,
            "get",
            "/api/v1/users/me",
            "/api/v1/users/me",
            None,
            &[],
        )
        .await;
    assert_eq!(status, 401, "a revoked token");

    let driven = contract.driven.lock().expect("lock").clone();
    let missing: Vec<_> = contract.operations().difference(&driven).cloned().collect();
    assert!(missing.is_empty(), "documented but not driven: {missing:?}");
    println!(
        "openapi conformance: {} operations, {} responses validated",
        driven.len(),
        contract.checks.lock().expect("lock")
    );
}
