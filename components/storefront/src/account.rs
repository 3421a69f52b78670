//! The account forms' answers: register (then logged in), log in, log out. A session lives in
//! the session cookie (`session.rs`); the API's refusals become the form again, never its JSON.

use serde_json::json;
use spin_sdk::http::{Method, Response};

use crate::model::{self, Token};
use crate::{FrontError, Visit, expect, field, pages, redirect, session};

pub async fn register(
    visit: &mut Visit,
    form: &[(String, String)],
) -> Result<Response, FrontError> {
    let email = field(form, "email").unwrap_or_default();
    let password = field(form, "password").unwrap_or_default();
    let name = field(form, "name").unwrap_or_default();
    let body = json!({ "email": email, "password": password, "name": name });
    let (status, answer) = visit
        .api(Method::Post, "/api/v1/auth/register", Some(body))
        .await?;
    match status {
        201 => login(visit, email, password, true).await,
        409 => Ok(visit.html(409, |c| {
            pages::account_form(
                c,
                true,
                Some("An account with this email exists already."),
                email,
            )
        })),
        400 | 422 => {
            let message = model::error_message(&answer)
                .unwrap_or_else(|| "Check the fields and try again.".into());
            Ok(visit.html(422, |c| pages::account_form(c, true, Some(&message), email)))
        }
        status => Err(FrontError::Api(status, model::error_message(&answer))),
    }
}

/// The login form's answer.
pub async fn log_in(visit: &mut Visit, form: &[(String, String)]) -> Result<Response, FrontError> {
    let email = field(form, "email").unwrap_or_default();
    let password = field(form, "password").unwrap_or_default();
    login(visit, email, password, false).await
}

async fn login(
    visit: &mut Visit,
    email: &str,
    password: &str,
    registering: bool,
) -> Result<Response, FrontError> {
    // Whatever session the browser had is replaced, and must not authenticate this call.
    visit.session = None;
    let body = json!({ "email": email, "password": password });
    let (status, answer) = visit
        .api(Method::Post, "/api/v1/auth/login", Some(body))
        .await?;
    match status {
        200 => {
            let token: Token = expect(200, 200, answer)?;
            if !session::sane_cookie_value(&token.access_token) {
                return Err(FrontError::Unreachable("unexpected token shape".into()));
            }
            visit.start_session(&token);
            Ok(redirect("/"))
        }
        400 | 401 | 422 if !registering => Ok(visit.html(401, |c| {
            pages::account_form(c, false, Some("Wrong email or password."), email)
        })),
        status => Err(FrontError::Api(status, model::error_message(&answer))),
    }
}

pub async fn log_out(visit: &mut Visit) -> Result<Response, FrontError> {
    if visit.session.is_some() {
        let (status, body) = visit.api(Method::Post, "/api/v1/auth/logout", None).await?;
        // 401: the token was no longer valid anyway. Anything else failing leaves the
        // session in place, so that logging out again can still revoke it.
        if !matches!(status, 200..=299 | 401) {
            return Err(FrontError::Api(status, model::error_message(&body)));
        }
    }
    visit.end_session();
    Ok(redirect("/"))
}
