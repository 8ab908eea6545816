//! Call workflows as data (docs/voice.md "Workflow format"): a small state machine of `say`,
//! `gather`, `redirect` and `hangup` nodes, validated before it is stored in `voice.workflows`,
//! and the pure interpreter that turns a position and a key press into what to say next.

use std::collections::{BTreeMap, HashMap, HashSet};

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::attempts::Outcome;
use crate::db::schema::workflows;
use crate::templates;

/// The name of the reminder workflow every call runs (a tenant's own version wins).
pub const REMINDER_WORKFLOW: &str = "appointment-reminder";
/// The built-in reminder workflow, shipped as data.
pub const BUILT_IN_REMINDER: &str = include_str!("../workflows/appointment-reminder.json");
/// The built-in workflow's version; bump it with every change of the JSON file.
pub const BUILT_IN_REMINDER_VERSION: i32 = 1;
/// Gathers one call may play before it is ended as no input: a caller pressing "repeat"
/// forever must not keep the line (and the carrier's exchange budget) busy.
pub const MAX_GATHERS_PER_CALL: i32 = 20;
/// Nodes one turn may pass through; validation rules out loops, this only guards the code.
const MAX_HOPS: usize = 100;

/// A text to speak: a template name (templates.md) or inline text with placeholders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TemplateRef {
    /// A template name, e.g. `"menu"`.
    Name(String),
    /// Inline text, e.g. `{"text": "Press 5 to hear our address."}`.
    Inline {
        /// The text.
        text: String,
    },
}

/// Where a key leads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DigitTarget {
    /// The node to go to.
    Node(String),
    /// Hang up at once with this outcome.
    Outcome {
        /// An outcome name (`confirmed`, `opted_out`, …).
        outcome: String,
    },
}

/// One node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Node {
    /// Speak the templates, then go on to `next`.
    Say {
        /// What to say, in order.
        templates: Vec<TemplateRef>,
        /// The next node.
        next: String,
    },
    /// Speak the prompts while gathering one key.
    Gather {
        /// What to say while waiting.
        prompts: Vec<TemplateRef>,
        /// Key → where it leads.
        digits: BTreeMap<String, DigitTarget>,
        /// Invalid keys tolerated (each says `invalid` and replays), 1..=5; one more goes to
        /// `no_input`.
        retries: u32,
        /// Said before a replay after an invalid key.
        invalid: TemplateRef,
        /// Where a call goes when nothing is pressed.
        no_input: String,
        /// Seconds to wait once the prompts end (5–60; default 8).
        #[serde(default = "default_timeout")]
        timeout_seconds: u32,
    },
    /// Go on at another node.
    Redirect {
        /// The node.
        next: String,
    },
    /// Say the template, if any, and end the call, settling the outcome (reminder workflows)
    /// or recording the option (robocall workflows), if any.
    Hangup {
        /// The last words.
        #[serde(default)]
        template: Option<TemplateRef>,
        /// The outcome the call ends with (reminder workflows only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outcome: Option<String>,
        /// The option the callee chose by reaching this node, `"1"` to `"9"` (robocall
        /// workflows only): reported as `call_result_options_selected`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        option: Option<String>,
    },
}

fn default_timeout() -> u32 {
    8
}

/// A whole workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    /// The variables every call must be given (robocall workflows), usable as `{name}`
    /// placeholders in inline texts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<String>,
    /// The node a call starts at.
    pub start: String,
    /// Every node by name.
    pub nodes: BTreeMap<String, Node>,
}

/// What a workflow is for; each kind has its own rules (docs/voice.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An appointment reminder: template names and the reminder placeholders, hangups settle
    /// reminder outcomes.
    Reminder,
    /// A robo-call an integrator created: inline texts with the workflow's own variables,
    /// hangups record numbered options.
    Robocall,
}

impl Kind {
    /// Returns the stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reminder => "reminder",
            Self::Robocall => "robocall",
        }
    }
}

/// Most variables a robocall workflow may declare.
pub const MAX_VARIABLES: usize = 20;
/// The options a robocall workflow may record, in order.
pub const OPTIONS: [&str; 9] = ["1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// Returns whether `name` is a valid variable name: a lower-case letter, then up to 39
/// lower-case letters, digits or `_`.
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(first) if first.is_ascii_lowercase())
        && name.len() <= 40
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A validation error, naming the offending path (`nodes.menu.digits.4`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ValidationError {
    /// Where, e.g. `nodes.menu.digits.4`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

fn error(path: impl Into<String>, message: impl Into<String>) -> ValidationError {
    ValidationError {
        path: path.into(),
        message: message.into(),
    }
}

impl Definition {
    /// Parses a JSON definition; a shape error names no path finer than serde's message.
    pub fn from_json(json: &str) -> Result<Self, ValidationError> {
        serde_json::from_str(json).map_err(|parse| error("definition", parse.to_string()))
    }

    /// Checks every rule of a reminder workflow; see [`Definition::validate_as`].
    pub fn validate(&self) -> Result<(), Vec<ValidationError>> {
        self.validate_as(Kind::Reminder)
    }

    /// Checks every rule (docs/voice.md): the start node exists, every reference resolves,
    /// every node is reachable, gathers have bounded retries and valid keys, outcomes,
    /// options and texts are what `kind` allows, and no loop avoids a gather. Returns every
    /// error found.
    pub fn validate_as(&self, kind: Kind) -> Result<(), Vec<ValidationError>> {
        let mut errors = Vec::new();
        let texts = TextRules::new(kind, &self.variables);
        self.check_variables(kind, &mut errors);
        if !self.nodes.contains_key(&self.start) {
            errors.push(error(
                "start",
                format!("node {:?} does not exist", self.start),
            ));
        }
        if self.nodes.is_empty() {
            errors.push(error("nodes", "a workflow needs at least one node"));
        }
        let exists = |path: String, target: &str, errors: &mut Vec<ValidationError>| {
            if !self.nodes.contains_key(target) {
                errors.push(error(path, format!("node {target:?} does not exist")));
            }
        };
        for (name, node) in &self.nodes {
            let at = format!("nodes.{name}");
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                errors.push(error(&at, "a node name is letters, digits and _"));
            }
            match node {
                Node::Say { templates, next } => {
                    if templates.is_empty() {
                        errors.push(error(format!("{at}.templates"), "says nothing"));
                    }
                    for (index, template) in templates.iter().enumerate() {
                        texts.check(&format!("{at}.templates[{index}]"), template, &mut errors);
                    }
                    exists(format!("{at}.next"), next, &mut errors);
                }
                Node::Redirect { next } => exists(format!("{at}.next"), next, &mut errors),
                Node::Hangup {
                    template,
                    outcome,
                    option,
                } => {
                    if let Some(template) = template {
                        texts.check(&format!("{at}.template"), template, &mut errors);
                    }
                    match (kind, outcome) {
                        (_, None) => {}
                        (Kind::Reminder, Some(outcome)) => {
                            check_outcome(&format!("{at}.outcome"), outcome, &mut errors);
                        }
                        (Kind::Robocall, Some(_)) => errors.push(error(
                            format!("{at}.outcome"),
                            "a robocall workflow ends with an option, not a reminder outcome",
                        )),
                    }
                    match (kind, option) {
                        (_, None) => {}
                        (Kind::Robocall, Some(option)) => {
                            if !OPTIONS.contains(&option.as_str()) {
                                errors.push(error(
                                    format!("{at}.option"),
                                    "an option is one of \"1\" to \"9\"",
                                ));
                            }
                        }
                        (Kind::Reminder, Some(_)) => errors.push(error(
                            format!("{at}.option"),
                            "options belong to robocall workflows",
                        )),
                    }
                }
                Node::Gather {
                    prompts,
                    digits,
                    retries,
                    invalid,
                    no_input,
                    timeout_seconds,
                } => {
                    if prompts.is_empty() {
                        errors.push(error(format!("{at}.prompts"), "a gather needs a prompt"));
                    }
                    for (index, prompt) in prompts.iter().enumerate() {
                        texts.check(&format!("{at}.prompts[{index}]"), prompt, &mut errors);
                    }
                    if digits.is_empty() {
                        errors.push(error(format!("{at}.digits"), "no key leads anywhere"));
                    }
                    for (key, target) in digits {
                        let path = format!("{at}.digits.{key}");
                        let mut chars = key.chars();
                        let one_key = matches!(
                            (chars.next(), chars.next()),
                            (Some(c), None) if c.is_ascii_digit() || c == '*' || c == '#'
                        );
                        if !one_key {
                            errors.push(error(&path, "a key is one of 0-9, * and #"));
                        }
                        match target {
                            DigitTarget::Node(target) => exists(path, target, &mut errors),
                            DigitTarget::Outcome { outcome } if kind == Kind::Reminder => {
                                check_outcome(&format!("{path}.outcome"), outcome, &mut errors);
                            }
                            DigitTarget::Outcome { .. } => errors.push(error(
                                format!("{path}.outcome"),
                                "a robocall workflow ends at a hangup node with an option",
                            )),
                        }
                    }
                    if !(1..=5).contains(retries) {
                        errors.push(error(format!("{at}.retries"), "must be from 1 to 5"));
                    }
                    texts.check(&format!("{at}.invalid"), invalid, &mut errors);
                    exists(format!("{at}.no_input"), no_input, &mut errors);
                    if !(5..=60).contains(timeout_seconds) {
                        errors.push(error(
                            format!("{at}.timeout_seconds"),
                            "must be from 5 to 60",
                        ));
                    }
                }
            }
        }
        if kind == Kind::Robocall && self.options().is_empty() {
            errors.push(error(
                "nodes",
                "no hangup node records an option: give at least one an \"option\"",
            ));
        }
        if errors.is_empty() {
            self.check_reachable(&mut errors);
            self.check_loops(&mut errors);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn successors(node: &Node) -> Vec<&str> {
        match node {
            Node::Say { next, .. } | Node::Redirect { next } => vec![next.as_str()],
            Node::Hangup { .. } => Vec::new(),
            Node::Gather {
                digits, no_input, ..
            } => digits
                .values()
                .filter_map(|target| match target {
                    DigitTarget::Node(node) => Some(node.as_str()),
                    DigitTarget::Outcome { .. } => None,
                })
                .chain(std::iter::once(no_input.as_str()))
                .collect(),
        }
    }

    fn check_reachable(&self, errors: &mut Vec<ValidationError>) {
        let mut seen: HashSet<&str> = HashSet::new();
        let mut stack = vec![self.start.as_str()];
        while let Some(name) = stack.pop() {
            if !seen.insert(name) {
                continue;
            }
            if let Some(node) = self.nodes.get(name) {
                stack.extend(Self::successors(node));
            }
        }
        for name in self.nodes.keys() {
            if !seen.contains(name.as_str()) {
                errors.push(error(format!("nodes.{name}"), "unreachable from start"));
            }
        }
    }

    /// A cycle through say and redirect nodes only would speak forever without the caller.
    fn check_loops(&self, errors: &mut Vec<ValidationError>) {
        for start in self.nodes.keys() {
            let mut current = start.as_str();
            let mut path = HashSet::new();
            while let Some(Node::Say { next, .. } | Node::Redirect { next }) =
                self.nodes.get(current)
            {
                if !path.insert(current) {
                    errors.push(error(
                        format!("nodes.{start}.next"),
                        "loops back without a gather",
                    ));
                    break;
                }
                current = next;
            }
        }
    }
}

/// What texts a workflow kind may speak.
struct TextRules<'a> {
    kind: Kind,
    variables: &'a [String],
}

impl<'a> TextRules<'a> {
    fn new(kind: Kind, variables: &'a [String]) -> Self {
        Self { kind, variables }
    }

    fn check(&self, path: &str, template: &TemplateRef, errors: &mut Vec<ValidationError>) {
        match template {
            TemplateRef::Name(name) => {
                if self.kind == Kind::Robocall {
                    errors.push(error(
                        path,
                        "a robocall workflow speaks inline texts: {\"text\": \"…\"}",
                    ));
                } else if !templates::NAMES.contains(&name.as_str()) {
                    errors.push(error(path, format!("unknown template {name:?}")));
                }
            }
            TemplateRef::Inline { text } => {
                let length = text.trim().chars().count();
                if !(1..=templates::MAX_TEXT_CHARS).contains(&length) {
                    errors.push(error(path, "a text is 1 to 1000 characters"));
                }
                let unknown = match self.kind {
                    Kind::Reminder => templates::unknown_placeholders(text),
                    Kind::Robocall => templates::placeholders(text)
                        .into_iter()
                        .filter(|name| !self.variables.iter().any(|declared| declared == name))
                        .collect(),
                };
                for unknown in unknown {
                    let message = match self.kind {
                        Kind::Reminder => format!("unknown placeholder {{{unknown}}}"),
                        Kind::Robocall => {
                            format!("{{{unknown}}} is not one of the workflow's variables")
                        }
                    };
                    errors.push(error(path, message));
                }
            }
        }
    }
}

impl Definition {
    fn check_variables(&self, kind: Kind, errors: &mut Vec<ValidationError>) {
        if kind == Kind::Reminder {
            if !self.variables.is_empty() {
                errors.push(error(
                    "variables",
                    "a reminder workflow takes its values from the reminder",
                ));
            }
            return;
        }
        if self.variables.len() > MAX_VARIABLES {
            errors.push(error(
                "variables",
                format!("at most {MAX_VARIABLES} variables"),
            ));
        }
        for (index, name) in self.variables.iter().enumerate() {
            if !is_variable_name(name) {
                errors.push(error(
                    format!("variables[{index}]"),
                    "a variable name is a lower-case letter, then up to 39 lower-case letters, digits or _",
                ));
            } else if self.variables[..index].contains(name) {
                errors.push(error(format!("variables[{index}]"), "declared twice"));
            }
        }
    }

    /// Returns the options the workflow's hangup nodes record, sorted ("1", "2", …).
    pub fn options(&self) -> Vec<String> {
        let mut options: Vec<String> = self
            .nodes
            .values()
            .filter_map(|node| match node {
                Node::Hangup {
                    option: Some(option),
                    ..
                } => Some(option.clone()),
                _ => None,
            })
            .collect();
        options.sort();
        options.dedup();
        options
    }
}

fn check_outcome(path: &str, outcome: &str, errors: &mut Vec<ValidationError>) {
    if Outcome::parse(outcome).is_none() {
        errors.push(error(path, format!("unknown outcome {outcome:?}")));
    }
}

/// What one turn of a call says and where it stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    /// What to say, in order (before the gather's prompts, if it ends at a gather).
    pub speech: Vec<TemplateRef>,
    /// How the turn ends.
    pub end: TurnEnd,
}

/// Where a turn stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnEnd {
    /// Waiting for a key at `node`, having replayed it `retries` times after invalid keys.
    Gather {
        /// The gather node.
        node: String,
        /// Its prompts.
        prompts: Vec<TemplateRef>,
        /// Seconds to wait.
        timeout_seconds: u32,
        /// Invalid keys at this gather so far.
        retries: u32,
    },
    /// The call ends, with this outcome (reminder) or option (robocall), if any.
    Hangup {
        /// The outcome.
        outcome: Option<Outcome>,
        /// The option the callee chose.
        option: Option<String>,
    },
}

/// What the caller did at a gather.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input<'a> {
    /// Keys pressed.
    Digits(&'a str),
    /// Nothing pressed (no `Digits`, an empty one, or the fall-through redirect).
    Nothing,
}

impl Definition {
    /// The first turn of a call.
    pub fn begin(&self) -> Turn {
        self.run_from(&self.start, Vec::new())
    }

    /// The turn after `input` at gather `node`, where `retries` invalid keys were pressed.
    /// A node that is not a gather (a stale URL) restarts at the start.
    pub fn advance(&self, node: &str, retries: u32, input: Input<'_>) -> Turn {
        let Some(Node::Gather {
            prompts,
            digits,
            retries: max_retries,
            invalid,
            no_input,
            timeout_seconds,
        }) = self.nodes.get(node)
        else {
            tracing::warn!(node, "input for a node that is not a gather, starting over");
            return self.begin();
        };
        let pressed = match input {
            Input::Digits(digits) => digits.trim(),
            Input::Nothing => "",
        };
        if pressed.is_empty() {
            return self.run_from(no_input, Vec::new());
        }
        match digits.get(pressed) {
            Some(DigitTarget::Node(next)) => self.run_from(next, Vec::new()),
            Some(DigitTarget::Outcome { outcome }) => Turn {
                speech: Vec::new(),
                end: TurnEnd::Hangup {
                    outcome: Outcome::parse(outcome),
                    option: None,
                },
            },
            None if retries < *max_retries => Turn {
                speech: vec![invalid.clone()],
                end: TurnEnd::Gather {
                    node: node.to_owned(),
                    prompts: prompts.clone(),
                    timeout_seconds: *timeout_seconds,
                    retries: retries + 1,
                },
            },
            None => self.run_from(no_input, vec![invalid.clone()]),
        }
    }

    /// The turn that starts at `node` after `speech`: say and redirect nodes run on until a
    /// gather or a hangup.
    pub fn run_from(&self, node: &str, mut speech: Vec<TemplateRef>) -> Turn {
        let mut current = node;
        for _ in 0..MAX_HOPS {
            match self.nodes.get(current) {
                Some(Node::Say { templates, next }) => {
                    speech.extend(templates.iter().cloned());
                    current = next;
                }
                Some(Node::Redirect { next }) => current = next,
                Some(Node::Hangup {
                    template,
                    outcome,
                    option,
                }) => {
                    speech.extend(template.iter().cloned());
                    return Turn {
                        speech,
                        end: TurnEnd::Hangup {
                            outcome: outcome.as_deref().and_then(Outcome::parse),
                            option: option.clone(),
                        },
                    };
                }
                Some(Node::Gather {
                    prompts,
                    timeout_seconds,
                    ..
                }) => {
                    return Turn {
                        speech,
                        end: TurnEnd::Gather {
                            node: current.to_owned(),
                            prompts: prompts.clone(),
                            timeout_seconds: *timeout_seconds,
                            retries: 0,
                        },
                    };
                }
                None => break,
            }
        }
        // Unreachable for a validated workflow.
        tracing::error!(node, "workflow ran off its nodes, hanging up");
        Turn {
            speech,
            end: TurnEnd::Hangup {
                outcome: None,
                option: None,
            },
        }
    }

    /// The turn that ends a call that ran out of gathers: the no-input way out of `node`.
    pub fn exhausted(&self, node: &str) -> Turn {
        match self.nodes.get(node) {
            Some(Node::Gather { no_input, .. }) => self.run_from(no_input, Vec::new()),
            _ => Turn {
                speech: Vec::new(),
                end: TurnEnd::Hangup {
                    outcome: None,
                    option: None,
                },
            },
        }
    }
}

/// Why a workflow was not saved.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// The definition breaks a rule.
    #[error("invalid workflow: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<ValidationError>),
    /// Concurrent writes kept it from being stored; trying again will work.
    #[error("{0}")]
    Conflict(String),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// Validates `definition` and stores it as (`tenant_id`, `name`, `version`); storing the same
/// key again keeps the first row (rows are immutable). Returns the row's id. Everything that
/// stores a workflow goes through here.
pub async fn save(
    connection: &mut AsyncPgConnection,
    tenant_id: Option<Uuid>,
    name: &str,
    version: i32,
    definition: &Definition,
) -> Result<Uuid, SaveError> {
    definition.validate().map_err(SaveError::Invalid)?;
    if name.trim().is_empty() {
        return Err(SaveError::Invalid(vec![error("name", "must not be empty")]));
    }
    if version < 1 {
        return Err(SaveError::Invalid(vec![error(
            "version",
            "must be at least 1",
        )]));
    }
    let json = serde_json::to_value(definition)
        .map_err(|encode| SaveError::Invalid(vec![error("definition", encode.to_string())]))?;
    diesel::insert_into(workflows::table)
        .values((
            workflows::id.eq(Uuid::now_v7()),
            workflows::tenant_id.eq(tenant_id),
            workflows::name.eq(name),
            workflows::version.eq(version),
            workflows::definition.eq(json),
        ))
        .on_conflict_do_nothing()
        .execute(connection)
        .await?;
    let mut query = workflows::table
        .filter(workflows::name.eq(name))
        .filter(workflows::version.eq(version))
        .into_boxed();
    query = match tenant_id {
        Some(tenant_id) => query.filter(workflows::tenant_id.eq(tenant_id)),
        None => query.filter(workflows::tenant_id.is_null()),
    };
    Ok(query.select(workflows::id).first(connection).await?)
}

/// Returns the built-in reminder workflow, parsed.
pub fn built_in_reminder() -> Result<Definition, ValidationError> {
    Definition::from_json(BUILT_IN_REMINDER)
}

/// Stores the built-in reminder workflow (idempotent; run at every start-up).
pub async fn install_built_ins(connection: &mut AsyncPgConnection) -> anyhow::Result<Uuid> {
    let definition = built_in_reminder()?;
    Ok(save(
        connection,
        None,
        REMINDER_WORKFLOW,
        BUILT_IN_REMINDER_VERSION,
        &definition,
    )
    .await?)
}

/// Returns the id of the workflow a call for `tenant_id` runs: the tenant's latest version of
/// `name`, else the latest built-in one.
pub async fn current_for(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    name: &str,
) -> QueryResult<Option<Uuid>> {
    workflows::table
        .filter(workflows::name.eq(name))
        .filter(
            workflows::tenant_id
                .eq(tenant_id)
                .or(workflows::tenant_id.is_null()),
        )
        .filter(workflows::kind.eq(Kind::Reminder.as_str()))
        .filter(workflows::deleted_at.is_null())
        // NULLS LAST in descending order puts the tenant's own rows first.
        .order((
            workflows::tenant_id.desc().nulls_last(),
            workflows::version.desc(),
        ))
        .select(workflows::id)
        .first(connection)
        .await
        .optional()
}

/// A tenant's robocall workflow, as the API shows it.
#[derive(Debug, Clone)]
pub struct StoredWorkflow {
    /// The workflow id (`workflow_id` of a batch).
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Its version: 1 for the first workflow of a name, one more for each later one.
    pub version: i32,
    /// Its definition.
    pub definition: Definition,
    /// When it was created.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Longest workflow name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// Validates `definition` as a robocall workflow and stores it for `tenant_id` under `name`,
/// as the next version of that name. Returns the stored workflow.
pub async fn create_robocall(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    name: &str,
    definition: &Definition,
) -> Result<StoredWorkflow, SaveError> {
    let name = name.trim();
    let mut errors = Vec::new();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        errors.push(error("name", "must be 1 to 100 characters"));
    }
    if let Err(found) = definition.validate_as(Kind::Robocall) {
        errors.extend(found);
    }
    if !errors.is_empty() {
        return Err(SaveError::Invalid(errors));
    }
    let json = serde_json::to_value(definition)
        .map_err(|encode| SaveError::Invalid(vec![error("definition", encode.to_string())]))?;
    let id = Uuid::now_v7();
    // Two creations of one name at once may pick the same version; the unique key refuses
    // the second, which then takes the next one.
    for _ in 0..3 {
        let latest: Option<i32> = workflows::table
            .filter(workflows::tenant_id.eq(tenant_id))
            .filter(workflows::name.eq(name))
            .select(diesel::dsl::max(workflows::version))
            .first(connection)
            .await?;
        let version = latest.unwrap_or(0) + 1;
        let inserted = diesel::insert_into(workflows::table)
            .values((
                workflows::id.eq(id),
                workflows::tenant_id.eq(tenant_id),
                workflows::name.eq(name),
                workflows::version.eq(version),
                workflows::definition.eq(&json),
                workflows::kind.eq(Kind::Robocall.as_str()),
            ))
            .on_conflict_do_nothing()
            .execute(connection)
            .await?;
        if inserted == 1 {
            return find_robocall(connection, tenant_id, id)
                .await?
                .ok_or(SaveError::Database(diesel::result::Error::NotFound));
        }
    }
    Err(SaveError::Conflict(
        "workflows of this name were created at the same moment; try again".to_owned(),
    ))
}

type WorkflowRow = (
    Uuid,
    String,
    i32,
    serde_json::Value,
    chrono::DateTime<chrono::Utc>,
);

fn stored(row: WorkflowRow) -> Result<StoredWorkflow, SaveError> {
    let (id, name, version, json, created_at) = row;
    let definition = serde_json::from_value(json)
        .map_err(|decode| SaveError::Invalid(vec![error("definition", decode.to_string())]))?;
    Ok(StoredWorkflow {
        id,
        name,
        version,
        definition,
        created_at,
    })
}

/// Returns `tenant_id`'s robocall workflow `id`, unless it does not exist or was deleted.
pub async fn find_robocall(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<StoredWorkflow>, SaveError> {
    let row: Option<WorkflowRow> = workflows::table
        .find(id)
        .filter(workflows::tenant_id.eq(tenant_id))
        .filter(workflows::kind.eq(Kind::Robocall.as_str()))
        .filter(workflows::deleted_at.is_null())
        .select((
            workflows::id,
            workflows::name,
            workflows::version,
            workflows::definition,
            workflows::created_at,
        ))
        .first(connection)
        .await
        .optional()?;
    row.map(stored).transpose()
}

/// Returns `tenant_id`'s robocall workflows that are not deleted, oldest first.
pub async fn list_robocall(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
) -> Result<Vec<StoredWorkflow>, SaveError> {
    let rows: Vec<WorkflowRow> = workflows::table
        .filter(workflows::tenant_id.eq(tenant_id))
        .filter(workflows::kind.eq(Kind::Robocall.as_str()))
        .filter(workflows::deleted_at.is_null())
        .order(workflows::id)
        .select((
            workflows::id,
            workflows::name,
            workflows::version,
            workflows::definition,
            workflows::created_at,
        ))
        .load(connection)
        .await?;
    rows.into_iter().map(stored).collect()
}

/// Deletes `tenant_id`'s robocall workflow `id` for new batches; batches already running it
/// go on (the row stays). Returns whether it existed.
pub async fn delete_robocall(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> QueryResult<bool> {
    let deleted = diesel::update(
        workflows::table
            .find(id)
            .filter(workflows::tenant_id.eq(tenant_id))
            .filter(workflows::kind.eq(Kind::Robocall.as_str()))
            .filter(workflows::deleted_at.is_null()),
    )
    .set(workflows::deleted_at.eq(diesel::dsl::now))
    .execute(connection)
    .await?;
    Ok(deleted == 1)
}

/// Loads workflow `id` (rows are immutable, so callers may cache the result).
pub async fn load(
    connection: &mut AsyncPgConnection,
    id: Uuid,
) -> Result<Option<Definition>, SaveError> {
    let json: Option<serde_json::Value> = workflows::table
        .find(id)
        .select(workflows::definition)
        .first(connection)
        .await
        .optional()?;
    json.map(|json| {
        serde_json::from_value(json)
            .map_err(|decode| SaveError::Invalid(vec![error("definition", decode.to_string())]))
    })
    .transpose()
}

/// Workflows by id, loaded once: rows never change.
#[derive(Debug, Default)]
pub struct Cache {
    loaded: std::sync::RwLock<HashMap<Uuid, std::sync::Arc<Definition>>>,
}

impl Cache {
    /// Returns workflow `id`, from memory or the database.
    pub async fn get(
        &self,
        connection: &mut AsyncPgConnection,
        id: Uuid,
    ) -> Result<Option<std::sync::Arc<Definition>>, SaveError> {
        let cached = self
            .loaded
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
            .cloned();
        if cached.is_some() {
            return Ok(cached);
        }
        let Some(definition) = load(connection, id).await? else {
            return Ok(None);
        };
        let definition = std::sync::Arc::new(definition);
        self.loaded
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, definition.clone());
        Ok(Some(definition))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reminder() -> Definition {
        built_in_reminder().unwrap()
    }

    fn paths(definition: &Definition) -> Vec<String> {
        definition
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|error| error.path)
            .collect()
    }

    fn name(template: &str) -> TemplateRef {
        TemplateRef::Name(template.to_owned())
    }

    #[test]
    fn the_built_in_reminder_workflow_is_valid() {
        assert_eq!(reminder().validate(), Ok(()));
    }

    #[test]
    fn a_call_opens_with_the_greeting_and_the_appointment_then_the_menu() {
        let turn = reminder().begin();
        assert_eq!(turn.speech, [name("greeting"), name("appointment")]);
        assert!(matches!(turn.end, TurnEnd::Gather { ref node, retries: 0, .. } if node == "menu"));
    }

    #[test]
    fn every_menu_key_leads_where_the_issue_says() {
        let workflow = reminder();
        let hangup = |turn: Turn| match turn.end {
            TurnEnd::Hangup { outcome, .. } => outcome,
            TurnEnd::Gather { node, .. } => panic!("still gathering at {node}"),
        };
        let at_menu = |key| workflow.advance("menu", 0, Input::Digits(key));
        assert_eq!(hangup(at_menu("1")), Some(Outcome::Confirmed));
        assert_eq!(hangup(at_menu("2")), Some(Outcome::RescheduleRequested));
        assert_eq!(hangup(at_menu("8")), Some(Outcome::OptedOut));
        assert_eq!(
            hangup(workflow.advance("menu", 0, Input::Nothing)),
            Some(Outcome::NoAnswer)
        );
        assert_eq!(
            hangup(workflow.advance("cancel_confirm", 0, Input::Digits("1"))),
            Some(Outcome::Cancelled)
        );
        let kept = workflow.advance("cancel_confirm", 0, Input::Digits("2"));
        assert_eq!(kept.speech, [name("kept")]);
        assert!(matches!(kept.end, TurnEnd::Gather { ref node, .. } if node == "menu"));
        let repeat = at_menu("9");
        assert_eq!(repeat.speech, [name("greeting"), name("appointment")]);
    }

    #[test]
    fn invalid_keys_replay_three_times_then_end_as_no_input() {
        let workflow = reminder();
        let mut retries = 0;
        for expected in 1..=3 {
            let turn = workflow.advance("menu", retries, Input::Digits("7"));
            assert_eq!(turn.speech, [name("invalid")]);
            let TurnEnd::Gather { retries: now, .. } = turn.end else {
                panic!("ended early")
            };
            assert_eq!(now, expected);
            retries = now;
        }
        let last = workflow.advance("menu", retries, Input::Digits("7"));
        assert_eq!(last.speech, [name("invalid"), name("no_input")]);
        assert_eq!(
            last.end,
            TurnEnd::Hangup {
                outcome: Some(Outcome::NoAnswer),
                option: None,
            }
        );
    }

    #[test]
    fn validation_names_the_path_of_every_error() {
        let mut workflow = reminder();
        let Some(Node::Gather {
            digits, retries, ..
        }) = workflow.nodes.get_mut("menu")
        else {
            panic!("no menu")
        };
        digits.insert("4".to_owned(), DigitTarget::Node("nowhere".to_owned()));
        digits.insert("42".to_owned(), DigitTarget::Node("intro".to_owned()));
        digits.insert(
            "5".to_owned(),
            DigitTarget::Outcome {
                outcome: "happy".to_owned(),
            },
        );
        *retries = 9;
        workflow.nodes.insert(
            "hello".to_owned(),
            Node::Say {
                templates: vec![
                    name("farewell"),
                    TemplateRef::Inline {
                        text: "Hi {nickname}".to_owned(),
                    },
                ],
                next: "intro".to_owned(),
            },
        );
        assert_eq!(
            paths(&workflow),
            [
                "nodes.hello.templates[0]",
                "nodes.hello.templates[1]",
                "nodes.menu.digits.4",
                "nodes.menu.digits.42",
                "nodes.menu.digits.5.outcome",
                "nodes.menu.retries",
            ]
        );
    }

    #[test]
    fn unreachable_nodes_a_missing_start_and_gatherless_loops_are_refused() {
        let mut workflow = reminder();
        workflow.nodes.insert(
            "orphan".to_owned(),
            Node::Hangup {
                template: None,
                outcome: None,
                option: None,
            },
        );
        assert_eq!(paths(&workflow), ["nodes.orphan"]);

        let mut workflow = reminder();
        workflow.start = "missing".to_owned();
        assert_eq!(paths(&workflow), ["start"]);

        let mut workflow = reminder();
        workflow.nodes.insert(
            "kept".to_owned(),
            Node::Say {
                templates: vec![name("kept")],
                next: "repeat".to_owned(),
            },
        );
        workflow.nodes.insert(
            "repeat".to_owned(),
            Node::Redirect {
                next: "kept".to_owned(),
            },
        );
        let found = paths(&workflow);
        assert!(found.contains(&"nodes.kept.next".to_owned()), "{found:?}");
    }

    #[test]
    fn unknown_fields_and_node_types_are_shape_errors() {
        let error =
            Definition::from_json(r#"{"start":"a","nodes":{"a":{"type":"dial"}}}"#).unwrap_err();
        assert_eq!(error.path, "definition");
    }
}
