//! Stage 6: forges. Findings become review comments on GitHub pull requests and GitLab merge requests.
//!
//! Shared logic lives once: [`comment`] renders bodies and reads our markers, [`anchor`] decides
//! whether a finding can sit on a diff line, [`plan`] decides what a run does (no I/O), [`http`] sends
//! requests (retries, rate limits, pagination, the posting deadline). Each forge module is an adapter
//! ([`Forge`]: read what we posted before, apply a plan) with its endpoints, payloads and positions. A
//! forge is only called after the reports are on disk; a failing API degrades the review, it never
//! loses findings.

pub mod comment;
pub mod github;
pub mod gitlab;
pub mod http;
pub mod plan;

use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::findings::Finding;
use crate::report::Report;

/// Default cap on inline comments per run (what established review bots use).
pub const DEFAULT_MAX_COMMENTS: usize = 30;

/// Options common to every forge.
#[derive(Debug, Clone)]
pub struct PostOptions {
    /// At most this many new inline comments per run; the rest go into the summary.
    pub max_comments: usize,
    /// The whole posting phase ends by then; what is left falls back to the reports and annotations.
    pub deadline: Duration,
}

impl Default for PostOptions {
    fn default() -> Self {
        Self {
            max_comments: DEFAULT_MAX_COMMENTS,
            deadline: http::DEFAULT_POST_DEADLINE,
        }
    }
}

/// A forge adapter: what the pull request holds from us, and how a plan becomes requests.
pub(crate) trait Forge {
    /// The adapter's error.
    type Error;

    /// Read what our identity posted before (only comments it wrote, only their trailers).
    async fn read(&mut self) -> Result<plan::OnForge, Self::Error>;

    /// Post, remove and answer what `plan` says, counting into `outcome`.
    async fn apply(
        &mut self,
        report: &Report,
        plan: &plan::Plan<'_>,
        outcome: &mut PostOutcome,
    ) -> Result<(), Self::Error>;
}

/// One review run on `forge`: read, plan, apply. `outcome` holds what was done even on an error.
pub(crate) async fn review<F: Forge>(
    forge: &mut F,
    report: &Report,
    post: &PostOptions,
    head: &str,
    outcome: &mut PostOutcome,
) -> Result<(), F::Error> {
    let on_forge = forge.read().await?;
    let plan = plan::plan(report, &on_forge, post.max_comments, head);
    outcome.already_present = plan.already_present;
    forge.apply(report, &plan, outcome).await
}

/// What a real run would do on a pull request without our comments (`--dry-run`): nothing is sent.
pub fn dry_run(report: &Report, post: &PostOptions) -> PostOutcome {
    let plan = plan::plan(report, &plan::OnForge::default(), post.max_comments, "");
    PostOutcome {
        in_summary: report.findings.len(),
        degraded: Some(format!(
            "posting is disabled (--dry-run, or the action's `post: false`): up to {} inline \
             comment(s) and {} in the summary would be posted",
            plan.inline.len(),
            plan.not_inline.len()
        )),
        ..PostOutcome::default()
    }
}

/// A fresh id for one run, written into everything it posts so that a request whose answer was lost
/// can be looked for before it is repeated.
pub fn run_id(head: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let digest = Sha256::digest(format!("{head}:{now}:{}", std::process::id()));
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
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
