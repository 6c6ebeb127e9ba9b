//! Every metric the Grafana dashboards (`monitoring/grafana/dashboards/*.json`) and the alert
//! rules (`monitoring/rules/*.yml`) query is one a service exports: the platform runs
//! in-process, one booking is driven to paid and ticketed, then the five services' `/metrics`
//! are scraped and each `railrush_*` name in every query must be a `# TYPE` family there
//! (`_bucket`, `_sum`, `_count` of a histogram count as the histogram). Syntax and data sources
//! of the same files are checked offline by `scripts/checks/monitoring.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use e2e::stack::{Options, Stack};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Only the platform's own series are checked; `up`, `rabbitmq_*` and Prometheus' own come
/// from Prometheus or the broker.
const PREFIX: &str = "railrush_";
const HISTOGRAM_SERIES: [&str; 3] = ["_bucket", "_sum", "_count"];

fn monitoring_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../monitoring")
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no *.{ext} in {}", dir.display());
    out
}

fn relative(path: &Path) -> String {
    let root = monitoring_dir().join("..").canonicalize().unwrap();
    let path = path.canonicalize().unwrap();
    path.strip_prefix(&root)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.display().to_string())
}

/// The queries of a Grafana dashboard: every target's `expr` and every query variable's query.
fn dashboard_queries(json: &Value, out: &mut Vec<String>) {
    match json {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr", Value::String(q)) => out.push(q.clone()),
                    ("templating", Value::Object(t)) => {
                        for var in t
                            .get("list")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                        {
                            let query = var.get("query").unwrap_or(&Value::Null);
                            let query = query.get("query").unwrap_or(query);
                            if let Some(q) = query.as_str() {
                                out.push(q.to_owned());
                            }
                            if let Some(q) = var.get("definition").and_then(Value::as_str) {
                                out.push(q.to_owned());
                            }
                        }
                    }
                    _ => dashboard_queries(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| dashboard_queries(v, out)),
        _ => {}
    }
}

/// The `expr:` values of a Prometheus rule file: a plain or quoted scalar on the same line,
/// or a block scalar (`|`, `>`, with chomping) on the lines indented below it. Returns them
/// with the number of rules (`- alert:` / `- record:`) so that a form this does not read
/// fails the test instead of passing unread.
fn rule_queries(text: &str) -> (Vec<String>, usize) {
    let lines: Vec<&str> = text.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut exprs = Vec::new();
    let mut rules = 0;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start().trim_start_matches("- ");
        if trimmed.starts_with("alert:") || trimmed.starts_with("record:") {
            rules += 1;
        }
        if let Some(rest) = trimmed.strip_prefix("expr:") {
            let rest = rest.trim();
            if rest.starts_with('|') || rest.starts_with('>') {
                let key_indent = indent(line);
                let mut block = Vec::new();
                while i + 1 < lines.len()
                    && (lines[i + 1].trim().is_empty() || indent(lines[i + 1]) > key_indent)
                {
                    i += 1;
                    block.push(lines[i].trim());
                }
                exprs.push(block.join("\n"));
            } else {
                exprs.push(rest.trim_matches(|c| c == '"' || c == '\'').to_owned());
            }
        }
        i += 1;
    }
    (exprs, rules)
}

/// The metric names a PromQL query uses that start with `railrush_`: identifiers outside
/// string literals (label values and regexes are strings; label names and functions do not
/// have the prefix).
fn metric_names(query: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut chars = query.chars().peekable();
    let mut word = String::new();
    let mut flush = |word: &mut String| {
        if word.starts_with(PREFIX) {
            names.insert(word.clone());
        }
        word.clear();
    };
    while let Some(c) = chars.next() {
        if c == '"' || c == '\'' || c == '`' {
            flush(&mut word);
            while let Some(s) = chars.next() {
                if s == '\\' && c != '`' {
                    chars.next();
                } else if s == c {
                    break;
                }
            }
        } else if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            flush(&mut word);
        }
    }
    flush(&mut word);
    names
}

/// `# TYPE name type` families of one exposition.
fn families(exposition: &str) -> BTreeMap<String, String> {
    exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
        })
        .collect()
}

/// Whether `name` is exported: as a family, or as a series of a histogram family.
fn exported(name: &str, exported: &BTreeMap<String, (String, String)>) -> bool {
    if exported.contains_key(name) {
        return true;
    }
    HISTOGRAM_SERIES.iter().any(|suffix| {
        name.strip_suffix(suffix)
            .and_then(|base| exported.get(base))
            .is_some_and(|(kind, _)| kind == "histogram" || kind == "summary")
    })
}

#[test]
fn metric_names_are_read_from_queries_outside_strings() {
    let names = metric_names(
        r#"histogram_quantile(0.99, sum by (le) (rate(railrush_http_request_duration_seconds_bucket{route="/x", q=~"railrush_not_a_metric"}[5m]))) / on(service) railrush_a:b"#,
    );
    let want: BTreeSet<String> = [
        "railrush_http_request_duration_seconds_bucket",
        "railrush_a:b",
    ]
    .map(String::from)
    .into();
    assert_eq!(names, want);
    let (exprs, rules) = rule_queries(
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n        for: 1m\n      - alert: B\n        expr: |\n          sum(railrush_x)\n            > 1\n        labels: {}\n      - record: c\n        expr: \"railrush_y\"\n",
    );
    assert_eq!(rules, 3);
    assert_eq!(exprs, ["up == 0", "sum(railrush_x)\n> 1", "railrush_y"]);
}

#[tokio::test]
async fn every_metric_the_dashboards_and_alerts_query_is_exported() {
    // What the dashboards and rules query, by file.
    let dir = monitoring_dir();
    let mut queries: Vec<(String, String)> = Vec::new();
    for path in files(&dir.join("grafana/dashboards"), "json") {
        let json: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", relative(&path)));
        let mut found = Vec::new();
        dashboard_queries(&json, &mut found);
        assert!(!found.is_empty(), "{} has no queries", relative(&path));
        queries.extend(found.into_iter().map(|q| (relative(&path), q)));
    }
    for path in files(&dir.join("rules"), "yml") {
        let (found, rules) = rule_queries(&std::fs::read_to_string(&path).unwrap());
        assert_eq!(
            found.len(),
            rules,
            "{}: read {} expr values for {rules} rules",
            relative(&path),
            found.len()
        );
        queries.extend(found.into_iter().map(|q| (relative(&path), q)));
    }
    let mut used: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, query) in &queries {
        for name in metric_names(query) {
            used.entry(name).or_default().insert(file.clone());
        }
    }
    assert!(used.len() > 20, "too few metric names read: {used:?}");

    // A search and one booking through the whole saga, so every service has seen traffic.
    let stack = Stack::start(Options::default()).await;
    let today = (chrono::Utc::now() + chrono::Duration::hours(6)).date_naive(); // Asia/Dhaka
    let res = stack
        .train
        .get(&format!("/api/trains/search?from=DHK&to=CTG&date={today}"))
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::OK, "search");
    let rahim = stack.passenger().await;
    let booking = stack.book(&rahim, &[1, 2], "tok_visa").await;
    stack.booking_until(&rahim, &booking, "paid").await;
    stack.inbox_with(&rahim, &["ticket"]).await;

    // Some gauges are refreshed in the background every few seconds (seats left per trip),
    // so scrape (every half second) until every name is there, or the tests' WAIT is over.
    let deadline = Instant::now() + servicekit::testing::WAIT;
    loop {
        let exports = scrape(&stack).await;
        let missing: Vec<String> = used
            .iter()
            .filter(|(name, _)| !exported(name, &exports))
            .map(|(name, files)| {
                let files: Vec<&str> = files.iter().map(String::as_str).collect();
                format!("  {name} (queried in {})", files.join(", "))
            })
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} metric names queried by monitoring/ are not exported by any service \
             (no `# TYPE` family in the five services' /metrics):\n{}",
            missing.len(),
            used.len(),
            missing.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The `# TYPE` families of the five services' /metrics: name -> (type, service).
async fn scrape(stack: &Stack) -> BTreeMap<String, (String, String)> {
    let mut exports = BTreeMap::new();
    for (service, app) in [
        ("auth", &stack.auth),
        ("train", &stack.train),
        ("booking", &stack.booking),
        ("payment", &stack.payment),
        ("notification", &stack.notification),
    ] {
        let res = app.get("/metrics").await;
        assert_eq!(res.status(), reqwest::StatusCode::OK, "{service} /metrics");
        let text = res.text().await.unwrap();
        let found = families(&text);
        assert!(
            found.keys().any(|n| n.starts_with(PREFIX)),
            "{service} exports no {PREFIX}* family:\n{text}"
        );
        for (name, kind) in found {
            exports.entry(name).or_insert((kind, service.to_owned()));
        }
    }
    exports
}
