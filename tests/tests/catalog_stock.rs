//! The `catalog` component booted alone, driven over HTTP and its exported `api`: inventory and
//! reservations, alone and under concurrency.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;
use wasmshop_tests::bindings::catalog::wasmshop::catalog::types::{
    Error as ApiError, ReservationStatus,
};
use wasmshop_tests::catalog_fixtures::{
    assert_error, boot, create_product, line, product_body, set_stock, stock,
};
use wasmshop_tests::client::Caller;
use wasmshop_tests::ids::{ADMIN, ALICE, new_id};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_is_admin_only_and_never_below_reserved() {
    let shop = boot().await;
    let product = create_product(&shop, &product_body("INV-1", "Stocked", 500, None)).await;
    let id = product["id"].as_str().expect("id").to_owned();
    let path = format!("/inventory/{id}");
    for (who, status_code, code) in [
        (Caller::Anonymous, 401, "unauthorized"),
        (Caller::customer(ALICE), 403, "forbidden"),
    ] {
        let (status, body) = shop.as_(&who).get(&path).send().await;
        assert_error(status, &body, status_code, code, "get stock");
        let (status, body) = shop
            .as_(who)
            .put(&path)
            .json(&json!({ "on_hand": 5 }))
            .send()
            .await;
        assert_error(status, &body, status_code, code, "set stock");
    }
    let (status, body) = shop.as_(Caller::admin(ADMIN)).get(&path).send().await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({ "product_id": id, "on_hand": 0, "reserved": 0, "available": 0, "low_stock_threshold": 5 })
    );
    let (status, body) = shop
        .as_(Caller::admin(ADMIN))
        .put(&path)
        .json(&json!({ "on_hand": 12, "low_stock_threshold": 3 }))
        .send()
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "product_id": id, "on_hand": 12, "reserved": 0, "available": 12, "low_stock_threshold": 3 })
    );
    let stock_after_threshold = set_stock(&shop, &id, 12).await;
    assert_eq!(
        stock_after_threshold["low_stock_threshold"], 3,
        "threshold kept when left out"
    );

    let (status, _) = shop
        .as_(Caller::Anonymous)
        .post("/reservations")
        .json(&json!({ "order_id": new_id(), "lines": [{ "product_id": id, "quantity": 8 }] }))
        .send()
        .await;
    assert_eq!(status, 201);
    let (status, body) = shop
        .as_(Caller::admin(ADMIN))
        .put(&path)
        .json(&json!({ "on_hand": 7 }))
        .send()
        .await;
    assert_error(status, &body, 409, "conflict", "on_hand below reserved");
    let ok = set_stock(&shop, &id, 8).await;
    assert_eq!(
        (ok["reserved"].clone(), ok["available"].clone()),
        (json!(8), json!(0))
    );

    for missing in [
        format!("/inventory/{}", new_id()),
        "/inventory/abc".to_owned(),
    ] {
        let (status, body) = shop.as_(Caller::admin(ADMIN)).get(&missing).send().await;
        assert_error(status, &body, 404, "not_found", &missing);
        let (status, body) = shop
            .as_(Caller::admin(ADMIN))
            .put(&missing)
            .json(&json!({ "on_hand": 1 }))
            .send()
            .await;
        assert_error(status, &body, 404, "not_found", &missing);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservations_over_http() {
    let shop = boot().await;
    let a = create_product(&shop, &product_body("RES-A", "A", 100, None)).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let b = create_product(&shop, &product_body("RES-B", "B", 100, None)).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    set_stock(&shop, &a, 10).await;
    set_stock(&shop, &b, 5).await;

    // Duplicate lines merge; 201 on creation.
    let first = new_id();
    let request = json!({ "order_id": first, "lines": [
        { "product_id": a, "quantity": 2 }, { "product_id": b, "quantity": 1 }, { "product_id": a, "quantity": 1 }] });
    let (status, reservation) = shop
        .as_(Caller::Anonymous)
        .post("/reservations")
        .json(&request)
        .send()
        .await;
    assert_eq!(status, 201, "{reservation}");
    assert_eq!(
        reservation,
        json!({ "order_id": first, "status": "reserved", "lines": [
            { "product_id": a, "quantity": 3 }, { "product_id": b, "quantity": 1 }] })
    );
    assert_eq!(stock(&shop, &a).await, (10, 3, 7));
    assert_eq!(stock(&shop, &b).await, (5, 1, 4));

    // Again for the same order, even with other lines: the existing one, unchanged (200).
    let (status, again) = shop
        .as_(Caller::Anonymous)
        .post("/reservations")
        .json(&json!({ "order_id": first, "lines": [{ "product_id": b, "quantity": 4 }] }))
        .send()
        .await;
    assert_eq!((status, &again), (200, &reservation));
    assert_eq!(stock(&shop, &b).await, (5, 1, 4));
    let (status, read) = shop
        .as_(Caller::Anonymous)
        .get(&format!("/reservations/{first}"))
        .send()
        .await;
    assert_eq!((status, &read), (200, &reservation));

    // All or nothing: B is short, so A is not reserved either.
    let short = new_id();
    let (status, body) = shop.as_(Caller::Anonymous).post("/reservations").json(&json!({ "order_id": short, "lines": [{ "product_id": a, "quantity": 7 }, { "product_id": b, "quantity": 5 }] })).send()
    .await;
    assert_error(status, &body, 409, "insufficient_stock", "b short");
    assert_eq!(body["error"]["details"]["products"], json!([b]));
    assert_eq!(stock(&shop, &a).await, (10, 3, 7));
    assert_eq!(stock(&shop, &b).await, (5, 1, 4));
    let (status, body) = shop
        .as_(Caller::Anonymous)
        .get(&format!("/reservations/{short}"))
        .send()
        .await;
    assert_error(
        status,
        &body,
        404,
        "not_found",
        "refused order has no reservation",
    );

    // Unknown and inactive products.
    let (status, body) = shop
        .as_(Caller::Anonymous)
        .post("/reservations")
        .json(
            &json!({ "order_id": new_id(), "lines": [{ "product_id": new_id(), "quantity": 1 }] }),
        )
        .send()
        .await;
    assert_error(status, &body, 404, "not_found", "unknown product");
    let gone = create_product(&shop, &product_body("RES-GONE", "Gone", 1, None)).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    set_stock(&shop, &gone, 10).await;
    shop.as_(Caller::admin(ADMIN))
        .delete(&format!("/products/{gone}"))
        .send()
        .await;
    let (status, body) = shop.as_(Caller::Anonymous).post("/reservations").json(&json!({ "order_id": new_id(), "lines": [{ "product_id": a, "quantity": 1 }, { "product_id": gone, "quantity": 1 }] })).send()
    .await;
    assert_error(status, &body, 404, "not_found", "inactive product");
    assert_eq!(stock(&shop, &a).await, (10, 3, 7));

    // Release: back to available, idempotent; then commit is a conflict.
    let release = format!("/reservations/{first}/release");
    let (status, released) = shop.as_(Caller::Anonymous).post(&release).send().await;
    assert_eq!(
        (status, released["status"].clone()),
        (200, json!("released")),
        "{released}"
    );
    assert_eq!(released["lines"], reservation["lines"]);
    assert_eq!(stock(&shop, &a).await, (10, 0, 10));
    assert_eq!(stock(&shop, &b).await, (5, 0, 5));
    let (status, twice) = shop.as_(Caller::Anonymous).post(&release).send().await;
    assert_eq!((status, &twice), (200, &released));
    assert_eq!(stock(&shop, &a).await, (10, 0, 10));
    let (status, body) = shop
        .as_(Caller::Anonymous)
        .post(&format!("/reservations/{first}/commit"))
        .send()
        .await;
    assert_error(
        status,
        &body,
        409,
        "reservation_released",
        "commit after release",
    );

    // Commit: units leave on_hand, idempotent; then release is a conflict.
    let second = new_id();
    let (status, _) = shop
        .as_(Caller::Anonymous)
        .post("/reservations")
        .json(&json!({ "order_id": second, "lines": [{ "product_id": a, "quantity": 4 }] }))
        .send()
        .await;
    assert_eq!(status, 201);
    assert_eq!(stock(&shop, &a).await, (10, 4, 6));
    let commit = format!("/reservations/{second}/commit");
    let (status, committed) = shop.as_(Caller::Anonymous).post(&commit).send().await;
    assert_eq!(
        (status, committed["status"].clone()),
        (200, json!("committed"))
    );
    assert_eq!(stock(&shop, &a).await, (6, 0, 6));
    let (status, twice) = shop.as_(Caller::Anonymous).post(&commit).send().await;
    assert_eq!((status, &twice), (200, &committed));
    assert_eq!(stock(&shop, &a).await, (6, 0, 6));
    let (status, body) = shop
        .as_(Caller::Anonymous)
        .post(&format!("/reservations/{second}/release"))
        .send()
        .await;
    assert_error(
        status,
        &body,
        409,
        "reservation_committed",
        "release after commit",
    );
    let (status, read) = shop
        .as_(Caller::Anonymous)
        .get(&format!("/reservations/{second}"))
        .send()
        .await;
    assert_eq!((status, read["status"].clone()), (200, json!("committed")));

    // Unknown orders.
    for path in [
        format!("/reservations/{}/release", new_id()),
        format!("/reservations/{}/commit", new_id()),
        "/reservations/nope/commit".to_owned(),
    ] {
        let (status, body) = shop.as_(Caller::Anonymous).post(&path).send().await;
        assert_error(status, &body, 404, "not_found", &path);
    }
    for path in [
        format!("/reservations/{}", new_id()),
        "/reservations/nope".to_owned(),
    ] {
        let (status, body) = shop.as_(Caller::Anonymous).get(&path).send().await;
        assert_error(status, &body, 404, "not_found", &path);
    }
}

/// 30 units, 100 concurrent single-unit reservations through `reserve`: exactly 30 win.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_api_reservations_never_oversell() {
    let shop = Arc::new(boot().await);
    let product = create_product(&shop, &product_body("RACE-API", "Contended", 100, None)).await;
    let id = product["id"].as_str().expect("id").to_owned();
    set_stock(&shop, &id, 30).await;

    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (shop, id, order) = (shop.clone(), id.clone(), new_id());
        tasks.push(tokio::spawn(async move {
            let (mut store, catalog) = shop.catalog_api().await.expect("fresh instance");
            let result = catalog
                .wasmshop_catalog_api()
                .call_reserve(&mut store, &order, &[line(&id, 1)])
                .await
                .expect("call");
            (order, result)
        }));
    }
    let mut granted = Vec::new();
    let mut refused = 0;
    for task in tasks {
        match task.await.expect("task") {
            (order, Ok(reservation)) => {
                assert_eq!(reservation.order_id, order);
                granted.push(order);
            }
            (_, Err(ApiError::InsufficientStock(short))) => {
                assert_eq!(short, vec![id.clone()]);
                refused += 1;
            }
            (_, Err(other)) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!((granted.len(), refused), (30, 70));
    assert_eq!(stock(&shop, &id).await, (30, 30, 0));

    // Release 5 and commit 5 (each twice: idempotent), then the illegal transitions.
    let (mut store, catalog) = shop.catalog_api().await.expect("instance");
    let api = catalog.wasmshop_catalog_api();
    for order in &granted[..5] {
        for _ in 0..2 {
            let r = api
                .call_release(&mut store, order)
                .await
                .expect("call")
                .expect("released");
            assert_eq!(r.status, ReservationStatus::Released);
        }
    }
    for order in &granted[5..10] {
        for _ in 0..2 {
            let r = api
                .call_commit(&mut store, order)
                .await
                .expect("call")
                .expect("committed");
            assert_eq!(r.status, ReservationStatus::Committed);
        }
    }
    assert_eq!(stock(&shop, &id).await, (25, 20, 5));
    assert!(matches!(
        api.call_commit(&mut store, &granted[0]).await.expect("call"),
        Err(ApiError::Conflict(code)) if code == "reservation_released"
    ));
    assert!(matches!(
        api.call_release(&mut store, &granted[5]).await.expect("call"),
        Err(ApiError::Conflict(code)) if code == "reservation_committed"
    ));
    // A retried reserve of a granted order changes nothing.
    let again = api
        .call_reserve(&mut store, &granted[20], &[line(&id, 1)])
        .await
        .expect("call")
        .expect("existing");
    assert_eq!(again.status, ReservationStatus::Reserved);
    assert_eq!(stock(&shop, &id).await, (25, 20, 5));
}

/// The same race over HTTP: 100 concurrent `POST /reservations`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_http_reservations_never_oversell() {
    let shop = Arc::new(boot().await);
    let product = create_product(&shop, &product_body("RACE-HTTP", "Contended", 100, None)).await;
    let id = product["id"].as_str().expect("id").to_owned();
    set_stock(&shop, &id, 30).await;

    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (shop, id) = (shop.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            let body =
                json!({ "order_id": new_id(), "lines": [{ "product_id": id, "quantity": 1 }] });
            shop.as_(Caller::Anonymous)
                .post("/reservations")
                .json(&body)
                .send()
                .await
        }));
    }
    let mut statuses = HashMap::new();
    for task in tasks {
        let (status, body) = task.await.expect("task");
        match status {
            201 => assert_eq!(body["status"], "reserved"),
            409 => assert_eq!(body["error"]["code"], "insufficient_stock", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
        *statuses.entry(status).or_insert(0) += 1;
    }
    assert_eq!(statuses, HashMap::from([(201, 30), (409, 70)]));
    assert_eq!(stock(&shop, &id).await, (30, 30, 0));
}
