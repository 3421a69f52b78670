//! The one-time bootstrap of the first admin. No role ever follows from what a client types
//! (registration always makes a customer): the first admin is made by whoever holds the
//! operator's `admin_bootstrap_token`, once. This module holds the token check; the one
//! transaction that makes the admin is `service::bootstrap_admin`.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The name an account made by the bootstrap starts with (a profile change renames it).
pub const ADMIN_NAME: &str = "Administrator";

/// Why a bootstrap request is refused before anything is read or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The variable is empty: this deployment makes no admin through the API.
    #[error("no admin bootstrap token is configured")]
    Disabled,
    #[error("the admin bootstrap token is wrong")]
    WrongToken,
}

/// Checks the `presented` token against the operator's `configured` one. Both are hashed to
/// SHA-256 first and the digests compared in constant time, so the time taken tells a caller
/// neither how long the secret is nor how much of a guess matched.
pub fn check_token(configured: &str, presented: &str) -> Result<(), Refusal> {
    if configured.is_empty() {
        return Err(Refusal::Disabled);
    }
    let configured = Sha256::digest(configured.as_bytes());
    let presented = Sha256::digest(presented.as_bytes());
    if bool::from(configured.ct_eq(&presented)) {
        Ok(())
    } else {
        Err(Refusal::WrongToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "7f3c0a9e1b2d4c6e8f0a1b2c3d4e5f60";

    #[test]
    fn only_the_configured_token_passes() {
        assert_eq!(check_token(TOKEN, TOKEN), Ok(()));
        for wrong in [
            "",
            "7f3c0a9e1b2d4c6e8f0a1b2c3d4e5f6",
            "7f3c0a9e1b2d4c6e8f0a1b2c3d4e5f600",
            "7F3C0A9E1B2D4C6E8F0A1B2C3D4E5F60",
            " 7f3c0a9e1b2d4c6e8f0a1b2c3d4e5f60",
        ] {
            assert_eq!(
                check_token(TOKEN, wrong),
                Err(Refusal::WrongToken),
                "{wrong:?}"
            );
        }
    }

    #[test]
    fn an_empty_configured_token_refuses_everything() {
        for presented in ["", TOKEN, " "] {
            assert_eq!(
                check_token("", presented),
                Err(Refusal::Disabled),
                "{presented:?}"
            );
        }
    }
}
