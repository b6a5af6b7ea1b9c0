use super::*;

fn check(template: &str, expected: Result<&str, &str>) {
    let labels = BTreeMap::from([("owner".to_owned(), "jane".to_owned())]);
    let custom_filters = BTreeMap::from([("handler".to_owned(), "\"ItemsController\"".to_owned())]);
    let placeholders = Placeholders::for_sli(&SliScope {
        project: "sockshop",
        stage: "staging",
        service: "carts",
        deployment: "canary",
        duration_seconds: 300,
        labels: &labels,
        custom_filters: &custom_filters,
    });
    let res = placeholders.render(template).map_err(|err| err.to_string());
    assert_eq!(
        res.as_deref().map_err(String::as_str),
        expected,
        "{template}"
    );
}

#[test]
fn renders_keptn_placeholders() {
    check(
        "sum(rate(http_requests_total{job='$SERVICE-$PROJECT-$STAGE-$DEPLOYMENT'}[$DURATION_SECONDS]))",
        Ok("sum(rate(http_requests_total{job='carts-sockshop-staging-canary'}[300s]))"),
    );
    check(
        "x{handler=\"$handler\",h2=\"$HANDLER\"}",
        Ok("x{handler=\"ItemsController\",h2=\"ItemsController\"}"),
    );
    check("x{owner=\"$LABEL.owner\"}", Ok("x{owner=\"jane\"}"));
}

#[test]
fn keeps_dollars_that_are_not_placeholders() {
    check(
        "x{path=~\"/api.*$\"} $ 5 $1",
        Ok("x{path=~\"/api.*$\"} $ 5 $1"),
    );
    check("", Ok(""));
}

#[test]
fn unknown_placeholders_are_errors() {
    check(
        "x{job='$SERVICE_NAME'}",
        Err("unknown placeholder '$SERVICE_NAME' in query 'x{job='$SERVICE_NAME'}'"),
    );
    check(
        "x{o=\"$LABEL.team\"}",
        Err("unknown placeholder '$LABEL.team' in query 'x{o=\"$LABEL.team\"}'"),
    );
}
