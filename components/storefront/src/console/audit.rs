//! The console's audit trail page, filtered by actor, action and time.

use spin_sdk::http::{Method, Response};

use super::model::{AuditFilter, AuditPage, PAGE_SIZE};
use super::views;
use crate::route::Paging;
use crate::{FrontError, Visit, expect};

pub async fn page(visit: &Visit, query_text: &str) -> Result<Response, FrontError> {
    let filter = AuditFilter::from_query(query_text);
    let (status, body) = visit
        .api(
            Method::Get,
            &format!("/api/v1/admin/audit?{}", filter.api_query()),
            None,
        )
        .await?;
    match status {
        200 => {
            let entries: AuditPage = expect(200, 200, body)?;
            let paging = Paging::new(filter.page, PAGE_SIZE, entries.total);
            Ok(visit.html(200, |c| {
                views::audit(c, &filter, &entries.items, paging, None)
            }))
        }
        // The filters did not suit the API (a `since` that is no time): the form again.
        400 | 422 => {
            let problem = crate::model::error_message(&body)
                .unwrap_or_else(|| "Check the filters and try again.".into());
            let paging = Paging::new(1, PAGE_SIZE, 0);
            Ok(visit.html(422, |c| {
                views::audit(c, &filter, &[], paging, Some(&problem))
            }))
        }
        status => Err(FrontError::Api(status, crate::model::error_message(&body))),
    }
}
