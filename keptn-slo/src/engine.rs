//! The scoring engine: Keptn lighthouse's evaluation of an SLO (the comparison window, each
//! objective's status and score, the total score and the result), with two of Keptn's bugs
//! fixed: an empty `criteria: []` set scores its weight, and several objectives may use the
//! same SLI (see [`evaluate`]). SLO files that Keptn misread (unknown aggregate functions,
//! unparseable criteria, fractional weights, unknown `include_result_with_score` values) are
//! rejected when the SLO is parsed, so they never reach the engine.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::aggregate::{TopValues, aggregate_in_place};
use crate::criteria::Criterion;
use crate::evaluation::{Evaluation, EvaluationResult, IndicatorResult, SliValue, Status, Target};
use crate::history::PastEvaluation;
use crate::spec::{Comparison, IncludeResults, Objective, Slo, TotalScore};

const NO_VALUE_MESSAGE: &str = "no value received from SLI provider";

/// Evaluates SLI values against an SLO.
///
/// `history` holds earlier evaluations of the same project, stage and service, newest first.
/// The comparison window is taken from it as Keptn did: drop invalidated ones and those whose
/// overall result `include_result_with_score` excludes, then keep the newest N.
///
/// Differences from Keptn, on purpose: an objective with an empty `criteria: []` set scores its
/// weight (Keptn counted it in the maximum only, so a lone such objective scored 0), and
/// several objectives may use the same SLI (Keptn gave the value to the first one only; the
/// others failed with "no value received from SLI provider").
pub fn evaluate(slo: &Slo, slis: &[SliValue], history: &[PastEvaluation]) -> Evaluation {
    let window: Vec<&PastEvaluation> = history
        .iter()
        .filter(|past| {
            !past.invalidated && includes(slo.comparison.include_result_with_score, past.result)
        })
        .take(slo.comparison.number_of_comparison_results)
        .collect();
    let compared_events = window.iter().filter_map(|past| past.id.clone()).collect();

    if slo.objectives.is_empty() {
        // Keptn sets the maximum to 100 so that the score is 0%; the gate always fails.
        let mut evaluation = score(slo, Vec::new(), 100.0, None);
        evaluation.compared_events = compared_events;
        evaluation.message = "lighthouse failed because no SLO objective was provided".to_owned();
        return evaluation;
    }

    let index = SliIndex::new(slo);
    let baselines = baselines(slo, &index, &window);
    // The first value received for each SLI; values for SLIs no objective names are reported.
    let mut received: Vec<Option<&SliValue>> = vec![None; index.slot_names.len()];
    let mut unused: Vec<&str> = Vec::new();
    for (value_idx, value) in slis.iter().enumerate() {
        match index.slot_of(value_idx, &value.metric) {
            Some(slot) => {
                received[slot].get_or_insert(value);
            }
            None => unused.push(&value.metric),
        }
    }

    let mut maximum = 0.0;
    let mut key_failure: Option<String> = None;
    let mut indicator_results = Vec::with_capacity(slo.objectives.len());
    for ((objective, slot), (baseline_value, n_values)) in slo
        .objectives
        .iter()
        .zip(&index.objective_slots)
        .zip(baselines)
    {
        if !objective.is_informational() {
            maximum += objective.weight as f64;
        }
        let baseline = Baseline {
            value: baseline_value,
            n_values,
            comparison: &slo.comparison,
        };
        let (indicator, key_failure_reason) =
            evaluate_objective(objective, received[*slot], &baseline);
        if key_failure.is_none() {
            key_failure = key_failure_reason;
        }
        indicator_results.push(indicator);
    }

    let mut evaluation = score(slo, indicator_results, maximum, key_failure);
    evaluation.compared_events = compared_events;
    if !unused.is_empty() {
        if !evaluation.message.is_empty() {
            evaluation.message.push_str("; ");
        }
        let _ = write!(
            evaluation.message,
            "Lighthouse received additional SLIs, which are not specified as SLO: {} . Please consider using them as an SLO.",
            unused.join(", ")
        );
    }
    evaluation
}

/// The result when no SLO file is configured: Keptn performs no evaluation and passes with
/// score 0 (keptn/keptn#1081).
pub fn no_evaluation() -> Evaluation {
    Evaluation {
        result: EvaluationResult::Pass,
        score: 0.0,
        indicator_results: None,
        compared_events: Vec::new(),
        message: "no evaluation performed because no SLO file is configured".to_owned(),
    }
}

fn includes(filter: IncludeResults, result: EvaluationResult) -> bool {
    match filter {
        IncludeResults::All => true,
        IncludeResults::PassOrWarn => {
            matches!(result, EvaluationResult::Pass | EvaluationResult::Warning)
        }
        IncludeResults::Pass => result == EvaluationResult::Pass,
    }
}

/// The distinct SLI names of an SLO ("slots"; objectives that share an SLI share a slot) and
/// a fast way to find the slot of a metric name.
struct SliIndex<'slo> {
    slot_names: Vec<&'slo str>,
    /// The SLI of each objective, in objective order, prepared for fast comparison.
    objective_keys: Vec<NameKey<'slo>>,
    objective_slots: Vec<usize>,
    /// Only for SLOs with many SLIs; small ones are searched linearly.
    by_name: Option<NameTable>,
}

impl<'slo> SliIndex<'slo> {
    const LINEAR_SEARCH_LIMIT: usize = 8;

    fn new(slo: &'slo Slo) -> Self {
        let n_objectives = slo.objectives.len();
        let mut slot_names: Vec<&str> = Vec::with_capacity(n_objectives);
        let many = n_objectives > Self::LINEAR_SEARCH_LIMIT;
        let mut by_name = NameTable::with_capacity(if many { n_objectives } else { 0 });
        let mut objective_keys = Vec::with_capacity(n_objectives);
        let mut objective_slots = Vec::with_capacity(n_objectives);
        for objective in &slo.objectives {
            let name: &str = &objective.sli;
            let existing = if many {
                by_name.get(&slot_names, name)
            } else {
                slot_names.iter().position(|known| *known == name)
            };
            let slot = match existing {
                Some(slot) => slot,
                None => {
                    slot_names.push(name);
                    if many {
                        by_name.insert(name, slot_names.len() - 1);
                    }
                    slot_names.len() - 1
                }
            };
            objective_keys.push(NameKey::new(name));
            objective_slots.push(slot);
        }
        SliIndex {
            slot_names,
            objective_keys,
            objective_slots,
            by_name: many.then_some(by_name),
        }
    }

    /// The slot of `metric`, found at `position` in a list of values. Lists of values usually
    /// follow objective order (SLI providers query in SLO order; earlier evaluations list one
    /// value per objective), so the objective at the same position is tried first.
    fn slot_of(&self, position: usize, metric: &str) -> Option<usize> {
        match self.objective_keys.get(position) {
            Some(key) if key.matches(metric) => self.objective_slots.get(position).copied(),
            _ => self.slot_by_name(metric),
        }
    }

    /// The slot of `metric`, by name alone.
    fn slot_by_name(&self, metric: &str) -> Option<usize> {
        match &self.by_name {
            Some(by_name) => by_name.get(&self.slot_names, metric),
            None => self.slot_names.iter().position(|name| *name == metric),
        }
    }

    /// Whether `values` lists one value per objective, in objective order.
    fn follows_objectives(&self, values: &[SliValue]) -> bool {
        values.len() == self.objective_keys.len()
            && values
                .iter()
                .zip(&self.objective_keys)
                .all(|(value, key)| key.matches(&value.metric))
    }

    /// The most objectives that share one SLI (1 when every objective has its own).
    fn max_sharing(&self) -> usize {
        let mut per_slot = vec![0_usize; self.slot_names.len()];
        for slot in &self.objective_slots {
            if let Some(count) = per_slot.get_mut(*slot) {
                *count += 1;
            }
        }
        per_slot.into_iter().max().unwrap_or(1)
    }
}

/// An SLI name prepared for fast comparison with other names: names are short, so a name of
/// at most 16 bytes is compared as its length and two words (its first and last 8 or 4 bytes,
/// overlapping) instead of by a call to `memcmp` (matching earlier values to objectives
/// compares thousands of names per evaluation).
#[derive(Clone, Copy)]
struct NameKey<'slo> {
    name: &'slo str,
    head: u64,
    tail: u64,
}

impl<'slo> NameKey<'slo> {
    fn new(name: &'slo str) -> Self {
        let bytes = name.as_bytes();
        let (head, tail) = match bytes.len() {
            4..=7 => (head_u32(bytes), tail_u32(bytes)),
            8..=16 => (head_u64(bytes), tail_u64(bytes)),
            _ => (0, 0),
        };
        NameKey { name, head, tail }
    }

    /// Whether `other` is this name.
    #[inline(always)]
    fn matches(&self, other: &str) -> bool {
        let bytes = other.as_bytes();
        if bytes.len() != self.name.len() {
            return false;
        }
        // By the length, not `self.width`, so that the word loads need no bounds checks.
        match bytes.len() {
            4..=7 => (head_u32(bytes) ^ self.head) | (tail_u32(bytes) ^ self.tail) == 0,
            8..=16 => (head_u64(bytes) ^ self.head) | (tail_u64(bytes) ^ self.tail) == 0,
            _ => bytes == self.name.as_bytes(),
        }
    }
}

#[inline(always)]
fn head_u64(bytes: &[u8]) -> u64 {
    bytes
        .first_chunk()
        .map_or(0, |word| u64::from_ne_bytes(*word))
}

#[inline(always)]
fn tail_u64(bytes: &[u8]) -> u64 {
    bytes
        .last_chunk()
        .map_or(0, |word| u64::from_ne_bytes(*word))
}

#[inline(always)]
fn head_u32(bytes: &[u8]) -> u64 {
    bytes
        .first_chunk()
        .map_or(0, |word| u64::from(u32::from_ne_bytes(*word)))
}

#[inline(always)]
fn tail_u32(bytes: &[u8]) -> u64 {
    bytes
        .last_chunk()
        .map_or(0, |word| u64::from(u32::from_ne_bytes(*word)))
}

/// The slots of an SLO's SLI names by name: an open-addressing hash table of slot numbers
/// (the names themselves are in [`SliIndex::slot_names`]), one small allocation, hashed with
/// [`NameHasher`].
struct NameTable {
    /// Slot number + 1 at each position; 0 for an empty position. The length is a power of
    /// two, at least twice the number of names, so a probe always ends at an empty position.
    positions: Vec<usize>,
}

impl NameTable {
    fn with_capacity(n_names: usize) -> Self {
        let len = if n_names == 0 {
            0
        } else {
            (n_names * 2).next_power_of_two()
        };
        NameTable {
            positions: vec![0; len],
        }
    }

    /// The first position to probe for `name`.
    fn start(&self, name: &str) -> usize {
        let mut hasher = NameHasher(0);
        std::hash::Hasher::write(&mut hasher, name.as_bytes());
        // The top bits of a multiplicative hash are the ones that depend on every input bit.
        let bits = self.positions.len().trailing_zeros();
        hasher.0.checked_shr(u64::BITS - bits).unwrap_or(0) as usize
    }

    /// The slot of `name`, whose slots' names are `slot_names`.
    fn get(&self, slot_names: &[&str], name: &str) -> Option<usize> {
        if self.positions.is_empty() {
            return None;
        }
        let mask = self.positions.len() - 1;
        let mut position = self.start(name);
        loop {
            let slot = self.positions.get(position)?.checked_sub(1)?;
            if slot_names.get(slot) == Some(&name) {
                return Some(slot);
            }
            position = (position + 1) & mask;
        }
    }

    /// Records `slot` as the slot of `name`, which is not in the table yet.
    fn insert(&mut self, name: &str, slot: usize) {
        if self.positions.is_empty() {
            return;
        }
        let mask = self.positions.len() - 1;
        let mut position = self.start(name);
        while let Some(taken) = self.positions.get_mut(position) {
            if *taken == 0 {
                *taken = slot + 1;
                return;
            }
            position = (position + 1) & mask;
        }
    }
}

/// A fast, non-cryptographic hash (the multiply-rotate scheme of rustc's FxHash) for the
/// names of one SLO. SipHash's protection against chosen collisions is not needed here: the
/// names come from the SLO being evaluated, and the worst case of a collision is a longer
/// probe, not a wrong answer.
struct NameHasher(u64);

impl NameHasher {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::SEED);
    }
}

impl std::hash::Hasher for NameHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// The baseline (aggregate, number of values) of every objective, in objective order.
///
/// Every earlier value of an objective's SLI counts, as in Keptn: from each evaluation in the
/// window, each successful value whose metric is the SLI, in window order and, within one
/// evaluation, in list order (the order matters to `avg`'s rounding).
///
/// One pass over the window, evaluation by evaluation (each one's values are read once, while
/// they are in cache): each successful value is matched to its slot (by position first, as
/// earlier evaluations usually list one value per objective in objective order, else by name).
/// For p90/p95/p99 only the few largest values of each slot are kept as they come
/// ([`TopValues`]); otherwise every value is appended to its slot's column of one buffer,
/// which keeps window and list order.
fn baselines(
    slo: &Slo,
    index: &SliIndex<'_>,
    window: &[&PastEvaluation],
) -> Vec<(Option<f64>, usize)> {
    let function = slo.comparison.aggregate_function;
    // An evaluation that lists one value per objective gives a slot as many values as it has
    // objectives; one that lists an SLI more often than that needs more room (below).
    let mut room = window.len() * index.max_sharing();
    if let Some(top) = TopValues::new(function, room)
        && let Some(baselines) = streamed_baselines(index, window, &top, room)
    {
        return baselines;
    }
    let n_slots = index.slot_names.len();
    let mut columns: Vec<f64> = Vec::new();
    let mut counts: Vec<usize> = Vec::new();
    loop {
        columns.clear();
        columns.resize(n_slots * room, 0.0);
        counts.clear();
        counts.resize(n_slots, 0);
        let complete = gather(index, window, |slot, value| {
            let Some(count) = counts.get_mut(slot) else {
                return true;
            };
            if *count == room {
                return false;
            }
            if let Some(cell) = columns.get_mut(slot * room + *count) {
                *cell = value;
            }
            *count += 1;
            true
        });
        if complete {
            break;
        }
        // Gathered again with room for every value of the window.
        room = window.iter().map(|past| past.values.len()).sum();
    }
    let slot_baselines: Vec<(Option<f64>, usize)> = counts
        .iter()
        .zip(columns.chunks_exact_mut(room.max(1)))
        .map(|(count, column)| {
            let kept = column.get_mut(..*count).unwrap_or_default();
            (aggregate_in_place(function, kept), *count)
        })
        .collect();
    index
        .objective_slots
        .iter()
        .map(|slot| slot_baselines.get(*slot).copied().unwrap_or((None, 0)))
        .collect()
}

/// The baselines of a high percentile (the usual p90/p95 of a window of tens of results)
/// without keeping every value: per slot, only the few largest ones. `None` when the window
/// holds a NaN or an evaluation lists an SLI more often than `room` allows; the caller then
/// keeps every value.
fn streamed_baselines(
    index: &SliIndex<'_>,
    window: &[&PastEvaluation],
    top: &TopValues,
    room: usize,
) -> Option<Vec<(Option<f64>, usize)>> {
    let n_slots = index.slot_names.len();
    let width = top.width();
    let mut kept = vec![0.0; n_slots * width];
    let mut n_kept = vec![0_usize; n_slots];
    let mut counts = vec![0_usize; n_slots];
    let mut saw_nan = false;
    let complete = gather(index, window, |slot, value| {
        let (Some(count), Some(n_kept)) = (counts.get_mut(slot), n_kept.get_mut(slot)) else {
            return true;
        };
        if *count == room {
            return false;
        }
        *count += 1;
        saw_nan |= value.is_nan();
        if let Some(kept) = kept.get_mut(slot * width..(slot + 1) * width) {
            top.push(kept, n_kept, value);
        }
        true
    });
    if !complete || saw_nan {
        return None;
    }
    Some(
        index
            .objective_slots
            .iter()
            .map(|slot| {
                let count = counts.get(*slot).copied().unwrap_or(0);
                let kept = kept
                    .get(slot * width..(slot + 1) * width)
                    .unwrap_or_default();
                (top.result(kept, count), count)
            })
            .collect(),
    )
}

/// Calls `append(slot, value)` with each successful value of `window`, in window and list
/// order, until it returns false (then returns false).
fn gather(
    index: &SliIndex<'_>,
    window: &[&PastEvaluation],
    mut append: impl FnMut(usize, f64) -> bool,
) -> bool {
    for past in window {
        if index.follows_objectives(&past.values) {
            // The usual case: the names are checked in one tight pass, then the values are
            // read by position while they are still in cache.
            for (value, slot) in past.values.iter().zip(&index.objective_slots) {
                if value.success && !append(*slot, value.value) {
                    return false;
                }
            }
            continue;
        }
        for (position, value) in past.values.iter().enumerate() {
            if value.success
                && let Some(slot) = index.slot_of(position, &value.metric)
                && !append(slot, value.value)
            {
                return false;
            }
        }
    }
    true
}

/// The aggregated earlier values of one SLI.
struct Baseline<'slo> {
    value: Option<f64>,
    n_values: usize,
    comparison: &'slo Comparison,
}

fn evaluate_objective(
    objective: &Objective,
    sli_value: Option<&SliValue>,
    baseline: &Baseline<'_>,
) -> (IndicatorResult, Option<String>) {
    if objective.is_informational() {
        let reason = match sli_value {
            Some(value) if value.success => Cow::Owned(format!(
                "informational (no pass criteria): {}",
                Number(value.value)
            )),
            Some(value) => Cow::Owned(format!(
                "informational (no pass criteria); SLI failed: {}",
                value.message
            )),
            None => Cow::Borrowed("informational (no pass criteria); no value received"),
        };
        let indicator = IndicatorResult {
            score: 0.0,
            value: sli_value.cloned(),
            display_name: objective.display_name.clone(),
            pass_targets: Some(Vec::new()),
            warning_targets: Some(listed_as_violated(&objective.warning, baseline)),
            key_sli: false,
            status: Status::Info,
            reason,
        };
        return (indicator, None);
    }

    let measured = match sli_value {
        Some(value) if value.success => value,
        _ => {
            let value = sli_value
                .cloned()
                .unwrap_or_else(|| SliValue::failed(objective.sli.clone(), NO_VALUE_MESSAGE));
            let failure_reason = if sli_value.is_some() {
                Cow::Owned(format!("SLI provider reported failure: {}", value.message))
            } else {
                Cow::Borrowed(NO_VALUE_MESSAGE)
            };
            let key_failure = objective.key_sli.then(|| value.message.clone());
            let indicator = IndicatorResult {
                score: 0.0,
                display_name: objective.display_name.clone(),
                pass_targets: Some(listed_as_violated(&objective.pass, baseline)),
                warning_targets: (!objective.warning.is_empty())
                    .then(|| listed_as_violated(&objective.warning, baseline)),
                key_sli: false,
                status: Status::Fail,
                reason: failure_reason,
                value: Some(value),
            };
            return (indicator, key_failure);
        }
    };

    let mut value = measured.clone();
    value.compared_value = baseline.value.unwrap_or(0.0);
    let (pass_met, pass_targets) = evaluate_sets(&objective.pass, value.value, baseline);
    let warning = (!objective.warning.is_empty())
        .then(|| evaluate_sets(&objective.warning, value.value, baseline));
    let warning_met = warning.as_ref().is_some_and(|(met, _)| *met);
    let weight = objective.weight as f64;
    let (status, score) = if pass_met {
        (Status::Pass, weight)
    } else if warning_met {
        (Status::Warning, 0.5 * weight)
    } else {
        (Status::Fail, 0.0)
    };
    let warning_targets = warning.map(|(_, targets)| targets);
    let reason = describe(
        status,
        value.value,
        objective,
        &pass_targets,
        warning_targets.as_deref(),
        baseline,
    );
    let key_failure = (status == Status::Fail && objective.key_sli)
        .then(|| format!("failed evaluation with score {score:.6}"));
    let indicator = IndicatorResult {
        score,
        value: Some(value),
        display_name: objective.display_name.clone(),
        pass_targets: Some(pass_targets),
        warning_targets,
        key_sli: objective.key_sli,
        status,
        reason,
    };
    (indicator, key_failure)
}

/// Evaluates an OR of AND-sets; every criterion is evaluated so that all targets are reported.
fn evaluate_sets(
    sets: &[Vec<Criterion>],
    measured: f64,
    baseline: &Baseline<'_>,
) -> (bool, Vec<Target>) {
    let mut any_set_met = false;
    let mut targets = Vec::with_capacity(sets.iter().map(Vec::len).sum());
    for set in sets {
        let mut set_met = true;
        for criterion in set {
            let (target_value, met) = match (criterion.threshold.is_relative(), baseline.value) {
                // Without a usable earlier value a relative criterion passes (Keptn #1125).
                (true, None) => (0.0, true),
                (_, base) => {
                    let target_value = criterion.threshold.target(base.unwrap_or(0.0));
                    (
                        target_value,
                        criterion.operator.holds(measured, target_value),
                    )
                }
            };
            set_met &= met;
            targets.push(Target {
                criteria: criterion.text.clone(),
                target_value,
                violated: !met,
            });
        }
        any_set_met |= set_met;
    }
    (any_set_met, targets)
}

/// Lists criteria as violated without evaluating them, as Keptn does for a missing or failed
/// SLI value: a relative target shows the baseline itself, not the baseline changed.
fn listed_as_violated(sets: &[Vec<Criterion>], baseline: &Baseline<'_>) -> Vec<Target> {
    sets.iter()
        .flatten()
        .map(|criterion| Target {
            criteria: criterion.text.clone(),
            target_value: if criterion.threshold.is_relative() {
                baseline.value.unwrap_or(0.0)
            } else {
                criterion.threshold.target(0.0)
            },
            violated: true,
        })
        .collect()
}

/// Why an evaluated objective has its status. A pass is a fixed text (the value and baseline
/// are in the result already), so the usual case allocates nothing.
fn describe(
    status: Status,
    measured: f64,
    objective: &Objective,
    pass_targets: &[Target],
    warning_targets: Option<&[Target]>,
    baseline: &Baseline<'_>,
) -> Cow<'static, str> {
    let relative = objective
        .pass
        .iter()
        .chain(&objective.warning)
        .flatten()
        .any(|criterion| criterion.threshold.is_relative());
    if status == Status::Pass {
        return Cow::Borrowed(if relative && baseline.value.is_none() {
            "meets the pass criteria (no earlier value to compare with: relative criteria pass)"
        } else {
            "meets the pass criteria"
        });
    }
    // Room for a failed objective's reason with a baseline (about 110 bytes) without regrowing.
    let mut reason = String::with_capacity(160);
    describe_violation(&mut reason, status, measured, pass_targets, warning_targets);
    if relative {
        match baseline.value {
            Some(value) => {
                reason.push_str(" (baseline: ");
                reason.push_str(baseline.comparison.aggregate_function.name());
                reason.push_str(" of ");
                reason.push_str(&baseline.n_values.to_string());
                reason.push_str(if baseline.n_values == 1 {
                    " earlier value = "
                } else {
                    " earlier values = "
                });
                reason.push_str(Number(value).render(&mut ryu::Buffer::new()));
                reason.push(')');
            }
            None => reason.push_str(" (no earlier value to compare with: relative criteria pass)"),
        }
    }
    Cow::Owned(reason)
}

/// The violated targets of a warning or failed objective.
fn describe_violation(
    reason: &mut String,
    status: Status,
    measured: f64,
    pass_targets: &[Target],
    warning_targets: Option<&[Target]>,
) {
    match status {
        Status::Warning => {
            reason.push_str(Number(measured).render(&mut ryu::Buffer::new()));
            reason.push_str(" violates ");
            list_violated(reason, pass_targets);
            reason.push_str("; meets the warning criteria");
        }
        _ => {
            reason.push_str(Number(measured).render(&mut ryu::Buffer::new()));
            reason.push_str(" violates ");
            list_violated(reason, pass_targets);
            if let Some(warning_targets) = warning_targets {
                reason.push_str(" and warning ");
                list_violated(reason, warning_targets);
            }
        }
    }
}

fn list_violated(reason: &mut String, targets: &[Target]) {
    let mut first = true;
    for target in targets.iter().filter(|target| target.violated) {
        if !first {
            reason.push_str(", ");
        }
        first = false;
        reason.push_str(&target.criteria);
        reason.push_str(" (target ");
        reason.push_str(Number(target.target_value).render(&mut ryu::Buffer::new()));
        reason.push(')');
    }
}

/// A number in a reason, written the shortest way that reads back exactly (as `{}` would, but
/// with ryu, which is several times faster; the engine writes a few per objective).
struct Number(f64);

impl Number {
    fn render(self, buffer: &mut ryu::Buffer) -> &str {
        if !self.0.is_finite() {
            return if self.0.is_nan() {
                "NaN"
            } else if self.0 > 0.0 {
                "inf"
            } else {
                "-inf"
            };
        }
        let text = buffer.format_finite(self.0);
        text.strip_suffix(".0").unwrap_or(text)
    }
}

impl std::fmt::Display for Number {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(Number(self.0).render(&mut ryu::Buffer::new()))
    }
}

/// Totals the indicator scores and decides the result, as Keptn did: with a maximum of 0 (only
/// informational objectives) the score is 100 and the result `pass`; otherwise the score is
/// `100 * total / maximum`, unrounded, and the result is `pass` at or above the pass
/// threshold, else `warning` at or above the warning threshold when one is set, else `fail`.
/// A failed key SLI fails the result without changing the score.
fn score(
    slo: &Slo,
    indicator_results: Vec<IndicatorResult>,
    maximum: f64,
    key_failure: Option<String>,
) -> Evaluation {
    let mut evaluation = Evaluation {
        result: EvaluationResult::Pass,
        score: 100.0,
        indicator_results: Some(indicator_results),
        compared_events: Vec::new(),
        message: String::new(),
    };
    if maximum == 0.0 {
        // Only informational objectives (or weights that cancel out): 100 and pass (#1213).
        return evaluation;
    }
    let total: f64 = evaluation
        .indicator_results
        .iter()
        .flatten()
        .map(|indicator| indicator.score)
        .sum();
    let score = 100.0 * (total / maximum);
    evaluation.score = score;
    // Validation guarantees thresholds whenever an objective is scored; an SLO built in code
    // without them needs a full score to pass.
    let thresholds = slo.total_score.unwrap_or(TotalScore {
        pass: 100.0,
        warning: None,
    });
    evaluation.result = if key_failure.is_none() && score >= thresholds.pass {
        EvaluationResult::Pass
    } else if let (None, Some(warning)) = (&key_failure, thresholds.warning) {
        if score >= warning {
            evaluation.message = format!(
                "Evaluation returned a warning: the calculated score of {score} is close to the warning target value of {warning}"
            );
            EvaluationResult::Warning
        } else {
            evaluation.message = format!(
                "Evaluation failed since the calculated score of {score} is below the warning value of {warning}"
            );
            EvaluationResult::Fail
        }
    } else {
        evaluation.message = match &key_failure {
            Some(reason) => {
                let display_name = slo
                    .objectives
                    .iter()
                    .zip(evaluation.indicator_results.iter().flatten())
                    .find(|(objective, indicator)| {
                        objective.key_sli && indicator.status == Status::Fail
                    })
                    .map(|(objective, _)| &*objective.display_name)
                    .unwrap_or_default();
                format!("Evaluation failed due to key_sli objective '{display_name}': {reason}")
            }
            None => format!(
                "Evaluation failed since the calculated score of {score} is below the target value of {}",
                thresholds.pass
            ),
        };
        EvaluationResult::Fail
    };
    evaluation
}

#[cfg(test)]
mod tests;
