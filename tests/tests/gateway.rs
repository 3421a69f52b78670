//! The public entry, booted from the real `spin.toml`.

use wasmshop_tests::Wasmshop;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_answers_health_and_uniform_json_errors() {
    let shop = Wasmshop::boot()
        .await
        .expect("wasmshop boots from spin.toml");
    let client = reqwest::Client::new();

    let response = client
        .get(format!("{}/health", shop.base_url))
        .send()
        .await
        .expect("health");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value =
        serde_json::from_str(&response.text().await.expect("body")).expect("json");
    assert_eq!(body["status"], "ok");

    let response = client
        .get(format!("{}/api/v1/nowhere", shop.base_url))
        .send()
        .await
        .expect("unknown route");
    assert_eq!(response.status(), 404);
    let body: serde_json::Value =
        serde_json::from_str(&response.text().await.expect("body")).expect("json");
    assert_eq!(body["error"]["code"], "not_found");
}
