//! Splitting a `check` across the jobs of a CI matrix: shard K of N reviews a fixed subset of the files.
//!
//! A file belongs to shard `K` of `N` when `h mod N == K - 1`, where `h` is the first 8 bytes, read
//! big-endian, of the SHA-256 of its repository-relative path (UTF-8, forward slashes, no leading `./`).
//! SHA-256 rather than std's hasher because the partition must not change between Rust releases, hosts
//! or processes: every job of the matrix must agree on it, and a user can reproduce it with `sha256sum`.
//! The shards of one N are disjoint and together hold every file, so their reports add up to the
//! unsharded run. Without `--shard`, GitLab's `parallel:` variables (`CI_NODE_INDEX`/`CI_NODE_TOTAL`,
//! both 1-based) choose the shard.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::diff::{self, DiffError};

/// One shard of a partition: `index` of `total`, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub total: u32,
}

/// Errors of the shard selection.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error("{source_name}: `{value}` is not K/N with 1 <= K <= N (e.g. 2/4)")]
    BadSpec { source_name: String, value: String },
    #[error(
        "CI_NODE_INDEX and CI_NODE_TOTAL must be set together (GitLab sets both for `parallel:`); \
         got CI_NODE_INDEX={index:?}, CI_NODE_TOTAL={total:?}"
    )]
    HalfSetEnv {
        index: Option<String>,
        total: Option<String>,
    },
    #[error(transparent)]
    Collect(#[from] DiffError),
}

/// The shard variables of the CI (GitLab's `parallel:`), as read from the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CiNodeEnv {
    pub index: Option<String>,
    pub total: Option<String>,
}

impl CiNodeEnv {
    /// Read `CI_NODE_INDEX` and `CI_NODE_TOTAL`; empty values count as unset.
    pub fn from_env() -> Self {
        let read = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self {
            index: read("CI_NODE_INDEX"),
            total: read("CI_NODE_TOTAL"),
        }
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.total)
    }
}

impl Shard {
    /// Parse `K/N` (1 <= K <= N). `source_name` names where the value came from, for the error.
    pub fn parse(value: &str, source_name: &str) -> Result<Self, ShardError> {
        let bad = || ShardError::BadSpec {
            source_name: source_name.to_string(),
            value: value.to_string(),
        };
        let (index, total) = value.trim().split_once('/').ok_or_else(bad)?;
        let index: u32 = index.trim().parse().map_err(|_| bad())?;
        let total: u32 = total.trim().parse().map_err(|_| bad())?;
        if index == 0 || total == 0 || index > total {
            return Err(bad());
        }
        Ok(Self { index, total })
    }

    /// The shard to run: `--shard` when given, else GitLab's `CI_NODE_INDEX`/`CI_NODE_TOTAL`.
    /// `None` means the whole run (no flag and no CI variables, or a partition into one shard).
    pub fn resolve(flag: Option<Shard>, ci: &CiNodeEnv) -> Result<Option<Self>, ShardError> {
        let shard = match (flag, &ci.index, &ci.total) {
            (Some(shard), _, _) => shard,
            (None, None, None) => return Ok(None),
            (None, Some(index), Some(total)) => {
                Self::parse(&format!("{index}/{total}"), "CI_NODE_INDEX/CI_NODE_TOTAL")?
            }
            (None, index, total) => {
                return Err(ShardError::HalfSetEnv {
                    index: index.clone(),
                    total: total.clone(),
                })
            }
        };
        Ok((shard.total > 1).then_some(shard))
    }

    /// Whether the file at `relative_path` (repository-relative, see [`relative_key`]) is in this shard.
    pub fn contains(&self, relative_path: &str) -> bool {
        path_hash(relative_path) % u64::from(self.total) == u64::from(self.index - 1)
    }

    /// The code-scanning run id of this shard, appended to the SARIF category: `shard-K-of-N`.
    pub fn run_id(&self) -> String {
        format!("shard-{}-of-{}", self.index, self.total)
    }

    /// The files and skipped entries under `paths` that belong to this shard, as explicit paths for
    /// `check`. Walking is the diff stage's ([`diff::collect_paths`]), so a shard sees exactly the files
    /// (and the skip reasons) that the unsharded run sees; `root` is what paths are made relative to.
    pub fn select_paths(&self, paths: &[PathBuf], root: &Path) -> Result<Vec<PathBuf>, ShardError> {
        let collected = diff::collect_paths(paths)?;
        let mut selected: Vec<String> = collected
            .files
            .into_iter()
            .map(|f| f.path)
            .chain(collected.skipped.into_iter().map(|s| s.path))
            .filter(|path| self.contains(&relative_key(Path::new(path), root)))
            .collect();
        selected.sort();
        selected.dedup();
        Ok(selected.into_iter().map(PathBuf::from).collect())
    }
}

/// What `check` reviews: the shard's share of `paths` ([`Shard::resolve`], [`Shard::select_paths`]),
/// or all of `paths` when there is no shard.
pub fn select(
    flag: Option<Shard>,
    ci: &CiNodeEnv,
    paths: &[PathBuf],
    root: &Path,
) -> Result<(Vec<PathBuf>, Option<Shard>), ShardError> {
    match Shard::resolve(flag, ci)? {
        Some(shard) => Ok((shard.select_paths(paths, root)?, Some(shard))),
        None => Ok((paths.to_vec(), None)),
    }
}

/// The first 8 bytes, big-endian, of SHA-256 over the path's UTF-8 bytes.
pub fn path_hash(relative_path: &str) -> u64 {
    let digest = Sha256::digest(relative_path.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The key a file is sharded by: its path relative to `root` (when it lies under it), with forward
/// slashes and without `./` components, so `./src/a.py`, `src/a.py` and `/repo/src/a.py` agree.
pub fn relative_key(path: &Path, root: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    let cleaned: PathBuf = relative
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect();
    cleaned.to_string_lossy().replace('\\', "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(index: Option<&str>, total: Option<&str>) -> CiNodeEnv {
        CiNodeEnv {
            index: index.map(String::from),
            total: total.map(String::from),
        }
    }

    #[test]
    fn parses_k_of_n_and_refuses_everything_else() {
        assert_eq!(
            Shard::parse("2/4", "--shard").unwrap(),
            Shard { index: 2, total: 4 }
        );
        assert_eq!(
            Shard::parse(" 1 / 1 ", "--shard").unwrap().to_string(),
            "1/1"
        );
        for bad in [
            "", "3", "0/4", "5/4", "2/0", "-1/4", "a/b", "2/4/8", "1.5/4",
        ] {
            let err = Shard::parse(bad, "--shard").unwrap_err().to_string();
            assert!(
                err.contains("--shard") && err.contains("K/N"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn the_flag_wins_over_gitlab_parallel_variables() {
        let gitlab = env(Some("3"), Some("5"));
        assert_eq!(
            Shard::resolve(Some(Shard { index: 1, total: 2 }), &gitlab).unwrap(),
            Some(Shard { index: 1, total: 2 })
        );
        assert_eq!(
            Shard::resolve(None, &gitlab).unwrap(),
            Some(Shard { index: 3, total: 5 })
        );
        assert_eq!(Shard::resolve(None, &CiNodeEnv::default()).unwrap(), None);
        // One shard of one is the whole run.
        assert_eq!(
            Shard::resolve(Some(Shard { index: 1, total: 1 }), &gitlab).unwrap(),
            None
        );
        assert_eq!(
            Shard::resolve(None, &env(Some("1"), Some("1"))).unwrap(),
            None
        );
    }

    #[test]
    fn half_set_or_bad_gitlab_variables_are_errors_that_name_them() {
        let err = Shard::resolve(None, &env(Some("2"), None)).unwrap_err();
        assert!(err.to_string().contains("CI_NODE_TOTAL"), "{err}");
        let err = Shard::resolve(None, &env(Some("6"), Some("5"))).unwrap_err();
        assert!(
            err.to_string().contains("CI_NODE_INDEX/CI_NODE_TOTAL"),
            "{err}"
        );
    }

    #[test]
    fn the_hash_is_sha256_of_the_path_so_it_never_changes() {
        // The first 16 hex digits of `printf src/app.py | sha256sum`.
        assert_eq!(path_hash("src/app.py"), 0x0479_1d82_dd15_fdd4);
        assert_eq!(
            path_hash(""),
            0xe3b0_c442_98fc_1c14,
            "SHA-256 of the empty string"
        );
    }

    #[test]
    fn every_path_is_in_exactly_one_shard() {
        let paths: Vec<String> = (0..500)
            .map(|i| format!("pkg{}/mod_{i}.py", i % 7))
            .collect();
        for total in 1..=6 {
            let shards: Vec<Shard> = (1..=total).map(|index| Shard { index, total }).collect();
            for path in &paths {
                let owners = shards.iter().filter(|s| s.contains(path)).count();
                assert_eq!(owners, 1, "{path} in {owners} of {total} shards");
            }
            // No shard is starved: 500 paths over at most 6 shards.
            for shard in &shards {
                let size = paths.iter().filter(|p| shard.contains(p)).count();
                assert!(size > 500 / total as usize / 2, "{shard}: {size}");
            }
        }
    }

    #[test]
    fn spellings_of_one_path_share_a_key() {
        let root = Path::new("/repo");
        for spelling in [
            "src/a.py",
            "./src/a.py",
            "/repo/src/a.py",
            "/repo/./src/a.py",
        ] {
            assert_eq!(
                relative_key(Path::new(spelling), root),
                "src/a.py",
                "{spelling}"
            );
        }
        assert_eq!(
            relative_key(Path::new("/elsewhere/b.py"), root),
            "/elsewhere/b.py"
        );
    }

    #[test]
    fn the_run_id_names_the_shard() {
        assert_eq!(Shard { index: 2, total: 4 }.run_id(), "shard-2-of-4");
    }
}
