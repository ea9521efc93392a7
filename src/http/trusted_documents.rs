//! Trusted documents (TRUSTED_DOCUMENTS): the manifest of operations that graphql-codegen emits
//! for web/ (`{"sha256:<hex>": "<document>"}`); with it, only those operations run.
use std::{collections::HashMap, path::Path};

use serde_json::Value;
use sha2::{Digest, Sha256};

/// `extensions.code` of a request whose document is not in the manifest.
pub const DOCUMENT_NOT_TRUSTED: &str = "DOCUMENT_NOT_TRUSTED";

/// The listed documents by id.
#[derive(Debug)]
pub struct TrustedDocuments {
    by_id: HashMap<String, String>,
}

/// Why the manifest cannot be used; the service refuses to start.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {path}: {problem}")]
    Unreadable { path: String, problem: String },
    #[error("{path} is not a JSON object of id → document strings")]
    NotAManifest { path: String },
    #[error("{path}: the document listed as {id} does not hash to that id")]
    WrongHash { path: String, id: String },
}

/// The manifest's id of a document text: `sha256:` and the lowercase hex SHA-256 of its bytes.
pub fn document_id(text: &str) -> String {
    format!("sha256:{:x}", Sha256::digest(text.as_bytes()))
}

impl TrustedDocuments {
    pub fn load(path: &Path) -> Result<TrustedDocuments, ManifestError> {
        let shown = path.display().to_string();
        let raw = std::fs::read_to_string(path).map_err(|e| ManifestError::Unreadable {
            path: shown.clone(),
            problem: e.to_string(),
        })?;
        let by_id: HashMap<String, String> =
            serde_json::from_str(&raw).map_err(|_| ManifestError::NotAManifest { path: shown.clone() })?;
        // Every id must be its text's hash, so that "full text whose hash is listed" and
        // "listed id" are one and the same rule.
        for (id, text) in &by_id {
            if *id != document_id(text) {
                return Err(ManifestError::WrongHash {
                    path: shown,
                    id: id.clone(),
                });
            }
        }
        Ok(TrustedDocuments { by_id })
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Makes a JSON request body run a listed document: by `documentId` (its text replaces any
    /// `query` sent along), or by a `query` whose hash is listed. Anything else is refused.
    pub fn admit(&self, body: &mut Value) -> Result<(), NotTrusted> {
        if let Some(id) = body.get("documentId").and_then(Value::as_str) {
            let text = self.by_id.get(id).ok_or(NotTrusted)?;
            body["query"] = Value::String(text.clone());
            return Ok(());
        }
        match body.get("query").and_then(Value::as_str) {
            Some(text) if self.admits_text(text) => Ok(()),
            _ => Err(NotTrusted),
        }
    }

    /// Whether this exact document text is listed.
    pub fn admits_text(&self, text: &str) -> bool {
        self.by_id.contains_key(&document_id(text))
    }
}

/// The request's document is not in the manifest.
#[derive(Debug, PartialEq, Eq)]
pub struct NotTrusted;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const POLICY: &str = "query PasswordPolicy { passwordPolicy { minLength } }";

    fn manifest(entries: &[(&str, &str)]) -> Result<TrustedDocuments, ManifestError> {
        let dir = std::env::temp_dir().join(format!("trusted-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("manifest.json");
        let map: HashMap<&str, &str> = entries.iter().copied().collect();
        std::fs::write(&path, serde_json::to_string(&map).unwrap()).unwrap();
        TrustedDocuments::load(&path)
    }

    #[test]
    fn ids_are_the_sha256_of_the_text() {
        // The value graphql-codegen writes for this text (sha256 of its UTF-8 bytes).
        assert_eq!(
            document_id("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn listed_documents_run_by_id_or_by_their_exact_text() {
        let id = document_id(POLICY);
        let trusted = manifest(&[(&id, POLICY)]).unwrap();

        let mut by_id = json!({"documentId": id, "query": "{ me { loginId } }"});
        assert_eq!(trusted.admit(&mut by_id), Ok(()));
        assert_eq!(
            by_id["query"], POLICY,
            "the listed text runs, not the one sent along"
        );

        let mut by_text = json!({"query": POLICY});
        assert_eq!(trusted.admit(&mut by_text), Ok(()));
    }

    #[test]
    fn anything_else_is_refused() {
        let trusted = manifest(&[(&document_id(POLICY), POLICY)]).unwrap();
        for mut body in [
            json!({"query": "{ passwordPolicy { minLength } }"}),
            json!({"query": format!("{POLICY} ")}),
            json!({"documentId": "sha256:00"}),
            json!({"documentId": 7, "query": "{ me { loginId } }"}),
            json!({}),
        ] {
            assert_eq!(trusted.admit(&mut body), Err(NotTrusted), "{body}");
        }
    }

    #[test]
    fn a_manifest_with_a_wrong_hash_or_shape_is_refused() {
        assert!(matches!(
            manifest(&[("sha256:00", POLICY)]),
            Err(ManifestError::WrongHash { .. })
        ));
        let path = std::env::temp_dir().join(format!("trusted-{}.json", uuid::Uuid::new_v4()));
        std::fs::write(&path, "[1, 2]").unwrap();
        assert!(matches!(
            TrustedDocuments::load(&path),
            Err(ManifestError::NotAManifest { .. })
        ));
        assert!(matches!(
            TrustedDocuments::load(Path::new("/nonexistent/manifest.json")),
            Err(ManifestError::Unreadable { .. })
        ));
    }
}
