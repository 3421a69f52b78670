//! The error every wasmshop HTTP edge returns: `{"error": {"code", "message", "details"}}` with a
//! stable machine-readable `code` and the matching status.

use serde_json::{Value, json};
use spin_sdk::http::Response;

use crate::FieldError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub details: Value,
    /// Seconds, for 429 and 503 answers.
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Value::Null,
            retry_after: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    /// 422 with one entry per rejected field.
    pub fn invalid_input(errors: &[FieldError]) -> Self {
        let fields: Vec<Value> = errors
            .iter()
            .map(|e| json!({ "field": e.field, "message": e.message }))
            .collect();
        Self::new(422, "invalid_input", "some fields are invalid")
            .with_details(json!({ "fields": fields }))
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "not_found", message)
    }

    pub fn method_not_allowed(allowed: &[&str]) -> Self {
        Self::new(405, "method_not_allowed", "method not allowed on this path")
            .with_details(json!({ "allow": allowed }))
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(409, code, message)
    }

    pub fn too_many_requests(retry_after: u32) -> Self {
        let mut error = Self::new(429, "too_many_requests", "too many attempts; retry later");
        error.retry_after = Some(retry_after);
        error
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "internal", message)
    }

    /// The rejected fields of an `invalid_input` error (none for any other), for the
    /// `invalid-input` case of a WIT contract's error.
    pub fn field_errors(&self) -> Vec<FieldError> {
        self.details["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| FieldError {
                field: f["field"].as_str().unwrap_or_default().to_owned(),
                message: f["message"].as_str().unwrap_or_default().to_owned(),
            })
            .collect()
    }

    pub fn body(&self) -> Value {
        json!({ "error": { "code": self.code, "message": self.message, "details": self.details } })
    }

    pub fn into_response(self) -> Response {
        let mut builder = Response::builder();
        builder
            .status(self.status)
            .header("content-type", "application/json");
        if let Some(seconds) = self.retry_after {
            builder.header("retry-after", seconds.to_string());
        }
        if self.status == 405
            && let Some(allow) = self.details["allow"].as_array()
        {
            let allow: Vec<&str> = allow.iter().filter_map(Value::as_str).collect();
            builder.header("allow", allow.join(", "));
        }
        builder.body(self.body().to_string()).build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_uniform_shape() {
        let error = ApiError::invalid_input(&[FieldError {
            field: "email".into(),
            message: "must contain @".into(),
        }]);
        assert_eq!(error.status, 422);
        assert_eq!(
            error.body(),
            json!({ "error": { "code": "invalid_input", "message": "some fields are invalid",
                "details": { "fields": [{ "field": "email", "message": "must contain @" }] } } })
        );
        assert_eq!(error.field_errors()[0].field, "email");
        assert!(ApiError::not_found("x").field_errors().is_empty());
    }
}
