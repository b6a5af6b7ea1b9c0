use super::{Criterion, CriterionError, Operator, Threshold};

fn check(text: &str, expected: Result<(Operator, Threshold), CriterionError>) {
    let parsed = Criterion::parse(text).map(|criterion| (criterion.operator, criterion.threshold));
    assert_eq!(parsed, expected, "criterion {text:?}");
}

#[test]
fn fixed_thresholds() {
    check("<600", Ok((Operator::Less, Threshold::Fixed(600.0))));
    check(
        "<= 600",
        Ok((Operator::LessOrEqual, Threshold::Fixed(600.0))),
    );
    check("=0", Ok((Operator::Equal, Threshold::Fixed(0.0))));
    check(
        ">=99.5",
        Ok((Operator::GreaterOrEqual, Threshold::Fixed(99.5))),
    );
    check("> .5", Ok((Operator::Greater, Threshold::Fixed(0.5))));
    check("<5.", Ok((Operator::Less, Threshold::Fixed(5.0))));
    check("<1e3", Ok((Operator::Less, Threshold::Fixed(1000.0))));
    check(
        "<inf",
        Ok((Operator::Less, Threshold::Fixed(f64::INFINITY))),
    );
}

#[test]
fn percent_without_sign_is_an_increase() {
    // keptn/keptn#1498: `<=10%` is `<=+10%`, never a fixed 10.
    check(
        "<=10%",
        Ok((
            Operator::LessOrEqual,
            Threshold::Percent {
                increase: true,
                percent: 10.0,
            },
        )),
    );
    check(
        "<=+10%",
        Ok((
            Operator::LessOrEqual,
            Threshold::Percent {
                increase: true,
                percent: 10.0,
            },
        )),
    );
    check(
        ">=-5%",
        Ok((
            Operator::GreaterOrEqual,
            Threshold::Percent {
                increase: false,
                percent: 5.0,
            },
        )),
    );
}

#[test]
fn signed_numbers_are_deltas() {
    check(
        "<=+100",
        Ok((
            Operator::LessOrEqual,
            Threshold::Delta {
                increase: true,
                amount: 100.0,
            },
        )),
    );
    // A negative fixed threshold cannot be written: `>-5` means "baseline - 5".
    check(
        ">-5",
        Ok((
            Operator::Greater,
            Threshold::Delta {
                increase: false,
                amount: 5.0,
            },
        )),
    );
}

#[test]
fn spaces_are_removed_but_tabs_are_not() {
    check(
        " < = + 1 0 % ",
        Ok((
            Operator::LessOrEqual,
            Threshold::Percent {
                increase: true,
                percent: 10.0,
            },
        )),
    );
    check(
        "<\t10",
        Err(CriterionError::InvalidNumber("\t10".to_owned())),
    );
}

#[test]
fn rejections() {
    check("600", Err(CriterionError::MissingOperator));
    check("", Err(CriterionError::MissingOperator));
    check("10", Err(CriterionError::MissingOperator));
    check(
        "<600ms",
        Err(CriterionError::InvalidNumber("600ms".to_owned())),
    );
    check("=>10", Err(CriterionError::InvalidNumber(">10".to_owned())));
    check("<>10", Err(CriterionError::InvalidNumber(">10".to_owned())));
    check("|10", Err(CriterionError::InvalidNumber("|10".to_owned())));
    check("<", Err(CriterionError::InvalidNumber(String::new())));
    check("<%", Err(CriterionError::InvalidNumber(String::new())));
    check(
        "<1_000",
        Err(CriterionError::InvalidNumber("1_000".to_owned())),
    );
}

#[test]
fn targets_follow_keptns_order_of_operations() {
    let percent = Threshold::Percent {
        increase: true,
        percent: 10.0,
    };
    assert_eq!(percent.target(200.0), 220.0);
    let minus_percent = Threshold::Percent {
        increase: false,
        percent: 10.0,
    };
    assert_eq!(minus_percent.target(200.0), 180.0);
    assert_eq!(
        Threshold::Delta {
            increase: true,
            amount: 5.0
        }
        .target(10.0),
        15.0
    );
    assert_eq!(
        Threshold::Delta {
            increase: false,
            amount: 5.0
        }
        .target(10.0),
        5.0
    );
    assert_eq!(Threshold::Fixed(7.0).target(10.0), 7.0);
    // Zero baseline: any percentage target is 0 (keptn-contrib/dynatrace-service#818).
    assert_eq!(
        Threshold::Percent {
            increase: true,
            percent: 101.0
        }
        .target(0.0),
        0.0
    );
}
