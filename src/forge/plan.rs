//! What one review run does, decided without any I/O and the same way for every forge: which findings
//! become inline comments, which go into the summary, which were posted before, and which of our old
//! comments are stale (their finding is gone, or it moved to another line).
//!
//! A finding is known by its [`Key`] (fingerprint and occurrence in the file), and an inline comment
//! also remembers its line, so two identical flaws in one file are two comments and a comment whose
//! code moved is replaced instead of pointing at the wrong line.

use std::collections::{HashMap, HashSet};

use crate::findings::Finding;
use crate::forge::comment::{self, Key};
use crate::forge::{anchor, Anchor};
use crate::report::Report;

/// Forges refuse bodies over 65,536 characters (GitHub) or 1,000,000 (GitLab); stay well below both.
const MAX_BODY_CHARS: usize = 60_000;
/// At most this many findings are listed one by one in a summary.
const MAX_LISTED: usize = 200;

/// One of our earlier inline comments (GitHub) or threads (GitLab), read back from the forge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    /// The forge's id of the comment or discussion.
    pub id: String,
    /// The finding it reports.
    pub key: Key,
    /// The line it was placed on (None for comments of hunkguard 0.1, which did not say).
    pub line: Option<u32>,
    /// Someone else answered in it: keep it, answer instead of removing it.
    pub replied: bool,
    /// We already answered it as fixed or moved.
    pub answered: bool,
    /// It is still open (GitLab: resolvable and unresolved; GitHub: always).
    pub open: bool,
}

/// What the pull request holds from us (only comments written by our identity, read from their trailer).
#[derive(Debug, Clone, Default)]
pub struct OnForge {
    /// Our inline comments / threads.
    pub threads: Vec<Thread>,
    /// Findings named in one of our summaries (they were reported, not inline).
    pub listed: HashSet<Key>,
}

/// A new inline comment.
#[derive(Debug, Clone, PartialEq)]
pub struct Inline<'a> {
    /// The finding.
    pub finding: &'a Finding,
    /// Its identity.
    pub key: Key,
    /// First line, when the finding spans several lines of one hunk.
    pub start_line: Option<u32>,
    /// The line the comment sits on.
    pub line: u32,
}

/// What to do with one of our threads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tidy {
    /// Nobody answered it: remove it (GitHub deletes, GitLab resolves).
    Remove,
    /// Someone answered: keep the thread and reply with this text (GitLab also resolves it).
    Answer(String),
}

/// One of our threads whose finding is gone, moved or doubled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    /// The forge's id of the thread.
    pub id: String,
    /// The finding it reported.
    pub key: Key,
    /// What to do.
    pub action: Tidy,
}

/// The decisions of one run.
#[derive(Debug, Clone, Default)]
pub struct Plan<'a> {
    /// New findings shown inline, in file order.
    pub inline: Vec<Inline<'a>>,
    /// New findings listed in the summary instead, most important first, with the reason.
    pub not_inline: Vec<(&'a Finding, Key, String)>,
    /// Findings already on the pull request.
    pub already_present: usize,
    /// Our threads to remove or answer.
    pub stale: Vec<Stale>,
}

impl Plan<'_> {
    /// Whether there is anything new to post.
    pub fn has_new(&self) -> bool {
        !self.inline.is_empty() || !self.not_inline.is_empty()
    }

    /// All new findings for the summary, when the forge refused the inline comments.
    pub fn all_into_summary(&self, why: &str) -> Vec<(&Finding, Key, String)> {
        let mut all: Vec<_> = self
            .inline
            .iter()
            .map(|i| (i.finding, i.key.clone(), why.to_string()))
            .chain(self.not_inline.iter().cloned())
            .collect();
        all.sort_by(|a, b| a.0.cmp(b.0));
        all
    }
}

fn file_order(a: &Finding, b: &Finding) -> std::cmp::Ordering {
    (&a.path, a.start_line, a.end_line, &a.cwe).cmp(&(&b.path, b.start_line, b.end_line, &b.cwe))
}

/// The key of every finding (same order as `findings`): copies of one fingerprint are numbered from
/// the top of the file. `None` for an exact duplicate (same fingerprint and lines) of an earlier finding.
pub fn keys(findings: &[Finding]) -> Vec<Option<Key>> {
    let mut order: Vec<usize> = (0..findings.len()).collect();
    order.sort_by(|&a, &b| file_order(&findings[a], &findings[b]));
    let mut keys = vec![None; findings.len()];
    let mut counts: HashMap<&str, (u32, u32, u32)> = HashMap::new();
    for index in order {
        let f = &findings[index];
        let entry = counts.entry(&f.fingerprint).or_insert((0, 0, 0));
        if entry.0 > 0 && (entry.1, entry.2) == (f.start_line, f.end_line) {
            continue;
        }
        *entry = (entry.0 + 1, f.start_line, f.end_line);
        keys[index] = Some(Key {
            fingerprint: f.fingerprint.clone(),
            occurrence: entry.0,
        });
    }
    keys
}

/// Plan a run: `on_forge` is what the pull request holds from us now, `head` the reviewed commit.
pub fn plan<'a>(
    report: &'a Report,
    on_forge: &OnForge,
    max_comments: usize,
    head: &str,
) -> Plan<'a> {
    let mut candidates: Vec<(&Finding, Key)> = report
        .findings
        .iter()
        .zip(keys(&report.findings))
        .filter_map(|(f, k)| k.map(|k| (f, k)))
        .collect();
    candidates.sort_by(|a, b| a.0.cmp(b.0));

    let mut plan = Plan::default();
    // Threads that still show a current finding on its current line.
    let mut kept: HashSet<&str> = HashSet::new();
    let mut current: HashMap<&Key, Option<u32>> = HashMap::new();
    for &(finding, ref key) in &candidates {
        let placed = match anchor(report, finding) {
            Anchor::Lines { start_line, line } => Some((start_line, line)),
            Anchor::Unanchored(_) => None,
        };
        current.insert(key, placed.map(|(_, line)| line));
        // A thread of this key on this line (or one that did not record its line) still shows it.
        let showing = on_forge.threads.iter().find(|t| {
            t.key == *key && (t.line.is_none() || placed.is_none() || t.line == placed.map(|p| p.1))
        });
        if let Some(thread) = showing {
            kept.insert(thread.id.as_str());
            plan.already_present += 1;
            continue;
        }
        if on_forge.listed.contains(key) {
            plan.already_present += 1;
            continue;
        }
        match placed {
            Some((start_line, line)) if plan.inline.len() < max_comments => {
                plan.inline.push(Inline {
                    finding,
                    key: key.clone(),
                    start_line,
                    line,
                })
            }
            Some(_) => plan.not_inline.push((
                finding,
                key.clone(),
                format!("over the cap of {max_comments} inline comments per run"),
            )),
            None => {
                plan.not_inline
                    .push((finding, key.clone(), unanchored_reason(report, finding)))
            }
        }
    }
    plan.inline.sort_by(|a, b| file_order(a.finding, b.finding));

    for thread in &on_forge.threads {
        if kept.contains(thread.id.as_str()) || !thread.open || thread.answered {
            continue;
        }
        let why = match current.get(&thread.key) {
            None => format!("hunkguard no longer reports this finding: fixed in {head}."),
            Some(Some(line)) if thread.line != Some(*line) => {
                format!("This finding moved to line {line} in {head}; it is reported there.")
            }
            // Another of our comments shows it already: this one is a leftover copy.
            Some(_) => "This comment is a duplicate of another hunkguard report.".to_string(),
        };
        plan.stale.push(Stale {
            id: thread.id.clone(),
            key: thread.key.clone(),
            action: if thread.replied {
                Tidy::Answer(why)
            } else {
                Tidy::Remove
            },
        });
    }
    plan
}

/// Why a finding is not on a diff line. Only our words: the path is shown by the summary line itself.
fn unanchored_reason(report: &Report, finding: &Finding) -> String {
    if report.hunks_of(&finding.path).is_none() {
        "the file is not among the changed files".into()
    } else {
        format!("line {} is outside the diff", finding.end_line)
    }
}

/// The summary text and the keys it lists: the findings not shown inline, most important first, as
/// many as fit ([`MAX_LISTED`] and the body size limit).
pub fn summary<'f>(
    all: &[Finding],
    not_inline: &'f [(&Finding, Key, String)],
) -> (String, Vec<&'f Key>) {
    let mut rest: Vec<&(&Finding, Key, String)> = not_inline.iter().collect();
    rest.sort_by(|a, b| a.0.cmp(b.0));
    let mut listed = rest.len().min(MAX_LISTED);
    loop {
        let shown: Vec<(&Finding, String)> = rest[..listed]
            .iter()
            .map(|(f, _, why)| (*f, why.clone()))
            .collect();
        let body = comment::summary_body(all, &shown, rest.len() - listed);
        // Room for the trailer: one marker line per listed finding.
        if body.chars().count() + listed * 100 <= MAX_BODY_CHARS || listed == 0 {
            return (body, rest[..listed].iter().map(|(_, k, _)| k).collect());
        }
        listed /= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    fn thread(id: &str, key: Key, line: Option<u32>, replied: bool) -> Thread {
        Thread {
            id: id.into(),
            key,
            line,
            replied,
            answered: false,
            open: true,
        }
    }

    fn key_of(f: &Finding) -> Key {
        Key::first(&f.fingerprint)
    }

    #[test]
    fn a_fresh_pr_gets_every_anchored_finding_inline_in_file_order() {
        let report = fixtures::report();
        let plan = plan(&report, &OnForge::default(), 30, "h");
        assert_eq!(plan.inline.len(), 2);
        assert_eq!((plan.inline[0].line, plan.inline[0].start_line), (12, None));
        assert_eq!(plan.inline[1].start_line, Some(15));
        assert!(plan.not_inline.is_empty() && plan.stale.is_empty());
    }

    #[test]
    fn the_cap_keeps_the_most_important_inline() {
        let report = fixtures::report();
        let plan = plan(&report, &OnForge::default(), 1, "h");
        assert_eq!(plan.inline.len(), 1);
        assert_eq!(plan.inline[0].finding.cwe, "CWE-89");
        assert_eq!(plan.not_inline[0].0.cwe, "CWE-328");
        assert!(plan.not_inline[0].2.contains("cap of 1"));
    }

    #[test]
    fn posted_keys_are_skipped_and_gone_ones_are_removed_or_answered() {
        let report = fixtures::report();
        let first = key_of(&report.findings[0]);
        let gone = |fp: &str| Key::first(fp);
        let mut answered = thread("5", gone("0ld3"), Some(3), true);
        answered.answered = true;
        let mut resolved = thread("6", gone("0ld4"), Some(3), false);
        resolved.open = false;
        let on_forge = OnForge {
            threads: vec![
                thread("1", first.clone(), Some(12), false),
                thread("2", gone("0ld"), Some(3), false),
                thread("3", gone("0ld2"), Some(4), true),
                answered,
                resolved,
            ],
            listed: HashSet::from([key_of(&report.findings[1])]),
        };
        let plan = plan(&report, &on_forge, 30, "abc");
        assert!(!plan.has_new());
        assert_eq!(plan.already_present, 2);
        assert_eq!(plan.stale.len(), 2);
        assert_eq!(
            (plan.stale[0].id.as_str(), &plan.stale[0].action),
            ("2", &Tidy::Remove)
        );
        assert!(matches!(&plan.stale[1].action, Tidy::Answer(t) if t.contains("fixed in abc")));
    }

    #[test]
    fn a_moved_finding_replaces_its_old_comment() {
        let report = fixtures::report();
        let first = key_of(&report.findings[0]);
        let on_forge = OnForge {
            threads: vec![thread("1", first.clone(), Some(2), false)],
            listed: HashSet::new(),
        };
        let replaced = plan(&report, &on_forge, 30, "abc");
        assert!(replaced
            .inline
            .iter()
            .any(|i| i.key == first && i.line == 12));
        assert_eq!(replaced.stale.len(), 1);
        assert_eq!(replaced.stale[0].action, Tidy::Remove);
        let on_forge = OnForge {
            threads: vec![thread("1", first, Some(2), true)],
            listed: HashSet::new(),
        };
        let answered = plan(&report, &on_forge, 30, "abc");
        assert!(
            matches!(&answered.stale[0].action, Tidy::Answer(t) if t.contains("moved to line 12"))
        );
    }

    #[test]
    fn identical_code_twice_in_a_file_is_two_findings_numbered_from_the_top() {
        let mut report = fixtures::report();
        let mut copy = report.findings[0].clone();
        copy.start_line = 18;
        copy.end_line = 18;
        report.findings.insert(0, copy);
        let exact_duplicate = report.findings[1].clone();
        report.findings.push(exact_duplicate);
        let keys = keys(&report.findings);
        assert_eq!(keys[0].as_ref().map(|k| k.occurrence), Some(2));
        assert_eq!(keys[1].as_ref().map(|k| k.occurrence), Some(1));
        assert_eq!(keys.last().cloned().flatten(), None);
        let plan = plan(&report, &OnForge::default(), 30, "h");
        let lines: Vec<u32> = plan.inline.iter().map(|i| i.line).collect();
        assert_eq!(lines, vec![12, 16, 18]);
    }

    #[test]
    fn long_summaries_are_cut_but_keep_the_totals() {
        let report = fixtures::report();
        let many: Vec<Finding> = (0..2000)
            .map(|i| {
                let mut f = report.findings[0].clone();
                f.fingerprint = format!("fp{i}");
                f
            })
            .collect();
        let rest: Vec<(&Finding, Key, String)> = many
            .iter()
            .map(|f| (f, key_of(f), "why".to_string()))
            .collect();
        let (body, listed) = summary(&many, &rest);
        assert!(body.chars().count() + listed.len() * 100 <= MAX_BODY_CHARS);
        assert!(body.contains("2000 finding(s)"));
        assert!(body.contains("more: see the JSON/SARIF report"));
    }

    #[test]
    fn summaries_list_the_most_important_first() {
        let report = fixtures::report();
        let rest: Vec<(&Finding, Key, String)> = report
            .findings
            .iter()
            .rev()
            .map(|f| (f, key_of(f), String::new()))
            .collect();
        let (body, listed) = summary(&report.findings, &rest);
        assert!(body.find("CWE-89").unwrap() < body.find("CWE-328").unwrap());
        assert_eq!(listed[0], &key_of(&report.findings[0]));
    }
}
