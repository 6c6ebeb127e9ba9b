//! Which address the per-address limits key on. Every test client here connects from
//! 127.0.0.1.
//!
//! - With no trusted proxies (the default, and the only setting of the local stack and the
//!   tests): X-Forwarded-For and X-Real-IP from a client change nothing. Requests that each
//!   claim another address all count against 127.0.0.1, the services are told 127.0.0.1,
//!   and the access log says 127.0.0.1.
//! - With 127.0.0.1 as a trusted proxy (what the Kubernetes overlays do with the ingress
//!   controller's addresses): the header IS honoured, so each forwarded client gets its own
//!   bucket; and an address a client prepended to the header itself is ignored
//!   (`real_ip_recursive`: the right-most untrusted address is the client).
//!
//! The sign-in zone is used (a guessing script is what would rotate the header), at a rate
//! of 1r/m: no allowance comes back during a burst, so the counts are exact.

use crate::support::{self, Answer, FakeUpstream, WebRoot, burst, request_with_headers};
use e2e::gateway::{Gateway, Profile};
use serde_json::Value;
use std::time::Duration;

const LOGIN: &str = "/api/auth/login";

/// A sign-in request (POST with a JSON body) carrying `headers`.
fn login_with(headers: &[(&str, &str)]) -> String {
    request_with_headers("POST", LOGIN, headers, Some("{}"))
}

/// (passed, rejected), every rejection checked as the sign-in limit's 429.
fn count(answers: &[Answer]) -> (usize, usize) {
    crate::limits::tally(
        answers,
        &support::limit(Profile::Default, "LIMIT_AUTH_RETRY_AFTER"),
    )
}

/// Asserts that every answer that reached the fake upstream was told `client`, alone, in
/// both X-Real-IP and X-Forwarded-For.
fn assert_upstream_told(answers: &[Answer], client: &str) {
    for (real_ip, forwarded_for) in seen_by_upstream(answers) {
        assert_eq!(real_ip, client);
        assert_eq!(forwarded_for, client);
    }
}

/// What the fake upstream was told by the gateway, for every answer that reached it:
/// (X-Real-IP, X-Forwarded-For).
fn seen_by_upstream(answers: &[Answer]) -> Vec<(String, String)> {
    answers
        .iter()
        .filter(|a| a.status == 200)
        .map(|a| {
            let seen: Value = serde_json::from_str(&a.body).unwrap();
            (
                seen["x_real_ip"].as_str().unwrap().to_owned(),
                seen["x_forwarded_for"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The remote_addr of every access-log line.
fn logged_addresses(gw: &Gateway) -> Vec<String> {
    gw.access_log()
        .lines()
        .map(|line| {
            let entry: Value = serde_json::from_str(line).unwrap();
            entry["remote_addr"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// The rendered server's real_ip directives (comments aside).
fn real_ip_directives(gw: &Gateway) -> Vec<String> {
    std::fs::read_to_string(gw.prefix().join("conf/conf.d/railrush.conf"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("set_real_ip_from") || line.starts_with("real_ip_"))
        .map(str::to_owned)
        .collect()
}

/// The access log is buffered and flushed at least every second (nginx.conf); give the last
/// lines up to 5 s.
async fn wait_for_log_lines(gw: &Gateway, lines: usize) {
    for _ in 0..250 {
        if gw.access_log().lines().count() >= lines {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_spoofed_forwarded_for_changes_nothing_without_trusted_proxies() {
    let upstream = FakeUpstream::start().await;
    let web = WebRoot::new();
    // The default: no TRUSTED_PROXIES (as in the local stack).
    let gw = support::gateway_with(
        &upstream,
        &web,
        Profile::Default,
        &[("LIMIT_AUTH_RATE", "1r/m")],
    )
    .await;
    assert!(
        real_ip_directives(&gw).is_empty(),
        "no trusted proxy, yet: {:?}",
        real_ip_directives(&gw)
    );
    let burst_size = support::limit_number(Profile::Default, "LIMIT_AUTH_BURST");

    // A guessing script claiming another address in every request.
    let total = 2 * (burst_size + 1);
    let requests = (0..total)
        .map(|i| {
            let forwarded = format!("203.0.113.{}", i % 250 + 1);
            let real = format!("198.51.100.{}", i % 250 + 1);
            login_with(&[
                ("X-Forwarded-For", forwarded.as_str()),
                ("X-Real-IP", real.as_str()),
            ])
        })
        .collect();
    let result = burst(gw.port, requests).await;
    assert!(result.span < Duration::from_secs(60), "{:?}", result.span);

    // All of them drew on 127.0.0.1's one allowance: burst+1 passed, the rest got 429.
    assert_eq!(
        count(&result.answers),
        (burst_size + 1, total - burst_size - 1)
    );
    assert_eq!(upstream.hits(), burst_size + 1);

    // The service was told the connecting address, in both headers, never a claimed one.
    assert_eq!(seen_by_upstream(&result.answers).len(), burst_size + 1);
    assert_upstream_told(&result.answers, "127.0.0.1");

    // And so says the access log, for the passed and the rejected requests alike.
    wait_for_log_lines(&gw, total).await;
    let logged = logged_addresses(&gw);
    assert_eq!(logged.len(), total, "{}", gw.access_log());
    assert!(logged.iter().all(|a| a == "127.0.0.1"), "{logged:?}");
}

#[tokio::test]
async fn a_trusted_proxy_names_the_client_and_a_prepended_address_is_ignored() {
    let upstream = FakeUpstream::start().await;
    let web = WebRoot::new();
    let burst_size = 4;
    let gw = support::gateway_with(
        &upstream,
        &web,
        Profile::Default,
        &[
            ("TRUSTED_PROXIES", "127.0.0.1"),
            ("LIMIT_AUTH_RATE", "1r/m"),
            ("LIMIT_AUTH_BURST", "4"),
        ],
    )
    .await;
    assert_eq!(
        real_ip_directives(&gw),
        [
            "set_real_ip_from  127.0.0.1;",
            "real_ip_header    X-Forwarded-For;",
            "real_ip_recursive on;"
        ]
    );

    // The proxy (127.0.0.1) forwards 3 x (burst+1) clients, each with its own address: each
    // has a bucket of its own, so every request passes.
    let total = 3 * (burst_size + 1);
    let forwarded: Vec<String> = (0..total).map(|i| format!("203.0.113.{}", i + 1)).collect();
    let requests = forwarded
        .iter()
        .map(|addr| login_with(&[("X-Forwarded-For", addr.as_str())]))
        .collect();
    let result = burst(gw.port, requests).await;
    assert!(result.span < Duration::from_secs(60), "{:?}", result.span);
    assert_eq!(count(&result.answers), (total, 0));
    // The service is told each client's address alone (the proxy's is dropped).
    let mut seen = seen_by_upstream(&result.answers);
    seen.sort();
    let mut expected: Vec<(String, String)> =
        forwarded.iter().map(|a| (a.clone(), a.clone())).collect();
    expected.sort();
    assert_eq!(seen, expected);

    // One client (198.51.100.7, appended by the proxy) that prepends a different fake
    // address to every request: all of them are 198.51.100.7's, burst+1 pass.
    let requests = (0..total)
        .map(|i| {
            let chain = format!("192.0.2.{}, 198.51.100.7", i + 1);
            login_with(&[("X-Forwarded-For", chain.as_str())])
        })
        .collect();
    let result = burst(gw.port, requests).await;
    assert!(result.span < Duration::from_secs(60), "{:?}", result.span);
    assert_eq!(
        count(&result.answers),
        (burst_size + 1, total - burst_size - 1)
    );
    assert_upstream_told(&result.answers, "198.51.100.7");

    // The access log names the clients, not the proxy.
    wait_for_log_lines(&gw, 2 * total).await;
    let logged = logged_addresses(&gw);
    assert_eq!(logged.len(), 2 * total, "{}", gw.access_log());
    assert!(!logged.iter().any(|a| a == "127.0.0.1"), "{logged:?}");
    assert_eq!(
        logged.iter().filter(|a| *a == "198.51.100.7").count(),
        total
    );
}
