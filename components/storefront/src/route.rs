//! The storefront's pages: which one a method and path ask for, and the paging of listings.

/// Product ids and category ids as the public API accepts them.
pub fn valid_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page<'a> {
    Home,
    Category {
        id: &'a str,
    },
    Product {
        id: &'a str,
    },
    /// A file of the `files` mount, served as it is.
    Asset(&'static Asset),
    RegisterForm,
    Register,
    LoginForm,
    Login,
    Logout,
    Cart,
    AddToCart,
    SetQuantity {
        product_id: &'a str,
    },
    RemoveFromCart {
        product_id: &'a str,
    },
    CheckoutForm,
    Checkout,
    Orders,
    Order {
        id: &'a str,
    },
    CancelOrder {
        id: &'a str,
    },
    /// Products matching `?q=`, with the listing's sort, prices and page.
    Search,
    Notifications,
    MarkRead {
        id: &'a str,
    },
    Profile,
    UpdateProfile,
    /// A page of the operator console (`console.rs`).
    Console(crate::console::ConsolePage<'a>),
    /// The path exists, the method does not: the methods it has.
    MethodNotAllowed(&'static str),
    NotFound,
}

impl Page<'_> {
    /// Whether the page changes state: a POST, which must carry a valid CSRF token.
    pub fn is_form_post(&self) -> bool {
        if let Page::Console(page) = self {
            return page.is_form_post();
        }
        matches!(
            self,
            Page::Register
                | Page::Login
                | Page::Logout
                | Page::AddToCart
                | Page::SetQuantity { .. }
                | Page::RemoveFromCart { .. }
                | Page::Checkout
                | Page::CancelOrder { .. }
                | Page::MarkRead { .. }
                | Page::UpdateProfile
        )
    }
}

/// A file of `components/storefront/static`, which `spin.toml` mounts at `/static`.
#[derive(Debug, PartialEq, Eq)]
pub struct Asset {
    /// Its file name, under `/static` both in the URL and in the component's filesystem.
    pub name: &'static str,
    pub content_type: &'static str,
}

impl Asset {
    /// Its URL path, which is also its path in the component's filesystem: the mount's
    /// destination is the URL's prefix.
    pub fn path(&self) -> String {
        format!("{ASSET_DIR}/{}", self.name)
    }
}

const ASSET_DIR: &str = "/static";

/// The only files served: a name from this list is never a path of the visitor's making.
/// Names are versioned, so that a year's cache lifetime is safe: a changed file gets a new name.
pub const ASSETS: &[Asset] = &[STYLESHEET, FAVICON, crate::console::CONSOLE_STYLESHEET];
pub const STYLESHEET: Asset = Asset {
    name: "shop-v3.css",
    content_type: "text/css; charset=utf-8",
};
pub const FAVICON: Asset = Asset {
    name: "favicon-v1.svg",
    content_type: "image/svg+xml",
};

fn asset(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.name == name)
}

pub fn route<'a>(method: &str, path: &'a str) -> Page<'a> {
    let get = method == "GET" || method == "HEAD";
    let post = method == "POST";
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let page = match segments.as_slice() {
        [""] => get.then_some(Page::Home).ok_or("GET, HEAD"),
        ["category", id] if valid_id(id) => get.then_some(Page::Category { id }).ok_or("GET, HEAD"),
        ["products", id] if valid_id(id) => get.then_some(Page::Product { id }).ok_or("GET, HEAD"),
        ["static", name] => match asset(name) {
            Some(asset) => get.then_some(Page::Asset(asset)).ok_or("GET, HEAD"),
            None => Ok(Page::NotFound),
        },
        ["register"] if get => Ok(Page::RegisterForm),
        ["register"] => post.then_some(Page::Register).ok_or("GET, HEAD, POST"),
        ["login"] if get => Ok(Page::LoginForm),
        ["login"] => post.then_some(Page::Login).ok_or("GET, HEAD, POST"),
        ["logout"] => post.then_some(Page::Logout).ok_or("POST"),
        ["cart"] => get.then_some(Page::Cart).ok_or("GET, HEAD"),
        ["cart", "items"] => post.then_some(Page::AddToCart).ok_or("POST"),
        ["cart", "items", id] if valid_id(id) => post
            .then_some(Page::SetQuantity { product_id: id })
            .ok_or("POST"),
        ["cart", "items", id, "remove"] if valid_id(id) => post
            .then_some(Page::RemoveFromCart { product_id: id })
            .ok_or("POST"),
        ["checkout"] if get => Ok(Page::CheckoutForm),
        ["checkout"] => post.then_some(Page::Checkout).ok_or("GET, HEAD, POST"),
        ["orders"] => get.then_some(Page::Orders).ok_or("GET, HEAD"),
        ["orders", id] if valid_id(id) => get.then_some(Page::Order { id }).ok_or("GET, HEAD"),
        ["orders", id, "cancel"] if valid_id(id) => {
            post.then_some(Page::CancelOrder { id }).ok_or("POST")
        }
        ["search"] => get.then_some(Page::Search).ok_or("GET, HEAD"),
        ["notifications"] => get.then_some(Page::Notifications).ok_or("GET, HEAD"),
        ["notifications", id, "read"] if valid_id(id) => {
            post.then_some(Page::MarkRead { id }).ok_or("POST")
        }
        ["profile"] if get => Ok(Page::Profile),
        ["profile"] => post.then_some(Page::UpdateProfile).ok_or("GET, HEAD, POST"),
        ["console", rest @ ..] => Ok(crate::console::route(method, rest)),
        _ => Ok(Page::NotFound),
    };
    page.unwrap_or_else(Page::MethodNotAllowed)
}

/// Products per listing page.
pub const PAGE_SIZE: u32 = 12;
/// The API's largest page number we ask for; beyond it nothing is listed anyway.
const MAX_PAGE: u32 = 10_000;

/// `?page=N` of a listing: from 1; anything else is page 1.
pub fn page_number(query: &str) -> u32 {
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "page")
        .map_or(1, |(_, value)| page_value(&value))
}

/// A page number as a URL or form carries it: from 1, anything else is page 1; a huge one
/// is the last we ask for.
pub fn page_value(text: &str) -> u32 {
    text.parse::<u32>()
        .ok()
        .filter(|n| *n >= 1)
        .map_or(1, |n| n.min(MAX_PAGE))
}

/// Which neighbours a listing page links to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub page: u32,
    pub pages: u32,
    pub previous: Option<u32>,
    pub next: Option<u32>,
}

impl Paging {
    pub fn new(page: u32, limit: u32, total: u64) -> Self {
        let limit = u64::from(limit.max(1));
        let pages = u32::try_from(total.div_ceil(limit))
            .unwrap_or(u32::MAX)
            .max(1);
        Self {
            page,
            pages,
            previous: (page > 1).then(|| (page - 1).min(pages)),
            next: (page < pages).then_some(page + 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_methods_name_pages() {
        assert_eq!(route("GET", "/"), Page::Home);
        assert_eq!(route("HEAD", "/"), Page::Home);
        assert_eq!(route("GET", "/category/c-1"), Page::Category { id: "c-1" });
        assert_eq!(route("GET", "/products/p_1"), Page::Product { id: "p_1" });
        assert_eq!(route("GET", &STYLESHEET.path()), Page::Asset(&STYLESHEET));
        assert_eq!(route("HEAD", &FAVICON.path()), Page::Asset(&FAVICON));
        assert_eq!(route("GET", "/login"), Page::LoginForm);
        assert_eq!(route("POST", "/login"), Page::Login);
        assert_eq!(route("POST", "/register"), Page::Register);
        assert_eq!(route("POST", "/logout"), Page::Logout);
        assert_eq!(route("GET", "/cart"), Page::Cart);
        assert_eq!(route("POST", "/cart/items"), Page::AddToCart);
        assert_eq!(
            route("POST", "/cart/items/p1"),
            Page::SetQuantity { product_id: "p1" }
        );
        assert_eq!(
            route("POST", "/cart/items/p1/remove"),
            Page::RemoveFromCart { product_id: "p1" }
        );
        assert_eq!(route("GET", "/checkout"), Page::CheckoutForm);
        assert_eq!(route("POST", "/checkout"), Page::Checkout);
        assert_eq!(route("GET", "/orders"), Page::Orders);
        assert_eq!(route("GET", "/orders/o-1"), Page::Order { id: "o-1" });
        assert_eq!(
            route("POST", "/orders/o-1/cancel"),
            Page::CancelOrder { id: "o-1" }
        );
        assert_eq!(route("GET", "/search"), Page::Search);
        assert_eq!(route("HEAD", "/search"), Page::Search);
        assert_eq!(route("GET", "/notifications"), Page::Notifications);
        assert_eq!(
            route("POST", "/notifications/n_1/read"),
            Page::MarkRead { id: "n_1" }
        );
        assert_eq!(route("GET", "/profile"), Page::Profile);
        assert_eq!(route("POST", "/profile"), Page::UpdateProfile);
        assert_eq!(
            route("POST", "/orders/o-1"),
            Page::MethodNotAllowed("GET, HEAD")
        );
    }

    #[test]
    fn unknown_paths_and_ids_are_not_found() {
        for path in [
            "/nope",
            "/products/",
            "/products/a b",
            "/products/a/b",
            "/category/<x>",
            "/static/",
            "/static/nope.css",
            "/static/../spin.toml",
            "/static/..%2Fspin.toml",
            "/static/%2e%2e",
            "/static/shop-v3.css/x",
            "/static/SHOP-V1.CSS",
            "/static/shop-v2.css",
            "/orders/a b/cancel",
            "/orders/o1/cancel/x",
            "/notifications/<x>/read",
            "/notifications/n1",
            "/search/x",
        ] {
            assert_eq!(route("GET", path), Page::NotFound, "{path}");
        }
        assert_eq!(
            route("GET", &format!("/products/{}", "a".repeat(129))),
            Page::NotFound
        );
    }

    #[test]
    fn a_wrong_method_names_the_right_ones() {
        assert_eq!(route("POST", "/"), Page::MethodNotAllowed("GET, HEAD"));
        assert_eq!(route("GET", "/logout"), Page::MethodNotAllowed("POST"));
        assert_eq!(
            route("DELETE", "/login"),
            Page::MethodNotAllowed("GET, HEAD, POST")
        );
        assert_eq!(route("GET", "/cart/items"), Page::MethodNotAllowed("POST"));
        assert_eq!(
            route("GET", "/orders/o1/cancel"),
            Page::MethodNotAllowed("POST")
        );
        assert_eq!(
            route("GET", "/notifications/n1/read"),
            Page::MethodNotAllowed("POST")
        );
        assert_eq!(
            route("POST", "/search"),
            Page::MethodNotAllowed("GET, HEAD")
        );
        assert_eq!(
            route("PUT", "/profile"),
            Page::MethodNotAllowed("GET, HEAD, POST")
        );
    }

    #[test]
    fn assets_are_plain_names_under_the_mount() {
        for asset in ASSETS {
            assert!(
                asset.name.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'-'
                    || b == b'.')
                    && !asset.name.starts_with('.'),
                "{}",
                asset.name
            );
            assert_eq!(route("GET", &asset.path()), Page::Asset(asset));
        }
        assert_eq!(
            route("POST", &STYLESHEET.path()),
            Page::MethodNotAllowed("GET, HEAD")
        );
    }

    #[test]
    fn only_posts_are_form_posts() {
        assert!(route("POST", "/logout").is_form_post());
        assert!(route("POST", "/cart/items/p/remove").is_form_post());
        assert!(route("POST", "/checkout").is_form_post());
        assert!(route("POST", "/orders/o1/cancel").is_form_post());
        assert!(route("POST", "/notifications/n1/read").is_form_post());
        assert!(route("POST", "/profile").is_form_post());
        assert!(!route("GET", "/profile").is_form_post());
        assert!(!route("GET", "/search").is_form_post());
        assert!(!route("GET", "/notifications").is_form_post());
        assert!(!route("GET", "/cart").is_form_post());
        assert!(!route("GET", "/login").is_form_post());
    }

    #[test]
    fn page_numbers_default_to_one() {
        assert_eq!(page_number(""), 1);
        assert_eq!(page_number("page=3"), 3);
        assert_eq!(page_number("x=1&page=2"), 2);
        assert_eq!(page_number("page=0"), 1);
        assert_eq!(page_number("page=-2"), 1);
        assert_eq!(page_number("page=abc"), 1);
        assert_eq!(page_number("page=99999999999"), 1);
        assert_eq!(page_number("page=4000000"), MAX_PAGE);
    }

    #[test]
    fn paging_links_to_existing_neighbours() {
        let first = Paging::new(1, 12, 30);
        assert_eq!(
            (first.pages, first.previous, first.next),
            (3, None, Some(2))
        );
        let last = Paging::new(3, 12, 30);
        assert_eq!((last.previous, last.next), (Some(2), None));
        let empty = Paging::new(1, 12, 0);
        assert_eq!((empty.pages, empty.previous, empty.next), (1, None, None));
        // Past the end: back to the last page, nothing further.
        let beyond = Paging::new(9, 12, 30);
        assert_eq!((beyond.previous, beyond.next), (Some(3), None));
        assert_eq!(Paging::new(1, 12, 12).next, None);
    }
}
