//! Leaf data of the pipeline's output: [`Severity`] and [`Finding`], which depend on nothing else in
//! the crate, so that the config, the findings stage, every emitter and the forges can share them.
//!
//! [`Finding`] has one order, most important first ([`Ord`]); every output uses it.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Severity levels, from GitHub's `security-severity` bands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// The band of a `security-severity` score (>= 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium, else low).
    pub fn from_score(score: f32) -> Self {
        if score >= 9.0 {
            Severity::Critical
        } else if score >= 7.0 {
            Severity::High
        } else if score >= 4.0 {
            Severity::Medium
        } else {
            Severity::Low
        }
    }

    /// Lower-case name, as used on the command line and in JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            other => Err(format!(
                "unknown severity `{other}` (expected low, medium, high or critical)"
            )),
        }
    }
}

/// One located, explained weakness on changed lines.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    /// Repository-relative path, forward slashes.
    pub path: String,
    /// First flagged line (1-based, new side).
    pub start_line: u32,
    /// Last flagged line (inclusive); equal to `start_line` for one line.
    pub end_line: u32,
    /// Canonical CWE id, e.g. `CWE-89`.
    pub cwe: String,
    /// Human name of the weakness.
    pub title: String,
    /// Model confidence in [0, 1].
    pub confidence: f32,
    /// Severity band.
    pub severity: Severity,
    /// GitHub `security-severity` score of the label.
    pub security_severity: f32,
    /// Why it matters.
    pub explanation: String,
    /// How to fix it.
    pub advice: String,
    /// The flagged source lines, as in the file (no trailing newline).
    pub code: String,
    /// Stable identity: rule + path + normalised flagged code (no line numbers).
    pub fingerprint: String,
}

impl Finding {
    /// Position key (path, line, CWE), for anchoring by place. To order findings, use [`Ord`].
    pub fn sort_key(&self) -> (&str, u32, &str) {
        (&self.path, self.start_line, &self.cwe)
    }

    /// Whether the two findings flag at least one common line of the same file.
    pub fn overlaps(&self, other: &Finding) -> bool {
        self.path == other.path
            && self.start_line <= other.end_line
            && other.start_line <= self.end_line
    }
}

/// The one order of findings, most important first: severity, then confidence (both descending),
/// then place (path, lines) and rule, and the remaining fields so that the order is total and every
/// output is deterministic.
impl Ord for Finding {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .severity
            .cmp(&self.severity)
            .then_with(|| other.confidence.total_cmp(&self.confidence))
            .then_with(|| self.path.cmp(&other.path))
            .then_with(|| self.start_line.cmp(&other.start_line))
            .then_with(|| self.end_line.cmp(&other.end_line))
            .then_with(|| self.cwe.cmp(&other.cwe))
            .then_with(|| self.fingerprint.cmp(&other.fingerprint))
            .then_with(|| self.code.cmp(&other.code))
            .then_with(|| self.title.cmp(&other.title))
            .then_with(|| other.security_severity.total_cmp(&self.security_severity))
            .then_with(|| self.explanation.cmp(&other.explanation))
            .then_with(|| self.advice.cmp(&other.advice))
    }
}

impl PartialOrd for Finding {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Equality agrees with [`Ord`]: every field, floats compared bit-for-bit by `total_cmp`.
impl PartialEq for Finding {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Finding {}

/// Fingerprint of a finding: rule + path + the flagged code with whitespace removed.
///
/// Line numbers are left out on purpose: a rebase or an edit above the finding moves it, and a moved
/// finding must not be posted again.
pub fn fingerprint(cwe: &str, path: &str, code: &str) -> String {
    let normalised: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let mut hasher = Sha256::new();
    hasher.update(cwe.as_bytes());
    hasher.update([0]);
    hasher.update(path.as_bytes());
    hasher.update([0]);
    hasher.update(normalised.as_bytes());
    let digest = hasher.finalize();
    digest.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_bands_follow_github() {
        assert_eq!(Severity::from_score(9.8), Severity::Critical);
        assert_eq!(Severity::from_score(7.5), Severity::High);
        assert_eq!(Severity::from_score(6.9), Severity::Medium);
        assert_eq!(Severity::from_score(3.9), Severity::Low);
    }

    #[test]
    fn fingerprint_ignores_whitespace_but_not_code_or_rule() {
        let a = fingerprint("CWE-89", "app.py", "cur.execute(q % x)");
        assert_eq!(
            a,
            fingerprint("CWE-89", "app.py", "    cur.execute( q % x )\r\n")
        );
        assert_ne!(a, fingerprint("CWE-78", "app.py", "cur.execute(q % x)"));
        assert_ne!(a, fingerprint("CWE-89", "other.py", "cur.execute(q % x)"));
        assert_ne!(a, fingerprint("CWE-89", "app.py", "cur.execute(q, x)"));
    }

    fn finding(path: &str, line: u32, cwe: &str, severity: Severity, confidence: f32) -> Finding {
        Finding {
            path: path.into(),
            start_line: line,
            end_line: line,
            cwe: cwe.into(),
            title: String::new(),
            confidence,
            severity,
            security_severity: 0.0,
            explanation: String::new(),
            advice: String::new(),
            code: String::new(),
            fingerprint: fingerprint(cwe, path, ""),
        }
    }

    #[test]
    fn the_order_is_most_important_first_then_place() {
        let mut findings = [
            finding("b.py", 1, "CWE-89", Severity::High, 0.9),
            finding("a.py", 9, "CWE-78", Severity::Critical, 0.6),
            finding("a.py", 2, "CWE-89", Severity::High, 0.9),
            finding("a.py", 1, "CWE-89", Severity::High, 0.95),
            finding("a.py", 2, "CWE-22", Severity::High, 0.9),
        ];
        findings.sort();
        let order: Vec<(&str, u32, &str)> = findings.iter().map(Finding::sort_key).collect();
        assert_eq!(
            order,
            vec![
                ("a.py", 9, "CWE-78"),
                ("a.py", 1, "CWE-89"),
                ("a.py", 2, "CWE-22"),
                ("a.py", 2, "CWE-89"),
                ("b.py", 1, "CWE-89"),
            ]
        );
        let nan = finding("a.py", 1, "CWE-89", Severity::High, f32::NAN);
        assert_eq!(nan, nan.clone(), "equality is total, NaN included");
        assert_ne!(findings[0], findings[1]);
    }
}
