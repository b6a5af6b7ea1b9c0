//! `tests/data/shipyard/*.yaml`: each file is a shipyard; the snapshot is its diagnostics
//! (`LINE:COL: severity: message (at path)`) and, when valid, the 0.2 form it stands for.

use keptn_core::shipyard::{self, Form};

fn check(source: &str) -> String {
    match shipyard::parse(source) {
        Ok(parsed) => {
            let mut res = format!(
                "valid ({:?}), {} warning(s)\n",
                parsed.form,
                parsed.warnings.len()
            );
            for warning in &parsed.warnings {
                res.push_str(&format!("{warning}\n"));
            }
            if parsed.form == Form::V1 {
                res.push_str("--- converted ---\n");
                res.push_str(&shipyard::to_yaml(&parsed.shipyard));
            }
            res
        }
        Err(keptn_core::Error::InvalidShipyard { diagnostics }) => {
            let mut res = String::from("invalid\n");
            for diagnostic in &diagnostics {
                res.push_str(&format!("{diagnostic}\n"));
            }
            res
        }
        Err(other) => format!("unexpected error: {other}\n"),
    }
}

#[test]
fn shipyard_cases() {
    insta::glob!("../data", "shipyard/*.yaml", |path| {
        let source = std::fs::read_to_string(path).expect("test data is readable");
        insta::assert_snapshot!(check(&source));
    });
}

#[test]
fn converted_v1_shipyards_validate_again_without_findings() {
    insta::glob!("../data", "shipyard/*v1*.yaml", |path| {
        let source = std::fs::read_to_string(path).expect("test data is readable");
        if let Ok(parsed) = shipyard::parse(&source) {
            let yaml = shipyard::to_yaml(&parsed.shipyard);
            let again = shipyard::parse(&yaml).expect("a converted shipyard is valid");
            assert!(again.warnings.is_empty(), "{:?}", again.warnings);
            assert_eq!(again.shipyard, parsed.shipyard);
        }
    });
}
