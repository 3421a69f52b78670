//! The logged-in shopper's own pages: notifications and profile.

use maud::{Markup, html};

use super::{
    Chrome, TextField, address_label, autocomplete, correction_notice, csrf_input, error_of,
    layout, text_field, unattached,
};
use crate::model::{Notification, PROFILE_ADDRESS_FIELDS, ProfileForm};
use crate::route::Paging;

pub fn notifications(chrome: &Chrome<'_>, items: &[Notification], paging: Paging) -> Markup {
    layout(
        "Your notifications",
        chrome,
        html! {
            h1 { "Your notifications" }
            @if items.is_empty() {
                p { "No notifications yet." }
            } @else {
                ol.notifications {
                    @for item in items {
                        @let unread = item.read_at.is_none();
                        li.unread[unread] {
                            h2 {
                                @if unread { strong.badge { "New" } " " }
                                (item.subject)
                            }
                            @if !item.body.is_empty() { p { (item.body) } }
                            p.meta {
                                time datetime=(item.created_at) { (item.created_at) }
                                @if let Some(read) = &item.read_at {
                                    " · read " time datetime=(read) { (read) }
                                }
                            }
                            @if unread {
                                form method="post" action={ "/notifications/" (item.id) "/read" } {
                                    (csrf_input(chrome))
                                    input type="hidden" name="page" value=(paging.page);
                                    button type="submit" aria-label={ "Mark “" (item.subject) "” read" } { "Mark read" }
                                }
                            }
                        }
                    }
                }
            }
            nav.paging aria-label="Pages" {
                @if let Some(previous) = paging.previous { a rel="prev" href={ "/notifications?page=" (previous) } { "Previous" } }
                span { "Page " (paging.page) " of " (paging.pages) }
                @if let Some(next) = paging.next { a rel="next" href={ "/notifications?page=" (next) } { "Next" } }
            }
        },
    )
}

/// What the profile page shows: the account's email, the form (as stored or as typed), what
/// to correct, and whether a change was just saved.
pub struct Profile<'a> {
    pub email: &'a str,
    pub form: &'a ProfileForm,
    /// By form field name (`name`, `city`); others go to the top.
    pub errors: &'a [(String, String)],
    pub saved: bool,
}

fn max_chars(name: &str) -> usize {
    match name {
        "name" | "city" => 100,
        "postal_code" => 20,
        "country" => 2,
        _ => 200,
    }
}

pub fn profile(chrome: &Chrome<'_>, profile: &Profile<'_>) -> Markup {
    let general = unattached(profile.errors, |name| {
        name == "name" || PROFILE_ADDRESS_FIELDS.contains(&name)
    });
    let field = |name: &'static str, label: &'static str, required: bool| {
        text_field(&TextField {
            id: &format!("profile-{name}"),
            name,
            label,
            value: profile.form.value(name),
            autocomplete: autocomplete(name),
            maxlength: max_chars(name),
            required,
            error: error_of(profile.errors, name),
        })
    };
    layout(
        "Your profile",
        chrome,
        html! {
            h1 { "Your profile" }
            @if profile.saved { p.notice role="status" { "Your profile was saved." } }
            (correction_notice(profile.errors, &general))
            p { "Email: " strong { (profile.email) } }
            form.profile method="post" action="/profile" {
                (csrf_input(chrome))
                fieldset {
                    legend { "Your name" }
                    (field("name", "Name", true))
                }
                fieldset {
                    legend { "Address (optional)" }
                    p { "Fill it in to keep an address on your account; leave it empty to keep the one you have." }
                    @for name in PROFILE_ADDRESS_FIELDS {
                        (field(name, address_label(name), false))
                    }
                }
                button type="submit" { "Save" }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::tests::{CHROME, csrf_fields, post_forms};

    fn notification(id: &str, read_at: Option<&str>) -> Notification {
        Notification {
            id: id.into(),
            subject: "Order <1> confirmed".into(),
            body: "Thanks & more".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            read_at: read_at.map(str::to_owned),
        }
    }

    #[test]
    fn unread_notifications_are_marked_and_offer_mark_read() {
        let items = [
            notification("n1", None),
            notification("n2", Some("2026-01-02T00:00:00Z")),
        ];
        let html = notifications(&CHROME, &items, Paging::new(2, 20, 30)).into_string();
        assert_eq!(html.matches(r#"<li class="unread">"#).count(), 1, "{html}");
        assert_eq!(
            html.matches(r#"<strong class="badge">New</strong>"#)
                .count(),
            1
        );
        assert!(html.contains(r#"action="/notifications/n1/read""#));
        assert!(!html.contains(r#"action="/notifications/n2/read""#));
        assert!(html.contains(r#"name="page" value="2""#));
        assert_eq!(post_forms(&html), csrf_fields(&html));
        assert!(html.contains("Order &lt;1&gt; confirmed") && html.contains("Thanks &amp; more"));
        assert!(html.contains(" · read "));
        assert!(html.contains(r#"href="/notifications?page=1""#));
    }

    #[test]
    fn the_profile_form_is_labelled_and_marks_the_fields_to_correct() {
        let form = ProfileForm::from_fields(|name| match name {
            "name" => Some("<Ada>"),
            "country" => Some("xx"),
            _ => None,
        });
        let errors = [
            ("country".to_owned(), "must be an ISO code".to_owned()),
            ("other".to_owned(), "something else".to_owned()),
        ];
        let html = profile(
            &CHROME,
            &Profile {
                email: "ada@example.com",
                form: &form,
                errors: &errors,
                saved: false,
            },
        )
        .into_string();
        for name in ["name", "line1", "line2", "city", "postal_code", "country"] {
            assert!(
                html.contains(&format!(r#"<label for="profile-{name}">"#)),
                "{name}: {html}"
            );
        }
        assert!(html.contains(r#"value="&lt;Ada&gt;""#));
        assert!(html.contains(r#"value="XX""#));
        assert!(html.contains(r#"aria-invalid="true" aria-describedby="profile-country-error""#));
        assert!(html.contains("something else"));
        assert_eq!(html.matches("aria-invalid").count(), 1);
        assert!(html.contains(r#"name="name" type="text" value="&lt;Ada&gt;" autocomplete="name" maxlength="100" required"#), "{html}");
        assert_eq!(post_forms(&html), csrf_fields(&html));
        assert!(!html.contains("was saved"));
        let saved = profile(
            &CHROME,
            &Profile {
                email: "a@b.c",
                form: &form,
                errors: &[],
                saved: true,
            },
        )
        .into_string();
        assert!(saved.contains("Your profile was saved."));
        assert!(!saved.contains("Please correct"));
    }
}
