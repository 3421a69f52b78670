//! The state of a product listing (a category or a search) as its URL carries it: the search
//! words, the sort, the price range and the page. The listing's form is a GET, so the URL is
//! the whole state: a link, a bookmark or the back button shows the same listing.
//!
//! From that state come the API's query (`GET /api/v1/products`) and the links to other pages
//! of the same listing. Nothing the visitor typed reaches either unencoded.

use crate::route::{PAGE_SIZE, page_value};

/// The catalog's longest search (its `MAX_SEARCH_CHARS`): a longer one is not sent.
pub const MAX_SEARCH_CHARS: usize = 100;
/// The longest query string read; a longer one is not a URL of ours and is ignored whole.
const MAX_QUERY_BYTES: usize = 2048;
/// The highest price filter accepted, in minor units (about ten million): beyond any price.
const MAX_PRICE_MINOR: i64 = 1_000_000_000;

/// The orders the products API offers (`sort`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    #[default]
    NameAsc,
    NameDesc,
    PriceAsc,
    PriceDesc,
    Newest,
}

impl Sort {
    pub const ALL: [Sort; 5] = [
        Sort::NameAsc,
        Sort::NameDesc,
        Sort::PriceAsc,
        Sort::PriceDesc,
        Sort::Newest,
    ];

    /// Its name in our URLs and in the API's.
    pub fn param(self) -> &'static str {
        match self {
            Sort::NameAsc => "name-asc",
            Sort::NameDesc => "name-desc",
            Sort::PriceAsc => "price-asc",
            Sort::PriceDesc => "price-desc",
            Sort::Newest => "newest",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Sort::NameAsc => "Name, A to Z",
            Sort::NameDesc => "Name, Z to A",
            Sort::PriceAsc => "Price, low to high",
            Sort::PriceDesc => "Price, high to low",
            Sort::Newest => "Newest first",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|sort| sort.param() == text)
    }
}

/// What was wrong with a listing's URL, told to the shopper; the filter at fault is left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    SearchTooLong,
    MinPrice,
    MaxPrice,
    PriceRange,
    QueryTooLong,
}

impl Problem {
    pub fn message(self) -> &'static str {
        match self {
            Problem::SearchTooLong => "Search for at most 100 characters.",
            Problem::MinPrice => "The lowest price must be an amount like 5 or 12.50.",
            Problem::MaxPrice => "The highest price must be an amount like 5 or 12.50.",
            Problem::PriceRange => "The lowest price must not be above the highest.",
            Problem::QueryTooLong => "That address was too long; showing the whole listing.",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listing {
    /// The search words, trimmed (cut to [`MAX_SEARCH_CHARS`] when longer: see `problems`).
    pub q: String,
    pub sort: Sort,
    /// Price bounds in minor units (cents), both inclusive.
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub page: u32,
    pub problems: Vec<Problem>,
}

impl Listing {
    /// The listing a URL's query string asks for; anything unusable falls back to the default
    /// (and, where the shopper typed it, says so in `problems`).
    pub fn from_query(query: &str) -> Self {
        let mut listing = Self {
            page: 1,
            ..Self::default()
        };
        if query.len() > MAX_QUERY_BYTES {
            listing.problems.push(Problem::QueryTooLong);
            return listing;
        }
        let (mut min_text, mut max_text) = (None, None);
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "q" => listing.q = value.trim().to_owned(),
                "sort" => listing.sort = Sort::parse(&value).unwrap_or_default(),
                "min" => min_text = Some(value.into_owned()),
                "max" => max_text = Some(value.into_owned()),
                "page" => listing.page = page_value(&value),
                _ => {}
            }
        }
        if listing.q.chars().count() > MAX_SEARCH_CHARS {
            listing.q = listing.q.chars().take(MAX_SEARCH_CHARS).collect();
            listing.problems.push(Problem::SearchTooLong);
        }
        let mut bound = |text: Option<String>, problem| {
            parse_price(text.as_deref().unwrap_or_default()).unwrap_or_else(|| {
                listing.problems.push(problem);
                None
            })
        };
        let min = bound(min_text, Problem::MinPrice);
        let max = bound(max_text, Problem::MaxPrice);
        if let (Some(low), Some(high)) = (min, max)
            && low > high
        {
            listing.problems.push(Problem::PriceRange);
        } else {
            (listing.min_price, listing.max_price) = (min, max);
        }
        listing
    }

    /// Whether there is something to search for: words, not too many of them.
    pub fn searchable(&self) -> bool {
        !self.q.is_empty() && !self.problems.contains(&Problem::SearchTooLong)
    }

    /// The products API's path and query for this listing, within `category` if any.
    pub fn api_path(&self, category: Option<&str>) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(category) = category {
            query.append_pair("category", category);
        }
        if !self.q.is_empty() {
            query.append_pair("q", &self.q);
        }
        if let Some(min) = self.min_price {
            query.append_pair("min_price", &min.to_string());
        }
        if let Some(max) = self.max_price {
            query.append_pair("max_price", &max.to_string());
        }
        query
            .append_pair("sort", self.sort.param())
            .append_pair("page", &self.page.to_string())
            .append_pair("limit", &PAGE_SIZE.to_string());
        format!("/api/v1/products?{}", query.finish())
    }

    /// The link to `page` of this listing at `base` (`/category/<id>`, `/search`), keeping the
    /// words, sort and prices; defaults are left out, so the plain listing has the plain URL.
    pub fn href(&self, base: &str, page: u32) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if !self.q.is_empty() {
            query.append_pair("q", &self.q);
        }
        if self.sort != Sort::default() {
            query.append_pair("sort", self.sort.param());
        }
        if let Some(min) = self.min_price {
            query.append_pair("min", &major_units(min));
        }
        if let Some(max) = self.max_price {
            query.append_pair("max", &major_units(max));
        }
        if page > 1 {
            query.append_pair("page", &page.to_string());
        }
        let query = query.finish();
        if query.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{query}")
        }
    }
}

/// A price as a shopper types it (`12`, `12.5`, `12,50`) in minor units: `Ok(None)` when empty,
/// `None` when it is not an amount. Prices have two decimals (the shop sells in euros).
pub fn parse_price(text: &str) -> Option<Option<i64>> {
    let text = text.trim();
    if text.is_empty() {
        return Some(None);
    }
    let (whole, fraction) = text.split_once(['.', ',']).unwrap_or((text, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 9 || fraction.len() > 2 || !digits(whole) {
        return None;
    }
    if !digits(fraction) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let cents: i64 = format!("{fraction:0<2}").parse().ok()?;
    let amount = whole * 100 + cents;
    (amount <= MAX_PRICE_MINOR).then_some(Some(amount))
}

/// Minor units as a shopper types them back: `12`, `12.50`.
pub fn major_units(minor: i64) -> String {
    if minor % 100 == 0 {
        (minor / 100).to_string()
    } else {
        format!("{}.{:02}", minor / 100, minor % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_url_is_the_default_listing() {
        let listing = Listing::from_query("");
        assert_eq!(listing.sort, Sort::NameAsc);
        assert_eq!(
            (listing.page, listing.min_price, listing.max_price),
            (1, None, None)
        );
        assert!(listing.problems.is_empty() && !listing.searchable());
        assert_eq!(listing.href("/category/c1", 1), "/category/c1");
        assert_eq!(
            listing.api_path(Some("c1")),
            "/api/v1/products?category=c1&sort=name-asc&page=1&limit=12"
        );
    }

    #[test]
    fn the_url_carries_words_sort_prices_and_page() {
        let listing = Listing::from_query("q=red+mug&sort=price-desc&min=5&max=12.5&page=3");
        assert_eq!(listing.q, "red mug");
        assert_eq!(listing.sort, Sort::PriceDesc);
        assert_eq!(
            (listing.min_price, listing.max_price),
            (Some(500), Some(1250))
        );
        assert_eq!(listing.page, 3);
        assert!(listing.searchable());
        assert_eq!(
            listing.api_path(None),
            "/api/v1/products?q=red+mug&min_price=500&max_price=1250&sort=price-desc&page=3&limit=12"
        );
        // Another page of the same listing keeps everything but the page.
        assert_eq!(
            listing.href("/search", 4),
            "/search?q=red+mug&sort=price-desc&min=5&max=12.50&page=4"
        );
        assert_eq!(
            listing.href("/search", 1),
            "/search?q=red+mug&sort=price-desc&min=5&max=12.50"
        );
        assert_eq!(Listing::from_query(&listing.href("/s", 4)[3..]).page, 4);
    }

    #[test]
    fn what_the_visitor_typed_is_encoded() {
        let listing = Listing::from_query("q=%3Cb%3E%26category%3Dx%23");
        assert_eq!(listing.q, "<b>&category=x#");
        assert_eq!(
            listing.api_path(Some("c1")),
            "/api/v1/products?category=c1&q=%3Cb%3E%26category%3Dx%23&sort=name-asc&page=1&limit=12"
        );
        assert_eq!(
            listing.href("/search", 2),
            "/search?q=%3Cb%3E%26category%3Dx%23&page=2"
        );
    }

    #[test]
    fn unknown_sorts_and_pages_fall_back() {
        for query in [
            "sort=price",
            "sort=",
            "sort=NAME-ASC",
            "page=0",
            "page=-1",
            "page=x",
        ] {
            let listing = Listing::from_query(query);
            assert_eq!((listing.sort, listing.page), (Sort::NameAsc, 1), "{query}");
            assert!(listing.problems.is_empty(), "{query}");
        }
        assert_eq!(Listing::from_query("page=99999999").page, 10_000);
        for sort in Sort::ALL {
            assert_eq!(Sort::parse(sort.param()), Some(sort));
        }
    }

    #[test]
    fn searches_are_bounded() {
        let long = "é".repeat(MAX_SEARCH_CHARS + 1);
        let listing = Listing::from_query(&format!("q={long}"));
        assert_eq!(listing.problems, [Problem::SearchTooLong]);
        assert_eq!(listing.q.chars().count(), MAX_SEARCH_CHARS);
        assert!(!listing.searchable());
        let exact = Listing::from_query(&format!("q={}", "a".repeat(MAX_SEARCH_CHARS)));
        assert!(exact.searchable() && exact.problems.is_empty());
        assert!(!Listing::from_query("q=+++").searchable(), "blank");
        let padded = Listing::from_query(&format!("q=mug&x={}", "a".repeat(MAX_QUERY_BYTES)));
        assert_eq!(padded.problems, [Problem::QueryTooLong]);
        assert!(padded.q.is_empty());
    }

    #[test]
    fn bad_prices_are_left_out_and_said() {
        let listing = Listing::from_query("min=abc&max=10");
        assert_eq!((listing.min_price, listing.max_price), (None, Some(1000)));
        assert_eq!(listing.problems, [Problem::MinPrice]);
        let reversed = Listing::from_query("min=20&max=10");
        assert_eq!((reversed.min_price, reversed.max_price), (None, None));
        assert_eq!(reversed.problems, [Problem::PriceRange]);
        let empty = Listing::from_query("min=&max=+");
        assert!(empty.problems.is_empty() && empty.min_price.is_none());
    }

    #[test]
    fn prices_are_typed_in_major_units() {
        assert_eq!(parse_price("12"), Some(Some(1200)));
        assert_eq!(parse_price(" 12.5 "), Some(Some(1250)));
        assert_eq!(parse_price("12,05"), Some(Some(1205)));
        assert_eq!(parse_price("0"), Some(Some(0)));
        assert_eq!(parse_price(""), Some(None));
        assert_eq!(parse_price("12."), Some(Some(1200)));
        for bad in [
            "-1",
            "1.234",
            ".5",
            "1e3",
            "1.-1",
            "１２",
            "9999999999",
            "12 50",
            "1.2.3",
        ] {
            assert_eq!(parse_price(bad), None, "{bad}");
        }
        assert_eq!(parse_price("10000001"), None, "above any price");
        assert_eq!(major_units(1200), "12");
        assert_eq!(major_units(1205), "12.05");
        assert_eq!(major_units(5), "0.05");
    }
}
