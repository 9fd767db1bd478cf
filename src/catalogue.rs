//! The CWE catalogue: each label's name, description, severity and fix advice, in our own words.
//!
//! The data lives in `models/cwe_catalogue.yml`, which the training pipeline reads too (for the alias
//! mapping), and is embedded in the binary so that a finding is always explained, even when the model
//! directory ships without it.

use std::collections::BTreeMap;

use serde::Deserialize;

const EMBEDDED: &str = include_str!("../models/cwe_catalogue.yml");

/// One label of the catalogue.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CweEntry {
    /// Canonical id, `CWE-<n>`.
    pub id: String,
    /// Ids that the training data maps onto this one.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Short human name ("SQL injection").
    pub name: String,
    /// GitHub `security-severity` score, 0.1-10.0.
    pub severity: f32,
    /// Why it matters.
    pub description: String,
    /// How to fix it.
    pub advice: String,
}

impl CweEntry {
    /// The numeric part of the id ("89" for CWE-89).
    pub fn number(&self) -> &str {
        self.id.strip_prefix("CWE-").unwrap_or(&self.id)
    }

    /// The MITRE page for this weakness.
    pub fn url(&self) -> String {
        mitre_url(self.number())
    }
}

/// The MITRE page of a CWE id (`CWE-89`), when the id is numeric: one place for every emitter.
pub fn cwe_url(id: &str) -> Option<String> {
    let number = id.strip_prefix("CWE-")?;
    (!number.is_empty() && number.bytes().all(|b| b.is_ascii_digit())).then(|| mitre_url(number))
}

fn mitre_url(number: &str) -> String {
    format!("https://cwe.mitre.org/data/definitions/{number}.html")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    #[allow(dead_code)]
    version: u32,
    labels: Vec<CweEntry>,
}

/// Errors reading a catalogue file.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("malformed CWE catalogue: {0}")]
    Parse(#[from] serde_yaml::Error),
    #[error("CWE catalogue lists {0} twice")]
    Duplicate(String),
}

/// All labels, looked up by canonical id or alias.
#[derive(Debug, Clone)]
pub struct Catalogue {
    entries: Vec<CweEntry>,
    index: BTreeMap<String, usize>,
}

impl Catalogue {
    /// The catalogue compiled into the binary.
    pub fn embedded() -> Self {
        // The embedded file is checked by a unit test, so this cannot fail in a released binary.
        Self::parse(EMBEDDED).expect("embedded catalogue is valid")
    }

    /// Parse a catalogue from YAML text.
    pub fn parse(text: &str) -> Result<Self, CatalogueError> {
        let file: CatalogueFile = serde_yaml::from_str(text)?;
        let mut index = BTreeMap::new();
        for (i, entry) in file.labels.iter().enumerate() {
            for key in std::iter::once(&entry.id).chain(entry.aliases.iter()) {
                if index.insert(key.clone(), i).is_some() {
                    return Err(CatalogueError::Duplicate(key.clone()));
                }
            }
        }
        Ok(Self {
            entries: file.labels,
            index,
        })
    }

    /// The entry for a canonical id or an alias.
    pub fn get(&self, id: &str) -> Option<&CweEntry> {
        self.index.get(id).map(|i| &self.entries[*i])
    }

    /// Every entry, in file order.
    pub fn entries(&self) -> &[CweEntry] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_catalogue_parses_and_maps_aliases() {
        let catalogue = Catalogue::embedded();
        assert!(catalogue.entries().len() >= 29);
        assert_eq!(
            catalogue.get("CWE-89").map(|e| e.name.as_str()),
            Some("SQL injection")
        );
        assert_eq!(
            catalogue.get("CWE-259").map(|e| e.id.as_str()),
            Some("CWE-798")
        );
        assert_eq!(
            catalogue.get("CWE-730").map(|e| e.id.as_str()),
            Some("CWE-1333")
        );
        for entry in catalogue.entries() {
            assert!((0.1..=10.0).contains(&entry.severity), "{}", entry.id);
            assert!(entry.id.starts_with("CWE-"));
        }
    }

    #[test]
    fn duplicate_ids_are_rejected() {
        let text = "version: 1\nlabels:\n- {id: CWE-1, name: a, severity: 1.0, description: d, advice: a}\n- {id: CWE-2, aliases: [CWE-1], name: b, severity: 1.0, description: d, advice: a}\n";
        assert!(
            matches!(Catalogue::parse(text), Err(CatalogueError::Duplicate(id)) if id == "CWE-1")
        );
    }
}
