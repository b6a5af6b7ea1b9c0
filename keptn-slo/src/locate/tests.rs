use super::SourceMap;
use crate::diagnostic::{Location, YamlPath};

fn check(source: &str, path: YamlPath, expected_value: (usize, usize)) {
    let map = SourceMap::new(source);
    let location = map.value(&path).expect("document parses");
    assert_eq!(
        location,
        Location {
            line: expected_value.0,
            column: expected_value.1
        },
        "value of {path}"
    );
}

#[test]
fn finds_nested_values_in_block_style() {
    let source = "spec_version: \"1.0\"\nobjectives:\n  - sli: response_time\n    pass:\n      - criteria:\n          - \"<600\"\n          - \"<=+10%\"\n";
    let path = YamlPath::root()
        .key("objectives")
        .index(0)
        .key("pass")
        .index(0)
        .key("criteria")
        .index(1);
    check(source, path, (7, 13));
    check(
        source,
        YamlPath::root().key("objectives").index(0).key("sli"),
        (3, 10),
    );
}

#[test]
fn finds_values_in_flow_style() {
    let source = "objectives: [{sli: a, weight: 2.5}]\n";
    check(
        source,
        YamlPath::root().key("objectives").index(0).key("weight"),
        (1, 31),
    );
}

#[test]
fn missing_key_points_at_the_parent() {
    let source = "objectives:\n  - sli: a\n";
    check(
        source,
        YamlPath::root().key("objectives").index(0).key("pass"),
        (2, 5),
    );
}

#[test]
fn key_location_points_at_the_key() {
    let source = "objectivs:\n  - sli: a\n";
    let map = SourceMap::new(source);
    assert_eq!(
        map.key(&YamlPath::root().key("objectivs")),
        Some(Location { line: 1, column: 1 })
    );
}
