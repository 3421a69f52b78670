//! The caller's identity. Only the gateway authenticates; it strips client-sent identity headers
//! and forwards the verified `x-user-id` and `x-user-role`, which services trust and nothing else.

use spin_sdk::http::Request;

use crate::error::ApiError;

pub const USER_ID_HEADER: &str = "x-user-id";
pub const USER_ROLE_HEADER: &str = "x-user-role";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: String,
    pub role: String,
}

impl Identity {
    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }

    /// Whether this caller may see a resource owned by `owner_id`: its owner or an admin.
    pub fn may_see(&self, owner_id: &str) -> bool {
        self.is_admin() || self.user_id == owner_id
    }

    /// The owner a listing is narrowed to: the caller, or nobody (everything) for an admin.
    pub fn owner_scope(&self) -> Option<&str> {
        (!self.is_admin()).then_some(self.user_id.as_str())
    }

    /// Who a direct call of an exported `api` acts for: the user it names, or, with no user,
    /// an operator (a trusted component calling on the operator's behalf sees everything).
    pub fn acting_for(viewer: Option<&str>) -> Result<Self, ApiError> {
        match viewer {
            None => Ok(Self {
                user_id: "operator".into(),
                role: "admin".into(),
            }),
            Some(id) if id.trim().is_empty() => {
                Err(ApiError::invalid_input(&[crate::FieldError {
                    field: "viewer".into(),
                    message: "must name a user, or be none for an operator".into(),
                }]))
            }
            Some(id) => Ok(Self {
                user_id: id.to_owned(),
                role: "customer".into(),
            }),
        }
    }

    pub fn from_request(req: &Request) -> Option<Self> {
        let header = |name| req.header(name).and_then(|v| v.as_str()).map(str::to_owned);
        Some(Self {
            user_id: header(USER_ID_HEADER).filter(|id| !id.is_empty())?,
            role: header(USER_ROLE_HEADER).unwrap_or_else(|| "customer".into()),
        })
    }

    pub fn require(req: &Request) -> Result<Self, ApiError> {
        Self::from_request(req).ok_or_else(|| ApiError::unauthorized("authentication required"))
    }

    pub fn require_admin(req: &Request) -> Result<Self, ApiError> {
        let identity = Self::require(req)?;
        if identity.is_admin() {
            Ok(identity)
        } else {
            Err(ApiError::forbidden("admin role required"))
        }
    }
}
