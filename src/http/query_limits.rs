//! Limits checked before a GraphQL document runs (async-graphql checks depth and complexity
//! itself): root fields, aliases and fields counted with fragments expanded, and the error code of
//! every "too complex" refusal.
use async_graphql::{
    Name,
    parser::types::{ExecutableDocument, Selection, SelectionSet},
};

/// The code clients see for any query refused for its shape.
pub const QUERY_TOO_COMPLEX: &str = "QUERY_TOO_COMPLEX";

/// A document's size as it would run, fragments expanded (each spread counts every time it is
/// spread), for its largest operation: a field repeated through fragments runs each time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shape {
    /// Fields at the root, duplicates included (each runs, and spends its limits, separately).
    pub root_fields: usize,
    pub aliases: usize,
    /// Every field at every level.
    pub fields: usize,
}

/// The most a document may hold, fragments expanded (GRAPHQL_MAX_ROOT_FIELDS, GRAPHQL_MAX_ALIASES,
/// GRAPHQL_MAX_COMPLEXITY).
#[derive(Debug, Clone, Copy)]
pub struct ShapeLimits {
    pub max_root_fields: usize,
    pub max_aliases: usize,
    pub max_complexity: usize,
}

/// Counting stops past this many fields: such a document is refused whatever the rest holds, and
/// fragments that spread each other many times cannot make the count itself expensive.
const COUNT_CAP: usize = 10_000;

impl Shape {
    pub fn of(doc: &ExecutableDocument) -> Shape {
        doc.operations
            .iter()
            .map(|(_, op)| {
                let mut shape = Shape::default();
                shape.add(doc, &op.node.selection_set.node, true, &mut Vec::new());
                shape
            })
            .fold(Shape::default(), |a, b| Shape {
                root_fields: a.root_fields.max(b.root_fields),
                aliases: a.aliases.max(b.aliases),
                fields: a.fields.max(b.fields),
            })
    }

    fn add(&mut self, doc: &ExecutableDocument, set: &SelectionSet, root: bool, seen: &mut Vec<Name>) {
        for item in &set.items {
            if self.fields > COUNT_CAP {
                return;
            }
            match &item.node {
                Selection::Field(field) => {
                    self.fields += 1;
                    self.root_fields += usize::from(root);
                    self.aliases += usize::from(field.node.alias.is_some());
                    self.add(doc, &field.node.selection_set.node, false, seen);
                }
                Selection::InlineFragment(fragment) => {
                    self.add(doc, &fragment.node.selection_set.node, root, seen)
                }
                Selection::FragmentSpread(spread) => {
                    // A cycle or an unknown fragment fails validation; here it only stops.
                    let name = &spread.node.fragment_name.node;
                    let Some(fragment) = doc.fragments.get(name).filter(|_| !seen.contains(name)) else {
                        continue;
                    };
                    seen.push(name.clone());
                    self.add(doc, &fragment.node.selection_set.node, root, seen);
                    seen.pop();
                }
            }
        }
    }
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

    fn shape(q: &str) -> Shape {
        Shape::of(&parse_query(q).unwrap())
    }

    #[test]
    fn aliases_and_fields_are_counted_everywhere_fragments_expanded() {
        let q = r#"query { a: findId(by: {email: "x"}) { b: accounts { maskedLoginId } }
            ... on Query { c: passwordPolicy { minLength } } ...F ...F }
            fragment F on Query { d: passwordPolicy { e: maxLength } }"#;
        assert_eq!(
            shape(q),
            Shape {
                root_fields: 4,
                aliases: 7,
                fields: 9
            }
        );
    }

    #[test]
    fn duplicate_root_fields_count_one_by_one() {
        let once = r#"checkLoginId(loginId: "v") { exists }"#;
        let plain = format!("{{ {} }}", once.repeat(75));
        assert_eq!(shape(&plain).root_fields, 75);
        let spread = format!(
            "{{ ...A ...A ...A }} fragment A on Query {{ {} }}",
            once.repeat(5)
        );
        assert_eq!(shape(&spread).root_fields, 15);
        // The largest operation of the document, not their sum.
        let two = "query A { passwordPolicy { minLength } } query B { a: me { loginId } b: me { loginId } }";
        assert_eq!(shape(two).root_fields, 2);
    }

    #[test]
    fn fragments_that_spread_each_other_many_times_stop_at_the_cap() {
        // 2^20 fields if expanded in full.
        let mut q = String::from("{ ...F0 } ");
        for i in 0..20 {
            q.push_str(&format!(
                "fragment F{i} on Query {{ ...F{next} ...F{next} }} ",
                next = i + 1
            ));
        }
        q.push_str("fragment F20 on Query { __typename }");
        let counted = shape(&q);
        assert!(
            counted.fields > COUNT_CAP && counted.fields <= COUNT_CAP + 1,
            "{counted:?}"
        );
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
