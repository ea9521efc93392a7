//! Limits checked before a GraphQL document runs (async-graphql checks depth and complexity
//! itself): the number of aliases, and the error code of every "too complex" refusal.
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

/// The code clients see for any query refused for its shape.
pub const QUERY_TOO_COMPLEX: &str = "QUERY_TOO_COMPLEX";

fn aliases_in(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some()) + aliases_in(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => aliases_in(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

/// Aliases in every operation and fragment of the document.
pub fn count_aliases(doc: &ExecutableDocument) -> usize {
    let operations: usize = doc
        .operations
        .iter()
        .map(|(_, op)| aliases_in(&op.node.selection_set.node))
        .sum();
    let fragments: usize = doc
        .fragments
        .values()
        .map(|f| aliases_in(&f.node.selection_set.node))
        .sum();
    operations + fragments
}

/// Gives async-graphql's own depth/complexity refusals the QUERY_TOO_COMPLEX code.
pub fn tag_shape_errors(response: &mut async_graphql::Response) {
    for error in &mut response.errors {
        let shape = error.message == "Query is too complex."
            || error.message == "Query is nested too deep."
            || error
                .message
                .starts_with("The recursion depth of the query cannot be greater than");
        if shape {
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", QUERY_TOO_COMPLEX);
        }
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    #[test]
    fn aliases_are_counted_everywhere() {
        let q = r#"query { a: findId(by: {email: "x"}) { b: accounts { maskedLoginId } }
            ... on Query { c: passwordPolicy { minLength } } ...F }
            fragment F on Query { d: passwordPolicy { e: maxLength } }"#;
        assert_eq!(count_aliases(&parse_query(q).unwrap()), 5);
    }
}
