//! The route table: every JSON route, every portal form and every Leptos
//! server function, each registered with who may call it.
//!
//! It is where authorization starts. The table wraps each handler with
//! [`require`], so a request without the [`Access`] its route was registered
//! with never reaches the handler; server functions (routed by Leptos) are
//! gated by [`fn_gate`] from the same table, and one the table does not list
//! answers 404. Deny by default:
//! - a route is for signed-in **operators** unless its line says otherwise
//!   (`.anyone()`, `.customers()`, `.admins()`, `.platform()`);
//! - safe methods need the `read` scope, others `admin` (`deploy_post`: `deploy`);
//! - only the `public_*` methods need no credential.
//!
//! The table also lets tests hold the router against the OpenAPI contracts
//! and walk every route as every kind of caller (axum cannot list its routes).

use std::{collections::HashMap, sync::Arc};

use axum::{
    extract::Request,
    handler::Handler,
    http::{Method, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{on, MethodFilter, MethodRouter},
    Router,
};
use mooring_core::identity::Scope;

use super::auth::{refuse_fn, require, Access, Who};

/// One routed endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    pub method: Method,
    pub path: String,
    pub access: Access,
}

impl RouteInfo {
    /// A portal form (`/admin/...`, `/portal/...`, `/login`...), not JSON.
    pub fn is_form(&self) -> bool {
        matches!(self.access, Access::Form(_) | Access::PublicForm)
    }

    /// A Leptos server function (`/_fn/...`).
    pub fn is_server_fn(&self) -> bool {
        matches!(self.access, Access::ServerFn(_))
    }
}

/// Routes with their methods, paths and access rules.
pub struct RouteTable<S> {
    routes: Vec<(RouteInfo, Option<MethodRouter<S>>)>,
}

impl<S: Clone + Send + Sync + 'static> Default for RouteTable<S> {
    fn default() -> Self {
        RouteTable { routes: Vec::new() }
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
                path,
                $access,
                Some(on(MethodFilter::$filter, handler)),
            )
        }
    };
}

const OPERATORS_READ: Access = Access::Signed {
    scope: Scope::Read,
    who: Who::Operator,
};
const OPERATORS_WRITE: Access = Access::Signed {
    scope: Scope::Admin,
    who: Who::Operator,
};
const OPERATORS_DEPLOY: Access = Access::Signed {
    scope: Scope::Deploy,
    who: Who::Operator,
};

impl<S: Clone + Send + Sync + 'static> RouteTable<S> {
    pub fn new() -> Self {
        Self::default()
    }

    verb!(get, GET, GET, OPERATORS_READ);
    verb!(post, POST, POST, OPERATORS_WRITE);
    verb!(put, PUT, PUT, OPERATORS_WRITE);
    verb!(patch, PATCH, PATCH, OPERATORS_WRITE);
    verb!(delete, DELETE, DELETE, OPERATORS_WRITE);
    // Deploy and rollback: open to `deploy` tokens.
    verb!(deploy_post, POST, POST, OPERATORS_DEPLOY);
    // Sign-in, health, webhooks, contracts: no credential needed.
    verb!(public_get, GET, GET, Access::Public);
    verb!(public_post, POST, POST, Access::Public);
    // A portal form posted by signed-in operators (see `.customers()`...).
    verb!(form, POST, POST, Access::Form(Who::Operator));
    // A form anyone may post (sign-in, password reset).
    verb!(public_form, POST, POST, Access::PublicForm);

    /// A Leptos server function at `/_fn/{name}`, for operators unless
    /// modified. Leptos routes it; [`fn_gate`] enforces this line.
    pub fn server_fn(self, name: &str) -> Self {
        let path = format!("{}/{name}", mooring_app::SERVER_FN_PREFIX);
        self.add(Method::POST, &path, Access::ServerFn(Who::Operator), None)
    }

    /// The last route is open to any signed-in caller (customers too; the
    /// handler scopes what each sees).
    pub fn anyone(self) -> Self {
        self.who(Who::Anyone)
    }

    /// The last route is for customers' logins only.
    pub fn customers(self) -> Self {
        self.who(Who::Customer)
    }

    /// The last route is for tenant admins (not staff).
    pub fn admins(self) -> Self {
        self.who(Who::Admin)
    }

    /// The last route is for platform admins.
    pub fn platform(self) -> Self {
        self.who(Who::PlatformAdmin)
    }

    fn who(mut self, who: Who) -> Self {
        let (last, _) = self.routes.last_mut().expect("a route to modify");
        last.access = match last.access {
            Access::Signed { scope, .. } => Access::Signed { scope, who },
            Access::Form(_) => Access::Form(who),
            Access::ServerFn(_) => Access::ServerFn(who),
            Access::Public | Access::PublicForm => {
                panic!(
                    "{} {} is public: it has no caller to restrict",
                    last.method, last.path
                )
            }
        };
        self
    }

    fn add(
        mut self,
        method: Method,
        path: &str,
        access: Access,
        route: Option<MethodRouter<S>>,
    ) -> Self {
        assert!(
            !self
                .routes
                .iter()
                .any(|(r, _)| r.method == method && r.path == path),
            "route {method} {path} registered twice"
        );
        let info = RouteInfo {
            method,
            path: path.to_string(),
            access,
        };
        self.routes.push((info, route));
        self
    }

    /// Every route with its access rule, paths in axum's `{param}` syntax.
    pub fn list(&self) -> Vec<RouteInfo> {
        self.routes.iter().map(|(r, _)| r.clone()).collect()
    }

    /// The router (server functions excluded: Leptos routes them) and the
    /// server functions' gate.
    pub fn into_parts(self) -> (Router<S>, FnGate) {
        let mut router = Router::new();
        let mut fns = HashMap::new();
        for (info, route) in self.routes {
            let access = info.access;
            match route {
                Some(route) => {
                    let route = route.route_layer(middleware::from_fn(move |req, next| {
                        require(access, req, next)
                    }));
                    router = router.route(&info.path, route);
                }
                None => {
                    if let Access::ServerFn(who) = access {
                        fns.insert(info.path, who);
                    }
                }
            }
        }
        (router, FnGate(Arc::new(fns)))
    }
}

/// Who may call each server function (from the route table).
#[derive(Clone, Debug, Default)]
pub struct FnGate(Arc<HashMap<String, Who>>);

/// Middleware over the whole router: a call to `/_fn/{name}` goes through
/// only if the table lists the function and its caller meets its line.
pub async fn fn_gate(gate: FnGate, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if !path.starts_with(mooring_app::SERVER_FN_PREFIX) {
        return next.run(req).await;
    }
    let Some(who) = gate.0.get(path).copied() else {
        return (StatusCode::NOT_FOUND, "No such server function.").into_response();
    };
    if let Some(refused) = refuse_fn(who, &req) {
        return refused;
    }
    next.run(req).await
}
