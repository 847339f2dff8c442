//! The help, `.env.example` and the README's settings tables agree with the defaults of
//! `Settings`: every variable is documented in each, with the same default.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::{defaults, settings_help, SECTIONS};

fn read(file: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap()
}

/// The README's settings rows: `| `VAR` | default | meaning |`, in the Settings section.
fn readme_rows() -> Vec<(String, String)> {
    let readme = read("README.md");
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Settings"))
        .expect("README has a Settings section");
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[1].trim_matches('`').to_string(), cells[2].to_string())
        })
        .collect()
}

/// `.env.example`'s `# VAR=value` (or `# VAR: note`) lines: variable and value (None: note).
fn env_example_lines() -> Vec<(String, Option<String>)> {
    read(".env.example")
        .lines()
        .filter_map(|l| l.strip_prefix("# "))
        .filter_map(|l| {
            let end =
                l.find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))?;
            let (var, rest) = l.split_at(end);
            let is_var = var.len() > 3 && var.contains('_');
            match rest.chars().next() {
                Some('=') if is_var => Some((var.to_string(), Some(rest[1..].to_string()))),
                Some(':') if is_var => Some((var.to_string(), None)),
                _ => None,
            }
        })
        .collect()
}

fn same_vars(what: &str, listed: &[String], defaults: &BTreeMap<String, Option<String>>) {
    let set: BTreeSet<&String> = listed.iter().collect();
    assert_eq!(set.len(), listed.len(), "{what} lists a variable twice");
    let missing: Vec<&String> = defaults.keys().filter(|v| !set.contains(v)).collect();
    let unknown: Vec<&&String> = set.iter().filter(|v| !defaults.contains_key(**v)).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "{what}: missing {missing:?}, not a setting {unknown:?}"
    );
}

#[test]
fn the_help_documents_every_setting_with_its_default() {
    let defaults = defaults();
    assert!(defaults.len() > 100, "{}", defaults.len());
    let docs: Vec<_> = SECTIONS.iter().flat_map(|(_, docs)| docs.iter()).collect();
    let vars: Vec<String> = docs.iter().map(|d| d.var.to_string()).collect();
    same_vars("config/help.rs", &vars, &defaults);
    for doc in docs {
        let plain = defaults[doc.var].is_some();
        assert!(
            plain != doc.unset.is_some(),
            "{}: a note for an unset default, or only one (default {:?}, note {:?})",
            doc.var,
            defaults[doc.var],
            doc.unset
        );
    }
    let help = settings_help();
    assert!(
        help.contains("  TASKHUB_POLL_INTERVAL_MS        base interval between polls of a task; provider hints win [2000]\n"),
        "{help}"
    );
    assert!(help
        .contains("  TASKHUB_PROVIDER                simulator | openai | callback [simulator]\n"));
    assert!(help.contains("  TASKHUB_GENERATING_PLANS        plans allowed to generate (free, basic, pro); the seed's rule is basic,pro [free,basic,pro]\n"));
    assert!(help.contains(
        "  REDIS_URL                       redis://… for several nodes [unset (in-process bus)]\n"
    ));
    assert!(!help.contains("[?]"));
}

#[test]
fn the_readme_tables_list_every_setting_with_its_default() {
    let defaults = defaults();
    let rows = readme_rows();
    let vars: Vec<String> = rows.iter().map(|(v, _)| v.clone()).collect();
    same_vars("README.md", &vars, &defaults);
    let notes: BTreeMap<&str, &str> = SECTIONS
        .iter()
        .flat_map(|(_, docs)| docs.iter())
        .filter_map(|d| Some((d.var, d.unset?)))
        .collect();
    for (var, cell) in &rows {
        match &defaults[var] {
            Some(v) => assert_eq!(cell, &format!("`{v}`"), "README default of {var}"),
            None => assert_eq!(
                cell.replace('`', ""),
                notes[var.as_str()],
                "README default of {var}"
            ),
        }
    }
}

#[test]
#[allow(clippy::result_large_err)]
fn env_example_lists_every_setting_with_its_default_and_its_examples_load() {
    let defaults = defaults();
    let lines = env_example_lines();
    let vars: Vec<String> = lines.iter().map(|(v, _)| v.clone()).collect();
    same_vars(".env.example", &vars, &defaults);
    for (var, value) in &lines {
        if let Some(default) = &defaults[var] {
            assert_eq!(value.as_ref(), Some(default), ".env.example value of {var}");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let none = dir.path().join("none.toml");
    figment::Jail::expect_with(|jail| {
        for (var, value) in &lines {
            if let Some(v) = value {
                jail.set_env(var, v);
            }
        }
        let s: super::Settings = super::Settings::figment(&none).extract()?;
        assert_eq!(
            s.media.media_base_url.as_deref(),
            Some("https://hub.example.com")
        );
        assert_eq!(s.models.len(), 1);
        Ok(())
    });
}
