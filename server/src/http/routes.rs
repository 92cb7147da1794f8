//! A router that remembers its routes, so tests can hold it against the
//! OpenAPI contracts (axum cannot list what it routes).
//!
//! It is also where authorization starts: every route is registered with the
//! [`Access`] it needs, and the table wraps the handler so that a request
//! without it never reaches the handler. Routes are authenticated unless
//! registered through a `public_*` method; safe methods need the `read` scope,
//! others `admin` unless registered as deploy actions.

use axum::{
    handler::Handler,
    http::Method,
    middleware,
    routing::{on, MethodFilter},
    Router,
};
use mooring_core::identity::Scope;

use super::auth::{require, Access};

/// One routed endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    pub method: Method,
    pub path: String,
    pub access: Access,
}

/// API routes with their methods, paths and access rules.
pub struct RouteTable<S> {
    router: Router<S>,
    list: Vec<RouteInfo>,
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
    ($name:ident, $filter:ident, $method:ident, $access:expr) => {
        pub fn $name<H, T>(self, path: &str, handler: H) -> Self
        where
            H: Handler<T, S>,
            T: 'static,
        {
            self.add(
                Method::$method,
                MethodFilter::$filter,
                path,
                $access,
                handler,
            )
        }
    };
}

impl<S: Clone + Send + Sync + 'static> RouteTable<S> {
    pub fn new() -> Self {
        Self::default()
    }

    verb!(get, GET, GET, Access::Scope(Scope::Read));
    verb!(post, POST, POST, Access::Scope(Scope::Admin));
    verb!(put, PUT, PUT, Access::Scope(Scope::Admin));
    verb!(patch, PATCH, PATCH, Access::Scope(Scope::Admin));
    verb!(delete, DELETE, DELETE, Access::Scope(Scope::Admin));
    // Deploy and rollback: open to `deploy` tokens.
    verb!(deploy_post, POST, POST, Access::Scope(Scope::Deploy));
    // Sign-in, health, webhooks, contracts: no credential needed.
    verb!(public_get, GET, GET, Access::Public);
    verb!(public_post, POST, POST, Access::Public);

    fn add<H, T>(
        mut self,
        method: Method,
        filter: MethodFilter,
        path: &str,
        access: Access,
        handler: H,
    ) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        assert!(
            !self
                .list
                .iter()
                .any(|r| r.method == method && r.path == path),
            "route {method} {path} registered twice"
        );
        self.list.push(RouteInfo {
            method,
            path: path.to_string(),
            access,
        });
        let route = on(filter, handler);
        let route = match access {
            Access::Public => route,
            Access::Scope(_) => route.route_layer(middleware::from_fn(move |req, next| {
                require(access, req, next)
            })),
        };
        self.router = self.router.route(path, route);
        self
    }

    /// Every route with its access rule, paths in axum's `{param}` syntax.
    pub fn list(&self) -> &[RouteInfo] {
        &self.list
    }

    pub fn into_router(self) -> Router<S> {
        self.router
    }
}
