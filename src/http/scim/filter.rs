//! A SCIM filter (RFC 7644 §3.4.2.2, parsed by `scim_v2` with its depth and term limits) as the
//! member filter the store runs: only the attributes provisioning filters on, else `invalidFilter`.
use scim_v2::filter::{AttrExp, AttrPath, CompValue, CompareOp, Filter, ValFilter};

use super::{error::ScimError, urns::USER_SCHEMA};
use crate::domain::member_filter::{FilterAttribute, FilterOperator, MemberFilter};

/// The filter of a `filter=` parameter.
pub fn parse(raw: &str) -> Result<MemberFilter, ScimError> {
    let filter: Filter = raw
        .parse()
        .map_err(|_| ScimError::bad("invalidFilter", "the filter is not a valid SCIM filter"))?;
    convert(&filter)
}

fn convert(filter: &Filter) -> Result<MemberFilter, ScimError> {
    Ok(match filter {
        Filter::Attr(exp) => expression(exp, None)?,
        Filter::Not(inner) => MemberFilter::Not(Box::new(convert(inner)?)),
        Filter::And(items) => MemberFilter::And(items.iter().map(convert).collect::<Result<_, _>>()?),
        Filter::Or(items) => MemberFilter::Or(items.iter().map(convert).collect::<Result<_, _>>()?),
        // `emails[value co "@example.com"]`: filters on the one e-mail's value.
        Filter::ValuePath(vp) if vp.attr.uri.is_none() && vp.attr.name.eq_ignore_ascii_case("emails") => {
            value_filter(&vp.filter)?
        }
        Filter::ValuePath(_) => return Err(unsupported()),
    })
}

fn value_filter(filter: &ValFilter) -> Result<MemberFilter, ScimError> {
    Ok(match filter {
        ValFilter::Attr(exp) => expression(exp, Some("emails"))?,
        ValFilter::Not(inner) => MemberFilter::Not(Box::new(value_filter(inner)?)),
        ValFilter::And(items) => MemberFilter::And(items.iter().map(value_filter).collect::<Result<_, _>>()?),
        ValFilter::Or(items) => MemberFilter::Or(items.iter().map(value_filter).collect::<Result<_, _>>()?),
    })
}

fn unsupported() -> ScimError {
    ScimError::bad(
        "invalidFilter",
        "filters name userName, emails.value, externalId or meta.lastModified",
    )
}

/// The attribute a path names; `parent` is the multi-valued attribute of a value filter.
fn attribute(path: &AttrPath, parent: Option<&str>) -> Result<FilterAttribute, ScimError> {
    if path
        .uri
        .as_deref()
        .is_some_and(|uri| !uri.eq_ignore_ascii_case(USER_SCHEMA))
    {
        return Err(unsupported());
    }
    let (name, sub) = match parent {
        Some(parent) if path.sub_attr.is_none() => (parent, Some(path.name.as_str())),
        Some(_) => return Err(unsupported()),
        None => (path.name.as_str(), path.sub_attr.as_deref()),
    };
    let is = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    match (name, sub) {
        (n, None) if is(n, "userName") => Ok(FilterAttribute::LoginId),
        // A multi-valued attribute without a sub-attribute filters on its values (RFC 7644).
        (n, None) if is(n, "emails") => Ok(FilterAttribute::Email),
        (n, Some(s)) if is(n, "emails") && is(s, "value") => Ok(FilterAttribute::Email),
        (n, None) if is(n, "externalId") => Ok(FilterAttribute::ExternalId),
        (n, Some(s)) if is(n, "meta") && is(s, "lastModified") => Ok(FilterAttribute::LastModified),
        _ => Err(unsupported()),
    }
}

fn expression(exp: &AttrExp, parent: Option<&str>) -> Result<MemberFilter, ScimError> {
    match exp {
        AttrExp::Present(path) => Ok(MemberFilter::Present(attribute(path, parent)?)),
        AttrExp::Comparison(path, op, value) => {
            let operator = match op {
                CompareOp::Eq => FilterOperator::Equal,
                CompareOp::Ne => FilterOperator::NotEqual,
                CompareOp::Co => FilterOperator::Contains,
                CompareOp::Sw => FilterOperator::StartsWith,
                CompareOp::Ew => FilterOperator::EndsWith,
                CompareOp::Gt => FilterOperator::Greater,
                CompareOp::Ge => FilterOperator::GreaterOrEqual,
                CompareOp::Lt => FilterOperator::Less,
                CompareOp::Le => FilterOperator::LessOrEqual,
            };
            let text = match value {
                CompValue::Str(s) => Some(s.as_str()),
                _ => None,
            };
            MemberFilter::compare(attribute(path, parent)?, operator, text)
                .map_err(|e| ScimError::bad("invalidFilter", e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::member_filter::FilterValue;

    fn text(attribute: FilterAttribute, operator: FilterOperator, value: &str) -> MemberFilter {
        MemberFilter::Compare {
            attribute,
            operator,
            value: FilterValue::Text(value.into()),
        }
    }

    #[test]
    fn every_operator_and_logic_on_the_supported_attributes() {
        use FilterAttribute::*;
        use FilterOperator::*;
        let parsed = parse(
            r#"userName eq "Alice01" and (emails.value co "@Example.com" or not (externalId pr)) and externalId ne "x""#,
        )
        .unwrap();
        assert_eq!(
            parsed,
            MemberFilter::And(vec![
                text(LoginId, Equal, "alice01"),
                MemberFilter::Or(vec![
                    text(Email, Contains, "@example.com"),
                    MemberFilter::Not(Box::new(MemberFilter::Present(ExternalId))),
                ]),
                text(ExternalId, NotEqual, "x"),
            ])
        );
        for (raw, op) in [
            ("sw", StartsWith),
            ("ew", EndsWith),
            ("gt", Greater),
            ("lt", Less),
        ] {
            assert_eq!(
                parse(&format!(
                    "urn:ietf:params:scim:schemas:core:2.0:User:userName {raw} \"a\""
                ))
                .unwrap(),
                text(LoginId, op, "a")
            );
        }
        assert_eq!(
            parse(r#"emails[value ew "@b.co"]"#).unwrap(),
            text(Email, EndsWith, "@b.co")
        );
        assert!(matches!(
            parse(r#"meta.lastModified gt "2026-01-01T00:00:00Z""#).unwrap(),
            MemberFilter::Compare {
                attribute: LastModified,
                operator: Greater,
                value: FilterValue::Time(_)
            }
        ));
    }

    #[test]
    fn anything_else_is_an_invalid_filter() {
        let deep = format!("{}userName pr{}", "not (".repeat(500), ")".repeat(500));
        for bad in [
            "userName eq",
            "title pr",
            r#"emails[type eq "work"]"#,
            "userName eq 42",
            r#"meta.lastModified gt "soon""#,
            r#"meta.lastModified co "2026""#,
            r#"phoneNumbers[value eq "1"]"#,
            deep.as_str(),
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.scim_type, Some("invalidFilter"), "{bad}");
        }
    }
}
