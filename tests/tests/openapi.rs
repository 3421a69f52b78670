//! The OpenAPI document is the API: served by the gateway as it is in the repository, and every
//! operation it lists is driven here against the running app (real Redis, every component)
//! with each response validated against the schema the document gives for its status. An
//! operation the document lists but this test does not drive fails the test; one the gateway
//! serves but the document lacks fails the gateway's own route-table test
//! (`gateway-component/src/routes.rs`).

use std::collections::{BTreeSet, HashMap};
use std::ops::RangeInclusive;
use std::sync::Mutex;

use serde_json::{Value, json};
use wasmshop_tests::client::{ADMIN_EMAIL, Caller, PASSWORD, address};
use wasmshop_tests::ids::new_id;
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

#[derive(Clone, Copy)]
enum Who {
    Anonymous,
    /// The account the identity rows register; its token is the variable `customer_token`.
    Customer,
    /// The admin the bootstrap rows make; its token is the variable `admin_token`.
    Admin,
}

/// One row of the contract table: an operation, how to call it, what it must answer.
/// `{name}` in the path and the body stands for a variable an earlier row captured.
struct Row {
    who: Who,
    method: &'static str,
    template: String,
    path: String,
    body: Option<Value>,
    headers: Vec<(&'static str, &'static str)>,
    expect: RangeInclusive<u16>,
    /// Asks again (the saga, notifications, dead letters arrive later) until the body has a
    /// string at this pointer, equal to the value when one is given.
    until: Option<(&'static str, Option<&'static str>)>,
    /// Saves the string at this pointer of the body as the variable.
    capture: Option<(&'static str, &'static str)>,
    /// The body has this value at this pointer (`""`: the whole body).
    asserting: Vec<(&'static str, Value)>,
}

/// `method template` called at the template itself, expected to answer 200.
fn op(who: Who, method: &'static str, template: impl Into<String>) -> Row {
    let template = template.into();
    Row {
        who,
        method,
        path: template.clone(),
        template,
        body: None,
        headers: Vec::new(),
        expect: 200..=200,
        until: None,
        capture: None,
        asserting: Vec::new(),
    }
}

impl Row {
    fn at(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    fn header(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.push((name, value));
        self
    }

    fn answers(mut self, status: u16) -> Self {
        self.expect = status..=status;
        self
    }

    fn answers_within(mut self, statuses: RangeInclusive<u16>) -> Self {
        self.expect = statuses;
        self
    }

    fn until(mut self, pointer: &'static str, value: Option<&'static str>) -> Self {
        self.until = Some((pointer, value));
        self
    }

    fn capture(mut self, variable: &'static str, pointer: &'static str) -> Self {
        self.capture = Some((variable, pointer));
        self
    }

    fn asserting(mut self, pointer: &'static str, value: Value) -> Self {
        self.asserting.push((pointer, value));
        self
    }
}

/// Runs rows in order through the gateway, each response checked against the contract.
struct Runner<'a> {
    shop: &'a Wasmshop,
    contract: &'a Contract,
    variables: HashMap<&'static str, String>,
}

impl Runner<'_> {
    fn fill(&self, text: &str) -> String {
        self.variables
            .iter()
            .fold(text.to_owned(), |text, (name, value)| {
                text.replace(&format!("{{{name}}}"), value)
            })
    }

    fn caller(&self, who: Who) -> Caller {
        let token = |name: &str| {
            let token = self.variables.get(name);
            Caller::bearer(token.unwrap_or_else(|| panic!("no {name} yet")).as_str())
        };
        match who {
            Who::Anonymous => Caller::Anonymous,
            Who::Customer => token("customer_token"),
            Who::Admin => token("admin_token"),
        }
    }

    /// One call of `row`: status and body, the body checked against the contract.
    async fn call(&self, row: &Row) -> (u16, Value) {
        let path = self.fill(&row.path);
        let mut request = self
            .shop
            .as_(self.caller(row.who))
            .method(row.method, &path);
        for (name, value) in &row.headers {
            request = request.header(name, value);
        }
        if let Some(body) = &row.body {
            let body = self.fill(&body.to_string());
            request = request.json(&serde_json::from_str(&body).expect("a filled body is JSON"));
        }
        let response = request.response().await;
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} {path}: not JSON ({e}): {text}", row.method))
        };
        self.contract
            .check(&row.template, row.method, status, &body);
        (status, body)
    }

    async fn run(&mut self, rows: Vec<Row>) {
        for row in rows {
            let what = format!("{} {}", row.method, self.fill(&row.path));
            let (status, body) = match row.until {
                None => self.call(&row).await,
                Some((pointer, value)) => {
                    eventually(&what, || async {
                        let (status, body) = self.call(&row).await;
                        let found = body.pointer(pointer).and_then(Value::as_str);
                        let ready = found.is_some() && (value.is_none() || found == value);
                        ready.then_some((status, body))
                    })
                    .await
                }
            };
            assert!(row.expect.contains(&status), "{what}: {status} {body}");
            for (pointer, value) in &row.asserting {
                assert_eq!(body.pointer(pointer), Some(value), "{what}: {body}");
            }
            if let Some((variable, pointer)) = row.capture {
                let value = body.pointer(pointer).and_then(Value::as_str);
                let value = value.unwrap_or_else(|| panic!("{what}: no {pointer} in {body}"));
                self.variables.insert(variable, value.to_owned());
            }
        }
    }
}

use Who::{Admin, Anonymous, Customer};

fn meta_and_identity_rows(document: &Value) -> Vec<Row> {
    let register =
        json!({ "email": "contract@example.com", "password": PASSWORD, "name": "Con Tract" });
    let login = json!({ "email": "contract@example.com", "password": PASSWORD });
    let bootstrap =
        |token: &str| json!({ "token": token, "email": ADMIN_EMAIL, "password": PASSWORD });
    vec![
        // The gateway serves the document it was built with.
        op(Anonymous, "get", "/api/v1/openapi.json").asserting("", document.clone()),
        op(Anonymous, "get", "/health"),
        op(Anonymous, "get", "/api/v1/health"),
        op(Anonymous, "get", "/ready"),
        op(Anonymous, "post", "/api/v1/auth/register")
            .body(register.clone())
            .answers(201),
        // The email is taken.
        op(Anonymous, "post", "/api/v1/auth/register")
            .body(register)
            .answers(409),
        op(Anonymous, "post", "/api/v1/auth/register")
            .body(json!({ "email": "x" }))
            .answers_within(400..=499),
        op(Anonymous, "post", "/api/v1/auth/login")
            .body(login)
            .capture("customer_token", "/access_token"),
        op(Anonymous, "post", "/api/v1/auth/login")
            .body(json!({ "email": "contract@example.com", "password": "wrong password" }))
            .answers(401),
        // The first admin: a wrong token makes nothing, the operator's makes one admin, once.
        op(Anonymous, "post", "/api/v1/auth/bootstrap-admin")
            .body(bootstrap("wrong"))
            .answers(403)
            .asserting("/error/code", json!("invalid_bootstrap_token")),
        op(Anonymous, "post", "/api/v1/auth/bootstrap-admin")
            .body(bootstrap(TEST_ADMIN_BOOTSTRAP_TOKEN))
            .answers(201)
            .asserting("/role", json!("admin")),
        op(Anonymous, "post", "/api/v1/auth/bootstrap-admin")
            .body(bootstrap(TEST_ADMIN_BOOTSTRAP_TOKEN))
            .answers(409)
            .asserting("/error/code", json!("already_bootstrapped")),
        op(Anonymous, "post", "/api/v1/auth/login")
            .body(json!({ "email": ADMIN_EMAIL, "password": PASSWORD }))
            .capture("admin_token", "/access_token"),
        op(Customer, "get", "/api/v1/users/me"),
        op(Anonymous, "get", "/api/v1/users/me").answers(401),
        op(Customer, "patch", "/api/v1/users/me").body(json!({ "name": "Con T. Ract" })),
    ]
}

fn catalog_and_cart_rows() -> Vec<Row> {
    let product = json!({ "sku": "CONTRACT-1", "name": "Contract mug", "description": "A mug",
        "price": { "amount": 1250, "currency": "EUR" }, "category_id": "{category}" });
    let mut renamed = product.clone();
    renamed["name"] = json!("Contract mug, large");
    let item = "/api/v1/cart/items/{product_id}";
    vec![
        op(Anonymous, "get", "/api/v1/products").at("/api/v1/products?limit=2&sort=price-asc"),
        op(Anonymous, "get", "/api/v1/products")
            .at("/api/v1/products?limit=0")
            .answers(400),
        op(Admin, "post", "/api/v1/categories")
            .body(json!({ "name": "Contract goods", "description": null }))
            .answers(201)
            .capture("category", "/id"),
        op(Anonymous, "get", "/api/v1/categories"),
        op(Admin, "post", "/api/v1/products")
            .body(product.clone())
            .answers(201)
            .capture("product", "/id"),
        op(Customer, "post", "/api/v1/products")
            .body(product)
            .answers(403),
        op(Anonymous, "get", "/api/v1/products/{id}").at("/api/v1/products/{product}"),
        op(Anonymous, "get", "/api/v1/products/{id}")
            .at("/api/v1/products/0190d7a0-0000-7000-8000-000000000000")
            .answers(404),
        op(Admin, "put", "/api/v1/products/{id}")
            .at("/api/v1/products/{product}")
            .body(renamed),
        op(Admin, "put", "/api/v1/inventory/{id}")
            .at("/api/v1/inventory/{product}")
            .body(json!({ "on_hand": 20, "low_stock_threshold": 0 })),
        op(Admin, "get", "/api/v1/inventory/{id}").at("/api/v1/inventory/{product}"),
        // Cart.
        op(Customer, "post", "/api/v1/cart/items")
            .body(json!({ "product_id": "{product}", "quantity": 2 })),
        op(Customer, "post", "/api/v1/cart/items")
            .body(json!({ "product_id": "{product}", "quantity": 0 }))
            .answers(422),
        op(Customer, "patch", item)
            .at("/api/v1/cart/items/{product}")
            .body(json!({ "quantity": 3 })),
        op(Customer, "get", "/api/v1/cart"),
        op(Customer, "delete", item).at("/api/v1/cart/items/{product}"),
        op(Customer, "delete", "/api/v1/cart"),
    ]
}

fn order_payment_and_shipment_rows() -> Vec<Row> {
    let checkout = json!({ "shipping_address": address(), "payment_token": "tok_visa",
        "lines": [{ "product_id": "{product}", "quantity": 1 }] });
    let order = |n: &str| {
        op(Customer, "get", "/api/v1/orders/{id}")
            .at(format!("/api/v1/orders/{{order{n}}}"))
            .until("/status", Some("confirmed"))
    };
    let shipments = |n: &str| {
        op(Customer, "get", "/api/v1/shipments")
            .at(format!("/api/v1/shipments?order_id={{order{n}}}"))
            .capture(
                if n == "1" { "shipment1" } else { "shipment2" },
                "/items/0/id",
            )
    };
    let status = "/api/v1/shipments/{id}/status";
    vec![
        op(Customer, "post", "/api/v1/orders")
            .body(checkout.clone())
            .header("idempotency-key", "contract-1")
            .answers(202)
            .capture("order1", "/id"),
        op(Customer, "post", "/api/v1/orders")
            .body(checkout.clone())
            .header("idempotency-key", "contract-2")
            .answers(202)
            .capture("order2", "/id"),
        // No Idempotency-Key.
        op(Customer, "post", "/api/v1/orders")
            .body(checkout)
            .answers(400),
        order("1"),
        order("2"),
        op(Customer, "get", "/api/v1/orders").at("/api/v1/orders?limit=5"),
        // Shipped orders cannot be cancelled.
        op(Customer, "post", "/api/v1/orders/{id}/cancel")
            .at("/api/v1/orders/{order1}/cancel")
            .answers(409),
        op(Customer, "get", "/api/v1/payments")
            .at("/api/v1/payments?order_id={order1}")
            .capture("payment", "/items/0/id"),
        op(Customer, "get", "/api/v1/payments/{id}").at("/api/v1/payments/{payment}"),
        op(Admin, "post", "/api/v1/admin/payments/payments/{id}/refund")
            .at("/api/v1/admin/payments/payments/{payment}/refund"),
        op(Anonymous, "get", "/api/v1/shipping/quotes")
            .at("/api/v1/shipping/quotes?country=DE&weight_grams=1500"),
        op(Anonymous, "get", "/api/v1/shipping/quotes")
            .at("/api/v1/shipping/quotes?country=XX&weight_grams=1500")
            .answers(422),
        shipments("1"),
        shipments("2"),
        op(Customer, "get", "/api/v1/shipments/{id}").at("/api/v1/shipments/{shipment1}"),
        op(Admin, "post", status)
            .at("/api/v1/shipments/{shipment1}/status")
            .body(json!({ "status": "picked" })),
        op(Admin, "post", status)
            .at("/api/v1/shipments/{shipment1}/status")
            .body(json!({ "status": "created" }))
            .answers(409),
        op(Admin, "post", "/api/v1/shipments/{id}/cancel")
            .at("/api/v1/shipments/{shipment2}/cancel"),
    ]
}

fn notification_and_audit_rows() -> Vec<Row> {
    let audit = "/api/v1/admin/audit";
    vec![
        op(Customer, "get", "/api/v1/notifications")
            .until("/items/0/id", None)
            .capture("notification", "/items/0/id"),
        op(Customer, "post", "/api/v1/notifications/{id}/read")
            .at("/api/v1/notifications/{notification}/read"),
        op(Admin, "get", "/api/v1/admin/notifications/notifications")
            .at("/api/v1/admin/notifications/notifications?limit=3"),
        // The refund above is in the audit trail; only admins read it.
        op(Admin, "get", audit)
            .at("/api/v1/admin/audit?action=payments.refund&limit=5")
            .asserting("/total", json!(1)),
        op(Admin, "get", audit)
            .at("/api/v1/admin/audit?since=yesterday")
            .answers(422),
        op(Customer, "get", audit).answers(403),
    ]
}

/// Every context's operator routes; orders has the dead letter `{letter}` to read, retry and
/// discard, the others none.
fn operator_rows() -> Vec<Row> {
    let mut rows = vec![
        op(Admin, "get", "/api/v1/admin/orders/dead-letters")
            .at("/api/v1/admin/orders/dead-letters?status=dead")
            .until("/items/0/id", None)
            .capture("letter", "/items/0/id"),
    ];
    for context in CONTEXTS {
        let base = format!("/api/v1/admin/{context}");
        let (id, found, acted) = if context == "orders" {
            ("{letter}".to_owned(), 200..=200, 200..=299)
        } else {
            (new_id(), 404..=404, 404..=404)
        };
        let one = format!("{base}/dead-letters/{{id}}");
        let letters = format!("{base}/dead-letters");
        rows.extend([
            op(Admin, "post", format!("{base}/recovery")),
            op(Admin, "get", letters.clone()),
            op(Admin, "get", one.clone())
                .at(format!("{base}/dead-letters/{id}"))
                .answers_within(found),
            op(Admin, "post", format!("{base}/dead-letters/{{id}}/retry"))
                .at(format!("{base}/dead-letters/{id}/retry"))
                .answers_within(acted.clone()),
            op(Admin, "delete", one)
                .at(format!("{base}/dead-letters/{id}"))
                .answers_within(acted),
            op(Customer, "get", letters).answers(403),
        ]);
    }
    rows
}

/// Last: a product goes, a token is revoked.
fn closing_rows() -> Vec<Row> {
    vec![
        op(Admin, "delete", "/api/v1/products/{id}")
            .at("/api/v1/products/{product}")
            .answers_within(200..=299),
        op(Customer, "post", "/api/v1/auth/logout").answers(204),
        // A revoked token.
        op(Customer, "get", "/api/v1/users/me").answers(401),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_answers_as_documented() {
    let shop = Wasmshop::app()
        .workflow(EventTransport::HttpPush)
        .start()
        .await
        .expect("boot");
    let contract = Contract::load();
    let mut runner = Runner {
        shop: &shop,
        contract: &contract,
        variables: HashMap::new(),
    };
    runner.run(meta_and_identity_rows(&contract.doc)).await;
    runner.run(catalog_and_cart_rows()).await;
    runner.run(order_payment_and_shipment_rows()).await;
    runner.run(notification_and_audit_rows()).await;
    // A poison message gives orders a dead letter for the operator rows.
    let poison = json!({ "not": "an envelope" });
    assert_eq!(shop.publish("catalog.events", &poison).expect("publish"), 1);
    runner.run(operator_rows()).await;
    runner.run(closing_rows()).await;

    let driven = contract.driven.lock().expect("lock").clone();
    let missing: Vec<_> = contract.operations().difference(&driven).cloned().collect();
    assert!(missing.is_empty(), "documented but not driven: {missing:?}");
    println!(
        "openapi conformance: {} operations, {} responses validated",
        driven.len(),
        contract.checks.lock().expect("lock")
    );
}
