//! The built-in integrations, each a plain struct implementing [`crate::Integration`] over
//! keptn-core's ports, each answering as the Keptn service it stands for did.
//!
//! | struct | answers | over |
//! |---|---|---|
//! | [`Noop`] | every subscribed task `.triggered`, at once, `pass` | nothing |
//! | [`Approval`] | `approval.triggered` (Keptn's approval-service) | nothing |
//! | [`Lighthouse`] | `evaluation.triggered`, `get-sli.finished` (lighthouse-service) | `slo.yaml` in the config repo, the store's evaluations |
//! | [`GetSli`] | `get-sli.triggered` (an SLI provider) | an `SliProvider` |
//! | [`Deploy`] | `deployment`, `release`, `rollback` `.triggered` (helm-service) | a `Deployer`, optionally a `TrafficRouter` and an `ActionRunner` |
//! | [`Test`] | `test.triggered` (jmeter-service) | a `TestRunner` |
//! | [`Remediation`] | `get-action.triggered` (remediation-service) | `remediation.yaml` in the config repo |
//! | [`Action`] | `action.triggered` for the actions its runner handles | an `ActionRunner` |
//!
//! Integrations whose work takes a while (deployments, tests, queries, actions) send `.started`
//! as soon as they take a task and `.finished` when it is done.

mod action;
mod approval;
mod deploy;
mod get_sli;
mod lighthouse;
mod noop;
mod remediation;
mod test;

pub use action::Action;
pub use approval::Approval;
pub use deploy::Deploy;
pub use get_sli::GetSli;
pub use lighthouse::{Lighthouse, SLO_FILE};
pub use noop::Noop;
pub use remediation::{REMEDIATION_FILE, Remediation};
pub use test::Test;
