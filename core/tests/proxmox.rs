//! CloudPods on Proxmox VE: Mooring's real API client against the local
//! Proxmox stand-in (HTTPS with its own CA, API-token auth, tasks). A
//! Proxmox server is added with its token (sealed at rest) and CA; the
//! heartbeat reads the node's status through the API; a pod is cloned from
//! the template with its cores, memory, disk and cloud-init address, and
//! started; suspend pauses it, unsuspend resumes, stop/start/reboot,
//! destroy removes it. Failures: an untrusted certificate, a wrong token,
//! a clone task that fails (the pod fails with the task's error), a VM id
//! taken between `nextid` and the clone (the retry takes another).

use mooring_core::{
    billing::{
        customers::{self, CustomerInput},
        products::{self, PriceInput, ProductInput},
        Viewer,
    },
    cloudpods::{self, CloudPods, PodInput},
    identity::Principal,
    jobs::{self, Registry, Worker},
    nodes::{
        heartbeat,
        keys::Vault,
        proxmox::HypervisorInput,
        servers::{self, Nodes, ServerInput},
    },
    testkit, CoreError, DEFAULT_TENANT_ID,
};
use mooring_standins::proxmox::ProxmoxStandin;

fn principal() -> Principal {
    mooring_core::testkit::operator()
}

fn admin() -> Viewer {
    Viewer::Operator {
        tenant: DEFAULT_TENANT_ID.into(),
        admin: true,
    }
}

fn proxmox_input(pve: &ProxmoxStandin) -> HypervisorInput {
    HypervisorInput {
        kind: Some("proxmox".into()),
        api_url: Some(pve.url.clone()),
        token_id: Some(pve.token_id.clone()),
        token_secret: Some(pve.token_secret.clone()),
        node: Some(pve.node.clone()),
        template_vmid: Some(9000),
        network: Some("10.214.0.0/24".into()),
        ca_pem: Some(pve.ca_pem().to_string()),
        ..Default::default()
    }
}

async fn drain(w: &Worker) {
    while w.run_one().await.unwrap() {}
}

async fn job_of(db: &mooring_core::Db, id: &str) -> jobs::Job {
    jobs::get(db, &principal(), id).await.unwrap()
}

async fn proxmox_flow(t: testkit::TestDb) {
    let db = t.db.clone();
    let pve = ProxmoxStandin::start().await;
    let nodes = Nodes::new(db.clone(), Vault::new([5; 32]));

    // A Proxmox server is checked per field.
    let refused = |r: Result<servers::Server, CoreError>| match r {
        Err(CoreError::Field { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    let mut no_secret = proxmox_input(&pve);
    no_secret.token_secret = None;
    let op = principal();
    let bad = |hv: HypervisorInput, roles: &[&str]| {
        servers::create(
            &nodes,
            &op,
            ServerInput {
                name: Some("pve-1".into()),
                host: Some("127.0.0.1".into()),
                roles: Some(roles.iter().map(|r| r.to_string()).collect()),
                hypervisor: Some(hv),
                ..Default::default()
            },
        )
    };
    assert_eq!(
        refused(bad(no_secret, &["hypervisor"]).await),
        "tokenSecret"
    );
    assert_eq!(
        refused(bad(proxmox_input(&pve), &["hypervisor", "web"]).await),
        "roles"
    );
    let mut odd = proxmox_input(&pve);
    odd.kind = Some("xen".into());
    assert_eq!(refused(bad(odd, &["hypervisor"]).await), "kind");

    let hv = bad(proxmox_input(&pve), &["hypervisor"]).await.unwrap();
    assert_eq!(hv.hypervisor.kind(), "proxmox");
    let json = hv.to_json();
    assert_eq!(json["hypervisor"]["kind"], "proxmox");
    assert_eq!(json["hypervisor"]["tokenSecretSet"], true);
    assert!(
        !json.to_string().contains(&pve.token_secret),
        "the token's secret is never shown"
    );
    let stored: String = sqlx::query_scalar("SELECT hypervisor_secret FROM servers WHERE id = $1")
        .bind(&hv.id)
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert!(!stored.contains(&pve.token_secret), "sealed at rest");

    // The heartbeat reads the node's status through the API.
    let test = servers::test_connection(&nodes, &principal(), &hv.id)
        .await
        .unwrap();
    assert!(test.ok, "{test:?}");
    assert!(
        test.message.contains("Proxmox VE API of node pve"),
        "{}",
        test.message
    );
    let hv = servers::get(&db, &principal(), &hv.id).await.unwrap();
    assert_eq!(hv.status, "online");
    let probes = servers::probes(&db, &principal(), &hv.id, 5).await.unwrap();
    assert_eq!(probes[0].memory_total_mb, Some(65_536));
    assert_eq!(probes[0].uptime_seconds, Some(864_000));
    assert!(pve
        .calls()
        .iter()
        .any(|(m, p, _)| m == "GET" && p == "/nodes/pve/status"));

    // An untrusted certificate and a wrong token are refused, clearly.
    let other = Nodes::new(db.clone(), Vault::new([5; 32]));
    sqlx::query("UPDATE servers SET hypervisor_config = $1 WHERE id = $2")
        .bind(
            serde_json::to_string(&serde_json::json!({
                "apiUrl": pve.url, "tokenId": pve.token_id, "node": "pve", "templateVmid": 9000,
                "storage": null, "disk": "scsi0", "network": "10.214.0.0/24", "gateway": "10.214.0.1", "caPem": null
            }))
            .unwrap(),
        )
        .bind(&hv.id)
        .execute(db.pool())
        .await
        .unwrap();
    let untrusted = heartbeat::probe(&other, &servers::load(&db, &hv.id).await.unwrap().unwrap())
        .await
        .unwrap_err();
    assert_eq!(untrusted.code(), "tls_untrusted", "{untrusted}");
    assert!(
        untrusted.to_string().contains("pve-root-ca.pem"),
        "{untrusted}"
    );
    let hv = servers::update(
        &nodes,
        &principal(),
        &hv.id,
        ServerInput {
            hypervisor: Some(HypervisorInput {
                kind: Some("proxmox".into()),
                token_secret: Some("wrong-secret".into()),
                ca_pem: Some(pve.ca_pem().to_string()),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let denied = heartbeat::probe(&nodes, &hv).await.unwrap_err();
    assert_eq!(denied.code(), "api_auth_failed", "{denied}");
    assert_eq!(
        servers::get(&db, &principal(), &hv.id)
            .await
            .unwrap()
            .status,
        "offline"
    );
    let hv = servers::update(
        &nodes,
        &principal(),
        &hv.id,
        ServerInput {
            hypervisor: Some(HypervisorInput {
                token_secret: Some(pve.token_secret.clone()),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(heartbeat::probe(&nodes, &hv).await.is_ok());

    // A pod, cloned from the template.
    let pods = CloudPods {
        nodes: nodes.clone(),
    };
    let registry = cloudpods::KINDS
        .into_iter()
        .fold(Registry::new(), |r, k| r.register(k, pods.clone()));
    let worker = Worker::new(db.clone(), registry);
    let product = products::create(
        &db,
        &admin(),
        "op",
        ProductInput {
            name: Some("VM Small".into()),
            kind: Some("cloudpod".into()),
            sku: Some("VM-S".into()),
            billing_cycles: Some(vec![PriceInput {
                cycle: "monthly".into(),
                price: "12".parse().unwrap(),
                currency: "USD".into(),
            }]),
            metadata: Some(serde_json::json!({ "cpu": 2, "memoryMb": 4096, "diskGb": 20 })),
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
            name: Some("Vera".into()),
            email: Some("vera@example.com".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let me = Viewer::Customer {
        tenant: DEFAULT_TENANT_ID.into(),
        customer: mooring_core::billing::CustomerId::new(customer.id.clone()).unwrap(),
    };
    let boss = admin();
    let make = |name: &str| {
        cloudpods::create(
            &db,
            &boss,
            "op",
            PodInput {
                customer_id: Some(customer.id.clone()),
                product_id: Some(product.id.clone()),
                name: Some(name.into()),
                ..Default::default()
            },
        )
    };
    let (pod, job) = make("vera-vm").await.unwrap();
    drain(&worker).await;
    let j = job_of(&db, &job).await;
    assert_eq!(j.status, "succeeded", "{j:?}");
    let pod = cloudpods::get(&db, &me, &pod.id).await.unwrap();
    assert_eq!(
        (
            pod.status.as_str(),
            pod.power.as_str(),
            pod.provider.as_str()
        ),
        ("active", "running", "proxmox")
    );
    assert_eq!(pod.ipv4.as_deref(), Some("10.214.0.2"));
    let vmid: u32 = pod.provider_ref.parse().expect("a VM id");
    let vm = pve.vm(vmid).expect("the VM exists");
    assert_eq!(vm.name, "vera-vm");
    assert_eq!((vm.cores, vm.memory, vm.disk_gb), (2, 4096, 20));
    assert_eq!(
        vm.ipconfig0.as_deref(),
        Some("ip=10.214.0.2/24,gw=10.214.0.1")
    );
    assert_eq!(
        (vm.status.as_str(), vm.qmpstatus.as_str()),
        ("running", "running")
    );
    let clone = pve
        .calls()
        .into_iter()
        .find(|(m, p, _)| m == "POST" && p == "/nodes/pve/qemu/9000/clone")
        .expect("cloned from the template");
    assert_eq!(clone.2["newid"], vmid.to_string());
    assert_eq!(clone.2["full"], "1");
    let log = jobs::log_lines(&db, &job, 0).await.unwrap();
    let text: Vec<String> = log.iter().map(|l| l.line.clone()).collect();
    assert!(
        text.iter()
            .any(|l| l.contains("create full clone of drive scsi0")),
        "the node's task log is in the job log: {text:?}"
    );
    assert!(
        text.iter()
            .any(|l| l.contains("growing scsi0 from 4 to 20 GiB")),
        "{text:?}"
    );

    // Provisioning again changes nothing (no second clone).
    let clones_before = pve
        .calls()
        .iter()
        .filter(|(_, p, _)| p.ends_with("/clone"))
        .count();
    let mut tx = db.begin_write().await.unwrap();
    let again = jobs::enqueue(
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
    assert_eq!(job_of(&db, &again).await.status, "succeeded");
    assert_eq!(
        pve.calls()
            .iter()
            .filter(|(_, p, _)| p.ends_with("/clone"))
            .count(),
        clones_before
    );
    assert_eq!(pve.vms().len(), 2, "the template and one VM");

    // Suspend pauses, unsuspend resumes; the customer stops, starts, reboots.
    let act = |who: Viewer, action: &'static str| {
        let db = db.clone();
        let id = pod.id.clone();
        async move { cloudpods::act(&db, &who, "someone", &id, action).await }
    };
    act(admin(), "suspend").await.unwrap();
    drain(&worker).await;
    assert_eq!(pve.vm(vmid).unwrap().qmpstatus, "paused");
    assert_eq!(
        cloudpods::get(&db, &me, &pod.id).await.unwrap().status,
        "suspended"
    );
    act(admin(), "unsuspend").await.unwrap();
    drain(&worker).await;
    assert_eq!(pve.vm(vmid).unwrap().qmpstatus, "running");
    act(me.clone(), "stop").await.unwrap();
    drain(&worker).await;
    assert_eq!(pve.vm(vmid).unwrap().status, "stopped");
    assert!(pve
        .calls()
        .iter()
        .any(|(m, p, f)| m == "POST" && p.ends_with("/status/shutdown") && f["forceStop"] == "1"));
    act(me.clone(), "start").await.unwrap();
    drain(&worker).await;
    assert_eq!(pve.vm(vmid).unwrap().status, "running");
    let (_, reboot) = act(me.clone(), "reboot").await.unwrap();
    drain(&worker).await;
    assert_eq!(job_of(&db, &reboot).await.status, "succeeded");
    assert!(pve
        .calls()
        .iter()
        .any(|(_, p, _)| p.ends_with("/status/reboot")));

    // Destroy: stopped, then removed with its disks.
    act(admin(), "destroy").await.unwrap();
    drain(&worker).await;
    assert_eq!(
        cloudpods::get(&db, &me, &pod.id).await.unwrap().status,
        "terminated"
    );
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let _ = pve.calls(); // any call settles ended tasks
    let deleted = pve
        .calls()
        .into_iter()
        .find(|(m, p, _)| m == "DELETE" && p == &format!("/nodes/pve/qemu/{vmid}"))
        .expect("deleted through the API");
    assert_eq!(deleted.2["purge"], "1");
    assert_eq!(deleted.2["destroy-unreferenced-disks"], "1");

    // A clone task that fails: the pod fails with the task's error.
    pve.fail_next("qmclone", "storage 'local-lvm' does not exist");
    let (broken, job) = make("broken-vm").await.unwrap();
    drain(&worker).await;
    let j = job_of(&db, &job).await;
    assert_eq!(j.status, "failed", "{j:?}");
    assert_eq!(j.error_code.as_deref(), Some("task_failed"));
    let broken = cloudpods::get(&db, &admin(), &broken.id).await.unwrap();
    assert_eq!(broken.status, "failed");
    assert!(
        broken
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("storage 'local-lvm' does not exist")),
        "{broken:?}"
    );

    // A VM id taken between nextid and the clone: the retry takes another.
    let (raced, job) = make("raced-vm").await.unwrap();
    let next: u32 = (100..).find(|n| pve.vm(*n).is_none()).unwrap();
    pve.race_next_clone();
    assert!(worker.run_one().await.unwrap());
    let j = job_of(&db, &job).await;
    assert_eq!(
        (j.status.as_str(), j.error_code.as_deref()),
        ("queued", Some("node_busy")),
        "{j:?}"
    );
    sqlx::query("UPDATE jobs SET run_after = $1 WHERE id = $2")
        .bind(mooring_core::clock::now())
        .bind(&job)
        .execute(db.pool())
        .await
        .unwrap();
    drain(&worker).await;
    assert_eq!(job_of(&db, &job).await.status, "succeeded");
    let raced = cloudpods::get(&db, &admin(), &raced.id).await.unwrap();
    assert_ne!(raced.provider_ref, next.to_string());
    assert_eq!(pve.vm(next).unwrap().name, "someone-else", "not touched");
    assert_eq!(
        pve.vm(raced.provider_ref.parse().unwrap()).unwrap().name,
        "raced-vm"
    );

    // A VM that is not the pod's is never touched: the failed pod is made
    // to point at the other client's VM, and destroying the pod leaves it.
    sqlx::query("UPDATE cloudpods SET provider_ref = $1 WHERE id = $2")
        .bind(next.to_string())
        .bind(&broken.id)
        .execute(db.pool())
        .await
        .unwrap();
    let before = pve.vm(next).unwrap();
    let calls_before = pve.calls().len();
    let (_, job) = cloudpods::act(&db, &admin(), "op", &broken.id, "destroy")
        .await
        .unwrap();
    drain(&worker).await;
    assert_eq!(job_of(&db, &job).await.status, "succeeded");
    assert_eq!(
        cloudpods::get(&db, &admin(), &broken.id)
            .await
            .unwrap()
            .status,
        "terminated"
    );
    assert_eq!(pve.vm(next), Some(before), "the other VM is as it was");
    let touched: Vec<_> = pve
        .calls()
        .into_iter()
        .skip(calls_before)
        .filter(|(m, p, _)| m != "GET" && p.contains(&format!("/qemu/{next}/")))
        .collect();
    assert!(touched.is_empty(), "{touched:?}");

    // Its pods gone, the server may become an LXC node: the token goes.
    let lxc = servers::update(
        &nodes,
        &principal(),
        &hv.id,
        ServerInput {
            hypervisor: Some(HypervisorInput {
                kind: Some("lxc".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await;
    assert!(
        matches!(lxc, Err(CoreError::Conflict(_))),
        "the raced pod still lives on it: {lxc:?}"
    );
    cloudpods::act(&db, &admin(), "op", &raced.id, "destroy")
        .await
        .unwrap();
    drain(&worker).await;
    let lxc = servers::update(
        &nodes,
        &principal(),
        &hv.id,
        ServerInput {
            hypervisor: Some(HypervisorInput {
                kind: Some("lxc".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(lxc.hypervisor.kind(), "lxc");
    assert_eq!(
        lxc.hypervisor_secret, None,
        "the Proxmox token is forgotten"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudpods_on_proxmox_sqlite() {
    proxmox_flow(testkit::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudpods_on_proxmox_postgres() {
    proxmox_flow(testkit::postgres().await).await;
}
