//! The `catalog` component booted alone, called through its exported `api`.

use wasmshop_tests::bindings::catalog::wasmshop::catalog::types::{
    CategoryInput, Error as ApiError, ProductInput, ProductQuery, ProductSort, ReservationStatus,
    StockInput,
};
use wasmshop_tests::bindings::catalog::wasmshop::events::common::Money;
use wasmshop_tests::catalog_fixtures::{boot, line};
use wasmshop_tests::ids::new_id;

fn money(amount: i64) -> Money {
    Money {
        amount,
        currency: "EUR".into(),
    }
}

fn input(sku: &str, name: &str, amount: i64, category: Option<String>) -> ProductInput {
    ProductInput {
        sku: sku.into(),
        name: name.into(),
        description: String::new(),
        price: money(amount),
        category_id: category,
        active: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_api_serves_every_function() {
    let shop = boot().await;
    let (mut store, catalog) = shop.catalog_api().await.expect("instance");
    let api = catalog.wasmshop_catalog_api();

    let category = api
        .call_create_category(
            &mut store,
            &CategoryInput {
                name: "Api Things".into(),
                description: Some("via api".into()),
            },
        )
        .await
        .expect("call")
        .expect("created");
    assert_eq!(category.description.as_deref(), Some("via api"));
    assert!(matches!(
        api.call_create_category(&mut store, &CategoryInput { name: "API THINGS".into(), description: None })
            .await
            .expect("call"),
        Err(ApiError::Conflict(code)) if code == "category_taken"
    ));
    let categories = api
        .call_list_categories(&mut store)
        .await
        .expect("call")
        .expect("list");
    assert!(categories.iter().any(|c| c.id == category.id));

    let product = api
        .call_create_product(
            &mut store,
            &input("API-1", "Api One", 700, Some(category.id.clone())),
        )
        .await
        .expect("call")
        .expect("created");
    assert_eq!((product.sku.as_str(), product.active), ("API-1", true));
    match api
        .call_create_product(&mut store, &input("api-1", "Dup", 1, None))
        .await
        .expect("call")
    {
        Err(ApiError::Conflict(code)) => assert_eq!(code, "sku_taken"),
        other => panic!("duplicate sku: {other:?}"),
    }
    match api
        .call_create_product(&mut store, &input("x", "", -1, None))
        .await
        .expect("call")
    {
        Err(ApiError::InvalidInput(fields)) => {
            let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
            assert_eq!(names, vec!["sku", "name", "price.amount"]);
        }
        other => panic!("invalid product: {other:?}"),
    }

    let fetched = api
        .call_get_product(&mut store, &product.id)
        .await
        .expect("call")
        .expect("found");
    assert_eq!(format!("{fetched:?}"), format!("{product:?}"));
    assert!(matches!(
        api.call_get_product(&mut store, "nope")
            .await
            .expect("call"),
        Err(ApiError::NotFound)
    ));

    let mut replacement = input("API-1", "Api One Renamed", 800, None);
    replacement.description = "changed".into();
    let updated = api
        .call_update_product(&mut store, &product.id, &replacement)
        .await
        .expect("call")
        .expect("updated");
    assert_eq!(
        (
            updated.name.as_str(),
            updated.price.amount,
            updated.category_id.clone()
        ),
        ("Api One Renamed", 800, None)
    );
    assert!(matches!(
        api.call_update_product(
            &mut store,
            "01900000-0000-7000-8000-000000000000",
            &replacement
        )
        .await
        .expect("call"),
        Err(ApiError::NotFound)
    ));

    let page = api
        .call_list_products(
            &mut store,
            &ProductQuery {
                category: None,
                q: Some("renamed".into()),
                min_price: None,
                max_price: None,
                sort: Some(ProductSort::PriceAsc),
                page: None,
                limit: Some(5),
            },
        )
        .await
        .expect("call")
        .expect("page");
    assert_eq!((page.total, page.page, page.limit), (1, 1, 5));
    assert_eq!(page.items[0].id, product.id);
    match api
        .call_list_products(
            &mut store,
            &ProductQuery {
                category: None,
                q: None,
                min_price: None,
                max_price: None,
                sort: None,
                page: Some(0),
                limit: Some(0),
            },
        )
        .await
        .expect("call")
    {
        Err(ApiError::InvalidInput(fields)) => assert_eq!(fields.len(), 2, "{fields:?}"),
        other => panic!("bad query: {other:?}"),
    }

    let stock = api
        .call_set_stock(
            &mut store,
            &product.id,
            StockInput {
                on_hand: 3,
                low_stock_threshold: Some(1),
            },
        )
        .await
        .expect("call")
        .expect("set");
    assert_eq!(
        (
            stock.on_hand,
            stock.reserved,
            stock.available,
            stock.low_stock_threshold
        ),
        (3, 0, 3, 1)
    );
    let read = api
        .call_get_stock(&mut store, &product.id)
        .await
        .expect("call")
        .expect("stock");
    assert_eq!(format!("{read:?}"), format!("{stock:?}"));
    assert!(matches!(
        api.call_get_stock(&mut store, "01900000-0000-7000-8000-000000000000")
            .await
            .expect("call"),
        Err(ApiError::NotFound)
    ));

    let order = new_id();
    let reservation = api
        .call_reserve(&mut store, &order, &[line(&product.id, 2)])
        .await
        .expect("call")
        .expect("reserved");
    assert_eq!(reservation.status, ReservationStatus::Reserved);
    match api
        .call_reserve(&mut store, &new_id(), &[line(&product.id, 2)])
        .await
        .expect("call")
    {
        Err(ApiError::InsufficientStock(short)) => assert_eq!(short, vec![product.id.clone()]),
        other => panic!("short: {other:?}"),
    }
    assert!(matches!(
        api.call_reserve(&mut store, &new_id(), &[line(&product.id, 0)])
            .await
            .expect("call"),
        Err(ApiError::InvalidInput(_))
    ));
    assert!(matches!(
        api.call_set_stock(&mut store, &product.id, StockInput { on_hand: 1, low_stock_threshold: None })
            .await
            .expect("call"),
        Err(ApiError::Conflict(code)) if code == "conflict"
    ));
    let committed = api
        .call_commit(&mut store, &order)
        .await
        .expect("call")
        .expect("committed");
    assert_eq!(committed.status, ReservationStatus::Committed);
    assert!(matches!(
        api.call_release(&mut store, &order).await.expect("call"),
        Err(ApiError::Conflict(code)) if code == "reservation_committed"
    ));
    assert!(matches!(
        api.call_release(&mut store, &new_id()).await.expect("call"),
        Err(ApiError::NotFound)
    ));
    let stock = api
        .call_get_stock(&mut store, &product.id)
        .await
        .expect("call")
        .expect("stock");
    assert_eq!((stock.on_hand, stock.reserved, stock.available), (1, 0, 1));

    api.call_delete_product(&mut store, &product.id)
        .await
        .expect("call")
        .expect("deleted");
    api.call_delete_product(&mut store, &product.id)
        .await
        .expect("call")
        .expect("idempotent");
    let inactive = api
        .call_get_product(&mut store, &product.id)
        .await
        .expect("call")
        .expect("trusted callers see it");
    assert!(!inactive.active);
    assert!(matches!(
        api.call_delete_product(&mut store, "01900000-0000-7000-8000-000000000000")
            .await
            .expect("call"),
        Err(ApiError::NotFound)
    ));
    assert!(matches!(
        api.call_reserve(&mut store, &new_id(), &[line(&product.id, 1)])
            .await
            .expect("call"),
        Err(ApiError::NotFound)
    ));
}
