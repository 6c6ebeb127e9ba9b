//! The waiting room through the gateway: a sale's public status is micro-cached, so a crowd
//! of pollers costs booking-service about one request per second.

use crate::support::{self, WebRoot};
use e2e::gateway::{Gateway, Profile};
use e2e::stack::{Options, Stack};
use futures_util::future::join_all;
use serde_json::Value;

#[tokio::test]
async fn a_crowd_polling_a_sales_status_costs_the_service_about_one_request_a_second() {
    let stack = Stack::start(Options::default()).await;
    let web = WebRoot::new();
    let gw = Gateway::start(&stack.upstreams(), web.path(), Profile::Load)
        .await
        .unwrap();
    let client = support::client();
    let sales: Value = client
        .get(format!("{}/api/queue/sales", gw.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sale = sales["sales"][0]["sale_id"].as_str().unwrap().to_owned();
    let route = [
        ("route", "/api/queue/sales/{sale_id}"),
        ("method", "GET"),
        ("status", "200"),
    ];
    let before = stack
        .booking
        .metric("railrush_http_requests_total", &route)
        .await;
    // 20 rounds of 50 parallel polls over about two seconds: 1,000 answers.
    let url = format!("{}/api/queue/sales/{sale}", gw.url);
    let started = std::time::Instant::now();
    let mut answers = Vec::new();
    for _ in 0..20 {
        let round = join_all((0..50).map(|_| client.get(&url).send())).await;
        for res in round {
            let res = res.unwrap();
            assert_eq!(res.status(), 200);
            answers.push(res.json::<Value>().await.unwrap());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let seconds = started.elapsed().as_secs_f64().ceil();
    assert!(answers.iter().all(|a| a["sale_id"] == sale.as_str()));
    let reached = stack
        .booking
        .metric("railrush_http_requests_total", &route)
        .await
        - before;
    // One fetch per second of polling (plus one for a second boundary), never one per poll.
    assert!(
        reached >= 1.0 && reached <= seconds + 2.0,
        "{reached} of 1000 polls reached booking-service in {seconds} s"
    );
}
