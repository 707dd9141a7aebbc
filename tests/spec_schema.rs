//! The committed `leakspec.schema.json` must be what `leakcheck::leakspec::json_schema()` produces
//! today. Regenerate it with `LEAKCHECK_BLESS=1 cargo test --test spec_schema`.

use std::path::Path;

#[test]
fn committed_schema_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("leakspec.schema.json");
    let fresh = leakcheck::leakspec::json_schema();
    if std::env::var_os("LEAKCHECK_BLESS").is_some() {
        std::fs::write(&path, &fresh).expect("write leakspec.schema.json");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "leakspec.schema.json is out of date with the spec types in src/leakspec/raw.rs; \
         regenerate it with `LEAKCHECK_BLESS=1 cargo test --test spec_schema` and commit it"
    );
}

/// Editors show these descriptions on hover: every key has one.
#[test]
fn every_key_has_a_description() {
    let schema: serde_json::Value =
        serde_json::from_str(&leakcheck::leakspec::json_schema()).unwrap();
    let mut tables = vec![("(root)".to_owned(), &schema)];
    for (name, definition) in schema["definitions"].as_object().unwrap() {
        tables.push((name.clone(), definition));
    }
    for (table, node) in tables {
        for (key, property) in node["properties"].as_object().unwrap() {
            let description = property["description"].as_str().unwrap_or("");
            assert!(!description.is_empty(), "{table}.{key} has no description");
        }
    }
}
