//! Stage 4: findings, the product's unit of output.
//!
//! A [`Finding`] is plain data: where (path, lines), what (CWE, title), how sure (confidence), how bad
//! (severity) and what to do (advice), plus a fingerprint that survives rebases. Every reporter and
//! forge consumes the same values, ordered by (path, line, CWE), so every output is stable.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::catalogue::{Catalogue, CweEntry};
use crate::config::Config;
use crate::diff::ChangedFile;
use crate::hunks::Snippet;
use crate::model::manifest::confidence;
use crate::model::SnippetScores;

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Sort key that makes every output deterministic.
    pub fn sort_key(&self) -> (&str, u32, &str) {
        (&self.path, self.start_line, &self.cwe)
    }
}

/// Sort findings by (path, line, CWE) and drop exact duplicates of (path, lines, CWE).
pub fn sort_and_dedup(findings: &mut Vec<Finding>) {
    findings.sort_by(|a, b| {
        a.sort_key()
            .partial_cmp(&b.sort_key())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    findings.dedup_by(|a, b| {
        a.path == b.path
            && a.start_line == b.start_line
            && a.end_line == b.end_line
            && a.cwe == b.cwe
    });
}

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

/// An inline suppression comment parsed from a source line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Suppression {
    /// `# hunkguard: ignore`: every CWE.
    All,
    /// `# hunkguard: ignore[CWE-89, CWE-78]`: only those.
    Only(Vec<String>),
}

impl Suppression {
    /// Parse the suppression comment on a line, if any.
    pub fn parse(line: &str) -> Option<Self> {
        let at = line.find("hunkguard:")?;
        let before = &line[..at];
        if !before.contains('#') {
            return None;
        }
        let rest = line[at + "hunkguard:".len()..].trim_start();
        let rest = rest.strip_prefix("ignore")?;
        let rest = rest.trim_start();
        if let Some(list) = rest.strip_prefix('[') {
            let list = list.split(']').next().unwrap_or_default();
            let ids = list
                .split(',')
                .map(|s| s.trim().to_ascii_uppercase())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>();
            Some(Suppression::Only(ids))
        } else {
            Some(Suppression::All)
        }
    }

    /// Whether this suppression covers `cwe` (canonical id; aliases are resolved by the caller).
    pub fn covers(&self, cwe: &str) -> bool {
        match self {
            Suppression::All => true,
            Suppression::Only(ids) => ids.iter().any(|id| id == cwe),
        }
    }
}

/// Whether a finding is suppressed by a comment on its flagged lines or the line just above.
///
/// `lines` is the whole file, 0-based. `resolve` maps a written id (possibly an alias) to the canonical one.
pub fn is_suppressed(
    lines: &[&str],
    start_line: u32,
    end_line: u32,
    cwe: &str,
    resolve: impl Fn(&str) -> String,
) -> bool {
    let first = start_line.saturating_sub(1).max(1);
    (first..=end_line).any(|lineno| {
        lines
            .get(lineno as usize - 1)
            .and_then(|line| Suppression::parse(line))
            .is_some_and(|s| match s {
                Suppression::All => true,
                Suppression::Only(ids) => ids.iter().any(|id| resolve(id) == cwe),
            })
    })
}

/// What [`from_scores`] needs to know about the model's outputs.
#[derive(Debug, Clone)]
pub struct ScoreInfo<'a> {
    /// CWE ids in output order.
    pub labels: &'a [String],
    /// Calibrated threshold per label (same order).
    pub thresholds: Vec<f32>,
    /// Token-level threshold that marks a line.
    pub line_threshold: f32,
}

/// Longest excerpt line kept in a finding (the model reads at most this much too).
const MAX_EXCERPT_LINE: usize = 500;

/// Turn per-line model scores into findings on changed lines.
///
/// A line is flagged for a CWE when its tokens pass the line threshold and the windows around it
/// pass the label's calibrated threshold (as confidence >= the configured minimum); when the label
/// fires but no changed line passes, its top-scoring changed line is flagged. Consecutive flagged
/// lines form one finding. A line that was not changed is never flagged, however high it scores:
/// the review is about this change, not the code it touches.
pub fn from_scores(
    files: &[ChangedFile],
    snippets: &[Snippet],
    scores: &[SnippetScores],
    info: &ScoreInfo<'_>,
    catalogue: &Catalogue,
    config: &Config,
) -> Vec<Finding> {
    let resolve = |id: &str| {
        catalogue
            .get(&id.to_ascii_uppercase())
            .map(|e| e.id.clone())
            .unwrap_or_else(|| id.to_string())
    };
    let mut candidates = Vec::new();
    for (snippet, score) in snippets.iter().zip(scores) {
        let Some(file) = files.get(snippet.file) else {
            continue;
        };
        let file_lines: Vec<&str> = file.content.lines().collect();
        for (label_index, cwe) in info.labels.iter().enumerate() {
            let Some(entry) = catalogue.get(cwe) else {
                continue;
            };
            if config.is_disabled(&entry.id) {
                continue;
            }
            let threshold = info.thresholds.get(label_index).copied().unwrap_or(1.0);
            let minimum = config.min_confidence_for(&entry.id);
            let mut run: Option<(u32, u32, f32)> = None;
            let mut any_flagged = false;
            let mut flush = |run: &mut Option<(u32, u32, f32)>| {
                if let Some((start, end, conf)) = run.take() {
                    if !is_suppressed(&file_lines, start, end, &entry.id, resolve) {
                        candidates.push(make_finding(file, &file_lines, start, end, conf, entry));
                    }
                }
            };
            for (i, lineno) in snippet.line_numbers.iter().enumerate() {
                let (token, window) = score.at(i, label_index);
                let conf = confidence(window, threshold);
                let flagged = snippet.changed.get(i).copied().unwrap_or(false)
                    && token >= info.line_threshold
                    && conf >= minimum;
                any_flagged |= flagged;
                match (&mut run, flagged) {
                    (Some((_, end, best)), true) if *lineno == *end + 1 => {
                        *end = *lineno;
                        *best = best.max(conf);
                    }
                    (_, true) => {
                        flush(&mut run);
                        run = Some((*lineno, *lineno, conf));
                    }
                    (_, false) => flush(&mut run),
                }
            }
            flush(&mut run);
            // The label fires but no changed line passes the line threshold: point at the top
            // changed line, as the model was calibrated (a weakness the model is sure of is not
            // dropped for want of a line). Whether the weakness is the change's and not the
            // surrounding code's is settled by the focus re-check (`confirm_in_focus`).
            if any_flagged {
                continue;
            }
            if let Some((i, conf)) =
                top_changed_line(snippet, score, label_index, threshold, minimum)
            {
                if let Some(lineno) = snippet.line_numbers.get(i) {
                    run = Some((*lineno, *lineno, conf));
                    flush(&mut run);
                }
            }
        }
    }
    let mut findings = keep_strongest_per_line(candidates);
    sort_and_dedup(&mut findings);
    if findings.len() > config.max_findings {
        findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(b.confidence.total_cmp(&a.confidence))
        });
        findings.truncate(config.max_findings);
        sort_and_dedup(&mut findings);
    }
    findings
}

/// Keep only the findings that still hold when their lines are re-read in their own scope
/// ([`crate::hunks::focus_snippet`]), and lower their confidence to the smaller of the two readings.
///
/// `focus` holds, per finding, the scores of its focus snippet and that snippet's changed flags.
pub fn confirm_in_focus(
    findings: Vec<Finding>,
    focus: &[(Snippet, SnippetScores)],
    info: &ScoreInfo<'_>,
    config: &Config,
) -> Vec<Finding> {
    findings
        .into_iter()
        .zip(focus)
        .filter_map(|(mut finding, (snippet, score))| {
            let label = info.labels.iter().position(|l| *l == finding.cwe)?;
            let threshold = info.thresholds.get(label).copied().unwrap_or(1.0);
            let minimum = config.min_confidence_for(&finding.cwe);
            let (mut token, mut window) = (0.0f32, 0.0f32);
            for (i, changed) in snippet.changed.iter().enumerate() {
                if *changed {
                    let (line_token, line_window) = score.at(i, label);
                    token = token.max(line_token);
                    window = window.max(line_window);
                }
            }
            let conf = confidence(window, threshold);
            // the finding may rest on the scope's top changed line alone
            let top_is_finding = top_changed_line(snippet, score, label, threshold, minimum)
                .and_then(|(i, _)| snippet.line_numbers.get(i))
                .is_some_and(|n| (finding.start_line..=finding.end_line).contains(n));
            if (token < info.line_threshold && !top_is_finding) || conf < minimum {
                tracing::debug!(path = %finding.path, line = finding.start_line, cwe = %finding.cwe, token, conf, "dropped: does not hold in its own scope");
                return None;
            }
            finding.confidence = finding.confidence.min(conf);
            Some(finding)
        })
        .collect()
}

/// The changed snippet line with the highest token score among those where `label` fires (window
/// confidence >= `minimum`), with its confidence: where a finding points when no changed line passes
/// the line threshold. The first line wins a tie.
fn top_changed_line(
    snippet: &Snippet,
    score: &SnippetScores,
    label: usize,
    threshold: f32,
    minimum: f32,
) -> Option<(usize, f32)> {
    let mut top: Option<(usize, f32, f32)> = None;
    for (i, changed) in snippet.changed.iter().enumerate() {
        if !*changed {
            continue;
        }
        let (token, window) = score.at(i, label);
        let conf = confidence(window, threshold);
        if conf >= minimum && top.is_none_or(|(_, best, _)| token > best) {
            top = Some((i, token, conf));
        }
    }
    top.map(|(i, _, conf)| (i, conf))
}

/// Where several CWEs flag overlapping lines, keep the most confident one, plus any other that is
/// itself very confident (0.8+): one line rarely holds two weaknesses, but related labels often fire together.
fn keep_strongest_per_line(mut candidates: Vec<Finding>) -> Vec<Finding> {
    candidates.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    let mut kept: Vec<Finding> = Vec::new();
    for candidate in candidates {
        let overlaps = kept.iter().any(|k| {
            k.path == candidate.path
                && k.start_line <= candidate.end_line
                && candidate.start_line <= k.end_line
        });
        if !overlaps || candidate.confidence >= 0.8 {
            kept.push(candidate);
        }
    }
    kept
}

fn make_finding(
    file: &ChangedFile,
    file_lines: &[&str],
    start: u32,
    end: u32,
    confidence: f32,
    entry: &CweEntry,
) -> Finding {
    let code = (start..=end)
        .filter_map(|n| file_lines.get(n as usize - 1))
        .map(|line| {
            let line = line.trim_end_matches('\r');
            match line.char_indices().nth(MAX_EXCERPT_LINE) {
                Some((cut, _)) => format!("{}…", &line[..cut]),
                None => line.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    Finding {
        path: file.path.clone(),
        start_line: start,
        end_line: end,
        cwe: entry.id.clone(),
        title: entry.name.clone(),
        confidence,
        severity: Severity::from_score(entry.severity),
        security_severity: entry.severity,
        explanation: entry.description.clone(),
        advice: entry.advice.clone(),
        fingerprint: fingerprint(&entry.id, &file.path, &code),
        code,
    }
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

    #[test]
    fn suppression_comments_parse() {
        assert_eq!(
            Suppression::parse("x = 1  # hunkguard: ignore"),
            Some(Suppression::All)
        );
        assert_eq!(
            Suppression::parse("x = 1  # hunkguard: ignore[cwe-89, CWE-78]"),
            Some(Suppression::Only(vec!["CWE-89".into(), "CWE-78".into()]))
        );
        assert_eq!(Suppression::parse("s = 'hunkguard: ignore'"), None);
        assert_eq!(Suppression::parse("x = 1  # hunkguard: review"), None);
    }

    #[test]
    fn suppression_applies_on_the_line_or_the_line_above() {
        let file = [
            "# hunkguard: ignore[CWE-89]",
            "cur.execute(q)",
            "os.system(c)",
        ];
        let id = |s: &str| s.to_string();
        assert!(is_suppressed(&file, 2, 2, "CWE-89", id));
        assert!(!is_suppressed(&file, 2, 2, "CWE-78", id));
        assert!(!is_suppressed(&file, 3, 3, "CWE-89", id));
    }

    /// A four-line file whose lines 2-4 were changed, scored for CWE-89 only (threshold 0.5,
    /// line threshold 0.9): `token` and `window` give each line's scores.
    fn score_file(token: [f32; 4], window: [f32; 4]) -> Vec<Finding> {
        let content = "def f(db, q):\n    sql = 'x' + q\n    db.execute(sql)\n    return 1\n";
        let file = ChangedFile {
            path: "app.py".into(),
            old_path: None,
            content: content.into(),
            added_lines: [2, 3, 4].into_iter().collect(),
            hunks: Vec::new(),
        };
        let snippet = Snippet {
            file: 0,
            text: content.trim_end().into(),
            line_numbers: vec![1, 2, 3, 4],
            changed: vec![false, true, true, true],
        };
        let scores = SnippetScores {
            token: token.iter().map(|t| vec![*t]).collect(),
            window: window.iter().map(|w| vec![*w]).collect(),
        };
        let labels = vec!["CWE-89".to_string()];
        let info = ScoreInfo {
            labels: &labels,
            thresholds: vec![0.5],
            line_threshold: 0.9,
        };
        from_scores(
            &[file],
            &[snippet],
            &[scores],
            &info,
            &Catalogue::embedded(),
            &Config::default(),
        )
    }

    fn lines_of(findings: &[Finding]) -> Vec<(u32, u32)> {
        findings
            .iter()
            .map(|f| (f.start_line, f.end_line))
            .collect()
    }

    #[test]
    fn consecutive_lines_over_the_line_threshold_form_one_finding() {
        let found = score_file([0.1, 0.95, 0.97, 0.2], [0.8; 4]);
        assert_eq!(lines_of(&found), vec![(2, 3)]);
        assert_eq!(found[0].code, "    sql = 'x' + q\n    db.execute(sql)");
    }

    #[test]
    fn a_firing_label_without_a_line_over_the_threshold_points_at_its_top_line() {
        let found = score_file([0.1, 0.3, 0.6, 0.2], [0.8; 4]);
        assert_eq!(lines_of(&found), vec![(3, 3)]);
    }

    #[test]
    fn the_top_line_fallback_lands_on_the_top_changed_line() {
        // line 1 (unchanged) scores highest; the change's own top line is line 3
        let found = score_file([0.7, 0.3, 0.6, 0.2], [0.8; 4]);
        assert_eq!(lines_of(&found), vec![(3, 3)]);
    }

    #[test]
    fn no_finding_when_the_label_does_not_fire() {
        let found = score_file([0.1, 0.99, 0.99, 0.2], [0.3; 4]);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn a_finding_holds_in_its_scope_on_its_top_line_even_below_the_line_threshold() {
        let found = score_file([0.1, 0.3, 0.6, 0.2], [0.8; 4]);
        assert_eq!(lines_of(&found), vec![(3, 3)]);
        let labels = vec!["CWE-89".to_string()];
        let info = ScoreInfo {
            labels: &labels,
            thresholds: vec![0.5],
            line_threshold: 0.9,
        };
        let focus_snippet = Snippet {
            file: 0,
            text: String::new(),
            line_numbers: vec![2, 3],
            changed: vec![true, true],
        };
        let focus_with_top = |top_line: usize| {
            let mut token = vec![vec![0.2], vec![0.2]];
            token[top_line] = vec![0.7];
            let scores = SnippetScores {
                token,
                window: vec![vec![0.8], vec![0.8]],
            };
            vec![(focus_snippet.clone(), scores)]
        };
        let config = Config::default();
        let kept = confirm_in_focus(found.clone(), &focus_with_top(1), &info, &config);
        assert_eq!(lines_of(&kept), vec![(3, 3)]);
        let moved = confirm_in_focus(found, &focus_with_top(0), &info, &config);
        assert!(
            moved.is_empty(),
            "the scope's top line is another line: {moved:?}"
        );
    }
}
