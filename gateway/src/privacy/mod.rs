//! Privacy rules and trace sampling at the door (DESIGN.md "Privacy and sampling at the
//! door"): compiled once from `[privacy]` and `[sampling]` at start, applied to everything a
//! request produces before it is published, so nothing unmasked reaches Kafka, a disk or a table.
//!
//! Two points of application, both pure:
//! - [`Scope::apply`] on every `EventBatch` just before publish (`Gateway::publish`): field
//!   rules and sampling cover every intake that produces batches (OTLP spans, OTLP logs, the
//!   batch API) by construction.
//! - [`Scope::mask_attributes`] on OTLP attribute lists before conversion, so a dropped or
//!   masked attribute appears in no field the converter derives from it (metadata included).
//!   [`Scope::mask_spans`] walks a trace export; [`Scope::mask_logs`] a logs export.

pub mod patterns;
pub mod redact;
pub mod sampling;

use std::fmt;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use regex::RegexSet;
use serde::{Deserialize, Serialize};
use spanbridge_proto::{EventBatch, EventRow, Score, Secret, TraceFields};

use patterns::Pattern;
use redact::{Counts, Redactor};

/// `[privacy]`: the key for `hash` and the rules, applied in order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrivacySettings {
    /// Secret for keyed hashing (HMAC-SHA256); required by `hash` rules.
    pub hash_key: Secret,
    pub rules: Vec<RuleSettings>,
}

/// One `[[privacy.rules]]` entry, as written. Checked and compiled by [`Privacy::compile`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuleSettings {
    /// Project names or ids; empty = every project.
    pub projects: Vec<String>,
    /// Converted fields: input, output, user_id, session_id, name, trace_name, comment,
    /// metadata (every key) or metadata.<key> (the key and its dotted children).
    pub fields: Vec<String>,
    /// OTLP attribute keys, `*` matching any run of characters.
    pub attributes: Vec<String>,
    /// redact | hash | drop | truncate.
    pub action: String,
    /// For `redact`: built-in pattern names or `regex:<expr>`.
    pub patterns: Vec<String>,
    /// For `truncate`: characters kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_chars: Option<usize>,
}

/// `[sampling]`: the fraction of traces kept, overall and per project.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamplingSettings {
    pub rate: f64,
    pub projects: Vec<ProjectRate>,
}

impl Default for SamplingSettings {
    fn default() -> Self {
        Self {
            rate: 1.0,
            projects: Vec::new(),
        }
    }
}

/// One `[[sampling.projects]]` entry: a project (name or id) and its own rate.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProjectRate {
    pub project: String,
    pub rate: f64,
}

const ACTIONS: &str = "redact, hash, drop, truncate";
const FIELDS: &[&str] = &[
    "input",
    "output",
    "user_id",
    "session_id",
    "name",
    "trace_name",
    "comment",
    "metadata",
];

#[derive(Debug, Clone)]
enum Action {
    Redact(Redactor),
    Hash,
    Drop,
    Truncate(usize),
}

impl Action {
    fn name(&self) -> &'static str {
        match self {
            Action::Redact(_) => "redact",
            Action::Hash => "hash",
            Action::Drop => "drop",
            Action::Truncate(_) => "truncate",
        }
    }
}

/// The converted fields a rule names.
#[derive(Debug, Clone, Default)]
struct Fields {
    input: bool,
    output: bool,
    user_id: bool,
    session_id: bool,
    name: bool,
    trace_name: bool,
    comment: bool,
    all_metadata: bool,
    metadata_keys: Vec<String>,
}

impl Fields {
    fn any(&self) -> bool {
        self.input
            || self.output
            || self.user_id
            || self.session_id
            || self.name
            || self.trace_name
            || self.comment
            || self.all_metadata
            || !self.metadata_keys.is_empty()
    }

    /// A flattened metadata name is covered when it is a named key or one of its children.
    fn covers_metadata(&self, name: &str) -> bool {
        self.all_metadata
            || self.metadata_keys.iter().any(|key| {
                name.strip_prefix(key.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
            })
    }
}

#[derive(Debug, Clone)]
struct Rule {
    /// Position in `privacy.rules`: the metric label.
    index: usize,
    projects: Vec<String>,
    fields: Fields,
    attributes: Option<RegexSet>,
    action: Action,
}

impl Rule {
    fn compile(index: usize, settings: &RuleSettings, has_hash_key: bool) -> Result<Self, String> {
        let key = format!("privacy.rules[{index}]");
        let action = match settings.action.as_str() {
            "redact" => {
                if settings.patterns.is_empty() {
                    return Err(format!("{key}.patterns: redact needs at least one pattern"));
                }
                let patterns = settings
                    .patterns
                    .iter()
                    .enumerate()
                    .map(|(i, name)| {
                        Pattern::compile(name)
                            .map_err(|error| format!("{key}.patterns[{i}]: {error}"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Action::Redact(Redactor::new(patterns))
            }
            "hash" if !has_hash_key => {
                return Err(format!(
                    "{key}.action: hash needs privacy.hash_key (or SPANBRIDGE_PRIVACY__HASH_KEY)"
                ));
            }
            "hash" => Action::Hash,
            "drop" => Action::Drop,
            "truncate" => match settings.max_chars {
                Some(max_chars) if max_chars > 0 => Action::Truncate(max_chars),
                _ => {
                    return Err(format!(
                        "{key}.max_chars: truncate needs max_chars of at least 1"
                    ));
                }
            },
            other => {
                return Err(format!(
                    "{key}.action: unknown action {other:?} (expected one of {ACTIONS})"
                ));
            }
        };
        if !settings.patterns.is_empty() && !matches!(action, Action::Redact(_)) {
            return Err(format!("{key}.patterns: only redact uses patterns"));
        }
        if settings.max_chars.is_some() && !matches!(action, Action::Truncate(_)) {
            return Err(format!("{key}.max_chars: only truncate uses max_chars"));
        }
        if settings.fields.is_empty() && settings.attributes.is_empty() {
            return Err(format!("{key}: names neither fields nor attributes"));
        }
        let mut fields = Fields::default();
        for (i, field) in settings.fields.iter().enumerate() {
            match field.as_str() {
                "input" => fields.input = true,
                "output" => fields.output = true,
                "user_id" => fields.user_id = true,
                "session_id" => fields.session_id = true,
                "name" => fields.name = true,
                "trace_name" => fields.trace_name = true,
                "comment" => fields.comment = true,
                "metadata" => fields.all_metadata = true,
                other => match other.strip_prefix("metadata.") {
                    Some(metadata_key) if !metadata_key.is_empty() => {
                        fields.metadata_keys.push(metadata_key.to_owned())
                    }
                    _ => {
                        return Err(format!(
                            "{key}.fields[{i}]: unknown field {other:?} (expected one of {}, or metadata.<key>)",
                            FIELDS.join(", ")
                        ));
                    }
                },
            }
        }
        let attributes = if settings.attributes.is_empty() {
            None
        } else {
            let mut globs = Vec::with_capacity(settings.attributes.len());
            for (i, glob) in settings.attributes.iter().enumerate() {
                if glob.trim().is_empty() {
                    return Err(format!("{key}.attributes[{i}]: empty attribute key"));
                }
                globs.push(glob_to_regex(glob));
            }
            Some(RegexSet::new(&globs).map_err(|error| format!("{key}.attributes: {error}"))?)
        };
        for (i, project) in settings.projects.iter().enumerate() {
            if project.trim().is_empty() {
                return Err(format!("{key}.projects[{i}]: empty project"));
            }
        }
        Ok(Self {
            index,
            projects: settings.projects.clone(),
            fields,
            attributes,
            action,
        })
    }

    fn applies_to(&self, project_id: &str, project_name: &str) -> bool {
        self.projects.is_empty() || names_project(&self.projects, project_id, project_name)
    }
}

fn names_project(projects: &[String], project_id: &str, project_name: &str) -> bool {
    projects
        .iter()
        .any(|p| p == project_id || (!project_name.is_empty() && p == project_name))
}

/// `http.request.header.*` → `^http\.request\.header\..*$`: `*` is the only wildcard.
fn glob_to_regex(glob: &str) -> String {
    let parts: Vec<String> = glob.split('*').map(regex::escape).collect();
    format!("^{}$", parts.join(".*"))
}

/// The compiled `[privacy]` and `[sampling]` settings. Built once at start; cheap to share.
pub struct Privacy {
    hash_key: Vec<u8>,
    rules: Vec<Rule>,
    rate: f64,
    project_rates: Vec<(String, f64)>,
    /// Every project the settings name (rules' `projects`, `[[sampling.projects]]`): the only
    /// values the metrics' `project` label takes besides [`OTHER_PROJECTS`], so its
    /// cardinality is bounded by the configuration, never by the traffic.
    named_projects: Vec<String>,
}

/// The `project` label of privacy and sampling metrics for projects the settings do not name.
pub const OTHER_PROJECTS: &str = "other";

impl fmt::Debug for Privacy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Privacy")
            .field("rules", &self.rules.len())
            .field("rate", &self.rate)
            .field("project_rates", &self.project_rates)
            .finish_non_exhaustive()
    }
}

impl Default for Privacy {
    /// No rules, everything kept.
    fn default() -> Self {
        Self {
            hash_key: Vec::new(),
            rules: Vec::new(),
            rate: 1.0,
            project_rates: Vec::new(),
            named_projects: Vec::new(),
        }
    }
}

impl Privacy {
    /// Checks and compiles the settings (regexes compiled here, once). The error names the
    /// first bad key, e.g. `privacy.rules[2].patterns[0]: unknown pattern "emial" (…)`.
    pub fn compile(privacy: &PrivacySettings, sampling: &SamplingSettings) -> Result<Self, String> {
        let has_hash_key = !privacy.hash_key.is_empty();
        let rules = privacy
            .rules
            .iter()
            .enumerate()
            .map(|(index, rule)| Rule::compile(index, rule, has_hash_key))
            .collect::<Result<Vec<_>, _>>()?;
        check_rate("sampling.rate", sampling.rate)?;
        let mut project_rates = Vec::with_capacity(sampling.projects.len());
        for (i, entry) in sampling.projects.iter().enumerate() {
            if entry.project.trim().is_empty() {
                return Err(format!("sampling.projects[{i}].project must not be empty"));
            }
            check_rate(&format!("sampling.projects[{i}].rate"), entry.rate)?;
            project_rates.push((entry.project.clone(), entry.rate));
        }
        let mut named_projects: Vec<String> = Vec::new();
        let named = privacy
            .rules
            .iter()
            .flat_map(|rule| &rule.projects)
            .chain(sampling.projects.iter().map(|entry| &entry.project));
        for project in named {
            if !named_projects.contains(project) {
                named_projects.push(project.clone());
            }
        }
        Ok(Self {
            hash_key: privacy.hash_key.expose().as_bytes().to_vec(),
            rules,
            rate: sampling.rate,
            project_rates,
            named_projects,
        })
    }

    /// The rules and sampling rate for one authenticated project. Rules name projects by id
    /// or by name; the name comes with the key (`auth::Project::project_name`).
    pub fn scope(&self, project_id: &str, project_name: &str) -> Scope<'_> {
        let rate = self
            .project_rates
            .iter()
            .find(|(project, _)| {
                names_project(std::slice::from_ref(project), project_id, project_name)
            })
            .map_or(self.rate, |(_, rate)| *rate);
        let project_label = self
            .named_projects
            .iter()
            .find(|project| names_project(std::slice::from_ref(project), project_id, project_name))
            .map_or(OTHER_PROJECTS, String::as_str);
        Scope {
            hash_key: &self.hash_key,
            project_label,
            rules: self
                .rules
                .iter()
                .filter(|rule| rule.applies_to(project_id, project_name))
                .collect(),
            rate,
        }
    }
}

fn check_rate(key: &str, rate: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&rate) {
        Ok(())
    } else {
        Err(format!("{key} must be between 0 and 1 (got {rate})"))
    }
}

/// What applies to one project's request.
pub struct Scope<'a> {
    hash_key: &'a [u8],
    /// The `project` label of this request's metrics (see `Privacy::named_projects`).
    project_label: &'a str,
    rules: Vec<&'a Rule>,
    rate: f64,
}

/// Matches counted while one request is processed, reported to the metrics once at the end.
struct Tally<'a> {
    rules: &'a [&'a Rule],
    project_label: &'a str,
    /// Per rule: per pattern for `redact`, one count otherwise.
    counts: Vec<Counts>,
}

impl<'a> Tally<'a> {
    fn new(rules: &'a [&'a Rule], project_label: &'a str) -> Self {
        let counts = rules
            .iter()
            .map(|rule| match &rule.action {
                Action::Redact(redactor) => vec![0; redactor.patterns().len()],
                _ => vec![0],
            })
            .collect();
        Self {
            rules,
            project_label,
            counts,
        }
    }

    fn report(self) {
        for (rule, counts) in self.rules.iter().zip(self.counts) {
            for (i, count) in counts.into_iter().enumerate() {
                if count == 0 {
                    continue;
                }
                let pattern = match &rule.action {
                    Action::Redact(redactor) => redactor.patterns()[i].label,
                    _ => "none",
                };
                metrics::counter!(
                    "spanbridge_privacy_matches_total",
                    "rule" => rule.index.to_string(),
                    "action" => rule.action.name(),
                    "pattern" => pattern,
                    "project" => self.project_label.to_owned()
                )
                .increment(count);
            }
        }
    }
}

/// What happened to one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Kept,
    Dropped,
}

/// Whether a value is one of the trace-level texts the converter copies onto every row of
/// its trace (`trace_input`, `trace_output`, and the trace's own input and output).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Copies {
    Single,
    PerRow,
}

/// One rule's action on one value of a batch.
type ApplyText<'a> = dyn FnMut(&mut String, Copies) -> Outcome + 'a;

/// The results for the per-row copies of a batch's trace-level texts: the rule works each
/// out once, not once per row (a 100-span request of one trace would redact its trace input
/// 101 times), and counts the matches of every copy, as if it had.
#[derive(Default)]
struct CopiesDone {
    done: Vec<CopyDone>,
}

struct CopyDone {
    original: String,
    result: String,
    outcome: Outcome,
    counted: Counts,
}

impl CopiesDone {
    fn apply(
        &mut self,
        value: &mut String,
        counts: &mut Counts,
        apply: impl FnOnce(&mut String, &mut Counts) -> Outcome,
    ) -> Outcome {
        if let Some(done) = self.done.iter().find(|done| done.original == *value) {
            value.clone_from(&done.result);
            for (count, counted) in counts.iter_mut().zip(&done.counted) {
                *count += counted;
            }
            return done.outcome;
        }
        let original = value.clone();
        let before = counts.clone();
        let outcome = apply(value, counts);
        let counted = counts.iter().zip(&before).map(|(a, b)| a - b).collect();
        self.done.push(CopyDone {
            original,
            result: value.clone(),
            outcome,
            counted,
        });
        outcome
    }
}

impl Scope<'_> {
    /// True when nothing applies: callers may skip the work entirely.
    pub fn is_noop(&self) -> bool {
        self.rules.is_empty() && self.rate >= 1.0
    }

    /// Sampling, then field rules, on every batch of one request (any intake). Sampled-out
    /// batches are removed (the caller answers them as accepted); returns how many spans and
    /// partial rows were sampled out, also counted in `spanbridge_spans_sampled_out_total`
    /// (their scores in `spanbridge_scores_sampled_out_total`).
    pub fn apply(&self, batches: &mut Vec<EventBatch>) -> u64 {
        let mut sampled_out = 0u64;
        if self.rate < 1.0 {
            let mut scores_sampled_out = 0u64;
            batches.retain(|batch| {
                let kept =
                    sampling::batch_trace_id(batch).is_none_or(|id| sampling::keep(id, self.rate));
                if !kept {
                    sampled_out += (batch.rows.len() + batch.partial_rows.len()) as u64;
                    scores_sampled_out += batch.scores.len() as u64;
                }
                kept
            });
            if sampled_out > 0 {
                metrics::counter!("spanbridge_spans_sampled_out_total", "project" => self.project_label.to_owned())
                    .increment(sampled_out);
            }
            if scores_sampled_out > 0 {
                metrics::counter!("spanbridge_scores_sampled_out_total", "project" => self.project_label.to_owned())
                    .increment(scores_sampled_out);
            }
        }
        let field_rules: Vec<&Rule> = self
            .rules
            .iter()
            .copied()
            .filter(|r| r.fields.any())
            .collect();
        if field_rules.is_empty() {
            return sampled_out;
        }
        let mut tally = Tally::new(&field_rules, self.project_label);
        for batch in batches.iter_mut() {
            for (slot, rule) in field_rules.iter().enumerate() {
                let identifiers = identifiers(&rule.fields, batch);
                let covered = Covered {
                    fields: &rule.fields,
                    identifiers: &identifiers,
                };
                let counts = &mut tally.counts[slot];
                let mut copies_done = CopiesDone::default();
                let mut apply = |value: &mut String, copies: Copies| match copies {
                    // Short values cost less than remembering them.
                    Copies::PerRow if value.len() >= 64 => {
                        copies_done.apply(value, counts, |value, counts| {
                            self.apply_text(rule, value, counts)
                        })
                    }
                    _ => self.apply_text(rule, value, counts),
                };
                for row in &mut batch.rows {
                    apply_row(&covered, row, &|_| true, &mut apply);
                }
                for partial in &mut batch.partial_rows {
                    let carried = &partial.fields;
                    if let Some(row) = partial.row.as_mut() {
                        let carries = |name: &str| carried.iter().any(|field| field == name);
                        apply_row(&covered, row, &carries, &mut apply);
                    }
                }
                if let Some(trace) = batch.trace.as_mut() {
                    apply_trace(&covered, trace, &mut apply);
                }
                for score in &mut batch.scores {
                    apply_score(&covered, score, &mut apply);
                }
            }
        }
        tally.report();
        sampled_out
    }

    /// Applies attribute rules to one OTLP attribute list: a matching attribute is removed
    /// (`drop`) or its string values (inside arrays and key-value lists too) masked. Call it
    /// on every attribute list of a request before conversion; [`Scope::mask_spans`] and
    /// [`Scope::mask_logs`] do so for whole exports (resource, scope, record, event, link).
    pub fn mask_attributes(&self, attributes: &mut Vec<KeyValue>) {
        let rules: Vec<&Rule> = self.attribute_rules().collect();
        if rules.is_empty() {
            return;
        }
        let mut tally = Tally::new(&rules, self.project_label);
        self.mask_list(&rules, attributes, &mut tally);
        tally.report();
    }

    /// [`Scope::mask_attributes`] on every attribute list of a trace export.
    pub fn mask_spans(&self, request: &mut ExportTraceServiceRequest) {
        let rules: Vec<&Rule> = self.attribute_rules().collect();
        if rules.is_empty() {
            return;
        }
        let mut tally = Tally::new(&rules, self.project_label);
        for resource_spans in &mut request.resource_spans {
            if let Some(resource) = resource_spans.resource.as_mut() {
                self.mask_list(&rules, &mut resource.attributes, &mut tally);
            }
            for scope_spans in &mut resource_spans.scope_spans {
                if let Some(scope) = scope_spans.scope.as_mut() {
                    self.mask_list(&rules, &mut scope.attributes, &mut tally);
                }
                for span in &mut scope_spans.spans {
                    self.mask_list(&rules, &mut span.attributes, &mut tally);
                    for event in &mut span.events {
                        self.mask_list(&rules, &mut event.attributes, &mut tally);
                    }
                    for link in &mut span.links {
                        self.mask_list(&rules, &mut link.attributes, &mut tally);
                    }
                }
            }
        }
        tally.report();
    }

    /// [`Scope::mask_attributes`] on every attribute list of a logs export (resource, scope,
    /// log record). For the OTLP logs intake; the record bodies become converted fields,
    /// which the field rules cover at publish.
    pub fn mask_logs(&self, request: &mut ExportLogsServiceRequest) {
        let rules: Vec<&Rule> = self.attribute_rules().collect();
        if rules.is_empty() {
            return;
        }
        let mut tally = Tally::new(&rules, self.project_label);
        for resource_logs in &mut request.resource_logs {
            if let Some(resource) = resource_logs.resource.as_mut() {
                self.mask_list(&rules, &mut resource.attributes, &mut tally);
            }
            for scope_logs in &mut resource_logs.scope_logs {
                if let Some(scope) = scope_logs.scope.as_mut() {
                    self.mask_list(&rules, &mut scope.attributes, &mut tally);
                }
                for record in &mut scope_logs.log_records {
                    self.mask_list(&rules, &mut record.attributes, &mut tally);
                }
            }
        }
        tally.report();
    }

    fn attribute_rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules
            .iter()
            .copied()
            .filter(|rule| rule.attributes.is_some())
    }

    fn mask_list(&self, rules: &[&Rule], attributes: &mut Vec<KeyValue>, tally: &mut Tally<'_>) {
        if attributes.is_empty() {
            return;
        }
        for (slot, rule) in rules.iter().enumerate() {
            let Some(keys) = &rule.attributes else {
                continue;
            };
            let counts = &mut tally.counts[slot];
            attributes.retain_mut(|attribute| {
                if !keys.is_match(&attribute.key) {
                    return true;
                }
                if matches!(rule.action, Action::Drop) {
                    counts[0] += 1;
                    return false;
                }
                if let Some(value) = attribute.value.as_mut() {
                    self.apply_any(rule, value, counts);
                }
                true
            });
        }
    }

    /// Masks the string leaves of an attribute value; `hash` also replaces non-string scalars
    /// (a numeric user id is still an identifier) by the hash of their text.
    fn apply_any(&self, rule: &Rule, value: &mut AnyValue, counts: &mut Counts) {
        use any_value::Value;
        let Some(inner) = value.value.as_mut() else {
            return;
        };
        match inner {
            Value::StringValue(text) => {
                self.apply_text(rule, text, counts);
            }
            Value::ArrayValue(array) => {
                for item in &mut array.values {
                    self.apply_any(rule, item, counts);
                }
            }
            Value::KvlistValue(list) => {
                for item in &mut list.values {
                    if let Some(value) = item.value.as_mut() {
                        self.apply_any(rule, value, counts);
                    }
                }
            }
            scalar if matches!(rule.action, Action::Hash) => {
                let text = match scalar {
                    Value::BoolValue(b) => b.to_string(),
                    Value::IntValue(i) => i.to_string(),
                    Value::DoubleValue(d) => d.to_string(),
                    Value::BytesValue(bytes) => hex::encode(bytes),
                    _ => return,
                };
                counts[0] += 1;
                *scalar = Value::StringValue(redact::hash(self.hash_key, &text));
            }
            _ => {}
        }
    }

    /// One rule's action on one text value. Empty values are left alone (empty means "not
    /// set" in rows; hashing it would invent a value), except that `drop` still reports them
    /// dropped, so an empty metadata key goes too.
    fn apply_text(&self, rule: &Rule, value: &mut String, counts: &mut Counts) -> Outcome {
        if let Action::Drop = rule.action {
            if !value.is_empty() {
                value.clear();
                counts[0] += 1;
            }
            return Outcome::Dropped;
        }
        if value.is_empty() {
            return Outcome::Kept;
        }
        match &rule.action {
            Action::Redact(redactor) => {
                if let Some(redacted) = redactor.redact(value, counts) {
                    *value = redacted;
                }
            }
            Action::Hash => {
                *value = redact::hash(self.hash_key, value);
                counts[0] += 1;
            }
            Action::Truncate(max_chars) => {
                if let Some(truncated) = redact::truncate(value, *max_chars) {
                    *value = truncated;
                    counts[0] += 1;
                }
            }
            Action::Drop => {}
        }
        Outcome::Kept
    }
}

/// What one rule covers in one batch: the named fields, and the values of the user and
/// session ids it names as they arrived. Converters copy span attributes into metadata
/// (`attributes.user.id`, `langfuse_user_id`, …), so a rule on `user_id` also masks metadata
/// values equal to the id, wherever the path; the same action gives the same result there.
struct Covered<'a> {
    fields: &'a Fields,
    identifiers: &'a [String],
}

impl Covered<'_> {
    fn metadata(&self) -> bool {
        self.fields.all_metadata
            || !self.fields.metadata_keys.is_empty()
            || !self.identifiers.is_empty()
    }

    fn metadata_entry(&self, name: &str, value: &str) -> bool {
        self.fields.covers_metadata(name) || self.identifiers.iter().any(|id| id == value)
    }
}

/// The user and session ids of a batch (rows, partial rows, trace fields) that `fields`
/// names, before any rule changes them.
fn identifiers(fields: &Fields, batch: &EventBatch) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    if !fields.user_id && !fields.session_id {
        return found;
    }
    let mut add = |value: &str| {
        if !value.is_empty() && !found.iter().any(|known| known == value) {
            found.push(value.to_owned());
        }
    };
    let rows = batch
        .rows
        .iter()
        .chain(batch.partial_rows.iter().filter_map(|p| p.row.as_ref()));
    for row in rows {
        if fields.user_id {
            add(&row.user_id);
        }
        if fields.session_id {
            add(&row.session_id);
        }
    }
    if let Some(trace) = &batch.trace {
        if fields.user_id {
            add(trace.user_id.as_deref().unwrap_or_default());
        }
        if fields.session_id {
            add(trace.session_id.as_deref().unwrap_or_default());
        }
    }
    found
}

/// The named fields of one row (or of the fields a partial row carries).
fn apply_row(
    covered: &Covered<'_>,
    row: &mut EventRow,
    carries: &dyn Fn(&str) -> bool,
    apply: &mut ApplyText<'_>,
) {
    let fields = covered.fields;
    use Copies::{PerRow, Single};
    let text_fields: [(bool, &str, &mut String, Copies); 8] = [
        (fields.input, "input", &mut row.input, Single),
        (fields.input, "trace_input", &mut row.trace_input, PerRow),
        (fields.output, "output", &mut row.output, Single),
        (fields.output, "trace_output", &mut row.trace_output, PerRow),
        (fields.user_id, "user_id", &mut row.user_id, Single),
        (fields.session_id, "session_id", &mut row.session_id, Single),
        (fields.name, "name", &mut row.name, Single),
        (fields.trace_name, "trace_name", &mut row.trace_name, Single),
    ];
    for (named, field, value, copies) in text_fields {
        if named && carries(field) {
            apply(value, copies);
        }
    }
    if carries("metadata_names") {
        apply_metadata(
            covered,
            &mut row.metadata_names,
            &mut row.metadata_values,
            apply,
        );
    }
}

fn apply_trace(covered: &Covered<'_>, trace: &mut TraceFields, apply: &mut ApplyText<'_>) {
    let fields = covered.fields;
    use Copies::{PerRow, Single};
    let optional_fields: [(bool, &mut Option<String>, Copies); 5] = [
        (fields.input, &mut trace.input, PerRow),
        (fields.output, &mut trace.output, PerRow),
        (fields.user_id, &mut trace.user_id, Single),
        (fields.session_id, &mut trace.session_id, Single),
        (fields.trace_name, &mut trace.name, Single),
    ];
    for (named, value, copies) in optional_fields {
        if named
            && let Some(text) = value.as_mut()
            && apply(text, copies) == Outcome::Dropped
        {
            // Dropped means not sent: an empty value would overwrite the trace's.
            *value = None;
        }
    }
    apply_metadata(
        covered,
        &mut trace.metadata_names,
        &mut trace.metadata_values,
        apply,
    );
}

fn apply_score(covered: &Covered<'_>, score: &mut Score, apply: &mut ApplyText<'_>) {
    if covered.fields.comment {
        apply(&mut score.comment, Copies::Single);
    }
    apply_metadata(
        covered,
        &mut score.metadata_names,
        &mut score.metadata_values,
        apply,
    );
}

/// Flattened metadata: a covered entry's value is masked, or the entry removed on `drop`.
fn apply_metadata(
    covered: &Covered<'_>,
    names: &mut Vec<String>,
    values: &mut Vec<String>,
    apply: &mut ApplyText<'_>,
) {
    if !covered.metadata() {
        return;
    }
    let mut dropped: Vec<usize> = Vec::new();
    for (i, (name, value)) in names.iter().zip(values.iter_mut()).enumerate() {
        if covered.metadata_entry(name, value) && apply(value, Copies::Single) == Outcome::Dropped {
            dropped.push(i);
        }
    }
    if dropped.is_empty() {
        return;
    }
    remove_sorted(names, &dropped);
    remove_sorted(values, &dropped);
}

/// Removes the items at `indices` (ascending) in one pass.
fn remove_sorted<T>(items: &mut Vec<T>, indices: &[usize]) {
    let mut position = 0;
    let mut next = indices.iter().peekable();
    items.retain(|_| {
        let drop = next.next_if(|&&i| i == position).is_some();
        position += 1;
        !drop
    });
}

#[cfg(test)]
mod tests;
