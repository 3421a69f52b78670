//! Tests of the console's `model.rs`: prices read, the product and stock forms into the API's
//! bodies, notices and audit filters through query strings, admin answers parsed.

use super::*;

#[test]
fn prices_are_read_in_major_units_of_their_currency() {
    assert_eq!(parse_price("12.50", "EUR"), Some(1250));
    assert_eq!(parse_price(" 12,5 ", "EUR"), Some(1250));
    assert_eq!(parse_price("12", "EUR"), Some(1200));
    assert_eq!(parse_price("0.07", "EUR"), Some(7));
    assert_eq!(parse_price("500", "JPY"), Some(500));
    for wrong in [
        "", "12.", ".5", "1.234", "-1", "1e3", "12 EUR", "1.2.3", "٣",
    ] {
        assert_eq!(parse_price(wrong, "EUR"), None, "{wrong}");
    }
    assert_eq!(parse_price("5.5", "JPY"), None, "no minor units");
    assert_eq!(parse_price(&"9".repeat(13), "EUR"), None);
    assert_eq!(
        parse_price(&"9".repeat(12), "EUR"),
        Some(99_999_999_999_900)
    );
}

#[test]
fn the_form_shows_prices_as_it_reads_them() {
    for (amount, currency) in [(1250, "EUR"), (7, "USD"), (500, "JPY"), (0, "EUR")] {
        let price = Money {
            amount,
            currency: currency.into(),
        };
        assert_eq!(parse_price(&price_input(&price), currency), Some(amount));
    }
    let eur = Money {
        amount: 1250,
        currency: "EUR".into(),
    };
    assert_eq!(price_input(&eur), "12.50");
}

#[test]
fn the_product_form_becomes_the_apis_body() {
    let fields = [
        ("sku", "ignored-here"),
        ("name", " Mug "),
        ("description", "A mug"),
        ("price", "12.50"),
        ("currency", "eur"),
        ("category_id", ""),
    ];
    let form =
        ProductForm::from_fields(|name| fields.iter().find(|(k, _)| *k == name).map(|(_, v)| *v));
    assert!(!form.active, "an unchecked box sends nothing");
    assert_eq!(
        form.body("MUG-1").expect("valid"),
        json!({ "sku": "MUG-1", "name": "Mug", "description": "A mug",
            "price": { "amount": 1250, "currency": "EUR" }, "category_id": null,
            "active": false })
    );
    let with_category = ProductForm {
        category_id: "c-1".into(),
        price: "3".into(),
        ..ProductForm::default()
    };
    let body = with_category.body("S-1").expect("valid");
    assert_eq!(
        (body["category_id"].as_str(), body["active"].as_bool()),
        (Some("c-1"), Some(true))
    );
    let wrong = ProductForm {
        price: "twelve".into(),
        ..ProductForm::default()
    };
    assert_eq!(wrong.body("S").expect_err("price")[0].0, "price");
}

#[test]
fn api_field_errors_are_named_as_the_form_names_them() {
    let body = json!({ "error": { "code": "invalid_input", "message": "m", "details": {
        "fields": [ { "field": "price.amount", "message": "too dear" },
            { "field": "price.currency", "message": "three letters" },
            { "field": "name", "message": "empty" } ] } } });
    let errors = product_field_errors(&body);
    let names: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(names, ["price", "currency", "name"]);
}

#[test]
fn stock_forms_are_bounded_counts() {
    assert_eq!(
        stock_body(Some("12"), Some("")).expect("valid"),
        json!({ "on_hand": 12, "low_stock_threshold": null })
    );
    assert_eq!(
        stock_body(Some(" 0 "), Some("3")).expect("valid"),
        json!({ "on_hand": 0, "low_stock_threshold": 3 })
    );
    for (on_hand, threshold) in [
        (None, None),
        (Some("-1"), None),
        (Some("1000001"), None),
        (Some("x"), None),
        (Some("1"), Some("-2")),
    ] {
        assert!(
            stock_body(on_hand, threshold).is_err(),
            "{on_hand:?} {threshold:?}"
        );
    }
}

#[test]
fn low_stock_follows_the_products_threshold() {
    let stock = |available, low_stock_threshold| Stock {
        on_hand: available,
        reserved: 0,
        available,
        low_stock_threshold,
    };
    assert!(stock(4, 5).is_low());
    assert!(!stock(5, 5).is_low());
    assert!(!stock(0, 0).is_low(), "a zero threshold never alerts");
}

#[test]
fn notices_round_trip_through_the_query_and_never_carry_text() {
    let report = RecoveryReport {
        republished: 2,
        redelivered: 0,
        acknowledged: 1,
        redriven: 3,
        resolved: 4,
    };
    for notice in [Notice::Saved, Notice::StockSet, Notice::Recovered(report)] {
        assert_eq!(Notice::from_query(&notice.query()), Some(notice));
    }
    assert_eq!(
        Notice::Recovered(report).message(),
        "Recovery pass run: 2 republished, 0 redelivered, 1 acknowledged, 3 redriven, 4 resolved."
    );
    assert_eq!(Notice::from_query("notice=<script>"), None);
    assert_eq!(Notice::from_query("page=2"), None);
    assert_eq!(
        Notice::from_query("notice=recovered&resolved=x"),
        Some(Notice::Recovered(RecoveryReport::default()))
    );
}

#[test]
fn audit_filters_go_to_the_api_and_into_paging_links() {
    let filter = AuditFilter::from_query(
        "actor=+admin%40shop.test+&action=catalog.product.update&since=2026-11-29T08:00&page=2",
    );
    assert_eq!(filter.actor, "admin@shop.test");
    assert_eq!(filter.page, 2);
    assert_eq!(
        filter.api_query(),
        "actor=admin%40shop.test&action=catalog.product.update&since=2026-11-29T08%3A00%3A00Z&page=2&limit=20"
    );
    assert_eq!(
        filter.link(3),
        "/console/audit?actor=admin%40shop.test&action=catalog.product.update&since=2026-11-29T08%3A00&page=3"
    );
    let none = AuditFilter::from_query("");
    assert_eq!(none.api_query(), "page=1&limit=20");
    let long = AuditFilter::from_query(&format!("actor={}", "a".repeat(5000)));
    assert_eq!(long.actor.len(), MAX_FILTER_CHARS);
}

#[test]
fn local_times_are_read_as_utc() {
    assert_eq!(rfc3339_since("2026-11-29T08:00"), "2026-11-29T08:00:00Z");
    assert_eq!(rfc3339_since("2026-11-29T08:00:05"), "2026-11-29T08:00:05Z");
    assert_eq!(
        rfc3339_since("2026-11-29T08:00:05+01:00"),
        "2026-11-29T08:00:05+01:00"
    );
    assert_eq!(rfc3339_since("yesterday"), "yesterday");
    assert_eq!(rfc3339_since(""), "");
}

#[test]
fn shipments_move_along_their_route() {
    assert_eq!(next_shipment_status("created"), Some("picked"));
    assert_eq!(next_shipment_status("in_transit"), Some("delivered"));
    assert_eq!(next_shipment_status("delivered"), None);
    assert_eq!(next_shipment_status("cancelled"), None);
}

#[test]
fn admin_shapes_parse() {
    let payment: Payment = serde_json::from_str(
        r#"{"id":"y","order_id":"o","user_id":"u","amount":{"amount":1490,"currency":"EUR"},
        "status":"captured","failure_code":null,"captured_amount":1490,"refunded_amount":0,
        "token_kind":"visa","created_at":"t","updated_at":"t",
        "history":[{"operation":"authorize","outcome":"approved","at":"t"}]}"#,
    )
    .expect("payment");
    assert!(payment.refundable());
    assert_eq!(
        payment.money(payment.captured_amount).display(),
        "14.90 EUR"
    );
    let letter: DeadLetter = serde_json::from_str(
        r#"{"id":"d","event_type":null,"payload":"{}","error":"boom","attempts":3,
        "status":"dead","next_attempt_ms":null,"created_at":"t","updated_at":"t"}"#,
    )
    .expect("letter");
    assert!(letter.open());
    let report: RecoveryReport = serde_json::from_str(
        r#"{"republished":1,"redelivered":0,"acknowledged":0,"redriven":0,"resolved":0,
        "context":{"due":0,"moved":0}}"#,
    )
    .expect("report");
    assert_eq!(report.republished, 1);
    let shipment: Shipment = serde_json::from_str(
        r#"{"id":"s","order_id":"o","user_id":"u","tracking_number":"T","status":"created",
        "address":null,"weight_grams":500,"items":1,"carrier":"DHL","created_at":"t",
        "updated_at":"t","history":[{"status":"created","at":"t"}]}"#,
    )
    .expect("shipment");
    assert!(shipment.address.is_none());
}
