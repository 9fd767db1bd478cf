//! Stage 6: forges. Findings become review comments on GitHub pull requests and GitLab merge requests.
//!
//! Shared logic lives once: [`comment`] renders bodies and fingerprint markers, [`anchor`] decides
//! whether a finding can sit on a diff line. Each forge has its own module and talks to its API only
//! after the reports are on disk; a failing API degrades the review, it never loses findings.

pub mod comment;
pub mod github;
pub mod gitlab;

use serde::Serialize;

use crate::findings::Finding;
use crate::report::Report;

/// Default cap on inline comments per run (what established review bots use).
pub const DEFAULT_MAX_COMMENTS: usize = 30;

/// Options common to every forge.
#[derive(Debug, Clone)]
pub struct PostOptions {
    /// At most this many new inline comments per run; the rest go into the summary.
    pub max_comments: usize,
}

impl Default for PostOptions {
    fn default() -> Self {
        Self {
            max_comments: DEFAULT_MAX_COMMENTS,
        }
    }
}

/// What a forge did with the findings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PostOutcome {
    /// New inline comments / discussions created.
    pub posted: usize,
    /// Findings whose fingerprint was already on the PR/MR.
    pub already_present: usize,
    /// Our old comments deleted because their finding is gone.
    pub removed: usize,
    /// Our old threads resolved or answered as fixed (someone had replied).
    pub resolved: usize,
    /// Findings listed in the summary instead of inline (cap, or no diff line to anchor).
    pub in_summary: usize,
    /// Why the review degraded (read-only token, fork), if it did.
    pub degraded: Option<String>,
}

/// Where a finding can be shown in the diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anchor {
    /// On `line`, spanning from `start_line` when the finding covers several lines of one hunk.
    Lines { start_line: Option<u32>, line: u32 },
    /// Not on a diff line; the reason says why.
    Unanchored(String),
}

/// Decide where `finding` can be anchored, using the hunk map of `report`.
///
/// Forges reject a comment on a line outside the diff (GitHub refuses the whole review), so every
/// comment is checked here first.
pub fn anchor(report: &Report, finding: &Finding) -> Anchor {
    let Some(hunks) = report.hunks_of(&finding.path) else {
        return Anchor::Unanchored(format!("{} is not among the changed files", finding.path));
    };
    let Some(hunk) = hunks.iter().find(|h| h.contains(finding.end_line)) else {
        return Anchor::Unanchored(format!(
            "line {} of {} is outside the diff",
            finding.end_line, finding.path
        ));
    };
    let start_line = (finding.start_line < finding.end_line && hunk.contains(finding.start_line))
        .then_some(finding.start_line);
    Anchor::Lines {
        start_line,
        line: finding.end_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn findings_anchor_only_inside_a_hunk_of_a_changed_file() {
        let report = fixtures::report();
        let mut finding = report.findings[1].clone();
        assert_eq!(
            anchor(&report, &finding),
            Anchor::Lines {
                start_line: Some(15),
                line: 16
            }
        );
        finding.start_line = 5;
        assert_eq!(
            anchor(&report, &finding),
            Anchor::Lines {
                start_line: None,
                line: 16
            }
        );
        finding.end_line = 30;
        assert!(matches!(anchor(&report, &finding), Anchor::Unanchored(_)));
        finding.path = "other.py".into();
        assert!(matches!(anchor(&report, &finding), Anchor::Unanchored(_)));
    }
}
