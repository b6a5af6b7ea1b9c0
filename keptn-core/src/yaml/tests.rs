use super::*;

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

#[test]
fn locates_values_keys_and_items() {
    let source =
        "spec:\n  stages:\n    - name: dev\n    - name: \"staging\"\n      sequences: []\n";
    let map = SourceMap::new(source);
    assert_eq!(
        map.value_location(&path(&["spec", "stages", "1", "name"])),
        Some(Location {
            line: 4,
            column: 13
        })
    );
    assert_eq!(
        map.key_location(&path(&["spec", "stages", "1", "sequences"])),
        Some(Location { line: 5, column: 7 })
    );
    assert_eq!(
        map.value_location(&path(&["spec", "stages", "0"])),
        Some(Location { line: 3, column: 7 })
    );
}

#[test]
fn missing_path_falls_back_to_the_closest_ancestor() {
    let map = SourceMap::new("spec:\n  stages:\n    - name: dev\n");
    assert_eq!(
        map.value_location(&path(&["spec", "stages", "0", "sequences", "0"])),
        Some(Location { line: 3, column: 7 })
    );
}

#[test]
fn renders_paths_like_keptn_docs() {
    assert_eq!(
        path(&["spec", "stages", "2", "name"]).to_string(),
        "spec.stages[2].name"
    );
    assert_eq!(YamlPath::root().to_string(), "<root>");
}

#[test]
fn unscannable_yaml_gives_no_locations() {
    let map = SourceMap::new("a: [1, 2\n");
    assert_eq!(map.value_location(&path(&["a"])), None);
}
