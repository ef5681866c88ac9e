//! Which rollup buckets cover a time range: whole days from the day rollup, whole hours from
//! the hour rollup, the rest from the minute rollup. Fewer, coarser buckets make summaries
//! over long windows cheap; the minute edges keep them exact to the minute.

use crate::ports::{BucketRange, Granularity};

fn floor(value: i64, unit: i64) -> i64 {
    value.div_euclid(unit) * unit
}

fn ceil(value: i64, unit: i64) -> i64 {
    -floor(-value, unit)
}

/// Covers `[from, to)` (epoch seconds, both multiples of 60) with bucket ranges, coarsest
/// first. Empty when `from >= to`.
pub fn cover(from: i64, to: i64) -> Vec<BucketRange> {
    let mut ranges = Vec::new();
    cover_at(Granularity::Day, from, to, &mut ranges);
    ranges.sort_by_key(|range| (std::cmp::Reverse(range.granularity), range.from));
    ranges
}

fn cover_at(granularity: Granularity, from: i64, to: i64, out: &mut Vec<BucketRange>) {
    if from >= to {
        return;
    }
    let finer = match granularity {
        Granularity::Day => Some(Granularity::Hour),
        Granularity::Hour => Some(Granularity::Minute),
        Granularity::Minute => None,
    };
    let unit = granularity.seconds();
    let (start, end) = (ceil(from, unit), floor(to, unit));
    let Some(finer) = finer else {
        out.push(BucketRange {
            granularity,
            from,
            to,
        });
        return;
    };
    if start >= end {
        cover_at(finer, from, to, out);
        return;
    }
    out.push(BucketRange {
        granularity,
        from: start,
        to: end,
    });
    cover_at(finer, from, start, out);
    cover_at(finer, end, to, out);
}

/// The step for a series over `seconds` when the caller did not choose one.
pub fn default_step(seconds: i64) -> Granularity {
    if seconds <= 6 * 3_600 {
        Granularity::Minute
    } else if seconds <= 14 * 86_400 {
        Granularity::Hour
    } else {
        Granularity::Day
    }
}

/// `[from, to)` widened to whole buckets of `granularity`.
pub fn align(granularity: Granularity, from: i64, to: i64) -> (i64, i64) {
    let unit = granularity.seconds();
    (floor(from, unit), ceil(to, unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600;
    const DAY: i64 = 86_400;

    fn total(ranges: &[BucketRange]) -> i64 {
        ranges.iter().map(|r| r.to - r.from).sum()
    }

    #[test]
    fn short_ranges_use_minutes_only() {
        let ranges = cover(10 * 60, 25 * 60);
        assert_eq!(ranges.len(), 1);
        assert_eq!(ranges[0].granularity, Granularity::Minute);
    }

    #[test]
    fn a_day_and_a_bit_uses_every_level_without_overlap() {
        let from = 3 * DAY + 22 * HOUR + 30 * 60;
        let to = 5 * DAY + 2 * HOUR + 15 * 60;
        let ranges = cover(from, to);
        assert_eq!(total(&ranges), to - from);
        assert_eq!(ranges[0].granularity, Granularity::Day);
        assert_eq!((ranges[0].from, ranges[0].to), (4 * DAY, 5 * DAY));
        let mut sorted = ranges.clone();
        sorted.sort_by_key(|r| r.from);
        for pair in sorted.windows(2) {
            assert_eq!(pair[0].to, pair[1].from, "{sorted:?}");
        }
        for range in &ranges {
            let unit = range.granularity.seconds();
            assert_eq!(range.from % unit, 0);
            assert_eq!(range.to % unit, 0);
        }
    }

    #[test]
    fn steps_follow_the_range() {
        assert_eq!(default_step(HOUR), Granularity::Minute);
        assert_eq!(default_step(2 * DAY), Granularity::Hour);
        assert_eq!(default_step(60 * DAY), Granularity::Day);
        assert_eq!(
            align(Granularity::Hour, HOUR + 5, 2 * HOUR + 1),
            (HOUR, 3 * HOUR)
        );
    }

    #[test]
    fn every_minute_aligned_range_is_covered_exactly() {
        for from_minute in (0..3 * 24 * 60).step_by(97) {
            for length in [1, 59, 60, 61, 1_439, 1_440, 1_441, 3_000] {
                let (from, to) = (from_minute * 60, (from_minute + length) * 60);
                let ranges = cover(from, to);
                assert_eq!(total(&ranges), to - from);
                assert!(ranges.iter().all(|r| r.from >= from && r.to <= to));
            }
        }
    }
}
