//! Reading a leak's story off its retainer path: the variable that holds it (the culprit a
//! user recognises) and the patterns of Node's own structures (timer lists, EventEmitter
//! listeners) that users did not write and may not recognise.

use super::paths::{RetainerPath, RetainerStep};

/// The variable that holds a leak, read off the retainer path of a leaked object: inside a
/// variable container (closure context, global object) the variable the leak hangs from, else
/// the name under which the anchor itself is held (`pendingRetries` for an array). V8's own
/// fields (`elements`, `table`, `properties`) and indices are skipped: the name a user wrote is
/// further up.
pub(crate) fn culprit(path: &RetainerPath, anchor_id: u32, anchor_class: &str) -> Option<String> {
    let i = path.steps.iter().position(|s| s.holder_id == anchor_id)?;
    if is_variable_container(anchor_class) && is_user_name(&path.steps[i]) {
        return Some(path.steps[i].edge_name.clone());
    }
    user_name_above(path, i + 1)
}

/// The first property or variable name at or above step `from`.
pub(crate) fn user_name_above(path: &RetainerPath, from: usize) -> Option<String> {
    path.steps.get(from..)?.iter().find(|s| is_user_name(s)).map(|s| s.edge_name.clone())
}

/// True for edges named in the program: properties and closure variables.
fn is_user_name(step: &RetainerStep) -> bool {
    matches!(step.edge_kind, "property" | "context") && !step.edge_name.is_empty()
}

/// Objects whose edges are variables rather than data: closure contexts, functions, globals.
pub(crate) fn is_variable_container(class: &str) -> bool {
    matches!(class, "system / Context" | "global" | "(closure)") || class.starts_with("Window")
}

/// Recognises the leak patterns whose retainer paths run through Node's own structures, which
/// users did not write and may not recognise. Only the anchor and the two steps above it
/// count: higher up, every path of a server runs through its own request listeners.
pub(crate) fn pattern_hint(
    path: &RetainerPath,
    anchor_id: u32,
    anchor_class: Option<&str>,
) -> Option<String> {
    // Timers hang off a linked list (`_idlePrev`/`_idleNext`) long enough to push the anchor
    // past the end of a cut path, so they are recognised before the anchor is looked for.
    let on_timer_list = |s: &RetainerStep| s.edge_name == "_idleNext" || s.edge_name == "_idlePrev";
    if anchor_class == Some("TimersList") || path.steps.iter().take(3).any(on_timer_list) {
        return Some("timers (setInterval/setTimeout) that are never cleared".into());
    }
    let i = path.steps.iter().position(|s| s.holder_id == anchor_id)?;
    let near = &path.steps[i..path.steps.len().min(i + 3)];
    let events = near.iter().position(|s| s.edge_name == "_events")?;
    let holder = &near[events].holder_class;
    // The step below `_events` names the event: `reload in Object <- _events in Emitter`.
    let event = events.checked_sub(1).map(|j| &near[j].edge_name).filter(|e| !e.is_empty());
    Some(match event {
        Some(e) => format!("listeners for `{e}` added to a long-lived {holder} and never removed"),
        None => format!("listeners added to a long-lived {holder} and never removed"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(kind: &'static str, name: &str, class: &str, id: u32) -> RetainerStep {
        RetainerStep {
            edge_kind: kind,
            edge_name: name.into(),
            label: name.into(),
            holder_class: class.into(),
            holder_id: id,
        }
    }

    fn path(steps: Vec<RetainerStep>) -> RetainerPath {
        RetainerPath { node_id: 1, reached: true, steps, elided: 0, origin: None }
    }

    #[test]
    fn culprits_skip_v8_fields_and_indices() {
        // A preallocated array whose backing store never moved: the store is the anchor.
        let p = path(vec![
            step("element", "0", "(array)", 7),
            step("internal", "elements", "Array", 5),
            step("property", "tasks", "global", 3),
        ]);
        assert_eq!(culprit(&p, 7, "(array)").as_deref(), Some("tasks"));
        assert_eq!(culprit(&p, 5, "Array").as_deref(), Some("tasks"));
    }

    #[test]
    fn culprits_in_closure_scopes_are_the_variable() {
        let p = path(vec![
            step("internal", "first", "(concatenated string)", 9),
            step("context", "accessLog", "system / Context", 4),
            step("context", "context", "(closure)", 2),
        ]);
        assert_eq!(culprit(&p, 4, "system / Context").as_deref(), Some("accessLog"));
    }

    #[test]
    fn timer_hints_do_not_need_the_anchor_on_the_path() {
        let p = path(vec![
            step("property", "_idlePrev", "Timeout", 11),
            step("property", "_idlePrev", "Timeout", 12),
        ]);
        assert!(pattern_hint(&p, 99, Some("TimersList")).unwrap().contains("timers"));
        assert!(pattern_hint(&p, 99, None).unwrap().contains("timers"));
    }
}
