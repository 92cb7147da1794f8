//! mpanel §10 CloudPods and their action extensions on a real server, with
//! real LXC containers on a hypervisor node (sshd on 127.0.0.8, root):
//! create (validated; customers may not), the job carries it out, suspend,
//! one job at a time (409), resume, a customer stops and starts its own
//! pod but may not suspend it or see another's, delete destroys.

use crate::common::{call, TestServer};
use mooring_core::{
    billing::{
        customers::{self, CustomerInput},
        products::{self, PriceInput, ProductInput},
        Viewer,
    },
    cloudpods::{self, lxc, CloudPods},
    jobs::{Registry, Worker},
    nodes::servers,
    testkit::{self, sshd::Sshd},
    users, DEFAULT_TENANT_ID,
};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::json;

const EMAIL: &str = "ops@example.com";
const PASSWORD: &str = "correct horse battery";

async fn pods_api(t: testkit::TestDb, host: &str) {
    users::ensure_admin(&t.db, EMAIL, SecretString::from(PASSWORD))
        .await
        .unwrap();
    let db = t.db.clone();
    let s = TestServer::start(t).await;
    let jwt = s.jwt(EMAIL, PASSWORD).await;
    use Method as M;
    let key = s.nodes().key(DEFAULT_TENANT_ID).await.unwrap();
    let node = Sshd::start(host, &key.public_openssh).await;
    let (st, hv) = call(&s, M::POST, "/api/servers", &jwt, Some(json!({ "name": "hv", "host": host, "port": node.port, "sshUser": "root", "roles": ["hypervisor"] }))).await;
    assert_eq!(st, StatusCode::CREATED, "{hv}");
    let admin = Viewer::Operator {
        tenant: DEFAULT_TENANT_ID.into(),
        admin: true,
    };
    let product = products::create(
        &db,
        &admin,
        "op",
        ProductInput {
            name: Some("CloudPod Nano".into()),
            kind: Some("cloudpod".into()),
            sku: Some("NANO".into()),
            billing_cycles: Some(vec![PriceInput {
                cycle: "monthly".into(),
                price: "5".parse().unwrap(),
                currency: "USD".into(),
            }]),
            metadata: Some(json!({ "template": "busybox", "memoryMb": 64 })),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut ids = Vec::new();
    for (name, email) in [("Ann", "ann@example.com"), ("Bob", "bob@example.com")] {
        let c = customers::create(
            &db,
            &admin,
            "op",
            CustomerInput {
                name: Some(name.into()),
                email: Some(email.into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        customers::create_login(
            &db,
            &admin,
            "op",
            &c.id,
            SecretString::from("customer portal password"),
        )
        .await
        .unwrap();
        ids.push(c.id);
    }
    let ann = s.jwt("ann@example.com", "customer portal password").await;
    let bob = s.jwt("bob@example.com", "customer portal password").await;
    let worker = Worker::new(
        db.clone(),
        cloudpods::KINDS.into_iter().fold(Registry::new(), |r, k| {
            r.register(
                k,
                CloudPods {
                    nodes: s.nodes().clone(),
                },
            )
        }),
    );
    let drain = || async { while worker.run_one().await.unwrap() {} };

    let body = json!({ "customerId": ids[0], "productId": product.id, "name": "ann-box", "image": "busybox" });
    let (st, _) = call(&s, M::POST, "/api/cloudpods", &ann, Some(body.clone())).await;
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "customers order, they do not make pods"
    );
    let mut bad = body.clone();
    bad["name"] = json!("Ann Box");
    let (st, b) = call(&s, M::POST, "/api/cloudpods", &jwt, Some(bad)).await;
    assert_eq!(
        (st, b["error"]["details"]["fields"][0]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("name"))
    );
    let (st, op) = call(&s, M::POST, "/api/cloudpods", &jwt, Some(body)).await;
    assert_eq!(st, StatusCode::CREATED, "{op}");
    assert_eq!(op["cloudPod"]["status"], "pending");
    assert_eq!(op["job"]["status"], "queued");
    let id = op["cloudPod"]["id"].as_str().unwrap().to_string();
    drain().await;
    let (_, pod) = call(&s, M::GET, &format!("/api/cloudpods/{id}"), &ann, None).await;
    assert_eq!(
        (pod["status"].clone(), pod["power"].clone()),
        (json!("active"), json!("running")),
        "{pod}"
    );
    assert!(pod["ipv4"].as_str().unwrap().starts_with("10.213.0."));
    assert_eq!(pod["serverId"], hv["id"]);
    let (st, _) = call(&s, M::GET, &format!("/api/cloudpods/{id}"), &bob, None).await;
    assert_eq!(
        st,
        StatusCode::NOT_FOUND,
        "another customer's pod does not exist for Bob"
    );
    let (_, mine) = call(&s, M::GET, "/api/cloudpods?status=active", &ann, None).await;
    assert_eq!(mine["total"], 1);
    let (st, _) = call(&s, M::GET, "/api/cloudpods?status=lost", &jwt, None).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);

    // Suspend: one job at a time.
    let (st, _) = call(
        &s,
        M::POST,
        &format!("/api/cloudpods/{id}/suspend"),
        &ann,
        None,
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, op) = call(
        &s,
        M::POST,
        &format!("/api/cloudpods/{id}/suspend"),
        &jwt,
        None,
    )
    .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{op}");
    let (st, _) = call(&s, M::DELETE, &format!("/api/cloudpods/{id}"), &jwt, None).await;
    assert_eq!(st, StatusCode::CONFLICT, "another job runs on it");
    drain().await;
    let (_, pod) = call(&s, M::GET, &format!("/api/cloudpods/{id}"), &jwt, None).await;
    assert_eq!(
        (pod["status"].clone(), pod["power"].clone()),
        (json!("suspended"), json!("frozen"))
    );
    let hvs = servers::load(&db, hv["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    let name = cloudpods::load(&db, &id).await.unwrap().provider_ref;
    assert_eq!(
        lxc::power(s.nodes(), &hvs, &name).await.unwrap(),
        lxc::Power::Frozen
    );
    let (st, _) = call(
        &s,
        M::POST,
        &format!("/api/cloudpods/{id}/start"),
        &ann,
        None,
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT, "a suspended pod does not start");
    let (st, _) = call(
        &s,
        M::POST,
        &format!("/api/cloudpods/{id}/unsuspend"),
        &jwt,
        None,
    )
    .await;
    assert_eq!(st, StatusCode::ACCEPTED);
    drain().await;

    // The customer stops and starts its own pod.
    let (st, _) = call(
        &s,
        M::POST,
        &format!("/api/cloudpods/{id}/stop"),
        &ann,
        None,
    )
    .await;
    assert_eq!(st, StatusCode::ACCEPTED);
    drain().await;
    assert_eq!(
        lxc::power(s.nodes(), &hvs, &name).await.unwrap(),
        lxc::Power::Stopped
    );
    let (st, _) = call(
        &s,
        M::POST,
        &format!("/api/cloudpods/{id}/start"),
        &ann,
        None,
    )
    .await;
    assert_eq!(st, StatusCode::ACCEPTED);
    drain().await;
    assert_eq!(
        lxc::power(s.nodes(), &hvs, &name).await.unwrap(),
        lxc::Power::Running
    );

    // Delete destroys it.
    let (st, op) = call(&s, M::DELETE, &format!("/api/cloudpods/{id}"), &jwt, None).await;
    assert_eq!(
        (st, op["cloudPod"]["status"].clone()),
        (StatusCode::ACCEPTED, json!("terminating"))
    );
    drain().await;
    let (_, pod) = call(&s, M::GET, &format!("/api/cloudpods/{id}"), &jwt, None).await;
    assert_eq!(pod["status"], "terminated");
    assert_eq!(
        lxc::power(s.nodes(), &hvs, &name).await.unwrap(),
        lxc::Power::Missing
    );
    let (_, audit) = call(&s, M::GET, "/api/audit?type=cloudpod.", &jwt, None).await;
    assert!(audit["total"].as_i64().unwrap() >= 6, "{audit}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudpods_api_sqlite() {
    pods_api(testkit::sqlite().await, "127.0.0.8").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudpods_api_postgres() {
    pods_api(testkit::postgres().await, "127.0.0.9").await;
}

/// A Proxmox VE node through the API: added with its token (never shown
/// back) and CA, bad settings refused per field, tested through its API, a
/// pod made on it is a VM cloned from the template, and its hypervisor
/// cannot change under the pod.
async fn proxmox_api(t: testkit::TestDb) {
    use mooring_standins::proxmox::ProxmoxStandin;
    users::ensure_admin(&t.db, EMAIL, SecretString::from(PASSWORD))
        .await
        .unwrap();
    let db = t.db.clone();
    let s = TestServer::start(t).await;
    let jwt = s.jwt(EMAIL, PASSWORD).await;
    use Method as M;
    let pve = ProxmoxStandin::start().await;
    let settings = json!({
        "kind": "proxmox", "apiUrl": pve.url, "tokenId": pve.token_id, "tokenSecret": pve.token_secret,
        "node": "pve", "templateVmid": 9000, "network": "10.215.0.0/24", "caPem": pve.ca_pem(),
    });
    let server = |hv: serde_json::Value| json!({ "name": "pve-1", "host": "127.0.0.1", "roles": ["hypervisor"], "hypervisor": hv });
    for (field, change) in [
        ("apiUrl", json!({ "apiUrl": "http://127.0.0.1:8006" })),
        ("templateVmid", json!({ "templateVmid": 1 })),
        ("network", json!({ "network": "10.215.0.0" })),
        (
            "caPem",
            json!({ "caPem": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----" }),
        ),
    ] {
        let mut hv = settings.clone();
        for (k, v) in change.as_object().unwrap() {
            hv[k] = v.clone();
        }
        let (st, b) = call(&s, M::POST, "/api/servers", &jwt, Some(server(hv))).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(b["error"]["details"]["fields"][0]["field"], field, "{b}");
    }
    let mut unknown = settings.clone();
    unknown["password"] = json!("x");
    let (st, _) = call(&s, M::POST, "/api/servers", &jwt, Some(server(unknown))).await;
    assert_eq!(
        st,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown fields are refused"
    );

    let (st, hv) = call(
        &s,
        M::POST,
        "/api/servers",
        &jwt,
        Some(server(settings.clone())),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{hv}");
    assert_eq!(hv["hypervisor"]["kind"], "proxmox");
    assert_eq!(hv["hypervisor"]["tokenSecretSet"], true);
    assert_eq!(hv["hypervisor"]["apiUrl"], json!(pve.url));
    assert!(!hv.to_string().contains(&pve.token_secret), "{hv}");
    let id = hv["id"].as_str().unwrap().to_string();
    let (st, test) = call(&s, M::POST, &format!("/api/servers/{id}/test"), &jwt, None).await;
    assert_eq!(
        (st, test["ok"].clone()),
        (StatusCode::OK, json!(true)),
        "{test}"
    );
    assert_eq!(test["server"]["status"], "online");

    let admin = Viewer::Operator {
        tenant: DEFAULT_TENANT_ID.into(),
        admin: true,
    };
    let product = products::create(
        &db,
        &admin,
        "op",
        ProductInput {
            name: Some("VM".into()),
            kind: Some("cloudpod".into()),
            sku: Some("VM".into()),
            billing_cycles: Some(vec![PriceInput {
                cycle: "monthly".into(),
                price: "9".parse().unwrap(),
                currency: "USD".into(),
            }]),
            metadata: Some(json!({ "cpu": 1, "memoryMb": 1024, "diskGb": 8 })),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let customer = customers::create(
        &db,
        &admin,
        "op",
        CustomerInput {
            name: Some("Pat".into()),
            email: Some("pat@example.com".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let worker = Worker::new(
        db.clone(),
        cloudpods::KINDS.into_iter().fold(Registry::new(), |r, k| {
            r.register(
                k,
                CloudPods {
                    nodes: s.nodes().clone(),
                },
            )
        }),
    );
    let body = json!({ "customerId": customer.id, "productId": product.id, "name": "pat-vm" });
    let (st, op) = call(&s, M::POST, "/api/cloudpods", &jwt, Some(body)).await;
    assert_eq!(st, StatusCode::CREATED, "{op}");
    while worker.run_one().await.unwrap() {}
    let pod_id = op["cloudPod"]["id"].as_str().unwrap();
    let (_, pod) = call(&s, M::GET, &format!("/api/cloudpods/{pod_id}"), &jwt, None).await;
    assert_eq!(
        (
            pod["status"].clone(),
            pod["provider"].clone(),
            pod["ipv4"].clone()
        ),
        (json!("active"), json!("proxmox"), json!("10.215.0.2")),
        "{pod}"
    );
    let vm = pve
        .vm(pod["providerRef"].as_str().unwrap().parse().unwrap())
        .expect("a VM on the node");
    assert_eq!(
        (vm.name.as_str(), vm.status.as_str()),
        ("pat-vm", "running")
    );

    let (st, b) = call(
        &s,
        M::PUT,
        &format!("/api/servers/{id}"),
        &jwt,
        Some(json!({ "hypervisor": { "kind": "lxc" } })),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT, "{b}");
    for change in [
        json!({ "node": "pve2" }),
        json!({ "network": "10.99.0.0/24" }),
    ] {
        let (st, b) = call(
            &s,
            M::PUT,
            &format!("/api/servers/{id}"),
            &jwt,
            Some(json!({ "hypervisor": change })),
        )
        .await;
        assert_eq!(
            st,
            StatusCode::CONFLICT,
            "what finds the pod's VM stays while it lives: {b}"
        );
    }
    // A new secret is taken; nothing else given changes.
    let (st, b) = call(
        &s,
        M::PUT,
        &format!("/api/servers/{id}"),
        &jwt,
        Some(json!({ "hypervisor": { "tokenSecret": "rotated-secret" } })),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["hypervisor"]["templateVmid"], 9000);
    let (_, test) = call(&s, M::POST, &format!("/api/servers/{id}/test"), &jwt, None).await;
    assert_eq!(
        (test["ok"].clone(), test["code"].clone()),
        (json!(false), json!("api_auth_failed")),
        "the stand-in knows only the first secret: {test}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxmox_api_sqlite() {
    proxmox_api(testkit::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxmox_api_postgres() {
    proxmox_api(testkit::postgres().await).await;
}
