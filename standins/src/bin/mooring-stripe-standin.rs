//! `mooring-stripe-standin`: the Stripe stand-in as a process, for the
//! browser tests (Stripe cannot run here). It delivers every event to the
//! webhook URL as it happens.
//!
//! Usage: `mooring-stripe-standin --listen 127.0.0.1:PORT --secret-key sk_…
//! --webhook-secret whsec_… --webhook-url http://…/api/payments/stripe/webhook
//! [--thrice-out-of-order]`

use mooring_standins::stripe::{Delivery, StripeStandin};

fn usage() -> ! {
    eprintln!(
        "usage: mooring-stripe-standin --listen ADDR --secret-key KEY --webhook-secret SECRET --webhook-url URL [--thrice-out-of-order]"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (mut listen, mut key, mut secret, mut url) = (None, None, None, None);
    let mut delivery = Delivery::Once;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen = args.next(),
            "--secret-key" => key = args.next(),
            "--webhook-secret" => secret = args.next(),
            "--webhook-url" => url = args.next(),
            "--thrice-out-of-order" => delivery = Delivery::ThriceOutOfOrder,
            _ => usage(),
        }
    }
    let (Some(listen), Some(key), Some(secret), Some(url)) = (listen, key, secret, url) else {
        usage()
    };
    let listener = match tokio::net::TcpListener::bind(&listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("mooring-stripe-standin: cannot listen on {listen}: {e}");
            std::process::exit(1)
        }
    };
    let standin = StripeStandin::serve(listener, &key, &secret, true, delivery).await;
    standin.set_webhook_url(&url);
    println!("Stripe stand-in listening on {}", standin.base);
    let _ = tokio::signal::ctrl_c().await;
}
