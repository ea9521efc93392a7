//! Which members a provisioning search asks for: a tree of comparisons on the attributes a host can
//! filter by, with each value already in the form the member is stored and compared by.
use chrono::{DateTime, Utc};

use super::{login_id::LoginId, password_policy::nfkc};

/// The attributes a search may name (SCIM `userName`, `emails.value`, `externalId`,
/// `meta.lastModified`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterAttribute {
    /// Compared by its key (NFKC, lowercase), as every login ID lookup is.
    LoginId,
    /// Compared as stored: trimmed and lowercased.
    Email,
    /// The host's own id: compared exactly (case-exact in RFC 7643).
    ExternalId,
    LastModified,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOperator {
    Equal,
    NotEqual,
    Contains,
    StartsWith,
    EndsWith,
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
}

/// A comparison value in the attribute's stored form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterValue {
    Text(String),
    Time(DateTime<Utc>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberFilter {
    Compare {
        attribute: FilterAttribute,
        operator: FilterOperator,
        value: FilterValue,
    },
    /// The attribute has a value (`pr`).
    Present(FilterAttribute),
    And(Vec<MemberFilter>),
    Or(Vec<MemberFilter>),
    Not(Box<MemberFilter>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterValueError {
    #[error("{0} takes a string")]
    NotText(&'static str),
    #[error("meta.lastModified takes an RFC 3339 date-time")]
    NotTime,
    #[error("meta.lastModified is compared with eq, ne, gt, ge, lt or le")]
    TimeOperator,
}

impl FilterAttribute {
    /// Whether every member has the attribute (only `externalId` may be missing).
    pub fn always_present(self) -> bool {
        !matches!(self, FilterAttribute::ExternalId)
    }

    fn name(self) -> &'static str {
        match self {
            FilterAttribute::LoginId => "userName",
            FilterAttribute::Email => "emails.value",
            FilterAttribute::ExternalId => "externalId",
            FilterAttribute::LastModified => "meta.lastModified",
        }
    }
}

impl MemberFilter {
    /// A comparison with its value put in the attribute's stored form: a login ID as its key and
    /// an address lowercased, so `userName eq "Alice"` finds `alice` as every lookup does.
    pub fn compare(
        attribute: FilterAttribute,
        operator: FilterOperator,
        text: Option<&str>,
    ) -> Result<MemberFilter, FilterValueError> {
        let raw = text.ok_or(FilterValueError::NotText(attribute.name()))?;
        let value = match attribute {
            FilterAttribute::LoginId => FilterValue::Text(login_key(raw)),
            FilterAttribute::Email => FilterValue::Text(raw.trim().to_ascii_lowercase()),
            FilterAttribute::ExternalId => FilterValue::Text(raw.to_owned()),
            FilterAttribute::LastModified => {
                if matches!(
                    operator,
                    FilterOperator::Contains | FilterOperator::StartsWith | FilterOperator::EndsWith
                ) {
                    return Err(FilterValueError::TimeOperator);
                }
                let at = DateTime::parse_from_rfc3339(raw).map_err(|_| FilterValueError::NotTime)?;
                FilterValue::Time(at.with_timezone(&Utc))
            }
        };
        Ok(MemberFilter::Compare {
            attribute,
            operator,
            value,
        })
    }
}

/// The key a login ID is compared by; text that is no valid login ID (a fragment for `co`, say)
/// gets the same folding, so fragments of a key match it.
fn login_key(raw: &str) -> String {
    match LoginId::parse(raw) {
        Ok(id) => id.normalized(),
        Err(_) => nfkc(raw.trim()).to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_take_the_stored_form() {
        let filter =
            MemberFilter::compare(FilterAttribute::LoginId, FilterOperator::Equal, Some("ＡLICE01")).unwrap();
        assert_eq!(
            filter,
            MemberFilter::Compare {
                attribute: FilterAttribute::LoginId,
                operator: FilterOperator::Equal,
                value: FilterValue::Text("alice01".into()),
            }
        );
        let email = MemberFilter::compare(
            FilterAttribute::Email,
            FilterOperator::EndsWith,
            Some("@Example.COM"),
        )
        .unwrap();
        assert!(
            matches!(email, MemberFilter::Compare { value: FilterValue::Text(t), .. } if t == "@example.com")
        );
        // The host's id is case-exact.
        let external =
            MemberFilter::compare(FilterAttribute::ExternalId, FilterOperator::Equal, Some("AbC")).unwrap();
        assert!(matches!(external, MemberFilter::Compare { value: FilterValue::Text(t), .. } if t == "AbC"));
    }

    #[test]
    fn dates_are_rfc3339_and_compared_by_order_only() {
        let at = MemberFilter::compare(
            FilterAttribute::LastModified,
            FilterOperator::Greater,
            Some("2026-12-01T10:00:00+09:00"),
        )
        .unwrap();
        let expected = DateTime::parse_from_rfc3339("2026-12-01T01:00:00Z").unwrap();
        assert!(matches!(at, MemberFilter::Compare { value: FilterValue::Time(t), .. } if t == expected));
        for (op, raw, error) in [
            (
                FilterOperator::Greater,
                Some("yesterday"),
                FilterValueError::NotTime,
            ),
            (
                FilterOperator::Contains,
                Some("2026"),
                FilterValueError::TimeOperator,
            ),
            (
                FilterOperator::Equal,
                None,
                FilterValueError::NotText("meta.lastModified"),
            ),
        ] {
            assert_eq!(
                MemberFilter::compare(FilterAttribute::LastModified, op, raw),
                Err(error)
            );
        }
        assert_eq!(
            MemberFilter::compare(FilterAttribute::LoginId, FilterOperator::Equal, None),
            Err(FilterValueError::NotText("userName"))
        );
    }
}
