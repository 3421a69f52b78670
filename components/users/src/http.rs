//! The thin HTTP adapter: routes, strict JSON in, the WIT error variant mapped to the uniform
//! JSON error out. Paths are the service's own; the gateway maps `/api/v1/...` onto them.

use spin_sdk::http::{Request, Response};
use wasmshop_kit::error::ApiError;
use wasmshop_kit::identity::Identity;
use wasmshop_kit::json::{json_response, parse_body};
use wasmshop_kit::router::{self, Handler, Route, health};

use crate::domain::bootstrap::Refusal;
use crate::domain::throttle;
use crate::service::{BootstrapError, BootstrapRequest, Bootstrapped};
use crate::{Error, LoginRequest, ProfileUpdate, RegisterRequest, service};

/// Users consumes no events; it shares the messaging routes for its own outbox's recovery.
struct NoSubscriptions;

impl wasmshop_kit::messaging::Consumer for NoSubscriptions {
    fn apply(
        &self,
        _conn: &spin_sdk::sqlite3::Connection,
        event: &wasmshop_kit::Event,
    ) -> Result<(), wasmshop_kit::messaging::Failure> {
        Err(wasmshop_kit::messaging::Failure::Permanent(format!(
            "users consumes no events (got `{}`)",
            event.event_type
        )))
    }
}

const ROUTES: &[Route<Handler>] = &[
    Route::get("/health", health),
    Route::post("/auth/register", |req, _| register(req)),
    Route::post("/auth/login", |req, _| login(req)),
    Route::post("/auth/bootstrap-admin", |req, _| bootstrap_admin(req)),
    Route::post("/auth/logout", |req, _| logout(req)),
    Route::get("/users/me", |req, _| me(req)),
    Route::patch("/users/me", |req, _| update_me(req)),
];

pub fn handle(req: Request) -> Response {
    if let Some(response) =
        wasmshop_kit::messaging::routes(&req, &crate::repo::open, &NoSubscriptions, "users")
    {
        return response;
    }
    router::serve(ROUTES, &req).unwrap_or_else(|error| {
        let unauthorized = error.status == 401;
        let mut response = error.into_response();
        if unauthorized {
            response.set_header("www-authenticate", "Bearer");
        }
        response
    })
}

fn register(req: &Request) -> Result<Response, ApiError> {
    let request: RegisterRequest = parse_body(req.body())?;
    let user = service::register(&request).map_err(api_error)?;
    Ok(json_response(201, &user))
}

fn login(req: &Request) -> Result<Response, ApiError> {
    let request: LoginRequest = parse_body(req.body())?;
    // Users is reached only through the gateway (a private route), which sets this header to
    // the one client address it determined, never appending to what the client sent.
    let forwarded = req.header("x-forwarded-for").and_then(|v| v.as_str());
    let client = throttle::client_key(forwarded);
    let token = service::login(&request, &client).map_err(api_error)?;
    let mut response = json_response(200, &token);
    // RFC 6749 §5.1: responses carrying tokens are not to be cached.
    response.set_header("cache-control", "no-store");
    Ok(response)
}

fn bootstrap_admin(req: &Request) -> Result<Response, ApiError> {
    let request: BootstrapRequest = parse_body(req.body())?;
    let (status, user) = match service::bootstrap_admin(&request) {
        Ok(Bootstrapped::Created(user)) => (201, user),
        Ok(Bootstrapped::Promoted(user)) => (200, user),
        Err(BootstrapError::Refused(refusal)) => {
            let code = match refusal {
                Refusal::Disabled => "bootstrap_disabled",
                Refusal::WrongToken => "invalid_bootstrap_token",
            };
            return Err(ApiError::new(403, code, refusal.to_string()));
        }
        Err(BootstrapError::AlreadyBootstrapped) => {
            return Err(ApiError::conflict(
                "already_bootstrapped",
                "an admin exists already; admins are made by admins",
            ));
        }
        Err(BootstrapError::Users(error)) => return Err(api_error(error)),
    };
    Ok(json_response(status, &user))
}

fn logout(req: &Request) -> Result<Response, ApiError> {
    let token = bearer_token(req)
        .ok_or_else(|| ApiError::unauthorized("an `Authorization: Bearer <token>` is required"))?;
    service::logout(token).map_err(api_error)?;
    Ok(Response::builder().status(204).build())
}

/// The token of the `Authorization` header (`wasmshop_kit::token::bearer_token`).
fn bearer_token(req: &Request) -> Option<&str> {
    wasmshop_kit::token::bearer_token(req.header("authorization")?.as_str()?).ok()
}

fn me(req: &Request) -> Result<Response, ApiError> {
    let identity = Identity::require(req)?;
    let user = service::get_user(&identity.user_id).map_err(api_error)?;
    Ok(json_response(200, &user))
}

fn update_me(req: &Request) -> Result<Response, ApiError> {
    let identity = Identity::require(req)?;
    let update: ProfileUpdate = parse_body(req.body())?;
    let user = service::update_profile(&identity.user_id, &update).map_err(api_error)?;
    Ok(json_response(200, &user))
}

/// The WIT error as the uniform JSON error with its stable code.
fn api_error(error: Error) -> ApiError {
    match error {
        Error::InvalidInput(fields) => ApiError::invalid_input(&fields),
        Error::EmailTaken => {
            ApiError::conflict("email_taken", "an account with this email already exists")
        }
        Error::InvalidCredentials => {
            ApiError::new(401, "invalid_credentials", "the email or password is wrong")
        }
        Error::TooManyAttempts(seconds) => ApiError::too_many_requests(seconds),
        Error::Unauthorized => ApiError::unauthorized("the token is invalid or expired"),
        Error::NotFound => ApiError::not_found("no such user"),
        Error::Internal(message) => {
            // Details go to the log, not to the client.
            wasmshop_kit::trace::log("users", format_args!("internal error: {message}"));
            ApiError::internal("internal error")
        }
    }
}
