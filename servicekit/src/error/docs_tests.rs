//! `docs/api.md` and [`Code`] name the same codes with the same statuses: its "Error codes"
//! table is this table, and every "<status> `code`" its prose names is in it.

use super::Code;

const API_MD: &str = include_str!("../../../docs/api.md");

/// `(code, status)` of each row of the "Error codes" table, in order.
fn documented_table() -> Vec<(String, u16)> {
    let section = API_MD
        .split("\n## Error codes\n")
        .nth(1)
        .expect("docs/api.md has an \"## Error codes\" section");
    section
        .lines()
        .take_while(|line| !line.starts_with("## "))
        .filter_map(|line| {
            let mut cells = line.split('|').map(str::trim).skip(1);
            let name = cells.next()?.strip_prefix('`')?.strip_suffix('`')?;
            let status = cells.next()?.parse().ok()?;
            Some((name.to_owned(), status))
        })
        .collect()
}

fn is_code_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

/// Every `(status, code)` the text names as "409 `seat_unavailable`" or "403
/// `queue_pass_required` / `queue_pass_invalid`", for 4xx and 5xx statuses.
fn documented_pairs(text: &str) -> Vec<(u16, String)> {
    let bytes = text.as_bytes();
    let mut pairs = Vec::new();
    for start in 0..bytes.len().saturating_sub(5) {
        // ASCII digits are whole characters, so the slices below are on boundaries.
        let digits = &bytes[start..start + 3];
        let at_boundary = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
        if !at_boundary
            || !matches!(digits[0], b'4' | b'5')
            || !digits.iter().all(u8::is_ascii_digit)
        {
            continue;
        }
        let Ok(status) = text[start..start + 3].parse::<u16>() else {
            continue;
        };
        let mut rest = &text[start + 3..];
        let mut separator = " `";
        while let Some(after) = rest.strip_prefix(separator) {
            let Some((name, tail)) = after.split_once('`') else {
                break;
            };
            if !is_code_name(name) {
                break;
            }
            pairs.push((status, name.to_owned()));
            rest = tail;
            separator = " / `";
        }
    }
    pairs
}

fn expected_table() -> String {
    Code::ALL
        .iter()
        .map(|c| format!("| `{}` | {} |", c.as_str(), c.status().as_u16()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_documented_table_is_the_code_table() {
    let table: Vec<(String, u16)> = Code::ALL
        .iter()
        .map(|c| (c.as_str().to_owned(), c.status().as_u16()))
        .collect();
    assert_eq!(
        documented_table(),
        table,
        "docs/api.md's error codes differ from servicekit::error::Code; its rows should be:\n{}",
        expected_table()
    );
}

#[test]
fn every_code_is_named_in_the_documentation() {
    for code in Code::ALL {
        assert!(
            API_MD.contains(&format!("`{}`", code.as_str())),
            "docs/api.md does not name `{code}`"
        );
    }
}

#[test]
fn every_code_the_contract_names_exists_with_its_status() {
    let contract = API_MD
        .split("\n## Error codes\n")
        .next()
        .unwrap_or_default();
    let pairs = documented_pairs(contract);
    assert!(
        pairs.len() >= 25,
        "only {} codes found: {pairs:?}",
        pairs.len()
    );
    for (status, name) in pairs {
        let code = Code::from_name(&name)
            .unwrap_or_else(|| panic!("docs/api.md names {status} `{name}`, which is no Code"));
        assert_eq!(code.status().as_u16(), status, "`{name}`");
    }
}

#[test]
fn the_parser_reads_statuses_with_one_or_more_codes() {
    let text = "fails: 409 `seat_unavailable` with `details.seat_ids`; \
                403 `queue_pass_required` / `queue_pass_invalid`; 409 (a named code); \
                201 `Hold`; 429 `rate_limited` (with `Retry-After`); x1409 `hold_expired`";
    assert_eq!(
        documented_pairs(text),
        [
            (409, "seat_unavailable".to_owned()),
            (403, "queue_pass_required".to_owned()),
            (403, "queue_pass_invalid".to_owned()),
            (429, "rate_limited".to_owned()),
        ]
    );
}
