//! Product listings: a category's and a search's, both with the listing's GET form (sort,
//! price range, and for a search its words) and paging that keeps them.

use maud::{Markup, html};

use super::{Chrome, layout, product_card};
use crate::listing::{Listing, MAX_SEARCH_CHARS, Sort, major_units};
use crate::model::{Category, Product};
use crate::route::Paging;

/// One page of a listing and where it lives.
pub struct ListingView<'a> {
    /// The listing's path: `/category/<id>` or `/search`.
    pub base: &'a str,
    pub listing: &'a Listing,
    pub products: &'a [Product],
    pub total: u64,
    pub paging: Paging,
}

pub fn category(chrome: &Chrome<'_>, category: &Category, view: &ListingView<'_>) -> Markup {
    let filtered = view.listing.min_price.is_some() || view.listing.max_price.is_some();
    layout(
        &category.name,
        chrome,
        html! {
            h1 { (category.name) }
            @if let Some(description) = &category.description { p { (description) } }
            (filters(view, false))
            (results(view, if filtered { "No products match these prices." } else { "No products here yet." }))
        },
    )
}

pub fn search(chrome: &Chrome<'_>, view: &ListingView<'_>) -> Markup {
    let listing = view.listing;
    let title = if listing.searchable() {
        format!("Search: {}", listing.q)
    } else {
        "Search".to_owned()
    };
    layout(
        &title,
        chrome,
        html! {
            h1 { "Search" }
            (filters(view, true))
            @if listing.searchable() {
                (results(view, "Nothing matches your search. Try other words."))
            } @else if listing.q.is_empty() {
                p { "Type a product's name or a word from its description." }
            }
        },
    )
}

/// The listing's GET form: its state is the URL's, and a new choice starts again at page 1.
fn filters(view: &ListingView<'_>, search: bool) -> Markup {
    let listing = view.listing;
    let price = |bound: Option<i64>| bound.map(major_units).unwrap_or_default();
    html! {
        @if !listing.problems.is_empty() {
            div.error role="alert" {
                ul { @for problem in &listing.problems { li { (problem.message()) } } }
            }
        }
        form.filters method="get" action=(view.base) aria-label="Filter and sort" {
            @if search {
                div {
                    label for="search-q" { "Search for" }
                    input id="search-q" type="search" name="q" value=(listing.q)
                        maxlength=(MAX_SEARCH_CHARS) required;
                }
            }
            div {
                label for="sort" { "Sort by" }
                select id="sort" name="sort" {
                    @for sort in Sort::ALL {
                        option value=(sort.param()) selected[sort == listing.sort] { (sort.label()) }
                    }
                }
            }
            div {
                label for="min-price" { "Lowest price" }
                input id="min-price" type="text" name="min" inputmode="decimal" size="7"
                    maxlength="12" value=(price(listing.min_price));
            }
            div {
                label for="max-price" { "Highest price" }
                input id="max-price" type="text" name="max" inputmode="decimal" size="7"
                    maxlength="12" value=(price(listing.max_price));
            }
            button type="submit" { "Apply" }
        }
    }
}

fn results(view: &ListingView<'_>, none: &str) -> Markup {
    let paging = view.paging;
    html! {
        p role="status" { (view.total) @if view.total == 1 { " product" } @else { " products" } }
        @if view.products.is_empty() {
            p { (none) }
        } @else {
            ul.grid { @for product in view.products { (product_card(product)) } }
        }
        nav.paging aria-label="Pages" {
            @if let Some(previous) = paging.previous {
                a rel="prev" href=(view.listing.href(view.base, previous)) { "Previous" }
            }
            span { "Page " (paging.page) " of " (paging.pages) }
            @if let Some(next) = paging.next {
                a rel="next" href=(view.listing.href(view.base, next)) { "Next" }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::tests::{CHROME, product};

    fn mugs() -> Category {
        Category {
            id: "c1".into(),
            name: "Mugs".into(),
            description: None,
        }
    }

    #[test]
    fn paging_links_keep_the_category_sort_and_prices() {
        let listing = Listing::from_query("sort=price-asc&min=2&page=2");
        let view = ListingView {
            base: "/category/c1",
            listing: &listing,
            products: &[],
            total: 40,
            paging: Paging::new(2, 12, 40),
        };
        let html = category(&CHROME, &mugs(), &view).into_string();
        assert!(
            html.contains(r#"href="/category/c1?sort=price-asc&amp;min=2""#),
            "{html}"
        );
        assert!(html.contains(r#"href="/category/c1?sort=price-asc&amp;min=2&amp;page=3""#));
        assert!(html.contains("Page 2 of 4"));
        assert!(
            html.contains(r#"<option value="price-asc" selected>"#),
            "{html}"
        );
        assert!(
            html.contains(r#"name="min" inputmode="decimal" size="7" maxlength="12" value="2""#)
        );
        assert!(html.contains("No products match these prices."));
        assert!(html.contains(r#"<form class="filters" method="get" action="/category/c1""#));
        for id in ["sort", "min-price", "max-price"] {
            assert!(html.contains(&format!(r#"<label for="{id}">"#)), "{id}");
        }
    }

    #[test]
    fn a_search_shows_its_words_escaped_and_its_results() {
        let listing = Listing::from_query("q=%3Cmug%3E");
        let products = [product("Mug")];
        let view = ListingView {
            base: "/search",
            listing: &listing,
            products: &products,
            total: 1,
            paging: Paging::new(1, 12, 1),
        };
        let html = search(&CHROME, &view).into_string();
        assert!(
            html.contains("<title>Search: &lt;mug&gt; · wasmshop</title>"),
            "{html}"
        );
        assert!(html.contains(r#"name="q" value="&lt;mug&gt;""#));
        assert!(html.contains(r#"href="/products/p1""#) && html.contains("1 product<"));
        assert!(!html.contains("<mug>"));
    }

    #[test]
    fn an_empty_or_oversized_search_lists_nothing_and_says_why() {
        let empty = Listing::from_query("q=");
        let view = |listing| ListingView {
            base: "/search",
            listing,
            products: &[],
            total: 0,
            paging: Paging::new(1, 12, 0),
        };
        let html = search(&CHROME, &view(&empty)).into_string();
        assert!(html.contains("Type a product"), "{html}");
        assert!(!html.contains("role=\"status\""));
        let long = Listing::from_query(&format!("q={}", "x".repeat(150)));
        let html = search(&CHROME, &view(&long)).into_string();
        assert!(
            html.contains("Search for at most 100 characters."),
            "{html}"
        );
        assert!(!html.contains("role=\"status\""));
    }
}
