//! A router that remembers its routes, so tests can hold it against the
//! OpenAPI contracts (axum cannot list what it routes).

use axum::{
    handler::Handler,
    http::Method,
    routing::{on, MethodFilter},
    Router,
};

/// API routes with their methods and paths.
pub struct RouteTable<S> {
    router: Router<S>,
    list: Vec<(Method, String)>,
}

impl<S: Clone + Send + Sync + 'static> Default for RouteTable<S> {
    fn default() -> Self {
        RouteTable {
            router: Router::new(),
            list: Vec::new(),
        }
    }
}

macro_rules! verb {
    ($name:ident, $filter:ident, $method:ident) => {
        pub fn $name<H, T>(self, path: &str, handler: H) -> Self
        where
            H: Handler<T, S>,
            T: 'static,
        {
            self.add(Method::$method, MethodFilter::$filter, path, handler)
        }
    };
}

impl<S: Clone + Send + Sync + 'static> RouteTable<S> {
    pub fn new() -> Self {
        Self::default()
    }

    verb!(get, GET, GET);
    verb!(post, POST, POST);
    verb!(put, PUT, PUT);
    verb!(patch, PATCH, PATCH);
    verb!(delete, DELETE, DELETE);

    fn add<H, T>(mut self, method: Method, filter: MethodFilter, path: &str, handler: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        assert!(
            !self.list.iter().any(|(m, p)| *m == method && p == path),
            "route {method} {path} registered twice"
        );
        self.list.push((method, path.to_string()));
        self.router = self.router.route(path, on(filter, handler));
        self
    }

    /// Every `(method, path)` routed, paths in axum's `{param}` syntax.
    pub fn list(&self) -> &[(Method, String)] {
        &self.list
    }

    pub fn into_router(self) -> Router<S> {
        self.router
    }
}
