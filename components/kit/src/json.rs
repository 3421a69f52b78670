//! Strict JSON input: malformed JSON, wrong types, missing fields and unknown fields are all a
//! 400 with a message naming the problem, never a panic and never silently ignored.

use serde::Serialize;
use serde::de::DeserializeOwned;
use spin_sdk::http::Response;

use crate::error::ApiError;

pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_json",
            "a JSON body is required",
        ));
    }
    // serde fills a struct from a JSON array too (`[null, null]` would be a valid profile
    // update); every body of the API is an object.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        // Well-formed JSON of the wrong type is bad input, as a wrong field type is.
        let code = if serde_json::from_slice::<serde_json::Value>(body).is_ok() {
            "invalid_input"
        } else {
            "invalid_json"
        };
        return Err(ApiError::bad_request(
            code,
            "the body must be a JSON object",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let mut unknown = Vec::new();
    let value: T =
        serde_ignored::deserialize(&mut deserializer, |path| unknown.push(path.to_string()))
            .map_err(|e| {
                let code = if e.is_data() {
                    "invalid_input"
                } else {
                    "invalid_json"
                };
                ApiError::bad_request(code, e.to_string())
            })?;
    deserializer
        .end()
        .map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))?;
    if !unknown.is_empty() {
        return Err(ApiError::bad_request(
            "unknown_field",
            format!("unknown field(s): {}", unknown.join(", ")),
        ));
    }
    Ok(value)
}

pub fn json_response<T: Serialize>(status: u16, value: &T) -> Response {
    match serde_json::to_string(value) {
        Ok(body) => Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(body)
            .build(),
        Err(e) => ApiError::internal(format!("serialising the response: {e}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Input {
        name: String,
        quantity: u32,
    }

    #[test]
    fn accepts_exact_input() {
        let input: Input = parse_body(br#"{"name":"a","quantity":2}"#).expect("valid");
        assert_eq!(
            input,
            Input {
                name: "a".into(),
                quantity: 2
            }
        );
    }

    #[test]
    fn rejects_each_kind_of_bad_input() {
        let cases: [(&[u8], &str); 9] = [
            (b"", "invalid_json"),
            (br#"["a", 2]"#, "invalid_input"),
            (b"  null", "invalid_input"),
            (b"[not json", "invalid_json"),
            (b"{not json", "invalid_json"),
            (br#"{"name":"a","quantity":"2"}"#, "invalid_input"),
            (br#"{"name":"a","quantity":-1}"#, "invalid_input"),
            (br#"{"name":"a"}"#, "invalid_input"),
            (
                br#"{"name":"a","quantity":1,"extra":true}"#,
                "unknown_field",
            ),
        ];
        for (body, code) in cases {
            let error = parse_body::<Input>(body).expect_err("rejected");
            assert_eq!(
                (error.status, error.code),
                (400, code),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
