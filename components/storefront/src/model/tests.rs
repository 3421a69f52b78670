//! Tests of `model.rs`: money and statuses as shown, the checkout and profile forms into the
//! API's bodies, the API's answers parsed and their errors and ids taken.

use super::*;

#[test]
fn money_is_shown_in_major_units() {
    let eur = |amount| Money {
        amount,
        currency: "EUR".into(),
    };
    assert_eq!(eur(1234).display(), "12.34 EUR");
    assert_eq!(eur(5).display(), "0.05 EUR");
    assert_eq!(eur(-250).display(), "-2.50 EUR");
    let yen = Money {
        amount: 500,
        currency: "JPY".into(),
    };
    assert_eq!(yen.display(), "500 JPY");
}

#[test]
fn api_shapes_parse() {
    let cart: Cart = serde_json::from_str(
        r#"{"lines":[{"product_id":"p","name":null,"quantity":2,"unit_price":null,
            "line_total":null,"available":false}],"items":2,"subtotal":null}"#,
    )
    .expect("cart");
    assert_eq!(cart.lines[0].quantity, 2);
    let page: ProductPage = serde_json::from_str(
        r#"{"items":[{"id":"p","sku":"S","name":"N","description":"","price":{"amount":1,
            "currency":"EUR"},"category_id":null,"active":true}],"total":1,"page":1,"limit":12}"#,
    )
    .expect("page");
    assert_eq!(page.items[0].price.display(), "0.01 EUR");
    let body = serde_json::json!({ "error": { "code": "x", "message": "why" } });
    assert_eq!(error_message(&body).as_deref(), Some("why"));
    assert_eq!(error_message(&serde_json::json!({})), None);
}

#[test]
fn the_shoppers_address_is_appended_to_what_was_forwarded() {
    assert_eq!(
        forwarded_for(&[], Some("203.0.113.7:51234")).as_deref(),
        Some("203.0.113.7")
    );
    assert_eq!(
        forwarded_for(&["198.51.100.1"], Some("[2001:db8::1]:443")).as_deref(),
        Some("198.51.100.1, 2001:db8::1")
    );
    assert_eq!(
        forwarded_for(&["a, b", "c"], Some("10.0.0.1:1")).as_deref(),
        Some("a, b, c, 10.0.0.1"),
        "hex-looking text is passed on: the gateway judges it"
    );
    // Garbage or padding is dropped, the peer still sent.
    assert_eq!(
        forwarded_for(&["evil\"<x>"], Some("10.0.0.1:1")).as_deref(),
        Some("10.0.0.1")
    );
    let padded = "1.1.1.1, ".repeat(200);
    assert_eq!(
        forwarded_for(&[&padded], Some("10.0.0.1:1")).as_deref(),
        Some("10.0.0.1")
    );
    assert_eq!(forwarded_for(&["1.1.1.1"], None), None);
    assert_eq!(forwarded_for(&[], Some("nonsense")), None);
}

#[test]
fn quantities_are_one_to_ninety_nine() {
    assert_eq!(quantity(Some("3")), Some(3));
    assert_eq!(quantity(Some(" 99 ")), Some(99));
    assert_eq!(quantity(Some("0")), None);
    assert_eq!(quantity(Some("100")), None);
    assert_eq!(quantity(Some("x")), None);
    assert_eq!(quantity(None), None);
}

#[test]
fn terminal_statuses_end_the_refresh() {
    for status in ["confirmed", "cancelled", "failed"] {
        assert!(is_terminal(status), "{status}");
    }
    for status in [
        "pending",
        "awaiting_payment",
        "compensating",
        "capturing_payment",
    ] {
        assert!(!is_terminal(status), "{status}");
    }
    assert_eq!(status_label("awaiting_shipment"), "Booking shipment");
}

#[test]
fn orders_are_cancellable_until_the_payment_is_taken() {
    for status in ["pending", "awaiting_payment", "awaiting_shipment"] {
        assert!(can_cancel(status), "{status}");
        assert!(!is_terminal(status), "{status}");
    }
    for status in [
        "capturing_payment",
        "compensating",
        "confirmed",
        "cancelled",
        "failed",
        "",
        "PENDING",
    ] {
        assert!(!can_cancel(status), "{status}");
    }
    assert_eq!(status_label("new_status"), "new_status");
}

fn form(fields: &[(&str, &str)]) -> CheckoutForm {
    CheckoutForm::from_fields(|name| {
        fields
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| *value)
    })
}

#[test]
fn the_checkout_form_becomes_the_apis_body() {
    let form = form(&[
        ("name", " Ada "),
        ("line1", "1 Analytical Way"),
        ("city", "Berlin"),
        ("postal_code", "10115"),
        ("country", "de"),
        ("payment_token", "tok_visa"),
    ]);
    assert_eq!(form.value("country"), "DE");
    assert_eq!(
        form.body().expect("valid"),
        serde_json::json!({ "shipping_address": { "name": "Ada", "line1": "1 Analytical Way",
            "line2": null, "city": "Berlin", "postal_code": "10115", "country": "DE" },
            "payment_token": "tok_visa" })
    );
}

#[test]
fn only_test_cards_are_sent() {
    for token in ["", "tok_other", "4242424242424242"] {
        let errors = form(&[("payment_token", token)]).body().expect_err(token);
        assert_eq!(errors[0].0, "payment_token");
    }
}

#[test]
fn field_errors_are_named_as_the_form_names_them() {
    let body = serde_json::json!({ "error": { "code": "invalid_input", "message": "m",
        "details": { "fields": [
            { "field": "shipping_address.city", "message": "must be 1 to 200 characters" },
            { "field": "payment_token", "message": "must be 1 to 100 characters" },
            { "field": 3, "message": "ignored" } ] } } });
    assert_eq!(
        field_errors(&body),
        [
            ("city".to_owned(), "must be 1 to 200 characters".to_owned()),
            (
                "payment_token".to_owned(),
                "must be 1 to 100 characters".to_owned()
            )
        ]
    );
    assert!(field_errors(&serde_json::json!({})).is_empty());
}

#[test]
fn profile_errors_are_named_as_the_form_names_them() {
    let body = serde_json::json!({ "error": { "code": "invalid_input", "message": "m",
        "details": { "fields": [
            { "field": "name", "message": "is required" },
            { "field": "address.country", "message": "must be an ISO code" } ] } } });
    assert_eq!(
        field_errors(&body),
        [
            ("name".to_owned(), "is required".to_owned()),
            ("country".to_owned(), "must be an ISO code".to_owned())
        ]
    );
}

fn profile(fields: &[(&str, &str)]) -> ProfileForm {
    ProfileForm::from_fields(|name| {
        fields
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| *value)
    })
}

#[test]
fn the_profile_form_sends_an_address_only_when_one_is_typed() {
    assert_eq!(
        profile(&[("name", " Ada L. "), ("line1", " "), ("country", "")]).body(),
        serde_json::json!({ "name": "Ada L." })
    );
    let moved = profile(&[
        ("name", "Ada"),
        ("line1", "1 Way"),
        ("city", "Berlin"),
        ("postal_code", "10115"),
        ("country", "de"),
    ]);
    assert_eq!(moved.value("country"), "DE");
    assert_eq!(
        moved.body(),
        serde_json::json!({ "name": "Ada", "address": { "line1": "1 Way", "line2": null,
            "city": "Berlin", "postal_code": "10115", "country": "DE" } })
    );
    // A partial address is sent too: the API names what is missing.
    assert_eq!(
        profile(&[("name", "Ada"), ("city", "Berlin")]).body()["address"]["city"],
        "Berlin"
    );
}

#[test]
fn accounts_and_notifications_parse() {
    let account: Account = serde_json::from_str(
        r#"{"id":"u","email":"a@b.c","name":"Ada","role":"customer","address":{"line1":"L",
        "line2":null,"city":"C","postal_code":"1","country":"DE"},"created_at":"t",
        "updated_at":"t"}"#,
    )
    .expect("account");
    let form = ProfileForm::from_account(&account);
    assert_eq!((form.value("name"), form.value("city")), ("Ada", "C"));
    assert_eq!(form.value("line2"), "");
    let bare: Account = serde_json::from_str(
        r#"{"id":"u","email":"a@b.c","name":"Ada","role":"customer","address":null,
        "created_at":"t","updated_at":"t"}"#,
    )
    .expect("account without address");
    assert_eq!(
        ProfileForm::from_account(&bare).body(),
        serde_json::json!({ "name": "Ada" })
    );
    let page: NotificationPage = serde_json::from_str(
        r#"{"items":[{"id":"n","user_id":"u","template":"order_confirmed","subject_id":"o",
        "subject":"Order 1 confirmed","body":"Thanks","created_at":"t","read_at":null,
        "trace_id":null,"deliveries":[]}],"total":1,"page":1,"limit":20}"#,
    )
    .expect("notifications");
    assert_eq!(page.items[0].subject, "Order 1 confirmed");
    assert!(page.items[0].read_at.is_none());
}

#[test]
fn only_our_own_idempotency_keys_come_back() {
    let key = uuid::Uuid::new_v4().to_string();
    assert_eq!(idempotency_key(Some(&key)), Some(key.as_str()));
    assert_eq!(idempotency_key(Some("x")), None);
    assert_eq!(idempotency_key(Some(&"a".repeat(300))), None);
    assert_eq!(idempotency_key(None), None);
}

#[test]
fn orders_parse() {
    let order: Order = serde_json::from_str(
        r#"{"id":"o1","user_id":"u","status":"cancelled","lines":[{"product_id":"p",
        "name":"Mug","unit_price":{"amount":500,"currency":"EUR"},"quantity":2,
        "line_total":{"amount":1000,"currency":"EUR"}}],
        "subtotal":{"amount":1000,"currency":"EUR"},"shipping":{"amount":490,"currency":"EUR"},
        "total":{"amount":1490,"currency":"EUR"},"shipping_address":{"name":"A","line1":"L",
        "line2":null,"city":"C","postal_code":"1","country":"DE"},
        "cancel_reason":"payment declined: card_declined","created_at":"t","updated_at":"t",
        "timeline":[{"status":"pending","note":"","at":"t"}]}"#,
    )
    .expect("order");
    assert_eq!(order.total.display(), "14.90 EUR");
    assert_eq!(
        order.cancel_reason.as_deref(),
        Some("payment declined: card_declined")
    );
}
