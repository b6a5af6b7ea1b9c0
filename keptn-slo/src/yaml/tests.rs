use super::*;

/// A path from segments; those that parse as numbers are indexes.
fn path(segments: &[&str]) -> YamlPath {
    let mut res = YamlPath::root();
    for segment in segments {
        res = match segment.parse::<usize>() {
            Ok(index) => res.index(index),
            Err(_) => res.key(segment),
        };
    }
    res
}

fn at(line: usize, column: usize) -> Option<Location> {
    Some(Location { line, column })
}

fn check(source: &str, path: YamlPath, expected_value: (usize, usize)) {
    let map = SourceMap::new(source);
    let location = map.value_location(&path).expect("document parses");
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
        map.key_location(&YamlPath::root().key("objectivs")),
        at(1, 1)
    );
}

#[test]
fn locates_values_keys_and_items() {
    let source =
        "spec:\n  stages:\n    - name: dev\n    - name: \"staging\"\n      sequences: []\n";
    let map = SourceMap::new(source);
    assert_eq!(
        map.value_location(&path(&["spec", "stages", "1", "name"])),
        at(4, 13)
    );
    assert_eq!(
        map.key_location(&path(&["spec", "stages", "1", "sequences"])),
        at(5, 7)
    );
    assert_eq!(
        map.value_location(&path(&["spec", "stages", "0"])),
        at(3, 7)
    );
    // A path ending in an index has no key: the item itself.
    assert_eq!(map.key_location(&path(&["spec", "stages", "1"])), at(4, 7));
}

#[test]
fn missing_path_falls_back_to_the_closest_ancestor() {
    let map = SourceMap::new("spec:\n  stages:\n    - name: dev\n");
    assert_eq!(
        map.value_location(&path(&["spec", "stages", "0", "sequences", "0"])),
        at(3, 7)
    );
    assert_eq!(
        map.value_location(&path(&["spec", "stages", "5", "name"])),
        at(3, 5)
    );
    // Key lookups fall back the same way, also when the key's parent is missing.
    assert_eq!(
        map.key_location(&path(&["spec", "stages", "0", "sequences", "0", "name"])),
        at(3, 7)
    );
    assert_eq!(map.key_location(&YamlPath::root()), at(1, 1));
}

#[test]
fn complex_keys_are_skipped_and_never_match() {
    let map = SourceMap::new("? [a, b]\n: 1\n\"\": 2\nc: 3\n");
    assert_eq!(map.value_location(&path(&["c"])), at(4, 4));
    assert_eq!(map.key_location(&path(&["c"])), at(4, 1));
    // The empty key names the written `""` key, not the complex one.
    assert_eq!(map.value_location(&YamlPath::root().key("")), at(3, 5));
}

#[test]
fn empty_documents_locate_everything_at_the_start() {
    for source in ["", "\n\n", "# only a comment\n"] {
        let map = SourceMap::new(source);
        assert_eq!(
            map.value_location(&path(&["total_score", "pass"])),
            at(1, 1)
        );
        assert_eq!(map.key_location(&path(&["objectives"])), at(1, 1));
    }
}

#[test]
fn unscannable_yaml_gives_no_locations() {
    for source in ["a: [1, 2\n", "]\n"] {
        let map = SourceMap::new(source);
        assert_eq!(map.value_location(&path(&["a"])), None, "{source:?}");
        assert_eq!(map.key_location(&path(&["a"])), None, "{source:?}");
    }
}

#[test]
fn an_unlocated_map_locates_nothing() {
    let map = SourceMap::unlocated();
    assert_eq!(map.value_location(&YamlPath::root()), None);
    assert_eq!(map.key_location(&path(&["spec"])), None);
}

#[test]
fn renders_paths_like_keptn_docs() {
    assert_eq!(
        path(&["spec", "stages", "2", "name"]).to_string(),
        "spec.stages[2].name"
    );
    assert_eq!(YamlPath::root().to_string(), "<root>");
    assert_eq!(path(&["0", "a"]).to_string(), "[0].a");
    assert_eq!(path(&["key_sli", "my-key"]).to_string(), "key_sli.my-key");
}

#[test]
fn quotes_keys_that_cannot_follow_a_dot() {
    assert_eq!(
        path(&["labels", "app.kubernetes.io/name"]).to_string(),
        r#"labels["app.kubernetes.io/name"]"#
    );
    assert_eq!(path(&["a b", "c"]).to_string(), r#"["a b"].c"#);
    assert_eq!(YamlPath::root().key("").to_string(), r#"[""]"#);
}

#[test]
fn parses_the_dotted_form_of_decoder_messages() {
    assert_eq!(
        YamlPath::parse_dotted("spec.stages[1].sequences[0].name"),
        path(&["spec", "stages", "1", "sequences", "0", "name"])
    );
    assert_eq!(YamlPath::parse_dotted("[2][3]"), path(&["2", "3"]));
    assert_eq!(YamlPath::parse_dotted(""), YamlPath::root());
    assert_eq!(YamlPath::parse_dotted("a[x].b"), path(&["a", "b"]));
    // Keys with dots cannot be told apart.
    assert_eq!(YamlPath::parse_dotted("a.b"), path(&["a", "b"]));
}

#[test]
fn locations_display_and_order_as_line_then_column() {
    assert_eq!(
        Location {
            line: 4,
            column: 13
        }
        .to_string(),
        "4:13"
    );
    assert!(Location { line: 2, column: 1 } > Location { line: 1, column: 9 });
}
