//! The logged-in shopper's own pages and the forms on them: orders (cancel one),
//! notifications (mark read) and profile (change name and address). Every form is a POST that
//! redirects to a GET; a refusal of the API is shown on the page, never as its JSON.

use spin_sdk::http::{Method, Response};

use crate::model::{self, Account, NotificationPage, Order, OrderPage, ProfileForm};
use crate::pages::{self, Profile};
use crate::route::{self, PAGE_SIZE, Paging};
use crate::{FrontError, Visit, field, redirect};

/// Notifications per page.
const NOTIFICATIONS_PAGE_SIZE: u32 = 20;

pub async fn orders(visit: &Visit, query: &str) -> Result<Response, FrontError> {
    if visit.session.is_none() {
        return Ok(redirect("/login"));
    }
    let number = route::page_number(query);
    let orders: OrderPage = visit
        .fetch(
            &format!("/api/v1/orders?page={number}&limit={PAGE_SIZE}"),
            200,
        )
        .await?;
    let paging = Paging::new(number, PAGE_SIZE, orders.total);
    Ok(visit.html(200, |c| pages::orders(c, &orders.items, paging)))
}

pub async fn order(visit: &Visit, id: &str) -> Result<Response, FrontError> {
    if visit.session.is_none() {
        return Ok(redirect("/login"));
    }
    let order: Order = visit.fetch(&format!("/api/v1/orders/{id}"), 200).await?;
    Ok(visit.html(200, |c| pages::order(c, &order, None)))
}

pub async fn notifications(visit: &Visit, query: &str) -> Result<Response, FrontError> {
    if visit.session.is_none() {
        return Ok(redirect("/login"));
    }
    let number = route::page_number(query);
    let page: NotificationPage = visit
        .fetch(
            &format!("/api/v1/notifications?page={number}&limit={NOTIFICATIONS_PAGE_SIZE}"),
            200,
        )
        .await?;
    let paging = Paging::new(number, NOTIFICATIONS_PAGE_SIZE, page.total);
    Ok(visit.html(200, |c| pages::notifications(c, &page.items, paging)))
}

/// Marks one notification read, then shows the page of the list the form was on.
pub async fn mark_read(
    visit: &Visit,
    id: &str,
    form: &[(String, String)],
) -> Result<Response, FrontError> {
    if visit.session.is_none() {
        return Ok(redirect("/login"));
    }
    let (status, answer) = visit
        .api(
            Method::Post,
            &format!("/api/v1/notifications/{id}/read"),
            None,
        )
        .await?;
    if status != 200 {
        return Err(FrontError::Api(status, model::error_message(&answer)));
    }
    Ok(redirect(&notifications_href(field(form, "page"))))
}

/// The notifications page a mark-read form came from (its `page` field, bounded).
fn notifications_href(page: Option<&str>) -> String {
    match page.map_or(1, route::page_value) {
        1 => "/notifications".to_owned(),
        page => format!("/notifications?page={page}"),
    }
}

pub async fn profile(visit: &Visit, query: &str) -> Result<Response, FrontError> {
    if visit.session.is_none() {
        return Ok(redirect("/login"));
    }
    let account: Account = visit.fetch("/api/v1/users/me", 200).await?;
    let form = ProfileForm::from_account(&account);
    let saved = form_urlencoded::parse(query.as_bytes()).any(|(k, v)| k == "saved" && v == "1");
    Ok(visit.html(200, |c| {
        pages::profile(
            c,
            &Profile {
                email: &account.email,
                form: &form,
                errors: &[],
                saved,
            },
        )
    }))
}

pub async fn update_profile(
    visit: &Visit,
    fields: &[(String, String)],
) -> Result<Response, FrontError> {
    if visit.session.is_none() {
        return Ok(redirect("/login"));
    }
    let form = ProfileForm::from_fields(|name| field(fields, name));
    let (status, answer) = visit
        .api(Method::Patch, "/api/v1/users/me", Some(form.body()))
        .await?;
    match status {
        200 => Ok(redirect("/profile?saved=1")),
        // The API's judgement of the fields: the form again, as typed, with what to correct.
        400 | 422 => {
            let mut errors = model::field_errors(&answer);
            if errors.is_empty() {
                let message = model::error_message(&answer)
                    .unwrap_or_else(|| "Check the fields and try again.".into());
                errors.push((String::new(), message));
            }
            let account: Account = visit.fetch("/api/v1/users/me", 200).await?;
            Ok(visit.html(422, |c| {
                pages::profile(
                    c,
                    &Profile {
                        email: &account.email,
                        form: &form,
                        errors: &errors,
                        saved: false,
                    },
                )
            }))
        }
        status => Err(FrontError::Api(status, model::error_message(&answer))),
    }
}

/// Asks orders to cancel; the order page follows the compensation. A refusal (the order has
/// moved on since the page was drawn) is the order page again, saying why.
pub async fn cancel_order(visit: &Visit, id: &str) -> Result<Response, FrontError> {
    if visit.session.is_none() {
        return Ok(redirect("/login"));
    }
    let (status, answer) = visit
        .api(Method::Post, &format!("/api/v1/orders/{id}/cancel"), None)
        .await?;
    match status {
        200..=299 => Ok(redirect(&format!("/orders/{id}"))),
        409 => {
            let order: Order = visit.fetch(&format!("/api/v1/orders/{id}"), 200).await?;
            let refusal = refusal(&order.status);
            Ok(visit.html(409, |c| pages::order(c, &order, Some(&refusal))))
        }
        status => Err(FrontError::Api(status, model::error_message(&answer))),
    }
}

/// Why an order in `status` was not cancelled, in the shopper's words.
fn refusal(status: &str) -> String {
    if model::is_terminal(status) {
        format!(
            "This order is {} already: there is nothing left to cancel.",
            model::status_label(status).to_lowercase()
        )
    } else {
        format!(
            "This order can no longer be cancelled: {}.",
            model::status_label(status).to_lowercase()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mark_read_returns_to_the_page_it_came_from() {
        assert_eq!(notifications_href(None), "/notifications");
        assert_eq!(notifications_href(Some("1")), "/notifications");
        assert_eq!(notifications_href(Some("3")), "/notifications?page=3");
        assert_eq!(notifications_href(Some("x/../evil")), "/notifications");
        assert_eq!(
            notifications_href(Some("99999999")),
            "/notifications?page=10000"
        );
    }

    #[test]
    fn refusals_say_where_the_order_is() {
        assert_eq!(
            refusal("capturing_payment"),
            "This order can no longer be cancelled: taking payment."
        );
        assert_eq!(
            refusal("cancelled"),
            "This order is cancelled already: there is nothing left to cancel."
        );
        assert!(refusal("confirmed").contains("confirmed already"));
    }
}
