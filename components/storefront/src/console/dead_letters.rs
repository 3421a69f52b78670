//! The console's dead-letter pages: the contexts, a context's letters, one letter, retrying or
//! discarding it, and a context's recovery pass.

use spin_sdk::http::{Method, Response};

use super::model::{
    DEAD_LETTER_STATUSES, DeadLetter, DeadLetterList, Notice, RecoveryReport, param, query,
};
use super::{change, require_admin, views};
use crate::{FrontError, Visit, expect, redirect};

pub async fn contexts(visit: &Visit) -> Result<Response, FrontError> {
    require_admin(visit).await?;
    Ok(visit.html(200, views::dead_letter_contexts))
}

pub async fn list(
    visit: &Visit,
    context: &str,
    query_text: &str,
    notice: Option<Notice>,
) -> Result<Response, FrontError> {
    let status = param(query_text, "status")
        .and_then(|s| DEAD_LETTER_STATUSES.into_iter().find(|known| *known == s));
    let filter = query([("status", status.unwrap_or(""))]);
    let letters: DeadLetterList = visit
        .fetch(
            &format!("/api/v1/admin/{context}/dead-letters?{filter}"),
            200,
        )
        .await?;
    Ok(visit.html(200, |c| {
        views::dead_letters(c, context, &letters.items, status, notice)
    }))
}

pub async fn show(
    visit: &Visit,
    context: &str,
    id: &str,
    notice: Option<Notice>,
) -> Result<Response, FrontError> {
    let letter: DeadLetter = visit
        .fetch(&format!("/api/v1/admin/{context}/dead-letters/{id}"), 200)
        .await?;
    Ok(visit.html(200, |c| views::dead_letter(c, context, &letter, notice)))
}

pub async fn retry(visit: &Visit, context: &str, id: &str) -> Result<Response, FrontError> {
    let path = format!("/api/v1/admin/{context}/dead-letters/{id}");
    change(visit, Method::Post, &format!("{path}/retry"), None, 200).await?;
    Ok(redirect(&format!(
        "/console/dead-letters/{context}/{id}?{}",
        Notice::Retried.query()
    )))
}

pub async fn discard(visit: &Visit, context: &str, id: &str) -> Result<Response, FrontError> {
    let path = format!("/api/v1/admin/{context}/dead-letters/{id}");
    change(visit, Method::Delete, &path, None, 200).await?;
    Ok(redirect(&format!(
        "/console/dead-letters/{context}/{id}?{}",
        Notice::Discarded.query()
    )))
}

pub async fn recover(visit: &Visit, context: &str) -> Result<Response, FrontError> {
    let answer = change(
        visit,
        Method::Post,
        &format!("/api/v1/admin/{context}/recovery"),
        None,
        200,
    )
    .await?;
    let report: RecoveryReport = expect(200, 200, answer)?;
    Ok(redirect(&format!(
        "/console/dead-letters/{context}?{}",
        Notice::Recovered(report).query()
    )))
}
