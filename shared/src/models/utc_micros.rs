//! A `timestamptz` column read as PostgreSQL sends it: whole microseconds, no calendar.
//!
//! PostgreSQL sends a `timestamptz` as microseconds since 2000-01-01 UTC. Reading it as a
//! chrono `DateTime` does calendar arithmetic (days to a date, then back to seconds when the
//! value becomes a protobuf `Timestamp`); on a page of 20 resources that was about 8 % of the
//! resource service's CPU per ListResources. Rows that are only read and sent on keep the
//! microseconds and shift them to the Unix epoch: one addition.

use chrono::{DateTime, Utc};
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::pg::{Pg, PgValue};
use diesel::sql_types::{BigInt, Timestamptz};

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 00:00:00 UTC).
const PG_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;

const MICROS_PER_SECOND: i64 = 1_000_000;

/// A point in time as a `timestamptz` holds it: whole microseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, FromSqlRow)]
#[diesel(sql_type = Timestamptz)]
pub struct UtcMicros(i64);

impl UtcMicros {
    /// The time `micros` microseconds after (or, negative, before) 1970-01-01 00:00:00 UTC.
    pub const fn from_unix_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// Microseconds since 1970-01-01 00:00:00 UTC (negative before it).
    pub const fn unix_micros(self) -> i64 {
        self.0
    }

    /// Whole seconds since the Unix epoch, rounded down, and the nanoseconds past them
    /// (0 to 999,999,000): the two fields of a protobuf `Timestamp`.
    pub const fn unix_seconds_and_nanos(self) -> (i64, i32) {
        let seconds = self.0.div_euclid(MICROS_PER_SECOND);
        // At most 999,999 × 1,000: the cast cannot truncate.
        let nanos = (self.0.rem_euclid(MICROS_PER_SECOND) * 1_000) as i32;
        (seconds, nanos)
    }

    /// The same time as a chrono `DateTime`; `None` past chrono's years (±262,142), which
    /// PostgreSQL's reach (to 294,276) exceeds.
    pub fn to_datetime(self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_micros(self.0)
    }
}

impl From<DateTime<Utc>> for UtcMicros {
    fn from(at: DateTime<Utc>) -> Self {
        Self(at.timestamp_micros())
    }
}

impl FromSql<Timestamptz, Pg> for UtcMicros {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        let since_pg_epoch = <i64 as FromSql<BigInt, Pg>>::from_sql(value)?;
        // `infinity` and `-infinity` arrive as i64::MAX and i64::MIN; chrono rejects them too.
        if since_pg_epoch == i64::MAX || since_pg_epoch == i64::MIN {
            return Err("an infinite timestamptz is out of range".into());
        }
        since_pg_epoch
            .checked_add(PG_EPOCH_UNIX_MICROS)
            .map(Self)
            .ok_or_else(|| format!("timestamptz {since_pg_epoch} µs from 2000-01-01 is out of range").into())
    }
}

#[cfg(test)]
mod tests {
    use super::UtcMicros;

    #[test]
    fn seconds_round_down_and_nanos_stay_positive() {
        assert_eq!(UtcMicros::from_unix_micros(0).unix_seconds_and_nanos(), (0, 0));
        assert_eq!(UtcMicros::from_unix_micros(1_500_000).unix_seconds_and_nanos(), (1, 500_000_000));
        assert_eq!(UtcMicros::from_unix_micros(-1).unix_seconds_and_nanos(), (-1, 999_999_000));
        assert_eq!(UtcMicros::from_unix_micros(-1_000_000).unix_seconds_and_nanos(), (-1, 0));
    }

    #[test]
    fn agrees_with_chrono_both_ways() {
        assert_eq!(UtcMicros::from_unix_micros(i64::MAX).to_datetime(), None);
        for micros in [0, 1, -1, 1_764_306_000_123_456, -2_208_988_800_000_000] {
            let at = UtcMicros::from_unix_micros(micros);
            let Some(datetime) = at.to_datetime() else { panic!("{micros} µs is within chrono's range") };
            assert_eq!(UtcMicros::from(datetime), at);
            let (seconds, nanos) = at.unix_seconds_and_nanos();
            assert_eq!((datetime.timestamp(), datetime.timestamp_subsec_nanos()), (seconds, nanos.unsigned_abs()));
        }
    }
}
