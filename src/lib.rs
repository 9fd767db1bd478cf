//! hunkguard: reviews the Python lines a pull/merge request changes for security weaknesses (CWEs)
//! with a small fine-tuned model that runs locally on ONNX Runtime.
//!
//! The modules follow the pipeline, each stage handing plain data to the next:
//! [`diff`] (git -> changed files) -> [`hunks`] (changed lines -> model snippets) -> [`model`]
//! (snippets -> scores) -> [`findings`] (scores -> located, explained findings) -> [`report`]
//! (one emitter per output format) and [`forge`] (review comments on GitHub / GitLab).
//! [`finding`] is the leaf data every stage after the model shares ([`finding::Finding`],
//! [`finding::Severity`]). [`scan`] wires the stages together; [`cli`] and [`config`] sit at the edge.

pub mod catalogue;
pub mod cli;
pub mod config;
pub mod diff;
pub mod finding;
pub mod findings;
pub mod forge;
pub mod hunks;
pub mod model;
pub mod report;
pub mod scan;
pub mod shard;
