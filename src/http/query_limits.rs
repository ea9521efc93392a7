//! Limits checked before a GraphQL document runs (async-graphql checks depth and complexity
//! itself): the number of aliases, and the error code of every "too complex" refusal.
use async_graphql::{
    Name,
    parser::types::{ExecutableDocument, Selection, SelectionSet},
};

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

/// Whether every operation selects only introspection at its root (`__schema`, `__type`,
/// `__typename`), fragments expanded; a fragment cycle or an unknown fragment answers no.
pub fn introspection_only(doc: &ExecutableDocument) -> bool {
    fn only(doc: &ExecutableDocument, set: &SelectionSet, seen: &mut Vec<Name>) -> bool {
        set.items.iter().all(|item| match &item.node {
            Selection::Field(field) => {
                matches!(
                    field.node.name.node.as_str(),
                    "__schema" | "__type" | "__typename"
                )
            }
            Selection::InlineFragment(fragment) => only(doc, &fragment.node.selection_set.node, seen),
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                if seen.contains(name) {
                    return false;
                }
                seen.push(name.clone());
                let found = doc.fragments.get(name);
                let answer = found.is_some_and(|f| only(doc, &f.node.selection_set.node, seen));
                seen.pop();
                answer
            }
        })
    }
    doc.operations
        .iter()
        .all(|(_, op)| only(doc, &op.node.selection_set.node, &mut Vec::new()))
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

    #[test]
    fn only_root_introspection_counts_as_introspection() {
        for (q, only) in [
            ("{ __schema { types { name } } }", true),
            ("{ __typename __type(name: \"Query\") { name } }", true),
            (
                "{ ...F } fragment F on Query { __schema { types { name } } }",
                true,
            ),
            (
                "{ ... on Query { __typename } ...F ...F } fragment F on Query { __typename }",
                true,
            ),
            (
                "{ __schema { types { name } } passwordPolicy { minLength } }",
                false,
            ),
            (
                "{ ...F } fragment F on Query { passwordPolicy { minLength } }",
                false,
            ),
            (
                "{ ...F } fragment F on Query { ...G } fragment G on Query { ...F }",
                false,
            ),
            ("{ ...Missing }", false),
            ("query A { __typename } mutation B { signOut }", false),
        ] {
            assert_eq!(introspection_only(&parse_query(q).unwrap()), only, "{q}");
        }
    }
}
