//! Deciding what one review run does, without any I/O: which findings become inline comments, which go
//! into the review body, which were posted before, and which of our old comments are stale.
//!
//! Inputs are the report and what the PR already holds (review comments from
//! <https://docs.github.com/en/rest/pulls/comments#list-review-comments-on-a-pull-request> and review
//! bodies from <https://docs.github.com/en/rest/pulls/reviews#list-reviews-for-a-pull-request>); the
//! output is the exact payload of <https://docs.github.com/en/rest/pulls/reviews#create-a-review-for-a-pull-request>.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::findings::Finding;
use crate::forge::comment;
use crate::forge::{anchor, Anchor};
use crate::report::Report;

/// GitHub refuses bodies over 65,536 characters; stay well below.
const MAX_BODY_CHARS: usize = 60_000;
/// At most this many findings are listed one by one in a review body.
const MAX_LISTED: usize = 200;

/// A review comment as listed by the API (only the fields we read).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ExistingComment {
    pub id: u64,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub in_reply_to_id: Option<u64>,
}

/// A submitted review as listed by the API (only the body matters: it carries summary markers).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ExistingReview {
    #[serde(default)]
    pub body: Option<String>,
}

/// One inline comment of the review payload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct InlineComment {
    pub path: String,
    pub body: String,
    pub line: u32,
    pub side: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_side: Option<&'static str>,
}

/// What to do with one of our comments whose finding is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StaleAction {
    /// Nobody answered: delete it.
    Delete,
    /// Someone replied: keep the thread and say it is fixed.
    ReplyFixed,
}

/// One of our comments whose finding is no longer reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stale {
    pub comment_id: u64,
    pub fingerprint: String,
    pub action: StaleAction,
}

/// The decisions of one run.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan<'a> {
    /// New findings shown inline, in payload order.
    pub inline: Vec<(&'a Finding, InlineComment)>,
    /// New findings that go into the review body, with the reason.
    pub not_inline: Vec<(&'a Finding, String)>,
    /// Findings whose fingerprint is already on the PR.
    pub already_present: usize,
    /// Our comments to delete or answer.
    pub stale: Vec<Stale>,
}

impl Plan<'_> {
    /// Whether there is anything new to post (no empty reviews).
    pub fn has_new(&self) -> bool {
        !self.inline.is_empty() || !self.not_inline.is_empty()
    }

    /// All new findings, to move into the body when GitHub rejects the inline comments.
    pub fn all_into_body(&self, why: &str) -> Vec<(&Finding, String)> {
        self.inline
            .iter()
            .map(|(f, _)| (*f, why.to_string()))
            .chain(self.not_inline.iter().map(|(f, r)| (*f, r.clone())))
            .collect()
    }
}

/// Highest severity first, then file order: who gets the inline slots and the top of the body.
fn by_severity(a: &Finding, b: &Finding) -> std::cmp::Ordering {
    b.severity.cmp(&a.severity).then_with(|| {
        a.sort_key()
            .partial_cmp(&b.sort_key())
            .unwrap_or(std::cmp::Ordering::Equal)
    })
}

/// Plan a run: `comments` and `reviews` are what the PR holds now.
pub(crate) fn plan<'a>(
    report: &'a Report,
    comments: &[ExistingComment],
    reviews: &[ExistingReview],
    max_comments: usize,
) -> Plan<'a> {
    // Ours = top-level comments with a fingerprint marker; review bodies list the rest.
    let ours: Vec<(&ExistingComment, String)> = comments
        .iter()
        .filter(|c| c.in_reply_to_id.is_none())
        .filter_map(|c| comment::parse_marker(&c.body).map(|fp| (c, fp)))
        .collect();
    let mut present: HashSet<String> = ours.iter().map(|(_, fp)| fp.clone()).collect();
    for review in reviews {
        if let Some(body) = &review.body {
            present.extend(comment::parse_markers(body));
        }
    }

    let mut plan = Plan::default();
    let mut ordered: Vec<&Finding> = report.findings.iter().collect();
    ordered.sort_by(|a, b| by_severity(a, b));
    let mut seen = HashSet::new();
    for finding in ordered {
        if !seen.insert(finding.fingerprint.as_str()) {
            continue;
        }
        if present.contains(&finding.fingerprint) {
            plan.already_present += 1;
            continue;
        }
        match anchor(report, finding) {
            Anchor::Lines { start_line, line } if plan.inline.len() < max_comments => {
                plan.inline.push((
                    finding,
                    InlineComment {
                        path: finding.path.clone(),
                        body: comment::finding_body(finding),
                        line,
                        side: "RIGHT",
                        start_line,
                        start_side: start_line.map(|_| "RIGHT"),
                    },
                ));
            }
            Anchor::Lines { .. } => plan.not_inline.push((
                finding,
                format!("over the cap of {max_comments} inline comments per run"),
            )),
            Anchor::Unanchored(reason) => plan.not_inline.push((finding, reason)),
        }
    }
    plan.inline.sort_by(|a, b| {
        a.0.sort_key()
            .partial_cmp(&b.0.sort_key())
            .unwrap_or(std::cmp::Ordering::Equal)
    });

    let current: HashSet<&str> = report
        .findings
        .iter()
        .map(|f| f.fingerprint.as_str())
        .collect();
    for (old, fp) in &ours {
        if current.contains(fp.as_str()) {
            continue;
        }
        let replies: Vec<&ExistingComment> = comments
            .iter()
            .filter(|c| c.in_reply_to_id == Some(old.id))
            .collect();
        if replies.is_empty() {
            plan.stale.push(Stale {
                comment_id: old.id,
                fingerprint: fp.clone(),
                action: StaleAction::Delete,
            });
        } else if !replies
            .iter()
            .any(|r| comment::parse_fixed_marker(&r.body).as_deref() == Some(fp.as_str()))
        {
            plan.stale.push(Stale {
                comment_id: old.id,
                fingerprint: fp.clone(),
                action: StaleAction::ReplyFixed,
            });
        }
    }
    plan
}

/// The review body: the shared summary, the findings not shown inline (highest severity first, at most
/// [`MAX_LISTED`]) and a hidden marker per listed finding, so a re-run knows they were reported.
pub(crate) fn review_body(all: &[Finding], not_inline: &[(&Finding, String)]) -> String {
    let mut rest: Vec<(&Finding, String)> = not_inline.to_vec();
    rest.sort_by(|a, b| by_severity(a.0, b.0));
    let mut listed = rest.len().min(MAX_LISTED);
    loop {
        let body = render_body(all, &rest[..listed], rest.len() - listed);
        if body.chars().count() <= MAX_BODY_CHARS || listed == 0 {
            return body;
        }
        listed /= 2;
    }
}

fn render_body(all: &[Finding], listed: &[(&Finding, String)], left_out: usize) -> String {
    let mut body = comment::summary_body(all, listed);
    if left_out > 0 {
        body.push_str(&format!(
            "\n… and {left_out} more: see the JSON/SARIF report of this run.\n"
        ));
    }
    for (finding, _) in listed {
        body.push_str(&comment::marker(&finding.fingerprint));
        body.push('\n');
    }
    body
}

/// The reply that closes one of our threads whose finding is gone.
pub(crate) fn fixed_reply(fingerprint: &str, head_sha: &str) -> String {
    format!(
        "hunkguard no longer reports this finding: fixed in {head_sha}.\n{}",
        comment::fixed_marker(fingerprint)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    fn existing(id: u64, body: &str, reply_to: Option<u64>) -> ExistingComment {
        ExistingComment {
            id,
            body: body.into(),
            in_reply_to_id: reply_to,
        }
    }

    #[test]
    fn a_fresh_pr_gets_every_anchored_finding_inline() {
        let report = fixtures::report();
        let plan = plan(&report, &[], &[], 30);
        assert_eq!(plan.inline.len(), 2);
        assert_eq!(plan.inline[0].1.line, 12);
        assert_eq!(plan.inline[0].1.start_line, None);
        assert_eq!(plan.inline[1].1.start_line, Some(15));
        assert_eq!(plan.inline[1].1.start_side, Some("RIGHT"));
        assert!(plan.not_inline.is_empty() && plan.stale.is_empty());
    }

    #[test]
    fn the_cap_keeps_the_most_severe_inline() {
        let report = fixtures::report();
        let plan = plan(&report, &[], &[], 1);
        assert_eq!(plan.inline.len(), 1);
        assert_eq!(plan.inline[0].0.cwe, "CWE-89");
        assert_eq!(plan.not_inline[0].0.cwe, "CWE-328");
        assert!(plan.not_inline[0].1.contains("cap of 1"));
    }

    #[test]
    fn posted_fingerprints_are_skipped_and_gone_ones_are_stale() {
        let report = fixtures::report();
        let fp = &report.findings[0].fingerprint;
        let reviews = vec![ExistingReview {
            body: Some(review_body(
                &report.findings,
                &[(&report.findings[1], "x".into())],
            )),
        }];
        let comments = vec![
            existing(1, &comment::marker(fp), None),
            existing(2, &comment::marker("0ld"), None),
            existing(3, &comment::marker("0ld2"), None),
            existing(4, "I disagree", Some(3)),
            existing(5, &comment::marker("0ld3"), None),
            existing(6, "ok", Some(5)),
            existing(7, &fixed_reply("0ld3", "abc"), Some(5)),
        ];
        let plan = plan(&report, &comments, &reviews, 30);
        assert!(!plan.has_new());
        assert_eq!(plan.already_present, 2);
        assert_eq!(
            plan.stale,
            vec![
                Stale {
                    comment_id: 2,
                    fingerprint: "0ld".into(),
                    action: StaleAction::Delete
                },
                Stale {
                    comment_id: 3,
                    fingerprint: "0ld2".into(),
                    action: StaleAction::ReplyFixed
                },
            ]
        );
    }

    #[test]
    fn long_bodies_are_cut_but_keep_the_totals() {
        let report = fixtures::report();
        let many: Vec<Finding> = (0..2000)
            .map(|i| {
                let mut f = report.findings[0].clone();
                f.fingerprint = format!("fp{i}");
                f
            })
            .collect();
        let rest: Vec<(&Finding, String)> = many.iter().map(|f| (f, "why".to_string())).collect();
        let body = review_body(&many, &rest);
        assert!(body.chars().count() <= MAX_BODY_CHARS);
        assert!(body.contains("2000 finding(s)"));
        assert!(body.contains("more: see the JSON/SARIF report"));
    }
}
