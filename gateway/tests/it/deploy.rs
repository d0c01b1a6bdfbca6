//! The example configurations in deploy/ are valid for this binary.

use std::path::Path;

#[test]
fn example_configurations_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/config");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("deploy/config exists") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            tongban_gateway::Config::load(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            seen += 1;
        }
    }
    assert!(
        seen >= 2,
        "both the embedded and the production example are checked"
    );
}
