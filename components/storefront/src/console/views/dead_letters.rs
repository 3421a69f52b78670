//! The console's dead-letter pages: the contexts with their recovery forms, a context's letters,
//! and one letter with its retry and discard forms.

use maud::{Markup, html};

use super::super::model::{DEAD_LETTER_STATUSES, DeadLetter, Notice};
use super::super::route::CONTEXTS;
use super::frame;
use crate::pages::{Chrome, csrf_input};

fn recovery_form(chrome: &Chrome<'_>, context: &str) -> Markup {
    html! {
        form method="post" action={ "/console/recovery/" (context) } {
            (csrf_input(chrome))
            button type="submit" { "Run recovery" span.visually-hidden { " of " (context) } }
        }
    }
}

pub fn dead_letter_contexts(chrome: &Chrome<'_>) -> Markup {
    frame(
        "Dead letters",
        chrome,
        None,
        html! {
            h1 { "Dead letters & recovery" }
            p { "Each context keeps the messages it could not apply. A recovery pass sends unsent events again, retries the letters that are due and runs the context's own clock." }
            table {
                thead { tr { th scope="col" { "Context" } th scope="col" { "Recovery" } } }
                tbody {
                    @for context in CONTEXTS {
                        tr {
                            td data-label="Context" { a href={ "/console/dead-letters/" (context) } { (context) } }
                            td data-label="Recovery" { (recovery_form(chrome, context)) }
                        }
                    }
                }
            }
        },
    )
}

pub fn dead_letters(
    chrome: &Chrome<'_>,
    context: &str,
    letters: &[DeadLetter],
    status: Option<&str>,
    notice: Option<Notice>,
) -> Markup {
    frame(
        &format!("Dead letters of {context}"),
        chrome,
        notice,
        html! {
            h1 { "Dead letters of " (context) }
            form.filters method="get" action={ "/console/dead-letters/" (context) } aria-label="Filter" {
                div {
                    label for="letter-status" { "Status" }
                    select id="letter-status" name="status" {
                        option value="" selected[status.is_none()] { "Any" }
                        @for option in DEAD_LETTER_STATUSES {
                            option value=(option) selected[status == Some(option)] { (option) }
                        }
                    }
                }
                button type="submit" { "Show" }
            }
            (recovery_form(chrome, context))
            @if letters.is_empty() {
                p { "No dead letters." }
            } @else {
                table {
                    caption { (letters.len()) " letter(s), newest first" }
                    thead { tr { th scope="col" { "Letter" } th scope="col" { "Event" } th scope="col" { "Status" } th scope="col" { "Attempts" } th scope="col" { "Created" } } }
                    tbody {
                        @for letter in letters {
                            tr {
                                td data-label="Letter" { a href={ "/console/dead-letters/" (context) "/" (letter.id) } { code { (letter.id) } } }
                                td data-label="Event" { (letter.event_type.as_deref().unwrap_or("unreadable")) }
                                td data-label="Status" { strong.status data-status=(letter.status) { (letter.status) } }
                                td data-label="Attempts" { (letter.attempts) }
                                td data-label="Created" { (letter.created_at) }
                            }
                        }
                    }
                }
            }
            p { a href="/console/dead-letters" { "All contexts" } }
        },
    )
}

pub fn dead_letter(
    chrome: &Chrome<'_>,
    context: &str,
    letter: &DeadLetter,
    notice: Option<Notice>,
) -> Markup {
    let base = format!("/console/dead-letters/{context}/{}", letter.id);
    frame(
        "Dead letter",
        chrome,
        notice,
        html! {
            h1 { "Dead letter " code { (letter.id) } }
            dl.facts {
                dt { "Context" } dd { (context) }
                dt { "Event" } dd { (letter.event_type.as_deref().unwrap_or("unreadable")) }
                dt { "Status" } dd { strong.status data-status=(letter.status) { (letter.status) } }
                dt { "Attempts" } dd { (letter.attempts) }
                dt { "Created" } dd { (letter.created_at) }
                dt { "Updated" } dd { (letter.updated_at) }
            }
            h2 { "Error" }
            pre.payload { (letter.error) }
            h2 { "Message" }
            pre.payload { (letter.payload) }
            @if letter.open() {
                div.actions {
                    form method="post" action={ (base) "/retry" } {
                        (csrf_input(chrome))
                        button type="submit" { "Retry now" }
                    }
                    form method="post" action={ (base) "/discard" } {
                        (csrf_input(chrome))
                        button.danger type="submit" { "Discard" }
                    }
                }
            }
            p { a href={ "/console/dead-letters/" (context) } { "All dead letters of " (context) } }
        },
    )
}
