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
            .send("POST", "/api/v1/auth/register", Some(&body))
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
            .send("POST", "/api/v1/auth/bootstrap-admin", Some(&body))
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
        let (status, token) = self.send("POST", "/api/v1/auth/login", Some(&body)).await?;
        anyhow::ensure!(status == 200, "login {email}: {status} {token}");
        self.token = token["access_token"].as_str().map(str::to_owned);
        let (status, me) = self.send("GET", "/api/v1/users/me", None).await?;
        anyhow::ensure!(status == 200, "me: {status} {me}");
        self.user_id = me["id"].as_str().map(str::to_owned);
        Ok(())
    }

    pub fn request(&self, method: &str, path: &str) -> anyhow::Result<reqwest::RequestBuilder> {
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base_url));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        Ok(request)
    }

    /// Status and JSON body (`null` when the body is not JSON).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self.request(method, path)?;
        if let Some(body) = body {
            request = request.json(body);
        }
        Ok(crate::json(request.send().await?).await)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        self.send("GET", path, None).await
    }

    /// `POST /api/v1/orders` with an idempotency key.
    pub async fn checkout(&self, key: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        let response = self
            .request("POST", "/api/v1/orders")?
            .header("idempotency-key", key)
            .json(body)
            .send()
            .await?;
        Ok(crate::json(response).await)
    }

    /// As an admin: a new product (unique SKU) priced `price` EUR cents with `on_hand` units
    /// and no low-stock alerts; its id.
    pub async fn stocked_product(&self, price: i64, on_hand: u32) -> anyhow::Result<String> {
        let sku = format!("T-{}", &uuid::Uuid::now_v7().simple().to_string()[16..]).to_uppercase();
        let body = json!({ "sku": sku, "name": format!("Test item {sku}"), "description": "",
            "price": { "amount": price, "currency": "EUR" }, "category_id": null });
        let (status, product) = self.send("POST", "/api/v1/products", Some(&body)).await?;
        anyhow::ensure!(status == 201, "create product: {status} {product}");
        let id = product["id"].as_str().unwrap_or_default().to_owned();
        let stock = json!({ "on_hand": on_hand, "low_stock_threshold": 0 });
        let (status, body) = self
            .send("PUT", &format!("/api/v1/inventory/{id}"), Some(&stock))
            .await?;
        anyhow::ensure!(status == 200, "set stock: {status} {body}");
        Ok(id)
    }

    /// As an admin: `(on_hand, reserved)` of a product once no unit is reserved any more, or as
    /// it stands after 10 s. A confirmation does not wait for the stock commit it sends, so
    /// the reservation turns into a sale moments after the order reads `confirmed`.
    pub async fn settled_stock(&self, product_id: &str) -> anyhow::Result<(u64, u64)> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let (status, stock) = self.get(&format!("/api/v1/inventory/{product_id}")).await?;
            anyhow::ensure!(status == 200, "stock: {status} {stock}");
            let levels = (
                stock["on_hand"].as_u64().unwrap_or(u64::MAX),
                stock["reserved"].as_u64().unwrap_or(u64::MAX),
            );
            if levels.1 == 0 || std::time::Instant::now() > deadline {
                return Ok(levels);
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
            let (status, order) = self.get(&format!("/api/v1/orders/{order_id}")).await?;
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

pub fn is_terminal(status: &str) -> bool {
    matches!(status, "confirmed" | "cancelled" | "failed")
}

/// A deliverable address in a supported country.
pub fn address() -> Value {
    json!({ "name": "Ada Lovelace", "line1": "1 Analytical Way", "line2": null,
        "city": "Berlin", "postal_code": "10115", "country": "DE" })
}
