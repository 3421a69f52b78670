//! The one way a wasmshop HTTP edge routes: a static table of rows — a path pattern with
//! `{name}` segments, the methods the row answers, and a payload — and one matcher over it. A
//! match gives the row and its parameters; a path the table knows under other methods gives 405
//! with exactly those methods (the `Allow` header is computed from the same rows, so it cannot
//! drift from what is served); anything else, 404.
//!
//! The payload is the table owner's. Components use [`Route<H>`] with a handler in it — mostly
//! [`Handler`], served by [`serve`]; kit's messaging routes and orders (which needs the caller's
//! identity first) carry their own function types. The gateway's rows carry more (upstream,
//! upstream path, auth, class), read by field all over the gateway (`route.auth`), so the
//! matcher is generic over the [`Row`] trait rather than over `Route<H>`'s payload: the gateway
//! implements `Row` for its own row type and keeps it as it is.
//!
//! Paths match as they always did here: empty segments are ignored (`/products/` and
//! `//products` are `/products`); nothing is percent-decoded (a segment is compared, and handed
//! on as a parameter, as it arrived); a parameter is any one segment, unless the caller passes
//! its own rule ([`find_where`]: the gateway's, where a segment it refuses matches no row).
//! Rows are tried in order and the first whose pattern and method fit wins. No method is
//! implied by another: `HEAD` is answered only where a row lists it.

use serde_json::json;
use spin_sdk::http::{Request, Response};

use crate::error::ApiError;
use crate::http::segments;
use crate::json::json_response;

/// What the matcher needs of a row.
pub trait Row {
    /// `/products/{id}`: literal segments and `{name}` parameters, one segment each.
    fn pattern(&self) -> &'static str;
    /// Upper case, as the request line spells them.
    fn methods(&self) -> &'static [&'static str];
}

/// A component's row: its pattern and methods, and the handler it runs.
#[derive(Debug, Clone, Copy)]
pub struct Route<H> {
    pub pattern: &'static str,
    pub methods: &'static [&'static str],
    pub handler: H,
}

impl<H> Route<H> {
    pub const fn new(methods: &'static [&'static str], pattern: &'static str, handler: H) -> Self {
        Self {
            pattern,
            methods,
            handler,
        }
    }

    pub const fn get(pattern: &'static str, handler: H) -> Self {
        Self::new(&["GET"], pattern, handler)
    }

    pub const fn post(pattern: &'static str, handler: H) -> Self {
        Self::new(&["POST"], pattern, handler)
    }

    pub const fn put(pattern: &'static str, handler: H) -> Self {
        Self::new(&["PUT"], pattern, handler)
    }

    pub const fn patch(pattern: &'static str, handler: H) -> Self {
        Self::new(&["PATCH"], pattern, handler)
    }

    pub const fn delete(pattern: &'static str, handler: H) -> Self {
        Self::new(&["DELETE"], pattern, handler)
    }
}

impl<H> Row for Route<H> {
    fn pattern(&self) -> &'static str {
        self.pattern
    }

    fn methods(&self) -> &'static [&'static str] {
        self.methods
    }
}

/// The segments a match bound to the pattern's `{name}`s, in pattern order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params<'p>(Vec<(&'static str, &'p str)>);

impl<'p> Params<'p> {
    /// The segment bound to `{name}`. A name its pattern lacks is a mistake in the table, not
    /// in the request: a 500 rather than a panic.
    pub fn get(&self, name: &str) -> Result<&'p str, ApiError> {
        self.0
            .iter()
            .find(|(bound, _)| *bound == name)
            .map(|(_, segment)| *segment)
            .ok_or_else(|| ApiError::internal(format!("the route has no parameter `{name}`")))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &'p str)> + '_ {
        self.0.iter().copied()
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Match<'t, 'p, R> {
    Found {
        route: &'t R,
        params: Params<'p>,
    },
    /// The path exists, not with this method: the methods it has, in table order, for `Allow`.
    MethodNotAllowed(Vec<&'static str>),
    NotFound,
}

impl<'t, 'p, R> Match<'t, 'p, R> {
    /// The row and its parameters, or the uniform JSON error: 405 listing the path's methods
    /// (`ApiError::into_response` puts them in `Allow`), or 404 naming `path`.
    pub fn into_result(self, path: &str) -> Result<(&'t R, Params<'p>), ApiError> {
        match self {
            Match::Found { route, params } => Ok((route, params)),
            Match::MethodNotAllowed(allowed) => Err(ApiError::method_not_allowed(&allowed)),
            Match::NotFound => Err(ApiError::not_found(format!("no route for {path}"))),
        }
    }
}

/// Matches `path` and `method` against `table`; a parameter is any one segment.
pub fn find<'t, 'p, R: Row>(table: &'t [R], path: &'p str, method: &str) -> Match<'t, 'p, R> {
    find_where(table, path, method, |_| true)
}

/// [`find`], with the segments a parameter may bind limited to those `accepts` takes; a row
/// whose parameter is refused does not match at all (neither found nor counted for 405).
pub fn find_where<'t, 'p, R: Row>(
    table: &'t [R],
    path: &'p str,
    method: &str,
    accepts: impl Fn(&str) -> bool,
) -> Match<'t, 'p, R> {
    let path = segments(path);
    let mut allowed: Vec<&'static str> = Vec::new();
    for route in table {
        let Some(params) = captures(route.pattern(), &path, &accepts) else {
            continue;
        };
        if route.methods().contains(&method) {
            return Match::Found { route, params };
        }
        for candidate in route.methods() {
            if !allowed.contains(candidate) {
                allowed.push(candidate);
            }
        }
    }
    if allowed.is_empty() {
        Match::NotFound
    } else {
        Match::MethodNotAllowed(allowed)
    }
}

/// The parameters of `path` under `pattern`, or `None` when it does not match.
fn captures<'p>(
    pattern: &'static str,
    path: &[&'p str],
    accepts: &impl Fn(&str) -> bool,
) -> Option<Params<'p>> {
    let parts = segments(pattern);
    if parts.len() != path.len() {
        return None;
    }
    let mut params = Vec::new();
    for (part, segment) in parts.into_iter().zip(path) {
        if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            if !accepts(segment) {
                return None;
            }
            params.push((name, *segment));
        } else if part != *segment {
            return None;
        }
    }
    Some(Params(params))
}

/// The handler of a plain component row: the request and the bound parameters.
pub type Handler = fn(&Request, &Params<'_>) -> Result<Response, ApiError>;

/// Runs the handler `req` matches in `table`; 404 and 405 as [`Match::into_result`] gives them.
pub fn serve(table: &[Route<Handler>], req: &Request) -> Result<Response, ApiError> {
    let method = req.method().to_string();
    let (route, params) = find(table, req.path(), &method).into_result(req.path())?;
    (route.handler)(req, &params)
}

/// `GET /health`, the same in every component: it answers, so it is alive.
pub fn health(_: &Request, _: &Params<'_>) -> Result<Response, ApiError> {
    Ok(json_response(200, &json!({ "status": "ok" })))
}

#[cfg(test)]
mod tests {
    use spin_sdk::http::Method;

    use super::*;

    fn id(_: &Request, params: &Params<'_>) -> Result<Response, ApiError> {
        Ok(json_response(200, &json!({ "id": params.get("id")? })))
    }

    const TABLE: &[Route<Handler>] = &[
        Route::get("/health", health),
        Route::get("/products", |_, _| Ok(json_response(200, &json!("list")))),
        Route::post("/products", |_, _| Ok(json_response(201, &json!("made")))),
        Route::get("/products/{id}", id),
        Route::new(&["PUT", "DELETE"], "/products/{id}", id),
        Route::post("/orders/{id}/lines/{line}/cancel", |_, params| {
            let pair = (params.get("id")?, params.get("line")?);
            Ok(json_response(200, &json!(pair)))
        }),
        Route::post("/broken/{id}", |_, params| {
            Ok(json_response(200, &json!(params.get("other")?)))
        }),
    ];

    fn found<'p>(path: &'p str, method: &str) -> (&'static str, Vec<(&'static str, &'p str)>) {
        match find(TABLE, path, method) {
            Match::Found { route, params } => (route.pattern, params.iter().collect()),
            other => panic!("{method} {path}: {other:?}"),
        }
    }

    /// What a miss answers: `Some(methods)` for a 405, `None` for a 404.
    fn missed(outcome: Match<'_, '_, Route<Handler>>) -> Option<Vec<&'static str>> {
        match outcome {
            Match::MethodNotAllowed(allowed) => Some(allowed),
            Match::NotFound => None,
            Match::Found { route, .. } => panic!("found {}", route.pattern),
        }
    }

    fn body(response: &Response) -> serde_json::Value {
        serde_json::from_slice(response.body()).expect("JSON body")
    }

    #[test]
    fn binds_parameters_by_name() {
        assert_eq!(found("/products", "POST"), ("/products", vec![]));
        assert_eq!(
            found("/products/p-1", "DELETE"),
            ("/products/{id}", vec![("id", "p-1")])
        );
        assert_eq!(
            found("/orders/o-1/lines/2/cancel", "POST"),
            (
                "/orders/{id}/lines/{line}/cancel",
                vec![("id", "o-1"), ("line", "2")]
            )
        );
    }

    #[test]
    fn unknown_paths_are_not_found() {
        for path in ["/", "", "/product", "/products/a/b", "/orders/o-1/lines/2"] {
            assert_eq!(missed(find(TABLE, path, "GET")), None, "{path}");
            let error = find(TABLE, path, "GET").into_result(path).expect_err(path);
            assert_eq!((error.status, error.code), (404, "not_found"), "{path}");
            assert_eq!(error.message, format!("no route for {path}"));
        }
    }

    #[test]
    fn a_known_path_under_another_method_lists_the_methods_of_every_row_of_that_path() {
        assert_eq!(
            missed(find(TABLE, "/products/x", "PATCH")),
            Some(vec!["GET", "PUT", "DELETE"])
        );
        assert_eq!(
            missed(find(TABLE, "/products", "DELETE")),
            Some(vec!["GET", "POST"])
        );
        // Nothing implies HEAD (or OPTIONS): only what a row lists.
        assert_eq!(missed(find(TABLE, "/health", "HEAD")), Some(vec!["GET"]));
        assert_eq!(missed(find(TABLE, "/health", "get")), Some(vec!["GET"]));
        let response = find(TABLE, "/products/x", "POST")
            .into_result("/products/x")
            .expect_err("405")
            .into_response();
        assert_eq!(*response.status(), 405);
        assert_eq!(
            response.header("allow").and_then(|v| v.as_str()),
            Some("GET, PUT, DELETE")
        );
        assert_eq!(
            body(&response)["error"]["details"]["allow"],
            json!(["GET", "PUT", "DELETE"])
        );
    }

    #[test]
    fn empty_segments_are_ignored_so_a_trailing_slash_is_the_same_path() {
        assert_eq!(found("/products/", "GET").0, "/products");
        assert_eq!(found("//products//p-1/", "GET").1, vec![("id", "p-1")]);
        assert_eq!(found("products", "GET").0, "/products");
    }

    #[test]
    fn segments_are_neither_decoded_nor_split_at_encoded_slashes() {
        assert_eq!(found("/products/a%2Fb", "GET").1, vec![("id", "a%2Fb")]);
        assert_eq!(found("/products/..", "GET").1, vec![("id", "..")]);
        assert_eq!(
            missed(find(TABLE, "/%70roducts", "GET")),
            None,
            "a literal segment is compared as sent"
        );
    }

    #[test]
    fn a_refused_parameter_matches_no_row() {
        let plain = |segment: &str| segment.bytes().all(|b| b.is_ascii_alphanumeric());
        assert_eq!(
            missed(find_where(TABLE, "/products/a%2Fb", "GET", plain)),
            None
        );
        assert_eq!(
            missed(find_where(TABLE, "/products/a%2Fb", "PATCH", plain)),
            None
        );
        assert!(matches!(
            find_where(TABLE, "/products/ab1", "GET", plain),
            Match::Found { .. }
        ));
    }

    #[test]
    fn serve_runs_the_matched_handler_or_answers_the_uniform_error() {
        let serve_at = |method: Method, path: &str| -> Response {
            serve(TABLE, &Request::new(method, path)).unwrap_or_else(ApiError::into_response)
        };
        let response = serve_at(Method::Get, "/products/p-7?x=1");
        assert_eq!(
            (*response.status(), body(&response)),
            (200, json!({ "id": "p-7" }))
        );
        assert_eq!(*serve_at(Method::Post, "/products").status(), 201);
        assert_eq!(
            body(&serve_at(Method::Get, "/health")),
            json!({ "status": "ok" })
        );
        let response = serve_at(Method::Post, "/health");
        assert_eq!(*response.status(), 405);
        assert_eq!(
            response.header("allow").and_then(|v| v.as_str()),
            Some("GET")
        );
        let response = serve_at(Method::Get, "/nothing");
        assert_eq!(body(&response)["error"]["code"], "not_found");
        assert_eq!(body(&response)["error"]["message"], "no route for /nothing");
        let response = serve_at(Method::Other("PURGE".into()), "/products");
        assert_eq!(
            response.header("allow").and_then(|v| v.as_str()),
            Some("GET, POST")
        );
    }

    #[test]
    fn a_parameter_the_pattern_lacks_is_an_internal_error_not_a_panic() {
        let error = serve(TABLE, &Request::new(Method::Post, "/broken/x")).expect_err("500");
        assert_eq!((error.status, error.code), (500, "internal"));
    }
}
