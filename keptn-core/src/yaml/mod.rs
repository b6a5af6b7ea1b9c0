//! YAML paths and source positions, for locating diagnostics: [`YamlPath`] names a node
//! (`spec.stages[1].sequences[0].name`), [`SourceMap`] finds the line and column
//! ([`Location`]) it is written at.
//!
//! This is keptn-slo's implementation ([`keptn_slo::yaml`]), re-exported so that SLO and
//! control-plane diagnostics share one path type and one locator.

pub use keptn_slo::yaml::*;
