//! Password hashing: Argon2id (RFC 9106) with a random 16-byte salt, stored as a PHC string.
//!
//! Parameters: m = 19 MiB, t = 2, p = 1 — OWASP's recommended Argon2id baseline (RFC 9106's
//! second recommended option asks for 64 MiB, too much per instance here). A whole login over
//! HTTP in Wasm stays well under its 250 ms budget with them (`login_latency_in_wasm` in the
//! users tests prints the figure), leaving room for concurrent logins on two cores, while each
//! guess costs 19 MiB of memory.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

pub const M_COST_KIB: u32 = 19 * 1024;
pub const T_COST: u32 = 2;
pub const P_COST: u32 = 1;

/// A hash of a random password no one knows, with the same parameters as every real hash:
/// login verifies against it when the email is unknown, so unknown email and wrong password
/// cost the same time. `dummy_hash_has_the_real_parameters` keeps the two in step.
pub const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$tG/UYnF10IZAOGRWyn0vdg$GtToDtI0IrAHBMKzfAd/8hMtCxVUk7OBLUVq5OXCmX0";

#[derive(Debug, thiserror::Error)]
#[error("password hashing: {0}")]
pub struct HashError(String);

fn argon2() -> Result<Argon2<'static>, HashError> {
    let params =
        Params::new(M_COST_KIB, T_COST, P_COST, None).map_err(|e| HashError(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`) of `password`.
pub fn hash(password: &str) -> Result<String, HashError> {
    argon2()?
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `password` matches `stored`; an unparsable `stored` never matches. The work is the
/// same whether or not it matches (the comparison is constant-time).
pub fn verify(password: &str, stored: &str) -> bool {
    match argon2() {
        Ok(argon2) => argon2.verify_password(password.as_bytes(), stored).is_ok(),
        Err(_) => false,
    }
}

/// Checks `password` against the account's hash, or against [`DUMMY_HASH`] when there is no
/// account, doing one Argon2 verification either way. True only for an account and a match.
pub fn verify_login(password: &str, stored: Option<&str>) -> bool {
    let matched = verify(password, stored.unwrap_or(DUMMY_HASH));
    matched && stored.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::phc::PasswordHash;

    #[test]
    fn hashes_verify_and_are_salted() {
        let a = hash("correct horse battery").expect("hashes");
        let b = hash("correct horse battery").expect("hashes");
        assert_ne!(a, b, "a fresh salt every time");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert!(verify("correct horse battery", &a));
        assert!(!verify("correct horse battery!", &a));
        assert!(!verify("correct horse battery", "not a hash"));
        assert!(verify_login("correct horse battery", Some(&b)));
        assert!(!verify_login("wrong horse battery", Some(&b)));
    }

    #[test]
    fn dummy_hash_has_the_real_parameters() {
        let dummy = PasswordHash::new(DUMMY_HASH).expect("a PHC string");
        let real = hash("anything at all").expect("hashes");
        let real = PasswordHash::new(&real).expect("a PHC string");
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.version, real.version);
        assert_eq!(dummy.params, real.params);
        assert_eq!(dummy.salt.map(|s| s.len()), real.salt.map(|s| s.len()));
        assert_eq!(dummy.hash.map(|h| h.len()), real.hash.map(|h| h.len()));
    }

    #[test]
    fn an_unknown_account_never_logs_in() {
        // Whatever the password, the dummy hash gives no account.
        for password in ["", "password1234", "correct horse battery"] {
            assert!(!verify_login(password, None));
        }
    }
}
