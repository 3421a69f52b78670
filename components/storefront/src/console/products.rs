//! The console's product pages: the list, the editor of a new or an existing product and its
//! saves, and withdrawing a product from sale.

use spin_sdk::http::{Method, Response};

use super::model::{CatalogProduct, Created, Notice, PAGE_SIZE, ProductForm, product_field_errors};
use super::views::{self, ProductEditor};
use super::{change, require_admin};
use crate::model::{Category, ProductPage};
use crate::route::{Paging, page_number, valid_id};
use crate::{FrontError, Visit, expect, field, redirect};

pub async fn list(visit: &Visit, query_text: &str) -> Result<Response, FrontError> {
    require_admin(visit).await?;
    let number = page_number(query_text);
    let listing: ProductPage = visit
        .fetch(
            &format!("/api/v1/products?sort=name-asc&page={number}&limit={PAGE_SIZE}"),
            200,
        )
        .await?;
    let categories: Vec<Category> = visit.fetch("/api/v1/categories", 200).await?;
    let paging = Paging::new(number, PAGE_SIZE, listing.total);
    Ok(visit.html(200, |c| {
        views::products(c, &listing.items, &categories, paging)
    }))
}

/// The editor of a product still to be made.
pub async fn blank(visit: &Visit) -> Result<Response, FrontError> {
    require_admin(visit).await?;
    let categories: Vec<Category> = visit.fetch("/api/v1/categories", 200).await?;
    let form = ProductForm::default();
    Ok(editor(
        visit,
        200,
        &ProductEditor {
            product: None,
            form: &form,
            categories: &categories,
            errors: &[],
            problem: None,
            notice: None,
        },
    ))
}

pub async fn create(visit: &Visit, form: &[(String, String)]) -> Result<Response, FrontError> {
    let typed = ProductForm::from_fields(|name| field(form, name));
    save(visit, None, typed).await
}

pub async fn show(visit: &Visit, id: &str, notice: Option<Notice>) -> Result<Response, FrontError> {
    require_admin(visit).await?;
    let product: CatalogProduct = visit.fetch(&format!("/api/v1/products/{id}"), 200).await?;
    let categories: Vec<Category> = visit.fetch("/api/v1/categories", 200).await?;
    let form = ProductForm::of(&product);
    Ok(editor(
        visit,
        200,
        &ProductEditor {
            product: Some(&product),
            form: &form,
            categories: &categories,
            errors: &[],
            problem: None,
            notice,
        },
    ))
}

pub async fn update(
    visit: &Visit,
    id: &str,
    form: &[(String, String)],
) -> Result<Response, FrontError> {
    require_admin(visit).await?;
    // The SKU is the stored one: the form does not carry it.
    let product: CatalogProduct = visit.fetch(&format!("/api/v1/products/{id}"), 200).await?;
    let typed = ProductForm::from_fields(|name| field(form, name));
    save(visit, Some(&product), typed).await
}

pub async fn retire(visit: &Visit, id: &str) -> Result<Response, FrontError> {
    change(
        visit,
        Method::Delete,
        &format!("/api/v1/products/{id}"),
        None,
        204,
    )
    .await?;
    Ok(redirect(&format!(
        "/console/products/{id}?{}",
        Notice::Retired.query()
    )))
}

/// Creates (`existing` is `None`) or replaces a product from the typed form: the product's
/// page after it, or the form again with what to correct.
async fn save(
    visit: &Visit,
    existing: Option<&CatalogProduct>,
    typed: ProductForm,
) -> Result<Response, FrontError> {
    let sku = existing.map_or(typed.sku.as_str(), |product| product.sku.as_str());
    let (status, errors, answer) = match typed.body(sku) {
        Err(errors) => (422, errors, serde_json::Value::Null),
        Ok(body) => {
            let (method, path, ok, notice) = match existing {
                Some(product) => (
                    Method::Put,
                    format!("/api/v1/products/{}", product.id),
                    200,
                    Notice::Saved,
                ),
                None => (
                    Method::Post,
                    "/api/v1/products".to_owned(),
                    201,
                    Notice::Created,
                ),
            };
            let (status, answer) = visit.api(method, &path, Some(body)).await?;
            if status == ok {
                let saved: Created = expect(ok, ok, answer)?;
                if !valid_id(&saved.id) {
                    return Err(FrontError::Unreachable("unexpected product id".into()));
                }
                return Ok(redirect(&format!(
                    "/console/products/{}?{}",
                    saved.id,
                    notice.query()
                )));
            }
            if !matches!(status, 400 | 409 | 422) {
                return Err(FrontError::Api(
                    status,
                    crate::model::error_message(&answer),
                ));
            }
            (status, product_field_errors(&answer), answer)
        }
    };
    // A refusal naming no field (a SKU taken) is said above the form.
    let problem = errors
        .is_empty()
        .then(|| crate::model::error_message(&answer))
        .flatten();
    let categories: Vec<Category> = visit.fetch("/api/v1/categories", 200).await?;
    Ok(editor(
        visit,
        status,
        &ProductEditor {
            product: existing,
            form: &typed,
            categories: &categories,
            errors: &errors,
            problem: problem.as_deref(),
            notice: None,
        },
    ))
}

fn editor(visit: &Visit, status: u16, editor: &ProductEditor<'_>) -> Response {
    visit.html(status, |c| views::product_editor(c, editor))
}
