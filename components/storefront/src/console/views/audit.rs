//! The console's audit trail: the table of entries (also on the console's home) and the page
//! with its filters.

use maud::{Markup, html};

use super::super::model::{AuditEntry, AuditFilter};
use super::{frame, paging, problem};
use crate::pages::Chrome;
use crate::route::Paging;

pub fn table(entries: &[AuditEntry]) -> Markup {
    html! {
        @if entries.is_empty() {
            p { "No entries." }
        } @else {
            table.audit {
                thead { tr {
                    th scope="col" { "When" } th scope="col" { "Actor" } th scope="col" { "Action" }
                    th scope="col" { "Outcome" } th scope="col" { "Request" } th scope="col" { "Trace" }
                } }
                tbody {
                    @for entry in entries {
                        tr {
                            td data-label="When" { time datetime=(entry.at) { (entry.at) } }
                            td data-label="Actor" {
                                (entry.actor)
                                @if let Some(role) = &entry.actor_role { " (" (role) ")" }
                            }
                            td data-label="Action" { code { (entry.action) } }
                            td data-label="Outcome" { (entry.outcome) " " (entry.status) }
                            td data-label="Request" {
                                (entry.method) " " code { (entry.path) }
                                @if let Some(client) = &entry.client_addr { br; small { "from " (client) } }
                            }
                            td data-label="Trace" { code { (entry.trace_id) } }
                        }
                    }
                }
            }
        }
    }
}

pub fn audit(
    chrome: &Chrome<'_>,
    filter: &AuditFilter,
    entries: &[AuditEntry],
    page: Paging,
    problem_text: Option<&str>,
) -> Markup {
    frame(
        "Audit trail",
        chrome,
        None,
        html! {
            h1 { "Audit trail" }
            form.filters method="get" action="/console/audit" role="search" aria-label="Filter the audit trail" {
                div { label for="audit-actor" { "Actor (user id or email)" } input id="audit-actor" name="actor" type="text" value=(filter.actor) maxlength="254"; }
                div { label for="audit-action" { "Action (e.g. catalog.product.update)" } input id="audit-action" name="action" type="text" value=(filter.action) maxlength="64"; }
                div { label for="audit-since" { "Since (UTC)" } input id="audit-since" name="since" type="datetime-local" step="1" value=(filter.since); }
                button type="submit" { "Filter" }
                a href="/console/audit" { "Clear" }
            }
            (problem(problem_text))
            (table(entries))
            (paging(page, |n| filter.link(n)))
        },
    )
}
