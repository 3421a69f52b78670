//! The shopper's cart and checkout: the cart page and its forms (add, set a quantity, remove),
//! the checkout form and placing the order. All of it needs a session; without one, the login.

use serde_json::{Value, json};
use spin_sdk::http::{Method, Response};

use crate::model::{self, Accepted, Cart, CheckoutForm};
use crate::{FrontError, Visit, expect, field, pages, redirect, route};

pub async fn show(visit: &Visit) -> Result<Response, FrontError> {
    if visit.session.is_none() {
        return Ok(redirect("/login"));
    }
    let cart: Cart = visit.fetch("/api/v1/cart", 200).await?;
    Ok(visit.html(200, |c| pages::cart(c, &cart)))
}

pub async fn add(visit: &Visit, form: &[(String, String)]) -> Result<Response, FrontError> {
    let product_id = field(form, "product_id").filter(|id| route::valid_id(id));
    let (Some(product_id), Some(quantity)) = (product_id, model::quantity(field(form, "quantity")))
    else {
        return Err(quantity_refused());
    };
    change(
        visit,
        Method::Post,
        "/api/v1/cart/items".into(),
        Some(json!({ "product_id": product_id, "quantity": quantity })),
    )
    .await
}

pub async fn set_quantity(
    visit: &Visit,
    product_id: &str,
    form: &[(String, String)],
) -> Result<Response, FrontError> {
    let Some(quantity) = model::quantity(field(form, "quantity")) else {
        return Err(quantity_refused());
    };
    change(
        visit,
        Method::Patch,
        format!("/api/v1/cart/items/{product_id}"),
        Some(json!({ "quantity": quantity })),
    )
    .await
}

pub async fn remove(visit: &Visit, product_id: &str) -> Result<Response, FrontError> {
    change(
        visit,
        Method::Delete,
        format!("/api/v1/cart/items/{product_id}"),
        None,
    )
    .await
}

fn quantity_refused() -> FrontError {
    FrontError::Api(422, Some("Choose a quantity from 1 to 99.".into()))
}

async fn change(
    visit: &Visit,
    method: Method,
    path: String,
    body: Option<Value>,
) -> Result<Response, FrontError> {
    if visit.session.is_none() {
        return Ok(redirect("/login"));
    }
    let (status, body) = visit.api(method, &path, body).await?;
    if status != 200 {
        return Err(FrontError::Api(status, model::error_message(&body)));
    }
    Ok(redirect("/cart"))
}

pub async fn checkout_form(visit: &Visit) -> Result<Response, FrontError> {
    if visit.session.is_none() {
        return Ok(redirect("/login"));
    }
    let cart: Cart = visit.fetch("/api/v1/cart", 200).await?;
    let form = CheckoutForm {
        payment_token: "tok_visa".into(),
        ..CheckoutForm::default()
    };
    Ok(checkout_page(visit, 200, &cart, &form, &[], None))
}

/// The checkout page, with a fresh idempotency key: a corrected form is another request.
fn checkout_page(
    visit: &Visit,
    status: u16,
    cart: &Cart,
    form: &CheckoutForm,
    errors: &[(String, String)],
    problem: Option<&str>,
) -> Response {
    let key = uuid::Uuid::new_v4().to_string();
    visit.html(status, |c| {
        pages::checkout(
            c,
            &pages::Checkout {
                cart,
                form,
                errors,
                problem,
                idempotency_key: &key,
            },
        )
    })
}

/// Places the order of the cart; the form's idempotency key makes a second submit of the same
/// form (a double click, a retried POST) the same order.
pub async fn checkout(visit: &Visit, fields: &[(String, String)]) -> Result<Response, FrontError> {
    if visit.session.is_none() {
        return Ok(redirect("/login"));
    }
    let form = CheckoutForm::from_fields(|name| field(fields, name));
    let body = match form.body() {
        Ok(body) => body,
        Err(errors) => {
            let cart: Cart = visit.fetch("/api/v1/cart", 200).await?;
            return Ok(checkout_page(visit, 422, &cart, &form, &errors, None));
        }
    };
    let key = model::idempotency_key(field(fields, "idempotency_key"))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let (status, answer) = visit
        .api_with(
            Method::Post,
            "/api/v1/orders",
            Some(body),
            Some(("idempotency-key", &key)),
        )
        .await?;
    match status {
        200..=299 => {
            let accepted: Accepted = expect(status, status, answer)?;
            if !route::valid_id(&accepted.id) {
                return Err(FrontError::Unreachable("unexpected order id".into()));
            }
            Ok(redirect(&format!("/orders/{}", accepted.id)))
        }
        // The API's judgement of the address or the cart (empty, withdrawn products, no
        // stock): the form again, with what to correct.
        400 | 409 | 422 => {
            let errors = model::field_errors(&answer);
            let problem = errors
                .is_empty()
                .then(|| model::error_message(&answer))
                .flatten()
                .unwrap_or_default();
            let cart: Cart = visit.fetch("/api/v1/cart", 200).await?;
            let problem = (!problem.is_empty()).then_some(problem.as_str());
            Ok(checkout_page(visit, status, &cart, &form, &errors, problem))
        }
        status => Err(FrontError::Api(status, model::error_message(&answer))),
    }
}
