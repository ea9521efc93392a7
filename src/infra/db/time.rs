//! Timestamps between the domain (UTC) and the tables (naive UTC columns on every backend).
use chrono::{DateTime, NaiveDateTime, Utc};

pub(crate) fn to_utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

pub(crate) fn to_naive(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}
