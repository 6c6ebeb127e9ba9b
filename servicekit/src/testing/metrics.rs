//! Reading a service's `/metrics` (the Prometheus text format) in tests.

use std::collections::BTreeMap;

/// One sample of an exposition: a series (name and labels) and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// The samples of a Prometheus text exposition (comments and malformed lines skipped).
pub fn samples(exposition: &str) -> Vec<Sample> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(sample)
        .collect()
}

/// The value of the series `name` whose labels are exactly `labels`, besides the
/// `service` label every series of a service carries; 0 when there is no such series.
pub fn value(exposition: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let want: BTreeMap<&str, &str> = labels.iter().copied().collect();
    samples(exposition)
        .into_iter()
        .find(|s| {
            s.name == name
                && s.labels
                    .iter()
                    .filter(|(k, _)| k.as_str() != "service")
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .eq(want.iter().map(|(k, v)| (*k, *v)))
        })
        .map_or(0.0, |s| s.value)
}

fn sample(line: &str) -> Option<Sample> {
    let line = line.trim();
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_owned();
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let (parsed, after) = label_set(inner)?;
        labels = parsed;
        rest = after;
    }
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// `k="v",...}` → the labels and what follows the closing brace.
fn label_set(mut s: &str) -> Option<(BTreeMap<String, String>, &str)> {
    let mut labels = BTreeMap::new();
    loop {
        s = s.trim_start_matches([',', ' ']);
        if let Some(after) = s.strip_prefix('}') {
            return Some((labels, after));
        }
        let (key, after) = s.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (_, c) => value.push(c),
            }
        };
        labels.insert(key.trim().to_owned(), value);
        s = &after[end + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP railrush_x_total Things.
# TYPE railrush_x_total counter
railrush_x_total{outcome="a",queue="q.1",service="train"} 3
railrush_x_total{outcome="b",queue="q.1",service="train"} 1
railrush_x_total{outcome="a",queue="q.1.parked",service="train"} 5
railrush_odd{path="say \"hi\", \\ok",service="train"} 2.5
railrush_plain 7
"#;

    #[test]
    fn the_value_is_of_the_series_with_exactly_those_labels() {
        let q = [("outcome", "a"), ("queue", "q.1")];
        assert_eq!(value(TEXT, "railrush_x_total", &q), 3.0);
        assert_eq!(
            value(
                TEXT,
                "railrush_x_total",
                &[("queue", "q.1"), ("outcome", "b")]
            ),
            1.0
        );
        // A subset of the labels, another name, or a prefix names no series.
        assert_eq!(value(TEXT, "railrush_x_total", &[("outcome", "a")]), 0.0);
        assert_eq!(value(TEXT, "railrush_x", &q), 0.0);
        assert_eq!(
            value(TEXT, "railrush_odd", &[("path", r#"say "hi", \ok"#)]),
            2.5
        );
        assert_eq!(value(TEXT, "railrush_plain", &[]), 7.0);
        assert_eq!(samples(TEXT).len(), 5);
    }
}
