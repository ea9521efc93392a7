//! What is wrong with a member draft or an import line, said without echoing values (a misplaced
//! password could be one), and the parsing of the drafts' code fields.
/// What is wrong with a draft: the field (as `member import` names it) and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftProblem {
    pub field: &'static str,
    pub message: String,
}

impl std::fmt::Display for DraftProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub(crate) fn problem(field: &'static str, message: impl Into<String>) -> DraftProblem {
    DraftProblem {
        field,
        message: message.into(),
    }
}

/// What is wrong with a line, without echoing its values (a misplaced password could be one).
pub(crate) fn record_problem(e: &serde_json::Error) -> String {
    let message = e.to_string();
    let what = if message.contains("unknown field") || message.contains("missing field") {
        // Field names only: serde puts the name in backticks, no value.
        message
            .split(" at line")
            .next()
            .unwrap_or("a field is wrong")
            .to_owned()
    } else {
        match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                "not valid JSON".to_owned()
            }
            _ => "a field has the wrong type".to_owned(),
        }
    };
    format!("not a valid member record ({what}, column {})", e.column())
}

pub(crate) fn parse_code<T>(
    raw: Option<String>,
    default: T,
    from: fn(&str) -> Option<T>,
    field: &'static str,
) -> Result<T, DraftProblem> {
    match raw {
        None => Ok(default),
        Some(code) => {
            from(code.trim()).ok_or_else(|| problem(field, format!("{field}: unknown value {code:?}")))
        }
    }
}
