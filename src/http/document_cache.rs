//! Parsed GraphQL documents by their text. Clients send the same few documents over and over with
//! new variables, and parsing one costs more than the rest of a light query's own work, so each
//! text is parsed once; a request then runs on a copy of the parsed tree.
use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use async_graphql::parser::{parse_query, types::ExecutableDocument};

use super::query_limits::{Shape, introspection_only};

/// A document parsed once, with what the endpoint checks before running it.
#[derive(Debug)]
pub struct ParsedDocument {
    pub document: ExecutableDocument,
    /// Its size with fragments expanded, checked against the shape limits before it runs.
    pub shape: Shape,
    /// Every root field is `__schema`, `__type` or `__typename` (fragments expanded).
    pub introspection_only: bool,
}

/// At most `capacity` documents of at most `max_len` bytes each. When it is full it starts over
/// empty: a stream of distinct documents (a probe, a fuzzer) then costs a parse each, as without a
/// cache, and the documents clients really send are back after their next request.
pub struct DocumentCache {
    documents: RwLock<HashMap<Box<str>, Arc<ParsedDocument>>>,
    capacity: usize,
    max_len: usize,
}

impl DocumentCache {
    pub fn new(capacity: usize, max_len: usize) -> Self {
        DocumentCache {
            documents: RwLock::new(HashMap::new()),
            capacity,
            max_len,
        }
    }

    /// The parsed document, or `None` when the text does not parse (GraphQL then parses it again
    /// to report the error properly; failures are not kept).
    pub fn parse(&self, query: &str) -> Option<Arc<ParsedDocument>> {
        if let Some(found) = self.read().get(query) {
            return Some(found.clone());
        }
        let document = parse_query(query).ok()?;
        let parsed = Arc::new(ParsedDocument {
            shape: Shape::of(&document),
            introspection_only: introspection_only(&document),
            document,
        });
        if query.len() <= self.max_len {
            let mut documents = self.documents.write().unwrap_or_else(|e| e.into_inner());
            if documents.len() >= self.capacity {
                documents.clear();
            }
            documents.insert(query.into(), parsed.clone());
        }
        Some(parsed)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Box<str>, Arc<ParsedDocument>>> {
        self.documents.read().unwrap_or_else(|e| e.into_inner())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.read().len()
    }
}

impl Default for DocumentCache {
    /// Room for every document of a few client versions; a document longer than 16 KiB is parsed
    /// each time.
    fn default() -> Self {
        DocumentCache::new(512, 16 * 1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_parsed_once_and_shared() {
        let cache = DocumentCache::default();
        let q = "query($id: String!) { a: checkLoginId(loginId: $id) { exists } }";
        let first = cache.parse(q).unwrap();
        let second = cache.parse(q).unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(first.shape.aliases, 1);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn broken_and_oversized_documents_are_not_kept_and_a_full_cache_starts_over() {
        let cache = DocumentCache::new(3, 40);
        assert!(cache.parse("{ not closed").is_none());
        let long = format!("{{ passwordPolicy {{ minLength }} {} }}", " ".repeat(40));
        assert!(cache.parse(&long).is_some());
        assert_eq!(cache.len(), 0, "neither kept");
        for i in 0..3 {
            cache
                .parse(&format!("{{ a{i}: passwordPolicy {{ minLength }} }}"))
                .unwrap();
        }
        assert_eq!(cache.len(), 3);
        cache.parse("{ b: passwordPolicy { minLength } }").unwrap();
        assert_eq!(cache.len(), 1, "full: started over with the new one");
    }
}
