//! CloudPods as real LXC containers (busybox template) on a hypervisor
//! node reached over SSH (a real sshd on 127.0.0.6, root): provisioned
//! with its address, hostname and memory limit, output streamed into the
//! job log, provisioning again changes nothing, suspend freezes, resume,
//! stop/start/reboot (a customer may; suspend it may not), destroy; and a
//! paid `cloudpod` subscription gets its pod through the billing lifecycle,
//! which cancellation destroys.

use mooring_core::{
    billing::{
        customers::{self, CustomerInput},
        invoices,
        lifecycle::ServiceJobs,
        orders::{self, ItemInput, OrderInput},
        products::{self, PriceInput, ProductInput},
        subscriptions::{self, SubscriptionFilter},
        Viewer,
    },
    cloudpods::{self, lxc, CloudPods, PodInput},
    identity::Principal,
    jobs::{self, Registry, Worker},
    nodes::{
        keys::Vault,
        servers::{self, Nodes, ServerInput},
        ssh::Cmd,
    },
    paging::PageQuery,
    testkit::{self, sshd::Sshd},
    CoreError, DEFAULT_TENANT_ID,
};

fn principal() -> Principal {
    mooring_core::testkit::operator()
}

fn admin() -> Viewer {
    Viewer::Operator {
        tenant: DEFAULT_TENANT_ID.into(),
        admin: true,
    }
}

async fn drain(w: &Worker) {
    while w.run_one().await.unwrap() {}
}

async fn pods_flow(t: testkit::TestDb, host: &str) {
    let db = t.db.clone();
    let nodes = Nodes::new(db.clone(), Vault::new([3; 32]));
    let key = nodes.key(DEFAULT_TENANT_ID).await.unwrap();
    let node = Sshd::start(host, &key.public_openssh).await;
    assert_eq!(
        node.user, "root",
        "LXC needs root on the node (tests run as root)"
    );
    let hv = servers::create(
        &nodes,
        &principal(),
        ServerInput {
            name: Some("hv-1".into()),
            host: Some(host.into()),
            port: Some(i64::from(node.port)),
            ssh_user: Some("root".into()),
            roles: Some(vec!["hypervisor".into()]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let pods = CloudPods {
        nodes: nodes.clone(),
    };
    let registry = cloudpods::KINDS
        .into_iter()
        .fold(Registry::new(), |r, k| r.register(k, pods.clone()));
    let services = ServiceJobs::new().with("cloudpod", pods.clone());
    let registry = [
        subscriptions::PROVISION,
        subscriptions::SUSPEND,
        subscriptions::UNSUSPEND,
        subscriptions::TERMINATE,
    ]
    .into_iter()
    .fold(registry, |r, k| r.register(k, services.clone()));
    let worker = Worker::new(db.clone(), registry);

    let product = products::create(
        &db,
        &admin(),
        "op",
        ProductInput {
            name: Some("CloudPod Nano".into()),
            kind: Some("cloudpod".into()),
            sku: Some("CPOD-NANO".into()),
            billing_cycles: Some(vec![PriceInput {
                cycle: "monthly".into(),
                price: "5".parse().unwrap(),
                currency: "USD".into(),
            }]),
            metadata: Some(serde_json::json!({ "template": "busybox", "cpu": 1, "memoryMb": 128, "diskGb": 1 })),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let customer = customers::create(
        &db,
        &admin(),
        "op",
        CustomerInput {
            name: Some("Pia".into()),
            email: Some("pia@example.com".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let me = Viewer::Customer {
        tenant: DEFAULT_TENANT_ID.into(),
        customer: mooring_core::billing::CustomerId::new(customer.id.clone()).unwrap(),
    };

    // Bad input is refused per field.
    let bad = cloudpods::create(
        &db,
        &admin(),
        "op",
        PodInput {
            customer_id: Some(customer.id.clone()),
            product_id: Some(product.id.clone()),
            name: Some("Bad_Name".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(bad.to_string().starts_with("name:"), "{bad}");
    assert!(matches!(
        cloudpods::create(&db, &me, "pia", PodInput::default()).await,
        Err(CoreError::Forbidden(_))
    ));

    // Provision: placed on the hypervisor with an address; running.
    let (pod, job) = cloudpods::create(
        &db,
        &admin(),
        "op",
        PodInput {
            customer_id: Some(customer.id.clone()),
            product_id: Some(product.id.clone()),
            name: Some("pia-box".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(pod.status, "pending");
    drain(&worker).await;
    let j = jobs::get(&db, &principal(), &job).await.unwrap();
    assert_eq!(j.status, "succeeded", "{j:?}");
    let pod = cloudpods::get(&db, &me, &pod.id).await.unwrap();
    assert_eq!(
        (pod.status.as_str(), pod.power.as_str()),
        ("active", "running")
    );
    assert_eq!(pod.server_id.as_deref(), Some(hv.id.as_str()));
    let ip = pod.ipv4.clone().unwrap();
    assert!(ip.starts_with("10.213.0."), "{ip}");
    let hv = servers::load(&db, &hv.id).await.unwrap().unwrap();
    assert_eq!(
        lxc::power(&nodes, &hv, &pod.provider_ref).await.unwrap(),
        lxc::Power::Running
    );
    let inside = lxc::attach(
        &nodes,
        &hv,
        &pod.provider_ref,
        &Cmd::new("hostname").and(Cmd::new("ip").args(["-4", "addr", "show", "eth0"])),
    )
    .await
    .unwrap();
    assert!(inside.starts_with("pia-box\n"), "{inside}");
    assert!(inside.contains(&format!("inet {ip}/24")), "{inside}");
    let limit = nodes
        .check(
            &hv,
            &Cmd::new("sh").arg("-c").arg(format!(
                "lxc-cgroup -P {p} -n {n} memory.max 2>/dev/null || lxc-cgroup -P {p} -n {n} memory.limit_in_bytes",
                p = lxc::LXC_PATH,
                n = pod.provider_ref
            )),
            None,
            std::time::Duration::from_secs(20),
            &mut |_, _| {},
        )
        .await
        .unwrap();
    assert_eq!(limit.stdout.trim(), "134217728", "128 MB memory limit");
    // The disk holds its size, 1 GiB (writing more fails), where the node
    // (this machine) has loop devices; else the job log says it does not.
    let loops = std::process::Command::new("losetup")
        .arg("-f")
        .output()
        .is_ok_and(|o| o.status.success());
    if loops {
        let disk = lxc::attach(
            &nodes,
            &hv,
            &pod.provider_ref,
            &Cmd::new("sh").arg("-c").arg(
                "df -k / | tail -1; dd if=/dev/zero of=/fill bs=1M count=1200 2>/dev/null; echo \"dd $?\"; rm -f /fill",
            ),
        )
        .await
        .unwrap();
        let total_kb: u64 = disk
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("df said {disk}"));
        assert!(
            (900_000..=1_048_576).contains(&total_kb),
            "a 1 GiB root filesystem: {disk}"
        );
        assert!(
            !disk.contains("dd 0"),
            "writing 1.2 GB into 1 GiB fails: {disk}"
        );
    }
    let log: Vec<String> =
        sqlx::query_scalar("SELECT line FROM job_logs WHERE job_id = $1 ORDER BY seq")
            .bind(&job)
            .fetch_all(db.pool())
            .await
            .unwrap();
    assert!(
        log.iter()
            .any(|l| l.contains(&format!("created {}", pod.provider_ref))),
        "the node's output is in the job log: {log:?}"
    );
    let said = if loops {
        "disk: 1 GiB (an ext4 image"
    } else {
        "the 1 GiB size is not enforced"
    };
    assert!(log.iter().any(|l| l.contains(said)), "{log:?}");

    // An attempt that stopped between making the container and finishing
    // its setup: the next attempt finishes it (hostname, marker).
    let on_node = |script: String| {
        let nodes = nodes.clone();
        let hv = hv.clone();
        async move {
            nodes
                .check(
                    &hv,
                    &Cmd::new("sh").arg("-c").arg(script),
                    None,
                    std::time::Duration::from_secs(60),
                    &mut |_, _| {},
                )
                .await
                .unwrap()
                .stdout
        }
    };
    let dir = format!("{}/{}", lxc::LXC_PATH, pod.provider_ref);
    on_node(format!(
        "lxc-stop -P {p} -n {n} -k; rm {dir}/.mooring-ready; sed -i 's/^lxc.uts.name = .*/lxc.uts.name = {n}/' {dir}/config",
        p = lxc::LXC_PATH,
        n = pod.provider_ref
    ))
    .await;
    let mut tx = db.begin_write().await.unwrap();
    let redo = jobs::enqueue(
        &db,
        &mut tx,
        jobs::NewJob::new(
            DEFAULT_TENANT_ID,
            cloudpods::PROVISION,
            serde_json::json!({ "cloudPodId": pod.id }),
        )
        .target("cloudpod", pod.id.clone()),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    drain(&worker).await;
    assert_eq!(
        jobs::get(&db, &principal(), &redo).await.unwrap().status,
        "succeeded"
    );
    let fixed = on_node(format!(
        "grep '^lxc.uts.name' {dir}/config; ls {dir}/.mooring-ready"
    ))
    .await;
    assert!(fixed.contains("lxc.uts.name = pia-box"), "{fixed}");
    let redo_log: Vec<String> =
        sqlx::query_scalar("SELECT line FROM job_logs WHERE job_id = $1 ORDER BY seq")
            .bind(&redo)
            .fetch_all(db.pool())
            .await
            .unwrap();
    assert!(
        redo_log.iter().any(|l| l.contains("finishing its setup")),
        "{redo_log:?}"
    );

    // Provisioning again changes nothing.
    let mut tx = db.begin_write().await.unwrap();
    jobs::enqueue(
        &db,
        &mut tx,
        jobs::NewJob::new(
            DEFAULT_TENANT_ID,
            cloudpods::PROVISION,
            serde_json::json!({ "cloudPodId": pod.id }),
        )
        .target("cloudpod", pod.id.clone()),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    drain(&worker).await;
    let again = cloudpods::get(&db, &admin(), &pod.id).await.unwrap();
    assert_eq!(
        (again.status.as_str(), again.ipv4.as_deref()),
        ("active", Some(ip.as_str()))
    );

    // Suspend (operators only) freezes; resume thaws.
    assert!(matches!(
        cloudpods::act(&db, &me, "pia", &pod.id, "suspend").await,
        Err(CoreError::Forbidden(_))
    ));
    cloudpods::act(&db, &admin(), "op", &pod.id, "suspend")
        .await
        .unwrap();
    assert!(
        matches!(
            cloudpods::act(&db, &admin(), "op", &pod.id, "reboot").await,
            Err(CoreError::Conflict(_))
        ),
        "one job at a time on a pod"
    );
    drain(&worker).await;
    let p = cloudpods::get(&db, &admin(), &pod.id).await.unwrap();
    assert_eq!(
        (p.status.as_str(), p.power.as_str()),
        ("suspended", "frozen")
    );
    assert_eq!(
        lxc::power(&nodes, &hv, &pod.provider_ref).await.unwrap(),
        lxc::Power::Frozen
    );
    assert!(matches!(
        cloudpods::act(&db, &admin(), "op", &pod.id, "suspend").await,
        Err(CoreError::Conflict(_))
    ));
    cloudpods::act(&db, &admin(), "op", &pod.id, "unsuspend")
        .await
        .unwrap();
    drain(&worker).await;
    assert_eq!(
        lxc::power(&nodes, &hv, &pod.provider_ref).await.unwrap(),
        lxc::Power::Running
    );

    // The customer stops, starts and reboots its own pod.
    cloudpods::act(&db, &me, "pia", &pod.id, "stop")
        .await
        .unwrap();
    drain(&worker).await;
    assert_eq!(
        lxc::power(&nodes, &hv, &pod.provider_ref).await.unwrap(),
        lxc::Power::Stopped
    );
    cloudpods::act(&db, &me, "pia", &pod.id, "start")
        .await
        .unwrap();
    drain(&worker).await;
    cloudpods::act(&db, &me, "pia", &pod.id, "reboot")
        .await
        .unwrap();
    drain(&worker).await;
    let p = cloudpods::get(&db, &me, &pod.id).await.unwrap();
    assert_eq!((p.status.as_str(), p.power.as_str()), ("active", "running"));
    assert_eq!(
        lxc::power(&nodes, &hv, &pod.provider_ref).await.unwrap(),
        lxc::Power::Running
    );

    // The product lets customers only reboot: stopping is refused.
    let mut meta = products::get(&db, &admin(), &product.id)
        .await
        .unwrap()
        .metadata;
    meta["customerActions"] = serde_json::json!(["reboot"]);
    products::update(
        &db,
        &admin(),
        "op",
        &product.id,
        ProductInput {
            metadata: Some(meta.clone()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(matches!(
        cloudpods::act(&db, &me, "pia", &pod.id, "stop").await,
        Err(CoreError::Forbidden(_))
    ));
    cloudpods::act(&db, &me, "pia", &pod.id, "reboot")
        .await
        .unwrap();
    drain(&worker).await;
    meta["customerActions"] = serde_json::json!(["start", "stop", "reboot"]);
    products::update(
        &db,
        &admin(),
        "op",
        &product.id,
        ProductInput {
            metadata: Some(meta),
            ..Default::default()
        },
    )
    .await
    .unwrap();

    // Destroy: gone from the node.
    cloudpods::act(&db, &admin(), "op", &pod.id, "destroy")
        .await
        .unwrap();
    drain(&worker).await;
    let p = cloudpods::get(&db, &admin(), &pod.id).await.unwrap();
    assert_eq!(p.status, "terminated");
    assert_eq!(
        lxc::power(&nodes, &hv, &pod.provider_ref).await.unwrap(),
        lxc::Power::Missing
    );

    // Bought: paying for the product makes the customer's pod; cancelling
    // now destroys it.
    let (_, inv) = orders::create(
        &db,
        &admin(),
        "op",
        OrderInput {
            customer_id: Some(customer.id.clone()),
            items: vec![ItemInput {
                product_id: product.id.clone(),
                billing_cycle: "monthly".into(),
                quantity: None,
                addons: vec![],
            }],
            coupon_code: None,
            currency: None,
        },
    )
    .await
    .unwrap();
    invoices::set_status(&db, &admin(), "op", &inv.id, "paid")
        .await
        .unwrap();
    drain(&worker).await;
    let page = PageQuery::default().check().unwrap();
    let (mine, _) = cloudpods::list(&db, &me, None, Some("active"), page)
        .await
        .unwrap();
    assert_eq!(mine.len(), 1, "{mine:?}");
    let bought = mine[0].clone();
    assert!(bought.subscription_id.is_some());
    assert_eq!(
        lxc::power(&nodes, &hv, &bought.provider_ref).await.unwrap(),
        lxc::Power::Running
    );
    let (subs, _) = subscriptions::list(&db, &admin(), &SubscriptionFilter::default(), page)
        .await
        .unwrap();
    subscriptions::cancel(&db, &admin(), "op", &subs[0].id, false)
        .await
        .unwrap();
    drain(&worker).await;
    let gone = cloudpods::get(&db, &admin(), &bought.id).await.unwrap();
    assert_eq!(gone.status, "terminated");
    assert_eq!(
        lxc::power(&nodes, &hv, &bought.provider_ref).await.unwrap(),
        lxc::Power::Missing
    );
}

async fn pods_sqlite(t: testkit::TestDb) {
    pods_flow(t, "127.0.0.6").await
}

async fn pods_postgres(t: testkit::TestDb) {
    pods_flow(t, "127.0.0.7").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudpods_on_lxc_sqlite() {
    pods_sqlite(testkit::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudpods_on_lxc_postgres() {
    pods_postgres(testkit::postgres().await).await;
}

/// The default template: a Debian (bookworm) root filesystem made by
/// debootstrap from Debian's mirror the first time (LXC caches it on the
/// node), then a pod from it with its hostname and address. One backend:
/// the template does not depend on the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_debian_pod() {
    let t = testkit::sqlite().await;
    let db = t.db.clone();
    let host = "127.0.0.11";
    let nodes = Nodes::new(db.clone(), Vault::new([4; 32]));
    let key = nodes.key(DEFAULT_TENANT_ID).await.unwrap();
    let node = Sshd::start(host, &key.public_openssh).await;
    let hv = servers::create(
        &nodes,
        &principal(),
        ServerInput {
            name: Some("hv-debian".into()),
            host: Some(host.into()),
            port: Some(i64::from(node.port)),
            ssh_user: Some("root".into()),
            roles: Some(vec!["hypervisor".into()]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let pods = CloudPods {
        nodes: nodes.clone(),
    };
    let worker = Worker::new(
        db.clone(),
        cloudpods::KINDS
            .into_iter()
            .fold(Registry::new(), |r, k| r.register(k, pods.clone())),
    );
    let product = products::create(
        &db,
        &admin(),
        "op",
        ProductInput {
            name: Some("CloudPod Debian".into()),
            kind: Some("cloudpod".into()),
            sku: Some("CPOD-DEB".into()),
            billing_cycles: Some(vec![PriceInput {
                cycle: "monthly".into(),
                price: "7".parse().unwrap(),
                currency: "USD".into(),
            }]),
            // The template is Debian when the product does not say.
            metadata: Some(serde_json::json!({ "memoryMb": 256, "diskGb": 2 })),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let customer = customers::create(
        &db,
        &admin(),
        "op",
        CustomerInput {
            name: Some("Deb".into()),
            email: Some("deb@example.com".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (pod, job) = cloudpods::create(
        &db,
        &admin(),
        "op",
        PodInput {
            customer_id: Some(customer.id.clone()),
            product_id: Some(product.id.clone()),
            name: Some("deb-box".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(pod.template, "debian");
    drain(&worker).await;
    let j = jobs::get(&db, &principal(), &job).await.unwrap();
    assert_eq!(j.status, "succeeded", "{j:?}");
    let pod = cloudpods::get(&db, &admin(), &pod.id).await.unwrap();
    assert_eq!(pod.status, "active");
    let ip = pod.ipv4.clone().unwrap();
    let inside = lxc::attach(
        &nodes,
        &hv,
        &pod.provider_ref,
        &Cmd::new("cat")
            .arg("/etc/debian_version")
            .and(Cmd::new("hostname"))
            .and(Cmd::new("ip").args(["-4", "addr", "show", "eth0"])),
    )
    .await
    .unwrap();
    assert!(inside.starts_with("12."), "bookworm: {inside}");
    assert!(inside.contains("\ndeb-box\n"), "{inside}");
    assert!(inside.contains(&format!("inet {ip}/24")), "{inside}");
    cloudpods::act(&db, &admin(), "op", &pod.id, "destroy")
        .await
        .unwrap();
    drain(&worker).await;
    assert_eq!(
        lxc::power(&nodes, &hv, &pod.provider_ref).await.unwrap(),
        lxc::Power::Missing
    );
}
