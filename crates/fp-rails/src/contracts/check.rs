//! Rule checks shared by the contracts: lengths (in characters, as JSON Schema counts them),
//! minimum array sizes, identifier patterns, and the rules the schemas put on rails types.

use crate::eb::EbRef;
use crate::locator::EngineOutputLocator;
use crate::pins::{ContextPins, ScenarioId};
use crate::policy::Provenance;

use super::Violation;

/// Result of one rule check.
pub(crate) type Checked = Result<(), Violation>;

/// `at.name` (or `name` at the top level).
pub(crate) fn join(at: &str, name: &str) -> String {
    if at.is_empty() {
        name.to_owned()
    } else {
        format!("{at}.{name}")
    }
}

/// `at.name[i]`.
pub(crate) fn item(at: &str, name: &str, i: usize) -> String {
    format!("{}[{i}]", join(at, name))
}

/// A string of `min..=max` characters.
pub(crate) fn len(at: &str, name: &str, value: &str, min: usize, max: usize) -> Checked {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(Violation::new(
            join(at, name),
            format!("must be {min}..={max} characters (got {n})"),
        ));
    }
    Ok(())
}

/// A string of at least `min` characters.
pub(crate) fn min_len(at: &str, name: &str, value: &str, min: usize) -> Checked {
    let n = value.chars().count();
    if n < min {
        return Err(Violation::new(
            join(at, name),
            format!("must be at least {min} characters (got {n})"),
        ));
    }
    Ok(())
}

/// A string of at most `max` characters.
pub(crate) fn max_len(at: &str, name: &str, value: &str, max: usize) -> Checked {
    let n = value.chars().count();
    if n > max {
        return Err(Violation::new(
            join(at, name),
            format!("must be at most {max} characters (got {n})"),
        ));
    }
    Ok(())
}

/// Run `f` on an optional value.
pub(crate) fn opt<T>(value: Option<T>, f: impl FnOnce(T) -> Checked) -> Checked {
    value.map_or(Ok(()), f)
}

/// Every item of a string list is `min..=max` characters.
pub(crate) fn items_len(
    at: &str,
    name: &str,
    values: &[String],
    min: usize,
    max: usize,
) -> Checked {
    for (i, v) in values.iter().enumerate() {
        len("", &item(at, name, i), v, min, max)?;
    }
    Ok(())
}

/// Every item of a string list has at least `min` characters.
pub(crate) fn items_min_len(at: &str, name: &str, values: &[String], min: usize) -> Checked {
    for (i, v) in values.iter().enumerate() {
        min_len("", &item(at, name, i), v, min)?;
    }
    Ok(())
}

/// A list with at least one item.
pub(crate) fn non_empty<T>(at: &str, name: &str, values: &[T]) -> Checked {
    if values.is_empty() {
        return Err(Violation::new(join(at, name), "must have at least 1 item"));
    }
    Ok(())
}

/// A condition that must hold.
pub(crate) fn rule(ok: bool, at: &str, name: &str, what: &str) -> Checked {
    if ok {
        Ok(())
    } else {
        Err(Violation::new(join(at, name), what))
    }
}

/// A field that must not be present in this context.
pub(crate) fn absent<T>(value: Option<&T>, at: &str, name: &str) -> Checked {
    rule(value.is_none(), at, name, "is not allowed here")
}

/// `^[A-Za-z0-9_.-]+$`, 1..=128 characters (engine output ids, gate ids).
pub(crate) fn output_id(at: &str, name: &str, value: &str) -> Checked {
    len(at, name, value, 1, 128)?;
    rule(
        value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')),
        at,
        name,
        "must match ^[A-Za-z0-9_.-]+$",
    )
}

/// The six pins with the schema's `scenario_id` bound (1..=256, or unbounded for the facts
/// view).
pub(crate) fn pins(at: &str, p: &ContextPins, scenario_id_max: Option<usize>) -> Checked {
    let at = join(at, "pins");
    match scenario_id_max {
        Some(max) => len(&at, "scenario_id", &p.scenario_id, 1, max),
        None => min_len(&at, "scenario_id", &p.scenario_id, 1),
    }
}

/// `{topic (1..=256), partition, offset (1..=128), offset_kind, published_at_utc?}`.
pub(crate) fn eb_ref(at: &str, r: &EbRef) -> Checked {
    len(at, "topic", &r.topic, 1, 256)?;
    len(at, "offset", &r.offset, 1, 128)
}

/// `{service_release_id (1..=256), environment (1..=64), config_revision? (1..=128), ...}`.
pub(crate) fn provenance(at: &str, p: &Provenance) -> Checked {
    len(at, "service_release_id", &p.service_release_id, 1, 256)?;
    len(at, "environment", &p.environment, 1, 64)?;
    opt(p.config_revision.as_deref(), |v| {
        len(at, "config_revision", v, 1, 128)
    })
}

/// The optional top-level `service_release_id` (1..=256) / `environment` (1..=64) pair.
pub(crate) fn release(service_release_id: Option<&str>, environment: Option<&str>) -> Checked {
    opt(service_release_id, |v| {
        len("", "service_release_id", v, 1, 256)
    })?;
    opt(environment, |v| len("", "environment", v, 1, 64))
}

/// An engine output locator as the facts view records it: non-empty strings, a string
/// `scenario_id`, and no `notes` (the facts-view form does not carry them).
pub(crate) fn facts_locator(at: &str, l: &EngineOutputLocator) -> Checked {
    min_len(at, "output_id", &l.output_id, 1)?;
    min_len(at, "path", &l.path, 1)?;
    match &l.scenario_id {
        Some(ScenarioId::Text(s)) => min_len(at, "scenario_id", s, 1)?,
        Some(ScenarioId::Number(_)) => {
            return Err(Violation::new(join(at, "scenario_id"), "must be a string"));
        }
        None => {}
    }
    opt(l.schema_ref.as_deref(), |v| min_len(at, "schema_ref", v, 1))?;
    opt(l.dictionary_ref.as_deref(), |v| {
        min_len(at, "dictionary_ref", v, 1)
    })?;
    absent(l.notes.as_ref(), at, "notes")
}
