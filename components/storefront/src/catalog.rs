//! The catalogue pages anyone may see: home (categories and the newest products), a category's
//! listing, search and a product's page. Reads only; the listing's URL state is `listing.rs`'s.

use spin_sdk::http::Response;

use crate::listing::Listing;
use crate::model::{Category, Product, ProductPage};
use crate::pages::{self, ListingView};
use crate::route::{PAGE_SIZE, Paging};
use crate::{FrontError, Visit};

/// Products on the home page.
const FEATURED: u32 = 8;

pub async fn home(visit: &Visit) -> Result<Response, FrontError> {
    let categories: Vec<Category> = visit.fetch("/api/v1/categories", 200).await?;
    let featured: ProductPage = visit
        .fetch(
            &format!("/api/v1/products?sort=newest&limit={FEATURED}"),
            200,
        )
        .await?;
    Ok(visit.html(200, |c| pages::home(c, &categories, &featured.items)))
}

pub async fn category(visit: &Visit, id: &str, query: &str) -> Result<Response, FrontError> {
    let categories: Vec<Category> = visit.fetch("/api/v1/categories", 200).await?;
    let category = categories
        .into_iter()
        .find(|c| c.id == id)
        .ok_or(FrontError::Api(404, None))?;
    let listing = Listing::from_query(query);
    let products: ProductPage = visit.fetch(&listing.api_path(Some(id)), 200).await?;
    let base = format!("/category/{id}");
    let view = listing_view(&base, &listing, &products);
    Ok(visit.html(200, |c| pages::category(c, &category, &view)))
}

pub async fn search(visit: &Visit, query: &str) -> Result<Response, FrontError> {
    let listing = Listing::from_query(query);
    // Nothing to look for, or too much: the page says so without asking the API.
    let products = if listing.searchable() {
        visit.fetch(&listing.api_path(None), 200).await?
    } else {
        ProductPage {
            items: Vec::new(),
            total: 0,
        }
    };
    let view = listing_view("/search", &listing, &products);
    Ok(visit.html(200, |c| pages::search(c, &view)))
}

pub async fn product(visit: &Visit, id: &str) -> Result<Response, FrontError> {
    let product: Product = visit.fetch(&format!("/api/v1/products/{id}"), 200).await?;
    Ok(visit.html(200, |c| pages::product(c, &product)))
}

fn listing_view<'a>(
    base: &'a str,
    listing: &'a Listing,
    products: &'a ProductPage,
) -> ListingView<'a> {
    ListingView {
        base,
        listing,
        products: &products.items,
        total: products.total,
        paging: Paging::new(listing.page, PAGE_SIZE, products.total),
    }
}
