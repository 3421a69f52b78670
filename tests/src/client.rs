//! A client of the public API as customers and admins use it: through the gateway, with a
//! bearer token from `/auth/login`.

use serde_json::{Value, json};

pub const PASSWORD: &str = "correct horse battery staple";
/// The admin every harness-booted app gets from [`ApiClient::admin`] (its password is
/// [`PASSWORD`]).
pub const ADMIN_EMAIL: &str = "admin@wasmshop.test";

#[derive(Clone)]
pub struct ApiClient {
    pub base_url: String,
    pub http: reqwest::Client,
    pub token: Option<String>,
    pub user_id: Option<String>,
}

impl ApiClient {
    pub fn anonymous(base_url: &str, http: &reqwest::Client) -> Self {
        Self {
            base_url: base_url.to_owned(),
            http: http.clone(),
            token: None,
            user_id: None,
        }
    }

    /// Registers `email` (a new account) and logs in.
    pub async fn register(
        base_url: &str,
        http: &reqwest::Client,
        email: &str,
    ) -> anyhow::Result<Self> {
        let mut client = Self::anonymous(base_url, http);
        let body = json!({ "email": email, "password": PASSWORD, "name": "Test Shopper" });
        let (status, user) = client
            .requests()
            .post("/api/v1/auth/register")
            .json(&body)
            .try_send()
            .await?;
        anyhow::ensure!(status == 201, "register {email}: {status} {user}");
        client.login(email).await?;
        Ok(client)
    }

    /// The app's admin, logged in: made by `POST /api/v1/auth/bootstrap-admin` with the
    /// harness's token ([`crate::TEST_ADMIN_BOOTSTRAP_TOKEN`]) on the first call, logged in
    /// as [`ADMIN_EMAIL`] once the app has its admin.
    pub async fn admin(base_url: &str, http: &reqwest::Client) -> anyhow::Result<Self> {
        Self::admin_with(base_url, http, crate::TEST_ADMIN_BOOTSTRAP_TOKEN).await
    }

    /// [`admin`](Self::admin) with another bootstrap token (an app the harness did not boot).
    pub async fn admin_with(
        base_url: &str,
        http: &reqwest::Client,
        bootstrap_token: &str,
    ) -> anyhow::Result<Self> {
        let mut client = Self::anonymous(base_url, http);
        let body = json!({ "token": bootstrap_token, "email": ADMIN_EMAIL, "password": PASSWORD });
        let (status, answer) = client
            .requests()
            .post("/api/v1/auth/bootstrap-admin")
            .json(&body)
            .try_send()
            .await?;
        let bootstrapped = matches!(status, 200 | 201);
        let earlier = status == 409 && answer["error"]["code"] == "already_bootstrapped";
        anyhow::ensure!(
            bootstrapped || earlier,
            "bootstrap admin: {status} {answer}"
        );
        client.login(ADMIN_EMAIL).await?;
        Ok(client)
    }

    pub async fn login(&mut self, email: &str) -> anyhow::Result<()> {
        let body = json!({ "email": email, "password": PASSWORD });
        let (status, token) = self
            .requests()
            .post("/api/v1/auth/login")
            .json(&body)
            .try_send()
            .await?;
        anyhow::ensure!(status == 200, "login {email}: {status} {token}");
        self.token = token["access_token"].as_str().map(str::to_owned);
        let (status, me) = self.requests().get("/api/v1/users/me").try_send().await?;
        anyhow::ensure!(status == 200, "me: {status} {me}");
        self.user_id = me["id"].as_str().map(str::to_owned);
        Ok(())
    }

    /// This client's requests: `client.requests().get(path).send().await`.
    pub fn requests(&self) -> Requester {
        Requester::new(&self.base_url, &self.http, self)
    }

    /// `POST /api/v1/orders` with an idempotency key.
    pub async fn checkout(&self, key: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        self.requests()
            .post("/api/v1/orders")
            .header("idempotency-key", key)
            .json(body)
            .try_send()
            .await
    }

    /// As an admin: a new product (unique SKU) priced `price` EUR cents with `on_hand` units
    /// and no low-stock alerts; its id.
    pub async fn stocked_product(&self, price: i64, on_hand: u32) -> anyhow::Result<String> {
        let sku = format!("T-{}", &uuid::Uuid::now_v7().simple().to_string()[16..]).to_uppercase();
        let body = json!({ "sku": sku, "name": format!("Test item {sku}"), "description": "",
            "price": { "amount": price, "currency": "EUR" }, "category_id": null });
        let (status, product) = self
            .requests()
            .post("/api/v1/products")
            .json(&body)
            .try_send()
            .await?;
        anyhow::ensure!(status == 201, "create product: {status} {product}");
        let id = product["id"].as_str().unwrap_or_default().to_owned();
        let stock = json!({ "on_hand": on_hand, "low_stock_threshold": 0 });
        let (status, body) = self
            .requests()
            .put(&format!("/api/v1/inventory/{id}"))
            .json(&stock)
            .try_send()
            .await?;
        anyhow::ensure!(status == 200, "set stock: {status} {body}");
        Ok(id)
    }

    /// As an admin: `(on_hand, reserved)` of a product once no unit is reserved any more, or as
    /// it stands after 10 s. A confirmation does not wait for the stock commit it sends, so
    /// the reservation turns into a sale moments after the order reads `confirmed`.
    pub async fn settled_stock(&self, product_id: &str) -> anyhow::Result<(u64, u64)> {
        let path = format!("/api/v1/inventory/{product_id}");
        let stock = self
            .read_until(&path, |stock| stock["reserved"].as_u64() == Some(0))
            .await?;
        Ok((
            stock["on_hand"].as_u64().unwrap_or(u64::MAX),
            stock["reserved"].as_u64().unwrap_or(u64::MAX),
        ))
    }

    /// The payment of `order_id` (as this client may read it) once it is no longer only
    /// authorized, or as it stands after 10 s; `None` if the order has none. A confirmation
    /// does not wait for the capture it sends, so the payment is captured moments after the
    /// order reads `confirmed`.
    pub async fn settled_payment(&self, order_id: &str) -> anyhow::Result<Option<Value>> {
        let path = format!("/api/v1/payments?order_id={order_id}");
        let payments = self
            .read_until(&path, |payments| {
                payments["items"][0]["status"] != "authorized"
            })
            .await?;
        Ok(payments["items"]
            .as_array()
            .and_then(|items| items.first())
            .cloned())
    }

    /// `GET path` every 20 ms until its 200 answer is `settled`, or as it stands after 10 s.
    async fn read_until(
        &self,
        path: &str,
        settled: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let (status, body) = self.requests().get(path).try_send().await?;
            anyhow::ensure!(status == 200, "GET {path}: {status} {body}");
            if settled(&body) || std::time::Instant::now() > deadline {
                return Ok(body);
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Polls the order until its status is terminal (or `timeout` passes): the order JSON.
    pub async fn wait_terminal(
        &self,
        order_id: &str,
        timeout: std::time::Duration,
    ) -> anyhow::Result<Value> {
        let deadline = std::time::Instant::now() + timeout;
        // Quick at first (most orders finish in milliseconds), then gentler, so hundreds of
        // waiting clients do not become the load.
        let mut pause = std::time::Duration::from_millis(10);
        loop {
            let (status, order) = self
                .requests()
                .get(&format!("/api/v1/orders/{order_id}"))
                .try_send()
                .await?;
            if status == 200 && is_terminal(order["status"].as_str().unwrap_or("")) {
                return Ok(order);
            }
            if std::time::Instant::now() > deadline {
                anyhow::bail!("order {order_id} not terminal in {timeout:?}: {status} {order}");
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 3 / 2).min(std::time::Duration::from_millis(500));
        }
    }
}

/// `name`'s value in `response` (from [`Request::response`]), when present and text.
pub fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Asserts that `answer` (from [`Request::send`]) is the JSON error `code` with HTTP `status`.
#[track_caller]
pub fn assert_error(answer: &(u16, Value), status: u16, code: &str) {
    let (actual, body) = answer;
    assert_eq!(
        (*actual, body["error"]["code"].as_str()),
        (status, Some(code)),
        "{body}"
    );
}

/// Asserts that `method path` is answered 405 `method_not_allowed`, its `Allow` header naming
/// `allow`.
pub async fn assert_method_not_allowed(
    requests: &Requester,
    method: &str,
    path: &str,
    allow: &str,
) {
    let response = requests.method(method, path).response().await;
    assert_eq!(
        header(&response, "allow").as_deref(),
        Some(allow),
        "{method} {path}"
    );
    let (status, body) = crate::json(response).await;
    assert_eq!(status, 405, "{method} {path}");
    assert_eq!(body["error"]["code"], "method_not_allowed");
}

pub fn is_terminal(status: &str) -> bool {
    matches!(status, "confirmed" | "cancelled" | "failed")
}

/// A deliverable address in a supported country.
pub fn address() -> Value {
    address_in("DE")
}

/// [`address`] with `country` (any text, to test what is refused).
pub fn address_in(country: &str) -> Value {
    json!({ "name": "Ada Lovelace", "line1": "1 Analytical Way", "line2": null,
        "city": "Berlin", "postal_code": "10115", "country": country })
}

/// Who a request is sent as.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Caller {
    #[default]
    Anonymous,
    /// Through the gateway, with an access token.
    Bearer(String),
    /// Straight to a component, with the identity headers the gateway forwards once it has
    /// verified a token.
    Forwarded { id: String, role: String },
}

impl Caller {
    pub fn bearer(token: impl Into<String>) -> Self {
        Self::Bearer(token.into())
    }

    pub fn forwarded(id: &str, role: &str) -> Self {
        Self::Forwarded {
            id: id.to_owned(),
            role: role.to_owned(),
        }
    }

    pub fn customer(id: &str) -> Self {
        Self::forwarded(id, "customer")
    }

    pub fn admin(id: &str) -> Self {
        Self::forwarded(id, "admin")
    }
}

impl From<&ApiClient> for Caller {
    fn from(client: &ApiClient) -> Self {
        client
            .token
            .as_ref()
            .map_or(Self::Anonymous, |token| Self::bearer(token.as_str()))
    }
}

impl From<&Caller> for Caller {
    fn from(caller: &Caller) -> Self {
        caller.clone()
    }
}

/// `(user id, role)`, forwarded.
impl From<(&str, &str)> for Caller {
    fn from((id, role): (&str, &str)) -> Self {
        Self::forwarded(id, role)
    }
}

impl<T: Into<Caller>> From<Option<T>> for Caller {
    fn from(caller: Option<T>) -> Self {
        caller.map_or(Self::Anonymous, Into::into)
    }
}

/// The one way tests send a request: `shop.as_(&admin).post(path).json(&body).send().await`
/// gives `(status, JSON body)`.
#[derive(Clone)]
pub struct Requester {
    base_url: String,
    http: reqwest::Client,
    caller: Caller,
}

impl Requester {
    pub fn new(base_url: &str, http: &reqwest::Client, caller: impl Into<Caller>) -> Self {
        Self {
            base_url: base_url.to_owned(),
            http: http.clone(),
            caller: caller.into(),
        }
    }

    /// `method` as the HTTP method's name (`GET`, `post`, ...).
    pub fn method(&self, method: &str, path: &str) -> Request {
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes())
            .unwrap_or_else(|e| panic!("HTTP method {method:?}: {e}"));
        let mut builder = self
            .http
            .request(method.clone(), format!("{}{path}", self.base_url));
        match &self.caller {
            Caller::Anonymous => {}
            Caller::Bearer(token) => builder = builder.bearer_auth(token),
            Caller::Forwarded { id, role } => {
                builder = builder.header("x-user-id", id).header("x-user-role", role);
            }
        }
        Request {
            what: format!("{method} {path}"),
            builder,
        }
    }

    pub fn get(&self, path: &str) -> Request {
        self.method("GET", path)
    }

    pub fn post(&self, path: &str) -> Request {
        self.method("POST", path)
    }

    pub fn put(&self, path: &str) -> Request {
        self.method("PUT", path)
    }

    pub fn patch(&self, path: &str) -> Request {
        self.method("PATCH", path)
    }

    pub fn delete(&self, path: &str) -> Request {
        self.method("DELETE", path)
    }
}

/// A request being built; [`send`](Self::send) it.
pub struct Request {
    what: String,
    builder: reqwest::RequestBuilder,
}

impl Request {
    pub fn json(mut self, body: &Value) -> Self {
        self.builder = self.builder.json(body);
        self
    }

    /// `text` sent as it is with a JSON content type: for bodies that are not valid JSON.
    pub fn raw_json(mut self, text: &str) -> Self {
        self.builder = self
            .builder
            .header("content-type", "application/json")
            .body(text.to_owned());
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.builder = self.builder.header(name, value);
        self
    }

    /// Adjusts the underlying request (a timeout, a raw body of another type).
    pub fn with(
        mut self,
        adjust: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Self {
        self.builder = adjust(self.builder);
        self
    }

    /// Status and JSON body (`null` when the body is not JSON); panics if the request cannot
    /// be sent.
    pub async fn send(self) -> (u16, Value) {
        crate::json(self.response().await).await
    }

    /// [`send`](Self::send) for code that must not panic (the load generator, setup helpers).
    pub async fn try_send(self) -> anyhow::Result<(u16, Value)> {
        Ok(crate::json(self.builder.send().await?).await)
    }

    /// The whole response, for its headers.
    pub async fn response(self) -> reqwest::Response {
        let what = self.what;
        self.builder
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"))
    }
}

impl crate::Wasmshop {
    /// Requests to this app as `caller`: an [`ApiClient`] (its token), `(id, role)` forwarded,
    /// or a [`Caller`].
    pub fn as_(&self, caller: impl Into<Caller>) -> Requester {
        Requester::new(&self.base_url, &self.client, caller)
    }

    /// Requests to this app as nobody.
    pub fn anonymous(&self) -> Requester {
        self.as_(Caller::Anonymous)
    }

    /// A new customer account `email` ([`ApiClient::register`]) to send requests as.
    pub async fn customer(&self, email: &str) -> ApiClient {
        ApiClient::register(&self.base_url, &self.client, email)
            .await
            .unwrap_or_else(|e| panic!("customer {email}: {e:#}"))
    }

    /// The app's admin ([`ApiClient::admin`]) to send requests as.
    pub async fn admin(&self) -> ApiClient {
        ApiClient::admin(&self.base_url, &self.client)
            .await
            .unwrap_or_else(|e| panic!("admin: {e:#}"))
    }
}
