//! The use cases, shared by the HTTP routes and the exported `api`: domain rules, repository
//! and outbox together. Each state change and the event announcing it commit in one
//! transaction; events are published after commit, and a failed publish is logged, not
//! returned (the rows stay unsent for the relay).

use std::fmt::Display;

use spin_sdk::redis::RedisParameter;
use spin_sdk::sqlite3::Connection;
use wasmshop_kit::channels;
use wasmshop_kit::db::{DbError, transaction};
use wasmshop_kit::events::envelope;
use wasmshop_kit::ids::{is_id, new_id, now_rfc3339, now_unix_seconds};
use wasmshop_kit::outbox;
use wasmshop_kit::payloads::{UserProfileUpdated, UserRegistered};
use wasmshop_kit::token::{TokenConfig, revocation_key, revocation_ttl};

use crate::domain::bootstrap::{self, ADMIN_NAME, Refusal};
use crate::domain::password;
use crate::domain::throttle::{self, Decision};
use crate::domain::token::{self, TOKEN_TTL_SECONDS, TOKEN_TYPE};
use crate::domain::validation::{
    MAX_PASSWORD_CHARS, validate_email, validate_profile_update, validate_registration,
};
use crate::repo;
use crate::{Error, LoginRequest, ProfileUpdate, RegisterRequest, Role, Token, User};

pub const SOURCE: &str = "users";

impl From<DbError> for Error {
    fn from(e: DbError) -> Self {
        Error::Internal(e.to_string())
    }
}

fn internal(context: &str, e: impl Display) -> Error {
    Error::Internal(format!("{context}: {e}"))
}

fn variable(name: &str) -> Result<String, Error> {
    spin_sdk::variables::get(name).map_err(|e| internal(&format!("variable `{name}`"), e))
}

fn token_config() -> Result<TokenConfig, Error> {
    TokenConfig::from_variables().map_err(|e| internal("token configuration", e))
}

fn publish_pending(conn: &Connection) {
    outbox::relay_after_commit(conn, SOURCE);
}

pub fn register(request: &RegisterRequest) -> Result<User, Error> {
    let (email, name) = validate_registration(request).map_err(Error::InvalidInput)?;
    let conn = repo::open()?;
    // Refuse a taken email before paying for a hash; checked again under the write lock.
    if repo::email_taken(&conn, &email)? {
        return Err(Error::EmailTaken);
    }
    // Never an admin, whatever the email: the first admin comes from `bootstrap_admin`.
    let (user, password_hash, event) = new_account(email, name, Role::Customer, &request.password)?;
    transaction(&conn, |conn| {
        if repo::email_taken(conn, &user.email)? {
            return Err(Error::EmailTaken);
        }
        repo::insert_user(conn, &user, &password_hash)?;
        outbox::enqueue(conn, channels::USERS_EVENTS, &event)?;
        Ok(())
    })?;
    publish_pending(&conn);
    Ok(user)
}

/// A new account's row, its password hash and its `user.registered` event, not yet stored.
fn new_account(
    email: String,
    name: String,
    role: Role,
    password: &str,
) -> Result<(User, String, wasmshop_kit::Event), Error> {
    let password_hash = password::hash(password).map_err(|e| internal("hash", e))?;
    let now = now_rfc3339();
    let user = User {
        id: new_id(),
        role,
        email,
        name,
        address: None,
        created_at: now.clone(),
        updated_at: now,
    };
    let payload = UserRegistered {
        user_id: user.id.clone(),
        email: user.email.clone(),
        name: user.name.clone(),
    };
    let event = envelope(channels::user::REGISTERED, SOURCE, &user.id, &payload)
        .map_err(|e| internal("event", e))?;
    Ok((user, password_hash, event))
}

/// `POST /auth/bootstrap-admin`: the operator's secret token, and the email and password of
/// the account to make the first admin.
#[derive(Debug, serde::Deserialize)]
pub struct BootstrapRequest {
    pub token: String,
    pub email: String,
    pub password: String,
}

/// How the first admin was made.
#[derive(Debug)]
pub enum Bootstrapped {
    /// A new account.
    Created(User),
    /// An existing account, whose password the request proved.
    Promoted(User),
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("an admin exists already")]
    AlreadyBootstrapped,
    #[error("{0:?}")]
    Users(Error),
}

impl From<Error> for BootstrapError {
    fn from(e: Error) -> Self {
        BootstrapError::Users(e)
    }
}

impl From<DbError> for BootstrapError {
    fn from(e: DbError) -> Self {
        BootstrapError::Users(e.into())
    }
}

/// Makes the first admin, once: with the operator's `admin_bootstrap_token`, and only while
/// no account is admin (checked again in the write transaction that makes it, so two
/// concurrent requests make one admin). The token is checked before anything else, so a
/// caller without it learns nothing about the accounts.
pub fn bootstrap_admin(request: &BootstrapRequest) -> Result<Bootstrapped, BootstrapError> {
    let configured = variable("admin_bootstrap_token")?;
    if let Err(refusal) = bootstrap::check_token(&configured, &request.token) {
        wasmshop_kit::trace::log(SOURCE, format_args!("admin bootstrap refused: {refusal}"));
        return Err(refusal.into());
    }
    let (email, name) = validate_registration(&RegisterRequest {
        email: request.email.clone(),
        password: request.password.clone(),
        name: ADMIN_NAME.to_owned(),
    })
    .map_err(Error::InvalidInput)?;
    let conn = repo::open()?;
    // Refused before paying for a hash; checked again under the write lock.
    if repo::admin_exists(&conn)? {
        return Err(BootstrapError::AlreadyBootstrapped);
    }
    let outcome = match repo::find_credentials(&conn, &email)? {
        Some(account) => {
            // Promoting an account needs its password: the token alone must not hand someone
            // else's account the admin role.
            if !password::verify(&request.password, &account.password_hash) {
                return Err(Error::InvalidCredentials.into());
            }
            let user = transaction(&conn, |conn| {
                if repo::admin_exists(conn)? {
                    return Err(BootstrapError::AlreadyBootstrapped);
                }
                repo::set_role(conn, &account.user_id, Role::Admin, &now_rfc3339())?;
                Ok(repo::find_user(conn, &account.user_id)?.ok_or(Error::NotFound)?)
            })?;
            Bootstrapped::Promoted(user)
        }
        None => {
            let (user, password_hash, event) =
                new_account(email, name, Role::Admin, &request.password)?;
            transaction(&conn, |conn| {
                if repo::admin_exists(conn)? {
                    return Err(BootstrapError::AlreadyBootstrapped);
                }
                if repo::email_taken(conn, &user.email)? {
                    return Err(Error::EmailTaken.into());
                }
                repo::insert_user(conn, &user, &password_hash)?;
                outbox::enqueue(conn, channels::USERS_EVENTS, &event)?;
                Ok(())
            })?;
            publish_pending(&conn);
            Bootstrapped::Created(user)
        }
    };
    let (how, user) = match &outcome {
        Bootstrapped::Created(user) => ("created", user),
        Bootstrapped::Promoted(user) => ("promoted", user),
    };
    wasmshop_kit::trace::log(
        SOURCE,
        format_args!("first admin bootstrapped: account {} {how}", user.id),
    );
    Ok(outcome)
}

/// Unknown email and wrong password give the same error after the same work: the attempt is
/// counted for the account and `client` (see `domain::throttle` for the policy), then exactly
/// one Argon2 verification runs, against the account's hash or the dummy one. An email
/// registration would refuse gets the same error too, but is neither counted nor verified.
/// `client` is the address the gateway forwarded (`throttle::client_key`).
pub fn login(request: &LoginRequest, client: &str) -> Result<Token, Error> {
    let tokens = token_config()?;
    // Counting stores the email, so an unchecked one lets any client write rows of any size
    // (a 100 KB "email" became a row). No account has a malformed email (registration checks
    // the same shape), and the shape rule is public, so answering it at once, without the
    // Argon2 run, tells nothing about which accounts exist.
    let Ok(email) = validate_email(&request.email) else {
        return Err(Error::InvalidCredentials);
    };
    let conn = repo::open()?;
    let now = now_unix_seconds();
    let credentials = transaction(&conn, |conn| {
        match throttle::begin_attempt(repo::login_attempts(conn, &email, client)?, now) {
            Decision::Block { retry_after } => Err(Error::TooManyAttempts(retry_after)),
            Decision::Allow(attempts) => {
                repo::save_login_attempts(conn, &email, client, attempts, now)?;
                Ok(repo::find_credentials(conn, &email)?)
            }
        }
    })?;
    // No account has a password this long: check an empty one against the dummy hash, which
    // costs the same and cannot match.
    let (candidate, stored) = if request.password.chars().count() > MAX_PASSWORD_CHARS {
        ("", None)
    } else {
        (
            request.password.as_str(),
            credentials.as_ref().map(|c| c.password_hash.as_str()),
        )
    };
    // Always run, whether or not there is an account (never inside a match guard).
    let matched = password::verify_login(candidate, stored);
    let account = match credentials {
        Some(account) if matched => account,
        _ => return Err(Error::InvalidCredentials),
    };
    repo::clear_login_attempts(&conn, &email, client)?;
    let claims = token::claims(&tokens, &account.user_id, account.role, &new_id(), now);
    let access_token = tokens.sign(&claims).map_err(|e| internal("token", e))?;
    Ok(Token {
        access_token,
        token_type: TOKEN_TYPE.to_owned(),
        expires_in: TOKEN_TTL_SECONDS,
    })
}

/// Revokes a token the gateway accepts for as long as it would accept it, `exp` plus its
/// leeway: `SET revoked:jti:<jti> 1 EX <seconds>`.
pub fn logout(access_token: &str) -> Result<(), Error> {
    let tokens = token_config()?;
    let now = now_unix_seconds();
    let claims = token::verify_for_logout(&tokens, access_token.trim(), now)
        .map_err(|_| Error::Unauthorized)?;
    let ttl = revocation_ttl(&claims, now);
    let address = variable("redis_address")?;
    let redis = spin_sdk::redis::Connection::open(&address)
        .map_err(|e| internal("redis", format!("{e:?}")))?;
    redis
        .execute(
            "SET",
            &[
                RedisParameter::Binary(revocation_key(&claims.jti).into_bytes()),
                RedisParameter::Binary(b"1".to_vec()),
                RedisParameter::Binary(b"EX".to_vec()),
                RedisParameter::Int64(i64::try_from(ttl).unwrap_or(i64::MAX)),
            ],
        )
        .map_err(|e| internal("revoking the token", format!("{e:?}")))?;
    Ok(())
}

pub fn get_user(user_id: &str) -> Result<User, Error> {
    if !is_id(user_id) {
        return Err(Error::NotFound);
    }
    let conn = repo::open()?;
    repo::find_user(&conn, user_id)?.ok_or(Error::NotFound)
}

pub fn update_profile(user_id: &str, update: &ProfileUpdate) -> Result<User, Error> {
    if !is_id(user_id) {
        return Err(Error::NotFound);
    }
    let change = validate_profile_update(update).map_err(Error::InvalidInput)?;
    let conn = repo::open()?;
    let (user, changed) = transaction(&conn, |conn| {
        let mut user = repo::find_user(conn, user_id)?.ok_or(Error::NotFound)?;
        if !change.apply(&mut user, &now_rfc3339()) {
            return Ok::<_, Error>((user, false));
        }
        repo::update_profile(conn, &user)?;
        let payload = UserProfileUpdated {
            user_id: user.id.clone(),
            name: user.name.clone(),
        };
        let event = envelope(channels::user::PROFILE_UPDATED, SOURCE, &user.id, &payload)
            .map_err(|e| internal("event", e))?;
        outbox::enqueue(conn, channels::USERS_EVENTS, &event)?;
        Ok((user, true))
    })?;
    if changed {
        publish_pending(&conn);
    }
    Ok(user)
}
