//! A provisioning filter as one SQL condition on `members`, exact on every backend: substring tests
//! use each backend's own string functions on bound values (no LIKE, whose wildcards and case
//! folding differ between backends), on columns that compare byte-wise.
use sea_orm::{
    ColumnTrait, Condition, DbBackend,
    sea_query::{Expr, SimpleExpr},
};

use crate::{
    domain::member_filter::{FilterAttribute, FilterOperator, FilterValue, MemberFilter},
    infra::db::{entities::member, time::to_naive},
};

/// The condition `filter` stands for on `backend`.
pub(super) fn condition(filter: &MemberFilter, backend: DbBackend) -> Condition {
    match filter {
        MemberFilter::And(items) => items
            .iter()
            .fold(Condition::all(), |c, f| c.add(condition(f, backend))),
        MemberFilter::Or(items) => items
            .iter()
            .fold(Condition::any(), |c, f| c.add(condition(f, backend))),
        MemberFilter::Not(inner) => condition(inner, backend).not(),
        MemberFilter::Present(attribute) => Condition::all().add(column(*attribute).is_not_null()),
        MemberFilter::Compare {
            attribute,
            operator,
            value,
        } => {
            let col = column(*attribute);
            // A missing value compares as false, so `not (externalId eq "x")` finds members
            // without one, as `externalId ne "x"` does.
            let present = Condition::all().add(col.is_not_null());
            let compared = match value {
                FilterValue::Time(at) => ordered(col, *operator, to_naive(*at).into()),
                FilterValue::Text(text) => match operator {
                    FilterOperator::Contains | FilterOperator::StartsWith | FilterOperator::EndsWith
                        if text.is_empty() =>
                    {
                        col.is_not_null()
                    }
                    FilterOperator::Contains => substring(*attribute, backend, Part::Anywhere, text),
                    FilterOperator::StartsWith => substring(*attribute, backend, Part::Start, text),
                    FilterOperator::EndsWith => substring(*attribute, backend, Part::End, text),
                    op => ordered(col, *op, text.clone().into()),
                },
            };
            match operator {
                FilterOperator::NotEqual => Condition::any().add(col.is_null()).add(compared),
                _ => present.add(compared),
            }
        }
    }
}

fn column(attribute: FilterAttribute) -> member::Column {
    match attribute {
        FilterAttribute::LoginId => member::Column::LoginIdKey,
        FilterAttribute::Email => member::Column::Email,
        FilterAttribute::ExternalId => member::Column::ExternalId,
        FilterAttribute::LastModified => member::Column::UpdatedAt,
    }
}

fn ordered(col: member::Column, operator: FilterOperator, value: sea_orm::Value) -> SimpleExpr {
    match operator {
        FilterOperator::NotEqual => col.ne(value),
        FilterOperator::Greater => col.gt(value),
        FilterOperator::GreaterOrEqual => col.gte(value),
        FilterOperator::Less => col.lt(value),
        FilterOperator::LessOrEqual => col.lte(value),
        // Substring operators on a date were refused when the filter was built.
        _ => col.eq(value),
    }
}

#[derive(Clone, Copy)]
enum Part {
    Anywhere,
    Start,
    End,
}

/// `text` within the column, by the backend's own functions; lengths count characters on each.
fn substring(attribute: FilterAttribute, backend: DbBackend, part: Part, text: &str) -> SimpleExpr {
    let name = match attribute {
        FilterAttribute::LoginId => "login_id_key",
        FilterAttribute::Email => "email",
        FilterAttribute::ExternalId => "external_id",
        FilterAttribute::LastModified => "updated_at",
    };
    // PostgreSQL has left(text, integer) only: an i32 binds as one.
    let chars = i32::try_from(text.chars().count()).unwrap_or(i32::MAX);
    let text = text.to_owned();
    let (sql, count_first) = match (backend, part) {
        (DbBackend::Postgres, Part::Anywhere) => (format!("strpos(\"{name}\", $1) > 0"), false),
        (DbBackend::Postgres, Part::Start) => (format!("left(\"{name}\", $1) = $2"), true),
        (DbBackend::Postgres, Part::End) => (format!("right(\"{name}\", $1) = $2"), true),
        (DbBackend::MySql, Part::Anywhere) => (format!("LOCATE(?, `{name}`) > 0"), false),
        (DbBackend::MySql, Part::Start) => (format!("LEFT(`{name}`, ?) = ?"), true),
        (DbBackend::MySql, Part::End) => (format!("RIGHT(`{name}`, ?) = ?"), true),
        (_, Part::Anywhere) => (format!("instr(\"{name}\", ?) > 0"), false),
        (_, Part::Start) => (format!("substr(\"{name}\", 1, ?) = ?"), true),
        (_, Part::End) => (format!("substr(\"{name}\", -?) = ?"), true),
    };
    if count_first {
        Expr::cust_with_values(sql, [sea_orm::Value::from(chars), sea_orm::Value::from(text)])
    } else {
        Expr::cust_with_values(sql, [sea_orm::Value::from(text)])
    }
}
