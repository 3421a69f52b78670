//! Pure identity logic: no Spin calls, unit-tested natively (`cargo test -p users`).
//!
//! - `validation`: normalising and validating emails, passwords, names and addresses;
//! - `bootstrap`: the operator's token that makes the first admin, checked in constant time;
//! - `password`: Argon2id hashing and the constant-work verification used by login;
//! - `throttle`: the failed-login window arithmetic;
//! - `token`: JWT claims, signing and verification.

pub mod bootstrap;
pub mod password;
pub mod throttle;
pub mod token;
pub mod validation;

use wasmshop_kit::FieldError;

use crate::{Address, User};

pub(crate) fn field_error(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// A profile change, validated and normalised; `None` fields are left as they are.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileChange {
    pub name: Option<String>,
    pub address: Option<Address>,
}

impl ProfileChange {
    /// Applies the change to `user` at `now`; returns whether anything changed (an unchanged
    /// profile keeps its `updated_at` and announces nothing).
    pub fn apply(self, user: &mut User, now: &str) -> bool {
        let mut changed = false;
        if let Some(name) = self.name
            && name != user.name
        {
            user.name = name;
            changed = true;
        }
        if let Some(address) = self.address
            && user.address.as_ref() != Some(&address)
        {
            user.address = Some(address);
            changed = true;
        }
        if changed {
            user.updated_at = now.to_owned();
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Role;

    fn user() -> User {
        User {
            id: "0198c1f0-0000-7000-8000-000000000001".into(),
            email: "ada@example.com".into(),
            name: "Ada".into(),
            role: Role::Customer,
            address: None,
            created_at: "2025-01-01T00:00:00.000Z".into(),
            updated_at: "2025-01-01T00:00:00.000Z".into(),
        }
    }

    fn address() -> Address {
        Address {
            line1: "1 Main St".into(),
            line2: None,
            city: "Springfield".into(),
            postal_code: "12345".into(),
            country: "US".into(),
        }
    }

    #[test]
    fn applying_a_change_updates_fields_and_time() {
        let mut user = user();
        let change = ProfileChange {
            name: Some("Ada L.".into()),
            address: Some(address()),
        };
        assert!(change.apply(&mut user, "2025-02-01T00:00:00.000Z"));
        assert_eq!(user.name, "Ada L.");
        assert_eq!(user.address, Some(address()));
        assert_eq!(user.updated_at, "2025-02-01T00:00:00.000Z");
        assert_eq!(user.created_at, "2025-01-01T00:00:00.000Z");
    }

    #[test]
    fn an_empty_or_identical_change_changes_nothing() {
        let mut user = user();
        let before = user.clone();
        let empty = ProfileChange {
            name: None,
            address: None,
        };
        assert!(!empty.apply(&mut user, "2025-02-01T00:00:00.000Z"));
        let same = ProfileChange {
            name: Some("Ada".into()),
            address: None,
        };
        assert!(!same.apply(&mut user, "2025-02-01T00:00:00.000Z"));
        assert_eq!(user, before);
    }
}
