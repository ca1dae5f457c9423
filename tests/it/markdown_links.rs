//! Every relative link in every tracked Markdown file resolves inside the
//! repository: to a file or directory that exists, not above the
//! repository's root (a clone has nothing beside it), and, when it names a
//! heading of a Markdown file (`docs/API.md#errors`), to a heading that
//! exists. Links with a scheme (`https:`, `mailto:`) are not checked.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Markdown files git tracks (and any not yet added), relative to the root.
fn markdown_files() -> Vec<PathBuf> {
    let output = Command::new("git")
        .args([
            "ls-files",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
            "*.md",
        ])
        .current_dir(root())
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git ls-files failed");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(PathBuf::from)
        .filter(|path| root().join(path).is_file())
        .collect()
}

/// `text` without fenced code blocks and inline code spans, where a
/// bracket is not a link.
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced || line.starts_with("    ") {
            continue;
        }
        let mut in_code = false;
        for c in line.chars() {
            if c == '`' {
                in_code = !in_code;
            } else if !in_code {
                out.push(c);
            }
        }
        out.push('\n');
    }
    out
}

/// The targets of inline links and images (`[text](target)`) and of
/// reference definitions (`[name]: target`).
fn link_targets(text: &str) -> Vec<String> {
    let text = prose(text);
    let mut targets = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        let end = rest.find(')').unwrap_or(rest.len());
        let target = rest[..end].split_whitespace().next().unwrap_or("");
        targets.push(target.trim_matches(['<', '>']).to_string());
    }
    for line in text.lines() {
        let line = line.trim_start();
        if let Some((label, target)) = line.strip_prefix('[').and_then(|l| l.split_once("]:")) {
            if !label.contains(']') {
                if let Some(target) = target.split_whitespace().next() {
                    targets.push(target.to_string());
                }
            }
        }
    }
    targets
}

fn has_scheme(target: &str) -> bool {
    match target.split_once(':') {
        Some((scheme, _)) => {
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                && !scheme.contains('/')
        }
        None => false,
    }
}

/// GitHub's anchor of a heading: lower case, punctuation dropped, spaces
/// as `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut found = BTreeSet::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            found.insert(anchor(&line.trim_start_matches('#').replace('`', "")));
        }
    }
    found
}

/// `path` with `.` and `..` folded, or `None` when it climbs above the start.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(name) => out.push(name),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// What is wrong with `target` as a link from `file`, if anything.
fn check(file: &Path, target: &str) -> Option<String> {
    if target.is_empty() || has_scheme(target) {
        return None;
    }
    let (path, fragment) = match target.split_once('#') {
        Some((path, fragment)) => (path, Some(fragment)),
        None => (target, None),
    };
    let linked = if path.is_empty() {
        file.to_path_buf()
    } else {
        let joined = file.parent().unwrap_or(Path::new("")).join(path);
        match normalize(&joined) {
            Some(inside) => inside,
            None => return Some("points outside the repository".into()),
        }
    };
    // docs/ is handed to API consumers on its own: it may not lean on
    // files above it.
    if file.starts_with("docs") && !linked.starts_with("docs") {
        return Some("leaves docs/, which is read on its own".into());
    }
    let on_disk = root().join(&linked);
    if !on_disk.exists() {
        return Some(format!("{} does not exist", linked.display()));
    }
    if let (Some(fragment), Some("md")) = (fragment, linked.extension().and_then(|e| e.to_str())) {
        let text = std::fs::read_to_string(&on_disk).unwrap();
        if !anchors(&text).contains(fragment) {
            return Some(format!("{} has no heading #{fragment}", linked.display()));
        }
    }
    None
}

#[test]
fn every_relative_link_in_the_markdown_files_resolves_inside_the_repository() {
    let files = markdown_files();
    assert!(
        files.iter().any(|f| f == Path::new("README.md")),
        "the README is among {files:?}"
    );
    let mut broken = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        for target in link_targets(&text) {
            if let Some(problem) = check(file, &target) {
                broken.push(format!("{}: ({target}) {problem}", file.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_readme_links_the_api_contract_in_the_repository() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(link_targets(&readme).iter().any(|t| t == "docs/API.md"));
    assert!(root().join("docs/API.md").is_file());
}

#[test]
fn the_checker_refuses_what_a_clone_would_not_have() {
    let readme = Path::new("README.md");
    assert!(check(readme, "../shared/API.md").is_some());
    assert!(check(readme, "docs/missing.md").is_some());
    assert!(check(readme, "docs/API.md#no-such-heading").is_some());
    // Inside the repository, but above docs/, which is read on its own.
    assert!(check(Path::new("docs/API.md"), "../README.md").is_some());
    assert!(check(Path::new("docs/DEPLOYMENT.md"), "API.md#errors").is_none());
    assert!(check(readme, "docs/API.md#errors").is_none());
    assert!(check(readme, "#security").is_none());
    assert!(check(readme, "https://example.com/x").is_none());
    assert_eq!(
        link_targets("see [a](b.md \"t\") and `[c](d)`\n[e]: f.md\n```\n[g](h)\n```\n"),
        ["b.md", "f.md"]
    );
    assert_eq!(
        anchor("Differences from the Django service"),
        "differences-from-the-django-service"
    );
    assert_eq!(
        anchor("API documentation and metrics"),
        "api-documentation-and-metrics"
    );
}

/// docs/API.md is handed to API consumers on its own: it links only to
/// its own headings and to files beside it, never up into the repository.
#[test]
fn the_api_contract_stands_alone() {
    let text = std::fs::read_to_string(root().join("docs/API.md")).unwrap();
    let upward: Vec<String> = link_targets(&prose(&text))
        .into_iter()
        .filter(|target| !has_scheme(target) && target.starts_with(".."))
        .collect();
    assert!(
        upward.is_empty(),
        "docs/API.md links outside docs/: {upward:?}"
    );
}
