//! The `catalog` component booted alone, driven over HTTP: health, routing, the demo seed, and
//! the public listing.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use wasmshop_tests::catalog_fixtures::{
    assert_error, boot, boot_with, create_category, create_product, page_ids, product_body, stock,
};
use wasmshop_tests::client::Caller;
use wasmshop_tests::ids::{ADMIN, new_id};
use wasmshop_tests::{Wasmshop, json};

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_unknown_paths_and_wrong_methods() {
    let shop = boot().await;
    let (status, body) = shop.as_(Caller::Anonymous).get("/health").send().await;
    assert_eq!((status, body), (200, json!({ "status": "ok" })));

    for path in ["/nowhere", "/products/a/b", "/reservations/x/y/z", "/"] {
        let (status, body) = shop.as_(Caller::admin(ADMIN)).get(path).send().await;
        assert_error(status, &body, 404, "not_found", path);
    }

    for (method, path, allow) in [
        ("PATCH", "/products", "GET, POST"),
        ("DELETE", "/categories", "GET, POST"),
        ("POST", "/health", "GET"),
        (
            "POST",
            "/products/0190d7a0-0000-7000-8000-000000000009",
            "GET, PUT, DELETE",
        ),
        ("GET", "/reservations", "POST"),
        ("DELETE", "/inventory/x", "GET, PUT"),
        ("GET", "/reservations/x/release", "POST"),
        ("PUT", "/reservations/x", "GET"),
    ] {
        let response = shop
            .client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
                shop.url(path),
            )
            .send()
            .await
            .expect("request");
        assert_eq!(
            response
                .headers()
                .get("allow")
                .and_then(|v| v.to_str().ok()),
            Some(allow),
            "{method} {path}"
        );
        let (status, body) = json(response).await;
        assert_error(status, &body, 405, "method_not_allowed", path);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_data_is_seeded_once_unless_disabled() {
    let shop = boot().await;
    let (status, page) = shop
        .as_(Caller::Anonymous)
        .get("/products?limit=100")
        .send()
        .await;
    assert_eq!(status, 200, "{page}");
    let total = page["total"].as_u64().expect("total");
    assert!((45..=55).contains(&total), "{total} demo products");
    assert_eq!(page["items"].as_array().expect("items").len() as u64, total);
    let (status, categories) = shop.as_(Caller::Anonymous).get("/categories").send().await;
    assert_eq!(status, 200);
    let categories = categories.as_array().expect("list").clone();
    assert!((5..=6).contains(&categories.len()), "{categories:?}");
    let names: Vec<&str> = categories
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    assert!(names.contains(&"Electronics"), "{names:?}");

    for product in page["items"].as_array().expect("items") {
        assert_eq!(product["price"]["currency"], "EUR");
        assert!(product["price"]["amount"].as_i64().expect("amount") > 0);
        assert_eq!(product["active"], true);
        assert!(
            categories.iter().any(|c| c["id"] == product["category_id"]),
            "{product}"
        );
    }
    for product in page["items"].as_array().expect("items").iter().take(5) {
        let (on_hand, reserved, available) =
            stock(&shop, product["id"].as_str().expect("id")).await;
        assert!((10..=100).contains(&on_hand), "{product}");
        assert_eq!((reserved, available), (0, on_hand));
    }

    // Each category filter finds its share, and they add up.
    let mut sum = 0;
    for category in &categories {
        let id = category["id"].as_str().expect("id");
        let (status, page) = shop
            .as_(Caller::Anonymous)
            .get(&format!("/products?category={id}&limit=1"))
            .send()
            .await;
        assert_eq!(status, 200, "{page}");
        sum += page["total"].as_u64().expect("total");
    }
    assert_eq!(sum, total);

    let (_, found) = shop
        .as_(Caller::Anonymous)
        .get("/products?q=elec-hdp-001")
        .send()
        .await;
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["items"][0]["sku"], "ELEC-HDP-001");

    // The same data after another request (migrations are recorded, not re-applied).
    let (_, again) = shop
        .as_(Caller::Anonymous)
        .get("/products?limit=1")
        .send()
        .await;
    assert_eq!(again["total"].as_u64(), Some(total));

    let bare = boot_with(&[("seed_demo_data", "false")]).await;
    let (status, page) = bare.as_(Caller::Anonymous).get("/products").send().await;
    assert_eq!((status, page["total"].clone()), (200, json!(0)), "{page}");
    let (_, categories) = bare.as_(Caller::Anonymous).get("/categories").send().await;
    assert_eq!(categories, json!([]));
}

/// 25 products in a new category, prices repeating (so ties must be broken by id), names
/// in five cases: the category id and the products in the order they were made.
async fn paged_products(shop: &Wasmshop) -> (String, Vec<Value>) {
    let category = create_category(shop, "Pagination").await;
    // 25 products; prices repeat so ties must be broken by id.
    let mut created = Vec::new();
    for i in 0..25 {
        let name = format!(
            "Paged {}",
            ["Alpha", "beta", "Gamma", "delta", "Epsilon"][i % 5]
        );
        let product = create_product(
            shop,
            &product_body(
                &format!("PG-{i:03}"),
                &name,
                100 * (i as i64 % 4),
                Some(&category),
            ),
        )
        .await;
        created.push(product);
    }
    (category, created)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sort_pages_through_each_product_once_by_its_key_then_id() {
    let shop = boot().await;
    let (category, created) = paged_products(&shop).await;
    let all: BTreeSet<String> = created
        .iter()
        .map(|p| p["id"].as_str().expect("id").to_owned())
        .collect();

    for sort in ["name-asc", "name-desc", "price-asc", "price-desc", "newest"] {
        let mut seen = Vec::new();
        for page in 1..=4 {
            let (status, body) = shop
                .as_(Caller::Anonymous)
                .get(&format!(
                    "/products?category={category}&sort={sort}&limit=7&page={page}"
                ))
                .send()
                .await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["total"], 25);
            assert_eq!(
                (body["page"].clone(), body["limit"].clone()),
                (json!(page), json!(7))
            );
            let ids = page_ids(&body);
            assert_eq!(
                ids.len(),
                if page == 4 { 4 } else { 7 },
                "{sort} page {page}"
            );
            seen.extend(body["items"].as_array().expect("items").iter().cloned());
        }
        let ids: Vec<String> = seen
            .iter()
            .map(|p| p["id"].as_str().expect("id").to_owned())
            .collect();
        let unique: BTreeSet<String> = ids.iter().cloned().collect();
        assert_eq!(unique.len(), 25, "{sort}: pages overlap");
        assert_eq!(unique, all, "{sort}: pages cover everything");
        let (_, past) = shop
            .as_(Caller::Anonymous)
            .get(&format!(
                "/products?category={category}&sort={sort}&limit=7&page=5"
            ))
            .send()
            .await;
        assert_eq!(past["items"], json!([]));

        // The order is the sort key, then the id.
        for pair in seen.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            let key = |p: &Value| -> (String, i64, String, String) {
                (
                    p["name"].as_str().expect("name").to_lowercase(),
                    p["price"]["amount"].as_i64().expect("amount"),
                    p["created_at"].as_str().expect("created").to_owned(),
                    p["id"].as_str().expect("id").to_owned(),
                )
            };
            let (ka, kb) = (key(a), key(b));
            let ordered = match sort {
                "name-asc" => (&ka.0, &ka.3) < (&kb.0, &kb.3),
                "name-desc" => (&ka.0, &ka.3) > (&kb.0, &kb.3),
                "price-asc" => (ka.1, &ka.3) < (kb.1, &kb.3),
                "price-desc" => (ka.1, &ka.3) > (kb.1, &kb.3),
                _ => (&ka.2, &ka.3) > (&kb.2, &kb.3),
            };
            assert!(ordered, "{sort}: {a} before {b}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_listing_is_newest_first_and_twenty_to_a_page() {
    let shop = boot().await;
    let (category, created) = paged_products(&shop).await;
    // Default sort is newest first: the last created leads.
    let (_, newest) = shop
        .as_(Caller::Anonymous)
        .get(&format!("/products?category={category}&limit=1"))
        .send()
        .await;
    assert_eq!(newest["items"][0]["id"], created[24]["id"]);
    assert_eq!(
        (newest["page"].clone(), newest["limit"].clone()),
        (json!(1), json!(1))
    );
    let (_, default_limit) = shop
        .as_(Caller::Anonymous)
        .get(&format!("/products?category={category}"))
        .send()
        .await;
    assert_eq!(default_limit["limit"], 20);
    assert_eq!(page_ids(&default_limit).len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_price_range_is_inclusive() {
    let shop = boot().await;
    let (category, _) = paged_products(&shop).await;
    // Price range, inclusive.
    let (_, ranged) = shop
        .as_(Caller::Anonymous)
        .get(&format!(
            "/products?category={category}&min_price=100&max_price=200&limit=100"
        ))
        .send()
        .await;
    let prices: BTreeSet<i64> = ranged["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["price"]["amount"].as_i64().expect("amount"))
        .collect();
    assert_eq!(prices, BTreeSet::from([100, 200]));
    assert_eq!(ranged["total"], 12, "i % 4 in 1..=2 for 12 of i < 25");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_name_description_and_sku_in_any_case_with_literal_wildcards() {
    let shop = boot().await;
    let (category, _) = paged_products(&shop).await;
    // Search: name, description and SKU, case-insensitive; LIKE wildcards are literal.
    let special = create_product(
        &shop,
        &json!({ "sku": "PG-SPECIAL", "name": "100% Cotton_Tee", "description": "Straße Édition",
            "price": { "amount": 1, "currency": "EUR" }, "category_id": category }),
    )
    .await;
    for (q, expected) in [
        ("gamma", 5),
        ("GAMMA", 5),
        ("about paged beta", 5),
        ("pg-01", 10),
        ("%", 1),
        ("_", 1),
        ("0%", 1),
        ("n_T", 1),
        ("straße", 1),
        ("ÉDITION", 1),
        ("\\", 0),
        ("nothing like this", 0),
    ] {
        let (status, found) = shop
            .as_(Caller::Anonymous)
            .get(&format!(
                "/products?category={category}&limit=100&q={}",
                q.replace('%', "%25").replace(' ', "+").replace('\\', "%5C")
            ))
            .send()
            .await;
        assert_eq!(status, 200, "{found}");
        assert_eq!(found["total"], expected, "q={q}: {found}");
        if expected == 1 && q != "n_T" {
            assert_eq!(found["items"][0]["id"], special["id"], "q={q}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soft_deleted_product_leaves_the_listing_and_its_total() {
    let shop = boot().await;
    let (category, created) = paged_products(&shop).await;
    // A soft-deleted product leaves the listing and the total.
    let gone = created[0]["id"].as_str().expect("id");
    let (status, _) = shop
        .as_(Caller::admin(ADMIN))
        .delete(&format!("/products/{gone}"))
        .send()
        .await;
    assert_eq!(status, 204);
    let (_, after) = shop
        .as_(Caller::Anonymous)
        .get(&format!("/products?category={category}&limit=100"))
        .send()
        .await;
    assert_eq!(after["total"], created.len() - 1);
    assert!(!page_ids(&after).contains(&gone.to_owned()));
    let (_, unknown) = shop
        .as_(Caller::Anonymous)
        .get(&format!("/products?category={}", new_id()))
        .send()
        .await;
    assert_eq!(unknown["total"], 0);
}
