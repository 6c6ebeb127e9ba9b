//! What the benchmark drivers (`src/bin/*-bench`) share: percentiles of a sorted sample, a
//! histogram that several processes fill separately and merge (`listen-bench`'s listener
//! processes each hold thousands of streams; their delays meet in the coordinator), and the
//! shell commands a bench script hooks into a run.

use anyhow::Context;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Runs `command` with `sh -c` (none: nothing), failing when it fails.
pub fn hook(command: Option<&str>) -> anyhow::Result<()> {
    let Some(command) = command else {
        return Ok(());
    };
    let status = std::process::Command::new("sh")
        .args(["-c", command])
        .status()
        .with_context(|| format!("running {command:?}"))?;
    anyhow::ensure!(status.success(), "{command:?} failed: {status}");
    Ok(())
}

/// The `p` quantile (0..=1) of an ascending sample, nearest rank; 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Count, p50, p99 and max (milliseconds) of a sample of milliseconds.
pub fn summary_ms(mut sample: Vec<f64>) -> Value {
    sample.sort_by(f64::total_cmp);
    json!({
        "n": sample.len(),
        "p50_ms": percentile(&sample, 0.50),
        "p99_ms": percentile(&sample, 0.99),
        "max_ms": sample.last().copied().unwrap_or(0.0),
    })
}

/// Durations in buckets of [`Histogram::BUCKET_US`] microseconds (signed: an event may reach
/// a listener before the driver has read the answer that caused it), mergeable across
/// processes through its JSON form.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    buckets: BTreeMap<i64, u64>,
}

impl Histogram {
    /// The resolution: 0.1 ms.
    pub const BUCKET_US: i64 = 100;

    pub fn record_us(&mut self, micros: i64) {
        *self
            .buckets
            .entry(micros.div_euclid(Self::BUCKET_US))
            .or_insert(0) += 1;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (bucket, n) in &other.buckets {
            *self.buckets.entry(*bucket).or_insert(0) += n;
        }
    }

    pub fn count(&self) -> u64 {
        self.buckets.values().sum()
    }

    /// The upper edge (ms) of the bucket holding the `p` quantile; 0 when empty.
    pub fn quantile_ms(&self, p: f64) -> f64 {
        let total = self.count();
        if total == 0 {
            return 0.0;
        }
        let rank = ((total as f64) * p).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (bucket, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                return Self::upper_ms(*bucket);
            }
        }
        self.buckets
            .keys()
            .last()
            .map_or(0.0, |b| Self::upper_ms(*b))
    }

    fn upper_ms(bucket: i64) -> f64 {
        ((bucket + 1) * Self::BUCKET_US) as f64 / 1000.0
    }

    /// `[[bucket, count], ...]`, what [`Histogram::from_json`] reads back.
    pub fn to_json(&self) -> Value {
        Value::Array(
            self.buckets
                .iter()
                .map(|(bucket, n)| json!([bucket, n]))
                .collect(),
        )
    }

    pub fn from_json(value: &Value) -> Option<Self> {
        let mut out = Self::default();
        for pair in value.as_array()? {
            out.buckets
                .insert(pair.get(0)?.as_i64()?, pair.get(1)?.as_u64()?);
        }
        Some(out)
    }

    /// Count, p50, p99, p99.9 and max in milliseconds (bucket upper edges).
    pub fn summary(&self) -> Value {
        json!({
            "n": self.count(),
            "p50_ms": self.quantile_ms(0.50),
            "p99_ms": self.quantile_ms(0.99),
            "p999_ms": self.quantile_ms(0.999),
            "max_ms": self.quantile_ms(1.0),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn percentile_picks_the_nearest_rank_of_a_sorted_sample() {
        let sample = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(percentile(&sample, 0.5), 3.0);
        assert_eq!(percentile(&sample, 1.0), 5.0);
        assert_eq!(percentile(&[], 0.99), 0.0);
    }

    #[test]
    fn merged_histograms_answer_like_one_that_saw_every_sample() {
        let (mut a, mut b, mut all) = (
            Histogram::default(),
            Histogram::default(),
            Histogram::default(),
        );
        for us in [-250, 120, 950, 40_000] {
            a.record_us(us);
            all.record_us(us);
        }
        for us in [300, 301, 5_000_000] {
            b.record_us(us);
            all.record_us(us);
        }
        let mut merged = Histogram::from_json(&a.to_json()).unwrap();
        merged.merge(&Histogram::from_json(&b.to_json()).unwrap());
        assert_eq!(merged, all);
        assert_eq!(merged.count(), 7);
        assert_eq!(merged.quantile_ms(0.0), -0.2);
        assert_eq!(merged.quantile_ms(0.5), 0.4);
        assert_eq!(merged.quantile_ms(1.0), 5000.1);
    }
}
