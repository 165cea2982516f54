//! A log-linear latency histogram in microseconds, in the spirit of
//! HdrHistogram: values below 256 µs are counted exactly; above that every
//! power of two is split into 128 equal buckets, so a bucket is never wider
//! than 1/128 (0.8 %) of its values — between two and three significant
//! digits. Histograms merge by adding bucket counts, which is how the
//! reports of `--procs` children are combined.

/// Values below this are counted in a bucket of their own.
const EXACT: u64 = 256;
/// Buckets per power of two above [`EXACT`].
const SUB: u64 = 128;
/// log2(SUB).
const SUB_BITS: u32 = 7;
/// The largest value kept apart; larger ones are counted as this
/// (2^36 µs is about 19 hours).
pub const MAX_VALUE: u64 = (1 << 36) - 1;
/// How many buckets the histogram has.
const BUCKETS: usize = bucket_of(MAX_VALUE) + 1;

/// The bucket a value falls in.
const fn bucket_of(v: u64) -> usize {
    if v < EXACT {
        return v as usize;
    }
    let v = if v > MAX_VALUE { MAX_VALUE } else { v };
    let top = 63 - v.leading_zeros(); // >= 8
    let shift = top - SUB_BITS; // >= 1
    (EXACT + (shift as u64 - 1) * SUB + ((v >> shift) - SUB)) as usize
}

/// The smallest and largest value that fall in bucket `i`.
fn bucket_range(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < EXACT {
        return (i, i);
    }
    let shift = (i - EXACT) / SUB + 1;
    let low = ((i - EXACT) % SUB + SUB) << shift;
    (low, low + (1 << shift) - 1)
}

/// Latency counts with exact count, sum, minimum and maximum.
#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    sum: u64,
    min: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS],
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    /// Counts one value (microseconds).
    pub fn record(&mut self, micros: u64) {
        self.record_n(micros, 1);
    }

    /// Counts `n` occurrences of a value.
    fn record_n(&mut self, micros: u64, n: u64) {
        let v = micros.min(MAX_VALUE);
        self.counts[bucket_of(v)] += n;
        self.count += n;
        self.sum = self.sum.saturating_add(v.saturating_mul(n));
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The smallest value (0 when empty).
    pub fn min(&self) -> u64 {
        if self.count == 0 { 0 } else { self.min }
    }

    /// The largest value (0 when empty).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The mean (0 when empty).
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// The value below which `pct` percent of the values lie: the middle of
    /// the bucket that holds the value of that rank, kept within [min, max].
    pub fn percentile(&self, pct: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((pct / 100.0) * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (low, high) = bucket_range(i);
                return (low + (high - low) / 2).clamp(self.min, self.max);
            }
        }
        self.max
    }

    /// Adds another histogram's counts to this one.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.count += other.count;
        self.sum = self.sum.saturating_add(other.sum);
        if other.count > 0 {
            self.min = self.min.min(other.min);
            self.max = self.max.max(other.max);
        }
    }

    /// The non-empty buckets as `(bucket index, count)` pairs, for the JSON
    /// report.
    pub fn buckets(&self) -> Vec<(usize, u64)> {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| (i, *c))
            .collect()
    }

    /// The sum of all values (microseconds).
    pub fn sum(&self) -> u64 {
        self.sum
    }

    /// Rebuilds a histogram from [`Histogram::buckets`] plus the exact sum,
    /// minimum and maximum. Returns None for a bucket index out of range.
    pub fn from_parts(buckets: &[(usize, u64)], sum: u64, min: u64, max: u64) -> Option<Histogram> {
        let mut h = Histogram::new();
        for &(i, c) in buckets {
            *h.counts.get_mut(i)? += c;
            h.count += c;
        }
        h.sum = sum;
        if h.count > 0 {
            h.min = min;
            h.max = max;
        }
        Some(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_narrow() {
        let mut prev_high = None;
        for i in 0..BUCKETS {
            let (low, high) = bucket_range(i);
            if let Some(p) = prev_high {
                assert_eq!(low, p + 1, "bucket {i}");
            }
            assert_eq!(bucket_of(low), i);
            assert_eq!(bucket_of(high), i);
            assert!((high - low) as f64 <= low as f64 / 128.0 + 1.0);
            prev_high = Some(high);
        }
        assert_eq!(prev_high, Some(MAX_VALUE));
    }

    #[test]
    fn percentiles_are_within_a_percent() {
        let mut h = Histogram::new();
        for v in 1..=100_000 {
            h.record(v);
        }
        for (pct, want) in [(50.0, 50_000.0), (90.0, 90_000.0), (99.9, 99_900.0)] {
            let got = h.percentile(pct) as f64;
            assert!((got - want).abs() / want < 0.01, "p{pct}: {got}");
        }
        assert_eq!(h.percentile(100.0), 100_000);
        assert_eq!(h.min(), 1);
        assert_eq!(h.count(), 100_000);
    }

    #[test]
    fn merge_adds_counts() {
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        a.record(10);
        b.record(5000);
        b.record(20);
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert_eq!(a.min(), 10);
        assert_eq!(a.max(), 5000);
        let c = Histogram::from_parts(&a.buckets(), a.sum(), a.min(), a.max()).unwrap();
        assert_eq!(c.percentile(50.0), a.percentile(50.0));
        assert_eq!(c.count(), 3);
    }
}
