//! `.hunkguard.yml`: which files to review, how sure a finding must be, and when to fail the job.
//!
//! Read with serde_yaml. Unknown keys and bad values are errors that name the key, because a typo in
//! a security tool's config must never silently switch a check off.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;

use crate::catalogue::Catalogue;
use crate::finding::Severity;

/// The file name looked up at the repository root.
pub const FILE_NAME: &str = ".hunkguard.yml";

/// When the job fails: at or above a severity, or never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    /// Fail when a finding has this severity or higher.
    AtLeast(Severity),
    /// Report only.
    Never,
}

impl std::str::FromStr for FailOn {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("never") || s.eq_ignore_ascii_case("none") {
            return Ok(FailOn::Never);
        }
        s.parse::<Severity>().map(FailOn::AtLeast).map_err(|_| {
            format!("unknown level `{s}` (expected low, medium, high, critical or never)")
        })
    }
}

/// The config file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    include: Option<Vec<Text>>,
    exclude: Option<Vec<Text>>,
    min_confidence: Option<f32>,
    confidence: Option<BTreeMap<String, f32>>,
    disabled: Option<Vec<String>>,
    context_lines: Option<u32>,
    max_findings: Option<usize>,
    fail_on: Option<String>,
}

/// A YAML string that was written as one: `include: [42]` is a mistake, not the glob "42".
#[derive(Debug)]
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match serde_yaml::Value::deserialize(deserializer)? {
            serde_yaml::Value::String(text) => Ok(Text(text)),
            other => Err(serde::de::Error::custom(format!(
                "expected a string (a glob, quoted if need be), found `{}`",
                serde_yaml::to_string(&other).unwrap_or_default().trim_end()
            ))),
        }
    }
}

/// Errors reading the config; each names the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
    /// Minimum confidence for every CWE (0.5 = the model's calibrated threshold).
    pub min_confidence: f32,
    /// Per-CWE minimum confidence, canonical ids.
    pub confidence: BTreeMap<String, f32>,
    /// CWEs never reported, canonical ids.
    pub disabled: Vec<String>,
    /// Lines of unchanged code around a change that the model also reads.
    pub context_lines: u32,
    /// At most this many findings are reported (highest severity, then confidence, first).
    pub max_findings: usize,
    /// When the job fails.
    pub fail_on: FailOn,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            include: None,
            exclude: None,
            min_confidence: 0.5,
            confidence: BTreeMap::new(),
            disabled: Vec::new(),
            context_lines: 3,
            max_findings: 500,
            fail_on: FailOn::AtLeast(Severity::High),
        }
    }
}

impl Config {
    /// Load `explicit`, or `.hunkguard.yml` at `repo_root` when present, or the defaults.
    pub fn discover(
        explicit: Option<&Path>,
        repo_root: &Path,
        catalogue: &Catalogue,
    ) -> Result<Self, ConfigError> {
        let path = match explicit {
            Some(path) => path.to_path_buf(),
            None => {
                let candidate = repo_root.join(FILE_NAME);
                if !candidate.is_file() {
                    return Ok(Self::default());
                }
                candidate
            }
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Io {
            path: path.clone(),
            source,
        })?;
        Self::parse(&text, &path, catalogue)
    }

    /// Parse and validate config text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path, catalogue: &Catalogue) -> Result<Self, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let raw: RawConfig = if text.trim().is_empty() {
            RawConfig::default()
        } else {
            serde_yaml::from_str(text).map_err(|e| invalid(e.to_string()))?
        };
        let mut config = Config::default();
        if let Some(globs) = &raw.include {
            config.include = Some(build_globs("include", globs).map_err(invalid)?);
        }
        if let Some(globs) = &raw.exclude {
            config.exclude = Some(build_globs("exclude", globs).map_err(invalid)?);
        }
        if let Some(value) = raw.min_confidence {
            config.min_confidence = check_unit("min_confidence", value).map_err(invalid)?;
        }
        let canonical = |key: &str, id: &str| -> Result<String, String> {
            catalogue
                .get(&id.to_ascii_uppercase())
                .map(|e| e.id.clone())
                .ok_or_else(|| {
                    format!("{key}: unknown CWE `{id}` (see `hunkguard model` for the labels)")
                })
        };
        for (id, value) in raw.confidence.unwrap_or_default() {
            let key = format!("confidence.{id}");
            let value = check_unit(&key, value).map_err(invalid)?;
            config
                .confidence
                .insert(canonical(&key, &id).map_err(invalid)?, value);
        }
        for id in raw.disabled.unwrap_or_default() {
            config
                .disabled
                .push(canonical("disabled", &id).map_err(invalid)?);
        }
        if let Some(lines) = raw.context_lines {
            if lines > 50 {
                return Err(invalid(format!("context_lines: {lines} is more than 50")));
            }
            config.context_lines = lines;
        }
        if let Some(max) = raw.max_findings {
            if max == 0 {
                return Err(invalid(
                    "max_findings: 0 would report nothing; to report without failing the job, \
                     set fail_on: never"
                        .into(),
                ));
            }
            config.max_findings = max;
        }
        if let Some(level) = raw.fail_on {
            config.fail_on = level
                .parse()
                .map_err(|e| invalid(format!("fail_on: {e}")))?;
        }
        Ok(config)
    }

    /// Whether a repository-relative path is to be reviewed.
    pub fn selects(&self, path: &str) -> bool {
        let included = self.include.as_ref().is_none_or(|set| set.is_match(path));
        let excluded = self.exclude.as_ref().is_some_and(|set| set.is_match(path));
        included && !excluded
    }

    /// Minimum confidence that a finding of `cwe` needs.
    pub fn min_confidence_for(&self, cwe: &str) -> f32 {
        self.confidence
            .get(cwe)
            .copied()
            .unwrap_or(self.min_confidence)
    }

    /// Whether `cwe` is switched off.
    pub fn is_disabled(&self, cwe: &str) -> bool {
        self.disabled.iter().any(|id| id == cwe)
    }
}

fn build_globs(key: &str, globs: &[Text]) -> Result<GlobSet, String> {
    let mut builder = GlobSetBuilder::new();
    for Text(glob) in globs {
        let glob = Glob::new(glob).map_err(|e| format!("{key}: bad glob `{glob}`: {e}"))?;
        builder.add(glob);
    }
    builder
        .build()
        .map_err(|e| format!("{key}: cannot build globs: {e}"))
}

fn check_unit(key: &str, value: f32) -> Result<f32, String> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{key}: {value} is not between 0 and 1"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new(".hunkguard.yml"), &Catalogue::embedded())
    }

    #[test]
    fn empty_config_gives_defaults() {
        let config = parse("").unwrap();
        assert_eq!(config.fail_on, FailOn::AtLeast(Severity::High));
        assert_eq!(config.context_lines, 3);
        assert!(config.selects("app/x.py"));
    }

    #[test]
    fn full_config_is_read_and_aliases_are_canonicalised() {
        let config = parse(
            "include: ['src/**']\nexclude: ['src/vendor/**']\nmin_confidence: 0.6\n\
             confidence: {CWE-259: 0.9}\ndisabled: [cwe-117]\ncontext_lines: 5\nmax_findings: 10\nfail_on: never\n",
        )
        .unwrap();
        assert!(config.selects("src/app.py"));
        assert!(!config.selects("src/vendor/lib.py"));
        assert!(!config.selects("tests/test_app.py"));
        assert_eq!(config.min_confidence_for("CWE-798"), 0.9);
        assert_eq!(config.min_confidence_for("CWE-89"), 0.6);
        assert!(config.is_disabled("CWE-117"));
        assert_eq!(config.fail_on, FailOn::Never);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let err = parse("min_confidense: 0.5\n").unwrap_err().to_string();
        assert!(err.contains("min_confidense"), "{err}");
        let err = parse("min_confidence: 1.5\n").unwrap_err().to_string();
        assert!(err.contains("min_confidence"), "{err}");
        let err = parse("disabled: [CWE-99999]\n").unwrap_err().to_string();
        assert!(
            err.contains("disabled") && err.contains("CWE-99999"),
            "{err}"
        );
        let err = parse("fail_on: sometimes\n").unwrap_err().to_string();
        assert!(err.contains("fail_on"), "{err}");
        let err = parse("include: ['[']\n").unwrap_err().to_string();
        assert!(err.contains("include"), "{err}");
        let err = parse("context_lines: lots\n").unwrap_err().to_string();
        assert!(err.contains("context_lines"), "{err}");
    }

    #[test]
    fn values_that_would_switch_the_review_off_are_errors() {
        let err = parse("max_findings: 0\n").unwrap_err().to_string();
        assert!(err.contains("max_findings"), "{err}");
        let err = parse("include: [42]\n").unwrap_err().to_string();
        assert!(err.contains("include") && err.contains("42"), "{err}");
        let err = parse("exclude: [true]\n").unwrap_err().to_string();
        assert!(err.contains("exclude"), "{err}");
        assert!(parse("include: ['42']\nmax_findings: 1\n").is_ok());
    }
}
