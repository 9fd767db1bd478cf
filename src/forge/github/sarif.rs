//! Payload of the code-scanning SARIF upload, `POST /repos/{owner}/{repo}/code-scanning/sarifs`
//! (<https://docs.github.com/en/rest/code-scanning/code-scanning#upload-an-analysis-as-sarif-data>).
//!
//! The file is gzipped and base64-encoded; GitHub accepts at most 10 MB gzipped. On a pull request the
//! ref is `refs/pull/N/head` with the head sha: `refs/pull/N/merge` would need the merge commit's sha.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use flate2::write::GzEncoder;
use flate2::Compression;

use super::GithubError;

/// Largest gzipped SARIF file code scanning accepts.
pub const MAX_GZIPPED_BYTES: usize = 10 * 1024 * 1024;

/// `base64(gzip(file))`, refusing files over the upload limit.
pub fn encode_file(path: &Path) -> Result<String, GithubError> {
    let io_err = |source| GithubError::Io {
        path: path.display().to_string(),
        source,
    };
    let raw = std::fs::read(path).map_err(io_err)?;
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(&raw).map_err(io_err)?;
    let gzipped = gz.finish().map_err(io_err)?;
    if gzipped.len() > MAX_GZIPPED_BYTES {
        return Err(GithubError::SarifTooLarge {
            path: path.display().to_string(),
            bytes: gzipped.len(),
        });
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(gzipped))
}

/// The JSON body of the upload request.
pub fn upload_body(encoded: String, head_sha: &str, pr_number: u64) -> serde_json::Value {
    serde_json::json!({
        "commit_sha": head_sha,
        "ref": format!("refs/pull/{pr_number}/head"),
        "sarif": encoded,
        "tool_name": "hunkguard",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn the_payload_is_base64_of_gzip_and_names_the_pr_head() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.sarif");
        std::fs::write(&path, br#"{"version":"2.1.0"}"#).unwrap();
        let encoded = encode_file(&path).unwrap();
        let gz = base64::engine::general_purpose::STANDARD
            .decode(&encoded)
            .unwrap();
        let mut text = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, r#"{"version":"2.1.0"}"#);
        let body = upload_body(encoded, "abc", 5);
        assert_eq!(body["ref"], "refs/pull/5/head");
        assert_eq!(body["commit_sha"], "abc");
    }
}
