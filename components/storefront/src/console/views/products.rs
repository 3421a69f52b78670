//! The console's product pages: the list of products on sale, and the editor of a new or an
//! existing product with its withdraw form.

use maud::{Markup, html};

use super::super::model::{CatalogProduct, Notice, ProductForm};
use super::{frame, paging, problem};
use crate::model::{Category, Product};
use crate::pages::{Chrome, csrf_input};
use crate::route::Paging;

/// The fields of the editor; an error naming another is listed above the form.
const EDITED_FIELDS: [&str; 6] = [
    "sku",
    "name",
    "description",
    "price",
    "currency",
    "category_id",
];

fn category_name<'a>(categories: &'a [Category], id: Option<&str>) -> &'a str {
    id.and_then(|id| categories.iter().find(|c| c.id == id))
        .map_or("—", |c| c.name.as_str())
}

pub fn products(
    chrome: &Chrome<'_>,
    products: &[Product],
    categories: &[Category],
    page: Paging,
) -> Markup {
    frame(
        "Products",
        chrome,
        None,
        html! {
            h1 { "Products" }
            p { a.button href="/console/products/new" { "New product" } }
            p { "Products on sale, by name. A product withdrawn from sale stays reachable by its link." }
            @if products.is_empty() {
                p { "No products on this page." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Price" } th scope="col" { "Category" } } }
                    tbody {
                        @for product in products {
                            tr {
                                td data-label="Name" { a href={ "/console/products/" (product.id) } { (product.name) } }
                                td data-label="Price" { (product.price.display()) }
                                td data-label="Category" { (category_name(categories, product.category_id.as_deref())) }
                            }
                        }
                    }
                }
            }
            (paging(page, |n| format!("/console/products?page={n}")))
        },
    )
}

/// The product form: a new product when `product` is `None`.
pub struct ProductEditor<'a> {
    pub product: Option<&'a CatalogProduct>,
    pub form: &'a ProductForm,
    pub categories: &'a [Category],
    pub errors: &'a [(String, String)],
    pub problem: Option<&'a str>,
    pub notice: Option<Notice>,
}

pub fn product_editor(chrome: &Chrome<'_>, editor: &ProductEditor<'_>) -> Markup {
    let (title, action) = match editor.product {
        Some(product) => (
            product.name.clone(),
            format!("/console/products/{}", product.id),
        ),
        None => ("New product".to_owned(), "/console/products".to_owned()),
    };
    frame(
        &title,
        chrome,
        editor.notice,
        html! {
            h1 { (title) }
            (problem(editor.problem))
            (error_summary(editor.errors))
            @if let Some(product) = editor.product { (facts(product)) }
            (editor_form(chrome, editor, &action))
            @if let Some(product) = editor.product.filter(|p| p.active) {
                (withdraw_section(chrome, product))
            }
        },
    )
}

/// The errors of a refused save, by the field they name.
struct FieldErrors<'a>(&'a [(String, String)]);

impl FieldErrors<'_> {
    fn of(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, message)| message.as_str())
    }

    /// The error shown next to the field, if it has one.
    fn marker(&self, name: &str) -> Markup {
        html! {
            @if let Some(error) = self.of(name) {
                span.field-error id={ "product-" (name) "-error" } { (error) }
            }
        }
    }

    fn invalid(&self, name: &str) -> Option<&'static str> {
        self.of(name).map(|_| "true")
    }

    fn described_by(&self, name: &str) -> Option<String> {
        self.of(name).map(|_| format!("product-{name}-error"))
    }
}

/// The alert above the form; errors naming no field of it are listed there in full.
fn error_summary(errors: &[(String, String)]) -> Markup {
    let general: Vec<&str> = errors
        .iter()
        .filter(|(field, _)| !EDITED_FIELDS.contains(&field.as_str()))
        .map(|(_, message)| message.as_str())
        .collect();
    html! {
        @if !errors.is_empty() {
            div.error role="alert" {
                p { "Please correct the marked fields." }
                @if !general.is_empty() { ul { @for error in &general { li { (error) } } } }
            }
        }
    }
}

fn facts(product: &CatalogProduct) -> Markup {
    html! {
        dl.facts {
            dt { "Id" } dd { code { (product.id) } }
            dt { "SKU" } dd { (product.sku) }
            dt { "Current price" } dd { (product.price.display()) }
            dt { "On sale" } dd {
                @if product.active { a href={ "/products/" (product.id) } { "Yes — its shop page" } }
                @else { "No, withdrawn" }
            }
        }
    }
}

fn editor_form(chrome: &Chrome<'_>, editor: &ProductEditor<'_>, action: &str) -> Markup {
    let form = editor.form;
    let errors = FieldErrors(editor.errors);
    html! {
        form.console-form method="post" action=(action) {
            (csrf_input(chrome))
            @if editor.product.is_none() {
                label for="product-sku" { "SKU (3 to 32 of A–Z, 0–9 and -)" }
                (errors.marker("sku"))
                input id="product-sku" name="sku" type="text" value=(form.sku) maxlength="32" required
                    aria-invalid=[errors.invalid("sku")] aria-describedby=[errors.described_by("sku")];
            }
            label for="product-name" { "Name" }
            (errors.marker("name"))
            input id="product-name" name="name" type="text" value=(form.name) maxlength="200" required
                aria-invalid=[errors.invalid("name")] aria-describedby=[errors.described_by("name")];
            label for="product-description" { "Description" }
            (errors.marker("description"))
            textarea id="product-description" name="description" rows="4" maxlength="5000"
                aria-invalid=[errors.invalid("description")]
                aria-describedby=[errors.described_by("description")] { (form.description) }
            label for="product-price" { "Price (e.g. 12.50)" }
            (errors.marker("price"))
            input id="product-price" name="price" type="text" inputmode="decimal" value=(form.price) required
                aria-invalid=[errors.invalid("price")] aria-describedby=[errors.described_by("price")];
            label for="product-currency" { "Currency (three letters, e.g. EUR)" }
            (errors.marker("currency"))
            input id="product-currency" name="currency" type="text" value=(form.currency)
                minlength="3" maxlength="3" required
                aria-invalid=[errors.invalid("currency")] aria-describedby=[errors.described_by("currency")];
            label for="product-category" { "Category" }
            (errors.marker("category_id"))
            select id="product-category" name="category_id"
                aria-invalid=[errors.invalid("category_id")]
                aria-describedby=[errors.described_by("category_id")] {
                option value="" selected[form.category_id.is_empty()] { "No category" }
                @for category in editor.categories {
                    option value=(category.id) selected[form.category_id == category.id] { (category.name) }
                }
            }
            div.check {
                input id="product-active" name="active" type="checkbox" value="on" checked[form.active];
                label for="product-active" { "On sale" }
            }
            button type="submit" { @if editor.product.is_some() { "Save changes" } @else { "Create product" } }
        }
    }
}

fn withdraw_section(chrome: &Chrome<'_>, product: &CatalogProduct) -> Markup {
    html! {
        section aria-labelledby="retire" {
            h2 id="retire" { "Withdraw from sale" }
            p { "The product leaves the shop; past orders keep it. Tick “On sale” above to bring it back." }
            form method="post" action={ "/console/products/" (product.id) "/retire" } {
                (csrf_input(chrome))
                button.danger type="submit" { "Withdraw " (product.name) }
            }
        }
    }
}
