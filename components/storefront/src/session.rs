//! The browser's session: cookies in and out, and the CSRF token of every state-changing form.
//!
//! Two cookies, both `HttpOnly` and `SameSite=Lax` (and `Secure` over https): `ws_session`
//! holds the shopper's access token (the gateway verifies it; the storefront never reads its
//! claims), `ws_nonce` a random value every visitor gets before the first form. A form's token
//! is HMAC-SHA256(key, nonce ‖ session): a cross-site page can neither read the nonce nor
//! compute the MAC, and a token is worthless once the session it was made for changes.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const SESSION_COOKIE: &str = "ws_session";
pub const NONCE_COOKIE: &str = "ws_nonce";
/// The form field carrying the CSRF token.
pub const CSRF_FIELD: &str = "csrf";
/// Separates the CSRF MAC from any other use of the same key.
const CSRF_LABEL: &[u8] = b"wasmshop-storefront-csrf-v1\n";

/// The value of cookie `name` in a `Cookie` header (`a=1; b=2`); the first when repeated.
pub fn cookie<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| key.trim() == name)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// A value the storefront itself set: a token or a nonce, nothing that needs quoting. Anything
/// else in a cookie was not written by us and is ignored.
pub fn sane_cookie_value(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 4096
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A `Set-Cookie` value: `max_age` seconds, 0 = delete now.
pub fn set_cookie(name: &str, value: &str, max_age: u64, secure: bool) -> String {
    let mut cookie = format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax");
    if secure {
        cookie.push_str("; Secure");
    }
    cookie
}

/// A fresh random nonce (two v4 UUIDs: 244 random bits from the host's CSPRNG).
pub fn new_nonce() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The token forms carry for this nonce and session (hex).
pub fn csrf_token(key: &[u8], nonce: &str, session: Option<&str>) -> String {
    let mac = csrf_mac(key, nonce, session);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `presented` is the token of this nonce and session, compared in constant time.
pub fn csrf_valid(key: &[u8], nonce: &str, session: Option<&str>, presented: &str) -> bool {
    let Some(bytes) = decode_hex(presented) else {
        return false;
    };
    csrf_mac(key, nonce, session).verify_slice(&bytes).is_ok()
}

fn csrf_mac(key: &[u8], nonce: &str, session: Option<&str>) -> Hmac<Sha256> {
    // HMAC accepts a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(CSRF_LABEL);
    mac.update(nonce.as_bytes());
    mac.update(b"\n");
    mac.update(session.unwrap_or("").as_bytes());
    mac
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"test key";

    #[test]
    fn cookies_are_found_by_exact_name() {
        let header = Some("ws_session_x=no; ws_session=abc.def ; ws_nonce=n1; ws_session=late");
        assert_eq!(cookie(header, SESSION_COOKIE), Some("abc.def"));
        assert_eq!(cookie(header, NONCE_COOKIE), Some("n1"));
        assert_eq!(cookie(header, "other"), None);
        assert_eq!(cookie(Some("ws_nonce="), NONCE_COOKIE), None);
        assert_eq!(cookie(None, NONCE_COOKIE), None);
    }

    #[test]
    fn only_our_own_shapes_of_cookie_value_are_used() {
        assert!(sane_cookie_value("eyJhbGciOiJIUzI1NiJ9.e30.sig-_"));
        assert!(!sane_cookie_value(""));
        assert!(!sane_cookie_value("a b"));
        assert!(!sane_cookie_value("\"quoted\""));
        assert!(!sane_cookie_value(&"a".repeat(4097)));
    }

    #[test]
    fn set_cookie_is_http_only_lax_and_secure_over_https() {
        let plain = set_cookie(SESSION_COOKIE, "t", 900, false);
        assert_eq!(
            plain,
            "ws_session=t; Path=/; Max-Age=900; HttpOnly; SameSite=Lax"
        );
        assert!(set_cookie(SESSION_COOKIE, "t", 0, true).ends_with("; Secure"));
    }

    #[test]
    fn nonces_are_long_random_and_cookie_safe() {
        let (a, b) = (new_nonce(), new_nonce());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(sane_cookie_value(&a));
    }

    #[test]
    fn a_token_is_bound_to_key_nonce_and_session() {
        let token = csrf_token(KEY, "n1", Some("s1"));
        assert_eq!(token.len(), 64);
        assert!(csrf_valid(KEY, "n1", Some("s1"), &token));
        assert!(!csrf_valid(KEY, "n2", Some("s1"), &token), "other nonce");
        assert!(!csrf_valid(KEY, "n1", Some("s2"), &token), "other session");
        assert!(!csrf_valid(KEY, "n1", None, &token), "logged out since");
        assert!(
            !csrf_valid(b"other key", "n1", Some("s1"), &token),
            "other key"
        );
        let anonymous = csrf_token(KEY, "n1", None);
        assert!(csrf_valid(KEY, "n1", None, &anonymous));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let token = csrf_token(KEY, "n1", None);
        assert!(!csrf_valid(KEY, "n1", None, ""));
        assert!(!csrf_valid(KEY, "n1", None, &token[..62]));
        assert!(!csrf_valid(KEY, "n1", None, &format!("{}zz", &token[..62])));
        assert!(!csrf_valid(
            KEY,
            "n1",
            None,
            &token.to_uppercase().replace('A', "G")
        ));
        assert!(!csrf_valid(KEY, "n1", None, &"é".repeat(32)));
    }
}
