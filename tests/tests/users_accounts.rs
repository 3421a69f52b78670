//! The users component alone, booted from the real `spin.toml` with its own Redis and state, on
//! accounts: its routes, registration, the admin bootstrap, the caller's profile, and the
//! events it publishes (and publishes again) on the harness Redis.

mod users_support;

use serde_json::{Value, json};
use users_support::{PASSWORD, access_token, boot, decode, field_names, login, register};
use wasmshop_tests::bindings::users::wasmshop::users::types::{
    Address, Error as ApiError, ProfileUpdate, RegisterRequest, Role,
};
use wasmshop_tests::client::{Caller, assert_error, assert_method_not_allowed};
use wasmshop_tests::{TEST_ADMIN_BOOTSTRAP_TOKEN, Wasmshop, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_unknown_paths_and_wrong_methods() {
    let shop = boot().await;
    let (status, body) = shop.anonymous().get("/health").send().await;
    assert_eq!((status, body), (200, json!({ "status": "ok" })));

    let not_found = shop.anonymous().get("/auth/nowhere").send().await;
    assert_error(&not_found, 404, "not_found");

    for (method, path, allow) in [
        ("GET", "/auth/login", "POST"),
        ("PUT", "/auth/register", "POST"),
        ("GET", "/auth/logout", "POST"),
        ("DELETE", "/users/me", "GET, PATCH"),
        ("POST", "/health", "GET"),
    ] {
        assert_method_not_allowed(&shop.anonymous(), method, path, allow).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_normalises_the_account() {
    let shop = boot().await;
    let user = register(&shop, "  Ada.Lovelace@Example.COM ", "  Ada Lovelace ").await;
    assert_eq!(user["email"], "ada.lovelace@example.com");
    assert_eq!(user["name"], "Ada Lovelace");
    assert_eq!(user["role"], "customer");
    assert_eq!(user["address"], Value::Null);
    let id = user["id"].as_str().expect("id");
    assert_eq!(
        uuid::Uuid::parse_str(id).expect("a UUID").get_version_num(),
        7
    );
    assert_eq!(user["created_at"], user["updated_at"]);
    let keys: Vec<&str> = user
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys.len(),
        7,
        "exactly the WIT record, no password hash: {user}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_refuses_a_taken_email_however_spelt() {
    let shop = boot().await;
    register(&shop, "  Ada.Lovelace@Example.COM ", "Ada Lovelace").await;
    let again = json!({ "email": "ADA.LOVELACE@example.com", "password": "another long password",
        "name": "Ada" });
    let answer = shop
        .anonymous()
        .post("/auth/register")
        .json(&again)
        .send()
        .await;
    assert_error(&answer, 409, "email_taken");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_validates_its_input() {
    let shop = boot().await;
    let invalid = [
        (
            json!({ "email": "grace@example.com", "password": "short", "name": "Grace" }),
            vec!["password"],
        ),
        (
            json!({ "email": "grace@example.com", "password": "x".repeat(257), "name": "Grace" }),
            vec!["password"],
        ),
        (
            json!({ "email": "not-an-email", "password": PASSWORD, "name": "Grace" }),
            vec!["email"],
        ),
        (
            json!({ "email": "grace@example", "password": PASSWORD, "name": "Grace" }),
            vec!["email"],
        ),
        (
            json!({ "email": "grace@example.com", "password": PASSWORD, "name": "   " }),
            vec!["name"],
        ),
        (
            json!({ "email": "grace@example.com", "password": PASSWORD, "name": "n".repeat(101) }),
            vec!["name"],
        ),
        (
            json!({ "email": "", "password": "", "name": "" }),
            vec!["email", "password", "name"],
        ),
    ];
    for (request, fields) in invalid {
        let (status, body) = shop
            .anonymous()
            .post("/auth/register")
            .json(&request)
            .send()
            .await;
        assert_eq!(status, 422, "{request} -> {body}");
        assert_eq!(body["error"]["code"], "invalid_input");
        assert_eq!(field_names(&body), fields, "{request}");
    }

    let bad_input: [(&'static str, &str); 8] = [
        ("", "invalid_json"),
        ("{not json", "invalid_json"),
        ("[]", "invalid_input"),
        (
            r#"{"email": 1, "password": "correct horse battery", "name": "G"}"#,
            "invalid_input",
        ),
        (
            r#"{"email": "g@example.com", "password": null, "name": "G"}"#,
            "invalid_input",
        ),
        (
            r#"{"email": "g@example.com", "name": "G"}"#,
            "invalid_input",
        ),
        (
            r#"{"email": "g@example.com", "password": "correct horse battery", "name": "G", "role": "admin"}"#,
            "unknown_field",
        ),
        (
            r#"{"email": "g@example.com", "password": "correct horse battery", "name": "G"} trailing"#,
            "invalid_json",
        ),
    ];
    for (body_text, code) in bad_input {
        let (status, body) = shop
            .anonymous()
            .post("/auth/register")
            .raw_json(body_text)
            .send()
            .await;
        assert_eq!(status, 400, "{body_text} -> {body}");
        assert_eq!(body["error"]["code"], code, "{body_text}");
    }

    // Nothing of the rejected ones was stored: the email is still free.
    register(&shop, "grace@example.com", "Grace").await;
}

/// No role follows from what a client types: whatever the email, registration makes a
/// customer (the address that once became admin included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_never_makes_an_admin() {
    let shop = boot().await;
    for (email, name) in [
        (" Admin@WasmShop.local", "Would-be Admin"),
        ("ops@wasmshop.example", "Would-be Operator"),
    ] {
        let user = register(&shop, email, name).await;
        assert_eq!(user["role"], "customer", "{email}: {user}");
        let claims = decode(&access_token(&shop, email.trim()).await);
        assert_eq!(claims.role, "customer", "{email}");
        assert_eq!(claims.sub, user["id"].as_str().expect("id"));
    }
}

async fn bootstrap(shop: &Wasmshop, token: &str, email: &str, password: &str) -> (u16, Value) {
    shop.anonymous()
        .post("/auth/bootstrap-admin")
        .json(&json!({ "token": token, "email": email, "password": password }))
        .send()
        .await
}

/// The operator's token makes the first admin, once; a wrong token is refused with a stable
/// code and makes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bootstrap_token_makes_one_admin_once() {
    let shop = boot().await;
    let (status, body) = bootstrap(&shop, "guess", "ops@example.com", PASSWORD).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "invalid_bootstrap_token");
    let (status, body) = json(login(&shop, "ops@example.com", PASSWORD).await).await;
    assert_eq!(status, 401, "a wrong token creates no account: {body}");

    let (status, admin) = bootstrap(
        &shop,
        TEST_ADMIN_BOOTSTRAP_TOKEN,
        " Ops@Example.com ",
        PASSWORD,
    )
    .await;
    assert_eq!(status, 201, "{admin}");
    assert_eq!(admin["role"], "admin");
    assert_eq!(admin["email"], "ops@example.com");
    let claims = decode(&access_token(&shop, "ops@example.com").await);
    assert_eq!(claims.role, "admin");
    assert_eq!(claims.sub, admin["id"].as_str().expect("id"));

    // Once: neither another account nor the same one is made admin again.
    for email in ["second@example.com", "ops@example.com"] {
        let (status, body) = bootstrap(&shop, TEST_ADMIN_BOOTSTRAP_TOKEN, email, PASSWORD).await;
        assert_eq!(status, 409, "{email}: {body}");
        assert_eq!(body["error"]["code"], "already_bootstrapped");
    }
    let (status, _) = json(login(&shop, "second@example.com", PASSWORD).await).await;
    assert_eq!(status, 401, "the refused bootstrap created no account");
    // After it, a wrong token is still only a wrong token: nothing about the accounts shows.
    let refused = bootstrap(&shop, "guess", "third@example.com", PASSWORD).await;
    assert_error(&refused, 403, "invalid_bootstrap_token");
}

/// An existing account is made admin only with its own password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bootstrap_promotes_an_existing_account_with_its_password() {
    let shop = boot().await;
    let user = register(&shop, "ada@example.com", "Ada").await;
    assert_eq!(user["role"], "customer");
    let (status, body) = bootstrap(
        &shop,
        TEST_ADMIN_BOOTSTRAP_TOKEN,
        "ada@example.com",
        "not ada's password",
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "invalid_credentials");
    assert_eq!(
        decode(&access_token(&shop, "ada@example.com").await).role,
        "customer"
    );

    let promote = || {
        bootstrap(
            &shop,
            TEST_ADMIN_BOOTSTRAP_TOKEN,
            "ada@example.com",
            PASSWORD,
        )
    };
    let (status, admin) = promote().await;
    assert_eq!(status, 200, "{admin}");
    assert_eq!(
        (&admin["id"], &admin["role"]),
        (&user["id"], &json!("admin"))
    );
    assert_eq!(admin["name"], "Ada", "the account keeps its profile");
    assert_eq!(
        decode(&access_token(&shop, "ada@example.com").await).role,
        "admin"
    );
    assert_error(&promote().await, 409, "already_bootstrapped");
}

/// The request is as strict as every other: unknown fields and bad input are refused and
/// make nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_bootstrap_makes_nothing() {
    let shop = boot().await;
    let with_a_role = json!({ "token": TEST_ADMIN_BOOTSTRAP_TOKEN, "email": "ops@example.com",
        "password": PASSWORD, "role": "admin" });
    let answer = shop
        .anonymous()
        .post("/auth/bootstrap-admin")
        .json(&with_a_role)
        .send()
        .await;
    assert_error(&answer, 400, "unknown_field");
    let (status, body) =
        bootstrap(&shop, TEST_ADMIN_BOOTSTRAP_TOKEN, "not an email", "short").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(field_names(&body), ["email", "password"]);
    let (status, body) = bootstrap(
        &shop,
        TEST_ADMIN_BOOTSTRAP_TOKEN,
        "ops@example.com",
        PASSWORD,
    )
    .await;
    assert_eq!(status, 201, "nothing was made before: {body}");
}

/// Without a configured token no admin can be made, whatever is sent (the empty token
/// included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_configured_token_the_bootstrap_is_refused() {
    let shop = Wasmshop::component("users")
        .variables(&[("admin_bootstrap_token", "")])
        .start()
        .await
        .expect("users boots");
    for token in ["", TEST_ADMIN_BOOTSTRAP_TOKEN] {
        let (status, body) = bootstrap(&shop, token, "ops@example.com", PASSWORD).await;
        assert_eq!(status, 403, "{token:?}: {body}");
        assert_eq!(body["error"]["code"], "bootstrap_disabled");
    }
    let (status, _) = json(login(&shop, "ops@example.com", PASSWORD).await).await;
    assert_eq!(status, 401, "no account was made");
}

/// Only the identity the gateway forwards says whose profile `/users/me` is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_reads_the_callers_profile() {
    let shop = boot().await;
    let user = register(&shop, "ada@example.com", "Ada").await;
    let ada = Caller::customer(user["id"].as_str().expect("id"));

    let (status, body) = shop.as_(&ada).get("/users/me").send().await;
    assert_eq!((status, &body), (200, &user));

    let rename = json!({ "name": "Eve" });
    let anonymous = shop.anonymous().get("/users/me").send().await;
    assert_error(&anonymous, 401, "unauthorized");
    let anonymous = shop.anonymous().patch("/users/me").json(&rename);
    assert_error(&anonymous.send().await, 401, "unauthorized");
    for unknown in ["0198c1f0-0000-7000-8000-000000000000", "not-a-uuid"] {
        let stranger = shop.as_(Caller::customer(unknown));
        assert_error(&stranger.get("/users/me").send().await, 404, "not_found");
        let patch = stranger.patch("/users/me").json(&rename);
        assert_error(&patch.send().await, 404, "not_found");
    }
}

/// A patch trims what it is sent, leaves absent fields alone, is stored, and is announced
/// with the caller's trace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_patches_the_callers_profile() {
    let shop = boot().await;
    let user = register(&shop, "ada@example.com", "Ada").await;
    let id = user["id"].as_str().expect("id");
    let ada = Caller::customer(id);

    let events = shop.subscribe("users.events", 1).expect("subscribed");
    let address = json!({ "line1": " 12 Analytical Row ", "line2": null, "city": "London",
                          "postal_code": "W1 1AA", "country": "GB" });
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let (status, updated) = shop
        .as_(&ada)
        .patch("/users/me")
        .header("traceparent", traceparent)
        .json(&json!({ "name": " Ada King ", "address": address }))
        .send()
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["name"], "Ada King");
    assert_eq!(updated["address"]["line1"], "12 Analytical Row");
    assert_eq!(updated["address"]["line2"], Value::Null);
    assert_eq!(updated["address"]["country"], "GB");
    assert_eq!(updated["created_at"], user["created_at"]);
    assert_ne!(updated["updated_at"], user["updated_at"]);
    let event = events.received().await.pop().expect("user.profile-updated");
    assert_eq!(event["event_type"], "user.profile-updated");
    assert_eq!(event["subject"], id);
    assert_eq!(event["trace"]["traceparent"], traceparent);
    let data: Value = serde_json::from_str(event["data"].as_str().expect("data")).expect("json");
    assert_eq!(data, json!({ "user_id": id, "name": "Ada King" }));

    // Absent fields are left alone; the change is stored.
    let (status, body) = shop
        .as_(&ada)
        .patch("/users/me")
        .json(&json!({ "name": "Ada" }))
        .send()
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["address"], updated["address"]);
    let (_, stored) = shop.as_(&ada).get("/users/me").send().await;
    assert_eq!(stored, body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_refuses_an_invalid_patch() {
    let shop = boot().await;
    let user = register(&shop, "ada@example.com", "Ada").await;
    let ada = shop.as_(Caller::customer(user["id"].as_str().expect("id")));

    let invalid = [
        (json!({ "name": "" }), vec!["name"]),
        (
            json!({ "address": { "line1": "", "line2": null, "city": " ", "postal_code": "", "country": "gb" } }),
            vec![
                "address.line1",
                "address.city",
                "address.postal_code",
                "address.country",
            ],
        ),
        (
            json!({ "name": "Ada", "address": { "line1": "1 Road", "line2": null, "city": "X", "postal_code": "1", "country": "XX" } }),
            vec!["address.country"],
        ),
    ];
    for (patch, fields) in invalid {
        let (status, body) = ada.patch("/users/me").json(&patch).send().await;
        assert_eq!(status, 422, "{patch} -> {body}");
        assert_eq!(body["error"]["code"], "invalid_input");
        assert_eq!(field_names(&body), fields, "{patch}");
    }
    for (body_text, code) in [
        ("", "invalid_json"),
        ("{\"name\": ", "invalid_json"),
        (r#"{"name": 5}"#, "invalid_input"),
        (r#"{"address": {"line1": "1 Road"}}"#, "invalid_input"),
        (r#"{"email": "eve@example.com"}"#, "unknown_field"),
        (r#"{"role": "admin"}"#, "unknown_field"),
    ] {
        let (status, body) = ada.patch("/users/me").raw_json(body_text).send().await;
        assert_eq!(status, 400, "{body_text} -> {body}");
        assert_eq!(body["error"]["code"], code, "{body_text}");
    }
    // None of the rejected patches changed anything.
    let (_, after) = ada.get("/users/me").send().await;
    assert_eq!(after, user);
}

/// Registered over the exported api, read and changed over it and over HTTP: one service, one
/// database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exported_api_shares_the_account_service() {
    let shop = boot().await;
    let request = RegisterRequest {
        email: " Api@Example.com".into(),
        password: PASSWORD.into(),
        name: "Api".into(),
    };

    let (mut store, users) = shop.users_api().await.expect("instance");
    let api = users.wasmshop_users_api();
    let user = api
        .call_register(&mut store, &request)
        .await
        .expect("call")
        .expect("registered");
    assert_eq!(user.email, "api@example.com");
    assert_eq!(user.role, Role::Customer);

    let (mut store, users) = shop.users_api().await.expect("instance");
    let api = users.wasmshop_users_api();
    assert!(matches!(
        api.call_register(&mut store, &request).await.expect("call"),
        Err(ApiError::EmailTaken)
    ));
    let weak = RegisterRequest {
        email: "x".into(),
        password: "short".into(),
        name: "X".into(),
    };
    match api.call_register(&mut store, &weak).await.expect("call") {
        Err(ApiError::InvalidInput(fields)) => {
            let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
            assert_eq!(names, vec!["email", "password"]);
        }
        other => panic!("{other:?}"),
    }

    let (status, body) = shop
        .as_(Caller::customer(&user.id))
        .get("/users/me")
        .send()
        .await;
    assert_eq!(
        (status, body["email"].as_str()),
        (200, Some("api@example.com"))
    );

    let (mut store, users) = shop.users_api().await.expect("instance");
    let api = users.wasmshop_users_api();
    let found = api
        .call_get_user(&mut store, &user.id)
        .await
        .expect("call")
        .expect("found");
    assert_eq!(format!("{found:?}"), format!("{user:?}"));
    assert!(matches!(
        api.call_get_user(&mut store, "0198c1f0-0000-7000-8000-000000000000")
            .await
            .expect("call"),
        Err(ApiError::NotFound)
    ));
    let updated = api
        .call_update_profile(
            &mut store,
            &user.id,
            &ProfileUpdate {
                name: None,
                address: Some(Address {
                    line1: "1 Api Way".into(),
                    line2: Some("Suite 2".into()),
                    city: "Berlin".into(),
                    postal_code: "10115".into(),
                    country: "DE".into(),
                }),
            },
        )
        .await
        .expect("call")
        .expect("updated");
    assert_eq!(updated.name, "Api");
    assert_eq!(
        updated.address.as_ref().map(|a| a.line2.as_deref()),
        Some(Some("Suite 2"))
    );
    assert!(matches!(
        api.call_update_profile(
            &mut store,
            &user.id,
            &ProfileUpdate {
                name: Some(" ".into()),
                address: None
            },
        )
        .await
        .expect("call"),
        Err(ApiError::InvalidInput(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_publishes_user_registered_from_the_outbox() {
    let shop = boot().await;
    let events = shop.subscribe("users.events", 1).expect("subscribed");
    let user = register(&shop, "ada@example.com", "Ada").await;
    let envelopes = events.received().await;
    assert_eq!(envelopes.len(), 1, "{envelopes:?}");
    let event = &envelopes[0];
    assert_eq!(event["event_type"], "user.registered");
    assert_eq!(event["source"], "users");
    assert_eq!(event["subject"], user["id"]);
    assert!(uuid::Uuid::parse_str(event["id"].as_str().expect("id")).is_ok());
    let data: Value = serde_json::from_str(event["data"].as_str().expect("data")).expect("json");
    assert_eq!(
        data,
        json!({ "user_id": user["id"], "email": "ada@example.com", "name": "Ada" })
    );
}

/// Pub/sub acknowledges nothing, so an event whose consumer died while handling it would be
/// lost: the recovery tick sends every event once more a few seconds after its first
/// delivery (the consumers' inboxes make the copy a no-op), and only once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recovery_tick_delivers_each_event_a_second_time_once() {
    let shop = boot().await;
    // This test stands in for the consumer: the first publish has a receiver, so it counts
    // as sent.
    let copies = shop.subscribe("users.events", 2).expect("subscribe");
    register(&shop, "twice@example.com", "Twice").await;
    let recover = || shop.anonymous().post("/admin/recovery").send();
    let (_, early) = recover().await;
    assert_eq!(early["redelivered"], 0, "not before 5 s: {early}");
    tokio::time::sleep(std::time::Duration::from_millis(5_200)).await;
    let (status, report) = recover().await;
    // Its subscriber, notifications, is not running here: nobody acknowledged it.
    assert_eq!(
        (status, &report["redelivered"], &report["acknowledged"]),
        (200, &json!(1), &json!(0)),
        "{report}"
    );
    let (_, again) = recover().await;
    assert_eq!(again["redelivered"], 0, "only once: {again}");
    let copies = copies.received().await;
    assert_eq!(copies.len(), 2, "{copies:?}");
    assert_eq!(copies[0]["id"], copies[1]["id"], "the same event twice");
    assert_eq!(copies[0]["event_type"], "user.registered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_every_subscriber_kept_is_not_delivered_again() {
    // Users and its one subscriber of `users.events`, notifications, over Redis.
    let shop = Wasmshop::components(&["users", "notifications"], "users")
        .start()
        .await
        .expect("boot");
    let first = shop.subscribe("users.events", 1).expect("subscribe");
    register(&shop, "once@example.com", "Once").await;
    assert_eq!(first.received().await.len(), 1, "published once");

    // Notifications kept it (its inbox says so when users' recovery tick asks, 5 s on).
    let again = shop.subscribe("users.events", 1).expect("subscribe");
    tokio::time::sleep(std::time::Duration::from_millis(5_200)).await;
    let recover = || shop.anonymous().post("/admin/recovery").send();
    let (status, report) = recover().await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (&report["acknowledged"], &report["redelivered"]),
        (&json!(1), &json!(0)),
        "{report}"
    );
    let (_, later) = recover().await;
    assert_eq!(later["acknowledged"], 0, "marked once: {later}");
    assert!(
        again.received().await.is_empty(),
        "no second copy of an acknowledged event"
    );
}
