//! Input rules. Each validator returns the normalised value or the field errors, so a request
//! reports every bad field at once.

use wasmshop_kit::FieldError;

use super::{ProfileChange, field_error};
use crate::{Address, ProfileUpdate, RegisterRequest};

/// RFC 5321 caps a forward path at 256 octets including the angle brackets.
pub const MAX_EMAIL_LEN: usize = 254;
const MAX_LOCAL_LEN: usize = 64;
const MAX_LABEL_LEN: usize = 63;
/// NIST SP 800-63B: at least 8, allow at least 64; we ask for 12 and cap at 256 so a hash
/// request cannot be made arbitrarily expensive.
pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_CHARS: usize = 256;
pub const MAX_NAME_CHARS: usize = 100;
const MAX_LINE_CHARS: usize = 200;
const MAX_CITY_CHARS: usize = 100;
const MAX_POSTAL_CODE_CHARS: usize = 20;

/// Emails are compared and stored trimmed and lower-cased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The normalised email, or why it is not one. A deliberately plain subset of RFC 5322 that
/// real mailboxes use: an ASCII dot-atom local part and a dotted DNS domain whose last label
/// has letters only (internationalised addresses are not accepted).
pub fn validate_email(email: &str) -> Result<String, FieldError> {
    let email = normalize_email(email);
    let invalid = |message: &str| Err(field_error("email", message));
    if email.is_empty() {
        return invalid("is required");
    }
    if email.len() > MAX_EMAIL_LEN {
        return invalid("must be at most 254 characters");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return invalid("must be an email address like name@example.com");
    };
    if domain.contains('@') {
        return invalid("must contain exactly one @");
    }
    if local.is_empty() || local.len() > MAX_LOCAL_LEN {
        return invalid("the part before @ must be 1 to 64 characters");
    }
    let local_ok = local
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    if !local_ok {
        return invalid("the part before @ has characters an address cannot have");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= MAX_LABEL_LEN
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
    if !domain_ok {
        return invalid("the part after @ must be a domain like example.com");
    }
    Ok(email)
}

/// Passwords are taken as given (never trimmed); the length counts characters, not bytes.
pub fn validate_password(password: &str) -> Result<(), FieldError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        Err(field_error(
            "password",
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ))
    } else if chars > MAX_PASSWORD_CHARS {
        Err(field_error(
            "password",
            format!("must be at most {MAX_PASSWORD_CHARS} characters"),
        ))
    } else {
        Ok(())
    }
}

/// A trimmed, non-empty text of at most `max` characters without control characters.
fn required_text(field: &str, value: &str, max: usize) -> Result<String, FieldError> {
    let value = value.trim();
    if value.is_empty() {
        Err(field_error(field, "is required"))
    } else if value.chars().count() > max {
        Err(field_error(
            field,
            format!("must be at most {max} characters"),
        ))
    } else if value.chars().any(char::is_control) {
        Err(field_error(field, "must not contain control characters"))
    } else {
        Ok(value.to_owned())
    }
}

pub fn validate_name(name: &str) -> Result<String, FieldError> {
    required_text("name", name, MAX_NAME_CHARS)
}

/// Officially assigned ISO 3166-1 alpha-2 codes (249), sorted.
const COUNTRY_CODES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ \
BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ \
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ \
DE DJ DK DM DO DZ \
EC EE EG EH ER ES ET \
FI FJ FK FM FO FR \
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY \
HK HM HN HR HT HU \
ID IE IL IM IN IO IQ IR IS IT \
JE JM JO JP \
KE KG KH KI KM KN KP KR KW KY KZ \
LA LB LC LI LK LR LS LT LU LV LY \
MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ \
NA NC NE NF NG NI NL NO NP NR NU NZ \
OM \
PA PE PF PG PH PK PL PM PN PR PS PT PW PY \
QA \
RE RO RS RU RW \
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ \
TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ \
UA UG UM US UY UZ \
VA VC VE VG VI VN VU \
WF WS \
YE YT \
ZA ZM ZW";

pub fn is_country_code(code: &str) -> bool {
    code.len() == 2
        && code.bytes().all(|b| b.is_ascii_uppercase())
        && COUNTRY_CODES.split(' ').any(|c| c == code)
}

/// The address with its texts trimmed (an empty `line2` becomes absent), or every bad field
/// as `address.<field>`.
pub fn validate_address(address: &Address) -> Result<Address, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut text = |field: &str, value: &str, max: usize| {
        required_text(&format!("address.{field}"), value, max)
            .map_err(|e| errors.push(e))
            .unwrap_or_default()
    };
    let line1 = text("line1", &address.line1, MAX_LINE_CHARS);
    let city = text("city", &address.city, MAX_CITY_CHARS);
    let postal_code = text("postal_code", &address.postal_code, MAX_POSTAL_CODE_CHARS);
    let line2 = match address.line2.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(line2) => Some(text("line2", line2, MAX_LINE_CHARS)),
    };
    let country = address.country.trim();
    if !is_country_code(country) {
        errors.push(field_error(
            "address.country",
            "must be an ISO 3166-1 alpha-2 code in upper case, like US or DE",
        ));
    }
    if errors.is_empty() {
        Ok(Address {
            line1,
            line2,
            city,
            postal_code,
            country: country.to_owned(),
        })
    } else {
        Err(errors)
    }
}

/// A registration, validated: (normalised email, name); the password is checked, not changed.
pub fn validate_registration(
    request: &RegisterRequest,
) -> Result<(String, String), Vec<FieldError>> {
    let email = validate_email(&request.email);
    let password = validate_password(&request.password);
    let name = validate_name(&request.name);
    match (email, password, name) {
        (Ok(email), Ok(()), Ok(name)) => Ok((email, name)),
        (email, password, name) => Err([email.err(), password.err(), name.err()]
            .into_iter()
            .flatten()
            .collect()),
    }
}

pub fn validate_profile_update(update: &ProfileUpdate) -> Result<ProfileChange, Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = match update.name.as_deref().map(validate_name) {
        None => None,
        Some(Ok(name)) => Some(name),
        Some(Err(e)) => {
            errors.push(e);
            None
        }
    };
    let address = match update.address.as_ref().map(validate_address) {
        None => None,
        Some(Ok(address)) => Some(address),
        Some(Err(mut e)) => {
            errors.append(&mut e);
            None
        }
    };
    if errors.is_empty() {
        Ok(ProfileChange { name, address })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(
            validate_email("  Ada.Lovelace+shop@Example.COM \n"),
            Ok("ada.lovelace+shop@example.com".into())
        );
        assert_eq!(
            validate_email("o'brien@mail.example.co.uk"),
            Ok("o'brien@mail.example.co.uk".into())
        );
    }

    #[test]
    fn malformed_emails_are_rejected() {
        let too_long = format!("{}@example.com", "a".repeat(250));
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long_label = format!("a@{}.com", "b".repeat(64));
        for email in [
            "",
            "   ",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "ada@@example.com",
            "ada@exa@mple.com",
            "ada lovelace@example.com",
            ".ada@example.com",
            "ada.@example.com",
            "a..da@example.com",
            "ada@-example.com",
            "ada@example-.com",
            "ada@example..com",
            "ada@example.c",
            "ada@example.c0m",
            "ada@exa_mple.com",
            "adä@example.com",
            "ada@example.com.",
            "<ada@example.com>",
            too_long.as_str(),
            long_local.as_str(),
            long_label.as_str(),
        ] {
            let error = validate_email(email).expect_err(email);
            assert_eq!(error.field, "email", "{email}");
        }
    }

    #[test]
    fn email_length_limits_are_inclusive() {
        let local = "a".repeat(64);
        assert!(validate_email(&format!("{local}@example.com")).is_ok());
        let domain = format!("{}.com", "b".repeat(63));
        assert!(validate_email(&format!("a@{domain}")).is_ok());
        // 254 characters exactly.
        let email = format!(
            "{}@{}.{}.{}.com",
            "a".repeat(64),
            "b".repeat(60),
            "c".repeat(60),
            "d".repeat(63)
        );
        assert_eq!(email.len(), 254);
        assert!(validate_email(&email).is_ok());
    }

    #[test]
    fn passwords_need_12_to_256_characters() {
        assert!(validate_password("correct horse").is_ok());
        assert!(validate_password(&"x".repeat(12)).is_ok());
        assert!(validate_password(&"x".repeat(256)).is_ok());
        assert_eq!(
            validate_password(&"x".repeat(11)).unwrap_err().field,
            "password"
        );
        assert!(validate_password("").is_err());
        assert!(validate_password(&"x".repeat(257)).is_err());
        // Characters, not bytes: 12 two-byte characters are enough, 11 are not.
        assert!(validate_password(&"é".repeat(12)).is_ok());
        assert!(validate_password(&"é".repeat(11)).is_err());
        // Never trimmed: spaces count.
        assert!(validate_password("   password   ").is_ok());
    }

    #[test]
    fn names_are_trimmed_non_empty_and_bounded() {
        assert_eq!(validate_name("  Ada Lovelace "), Ok("Ada Lovelace".into()));
        assert_eq!(validate_name(&"n".repeat(100)), Ok("n".repeat(100)));
        assert_eq!(validate_name("").unwrap_err().field, "name");
        assert!(validate_name(" \t ").is_err());
        assert!(validate_name(&"n".repeat(101)).is_err());
        assert!(validate_name("Ada\u{0}").is_err());
        assert!(validate_name("Ada\nLovelace").is_err());
        // Characters, not bytes.
        assert!(validate_name(&"ü".repeat(100)).is_ok());
    }

    fn address() -> Address {
        Address {
            line1: " 1 Main St ".into(),
            line2: Some("  ".into()),
            city: "Springfield".into(),
            postal_code: " 12345".into(),
            country: "US".into(),
        }
    }

    #[test]
    fn addresses_are_trimmed() {
        let valid = validate_address(&address()).expect("valid");
        assert_eq!(valid.line1, "1 Main St");
        assert_eq!(valid.line2, None);
        assert_eq!(valid.postal_code, "12345");
        let with_line2 = Address {
            line2: Some(" Apt 4 ".into()),
            ..address()
        };
        assert_eq!(
            validate_address(&with_line2).expect("valid").line2,
            Some("Apt 4".into())
        );
    }

    #[test]
    fn address_errors_name_every_bad_field() {
        let bad = Address {
            line1: " ".into(),
            line2: Some("x".repeat(201)),
            city: "".into(),
            postal_code: "".into(),
            country: "us".into(),
        };
        let errors = validate_address(&bad).expect_err("invalid");
        assert_eq!(
            fields(&errors),
            vec![
                "address.line1",
                "address.city",
                "address.postal_code",
                "address.line2",
                "address.country"
            ]
        );
    }

    #[test]
    fn countries_are_assigned_upper_case_alpha_2_codes() {
        for code in ["US", "DE", "GB", "FR", "JP", "BR", "ZW", "AD"] {
            assert!(is_country_code(code), "{code}");
        }
        for code in ["us", "De", "XX", "UK", "EU", "USA", "U", "", "1A", "ÜS"] {
            assert!(!is_country_code(code), "{code}");
        }
        let codes: Vec<&str> = COUNTRY_CODES.split(' ').collect();
        assert_eq!(codes.len(), 249);
        assert!(codes.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
        assert!(codes.iter().all(|c| c.len() == 2));
    }

    #[test]
    fn a_registration_reports_every_bad_field() {
        let request = RegisterRequest {
            email: "nope".into(),
            password: "short".into(),
            name: " ".into(),
        };
        let errors = validate_registration(&request).expect_err("invalid");
        assert_eq!(fields(&errors), vec!["email", "password", "name"]);
        let request = RegisterRequest {
            email: " Ada@Example.com".into(),
            password: "a long enough password".into(),
            name: " Ada ".into(),
        };
        assert_eq!(
            validate_registration(&request),
            Ok(("ada@example.com".into(), "Ada".into()))
        );
    }

    #[test]
    fn a_profile_update_validates_what_it_carries() {
        let empty = ProfileUpdate {
            name: None,
            address: None,
        };
        assert_eq!(
            validate_profile_update(&empty),
            Ok(ProfileChange {
                name: None,
                address: None
            })
        );
        let bad = ProfileUpdate {
            name: Some("".into()),
            address: Some(Address {
                country: "XX".into(),
                ..address()
            }),
        };
        let errors = validate_profile_update(&bad).expect_err("invalid");
        assert_eq!(fields(&errors), vec!["name", "address.country"]);
        let good = ProfileUpdate {
            name: Some(" Ada ".into()),
            address: Some(address()),
        };
        let change = validate_profile_update(&good).expect("valid");
        assert_eq!(change.name.as_deref(), Some("Ada"));
        assert_eq!(change.address.expect("address").line1, "1 Main St");
    }
}
