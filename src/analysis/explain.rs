//! Reading a leak's story off its retainer path: the variable that holds it (the culprit a
//! user recognises) and the patterns of Node's own structures (timer lists, EventEmitter
//! listeners) that users did not write and may not recognise.

use super::paths::{RetainerPath, RetainerStep};

/// The variable that holds a leak, read off the retainer path of a leaked object: inside a
/// variable container (closure context, global object) the variable the leak hangs from, else
/// the name under which the anchor itself is held (`pendingRetries` for an array). V8's own
/// fields (`elements`, `table`, `properties`) and indices are skipped: the name a user wrote is
/// further up. The runtime's lists are not names either: a leak held by a timer is named by
/// the variable its callback captured (`beat`), one held by an emitter's listener table by the
/// variable holding the emitter (`topicBus`), not by the event's key.
pub(crate) fn culprit(path: &RetainerPath, anchor_id: u32, anchor_class: &str) -> Option<String> {
    let i = path.steps.iter().position(|s| s.holder_id == anchor_id);
    // A timer's leak is named by what its callback captured: whether the path is cut on the
    // timers' linked list before their list (the anchor), or reaches it and the runtime's
    // names above it (`timerListMap`).
    if (i.is_none() || is_runtime_list(anchor_class)) && on_timer(path) {
        return timer_capture(path, 0);
    }
    let i = i?;
    if is_variable_container(anchor_class) && is_user_name(&path.steps[i]) {
        return Some(path.steps[i].edge_name.clone());
    }
    user_name_above(path, i + 1)
}

/// A path cut within [`NEAR`] steps above the anchor, continued with the anchor's own path
/// (`anchor_path`, from the same tree of shortest paths): the names and patterns above the
/// anchor (`message in Object <- _events in EventEmitter <- topicBus`) lie past a cut that
/// a deep leaked object reaches early. `None` when the path is not cut there.
pub(crate) fn continued(
    path: &RetainerPath,
    anchor_id: u32,
    anchor_path: impl FnOnce() -> RetainerPath,
) -> Option<RetainerPath> {
    let i = path.steps.iter().position(|s| s.holder_id == anchor_id)?;
    if path.elided == 0 || path.steps.len() - i > NEAR {
        return None;
    }
    let up = anchor_path();
    let mut steps = path.steps[..=i].to_vec();
    steps.extend(up.steps);
    Some(RetainerPath { steps, elided: up.elided, origin: up.origin, ..path.clone() })
}

/// Steps above the anchor that a pattern is read from.
const NEAR: usize = 3;

/// The first property or variable name at or above step `from` that the service's code
/// wrote: an event's key in an emitter's `_events` table is passed over for the emitter's
/// variable; a timer's list ends the search (what is above it is the runtime's), leaving the
/// variable the timer's callback captured, if any; a private field (`#t`, a library's inside
/// in minified code) gives way to a public name above it when there is one.
pub(crate) fn user_name_above(path: &RetainerPath, from: usize) -> Option<String> {
    let steps = path.steps.get(from..)?;
    let mut private = None;
    for (k, s) in steps.iter().enumerate() {
        if is_timer_edge(s) {
            return timer_capture(path, from).or(private);
        }
        let event_key = steps.get(k + 1).is_some_and(|up| up.edge_name == "_events");
        if event_key || s.edge_name == "_events" || !is_user_name(s) {
            continue;
        }
        if !s.edge_name.starts_with('#') {
            return Some(s.edge_name.clone());
        }
        private.get_or_insert_with(|| s.edge_name.clone());
    }
    private
}

/// True for the edges of Node's timer lists: the linked list and a timer's callback.
fn is_timer_edge(step: &RetainerStep) -> bool {
    matches!(step.edge_name.as_str(), "_idleNext" | "_idlePrev" | "_onTimeout")
}

/// True when the path runs through a timer.
fn on_timer(path: &RetainerPath) -> bool {
    path.steps.iter().any(is_timer_edge)
}

/// The variable a timer's callback captured that holds the leaked object: the closure
/// variable nearest below the timer's `_onTimeout` (`beat in Context <- context in (closure)
/// <- _onTimeout in Timeout`). `None` when the path does not go through a callback (the timer
/// itself leaks) or the callback captured nothing between step `from` and the timer.
fn timer_capture(path: &RetainerPath, from: usize) -> Option<String> {
    let j = path.steps.iter().position(|s| s.edge_name == "_onTimeout")?;
    path.steps
        .get(from..j)?
        .iter()
        .rev()
        .find(|s| s.edge_kind == "context" && !s.edge_name.is_empty())
        .map(|s| s.edge_name.clone())
}

/// Classes of the runtime's own lists, whose variables are the runtime's, not the service's.
pub(crate) fn is_runtime_list(class: &str) -> bool {
    matches!(class, "TimersList" | "PriorityQueue")
}

/// The emitter whose listener table a path runs through, and the event's key: the holder of
/// the `_events` step (`EventEmitter @91997`) and the name just below it (`message`).
pub fn listener_table(path: &RetainerPath) -> Option<(String, Option<String>)> {
    let at = path.steps.iter().position(|s| s.edge_name == "_events")?;
    let emitter = &path.steps[at];
    let event =
        at.checked_sub(1).map(|j| path.steps[j].edge_name.clone()).filter(|e| !e.is_empty());
    Some((format!("{} @{}", emitter.holder_class, emitter.holder_id), event))
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
    let near = &path.steps[i..path.steps.len().min(i + NEAR)];
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
        RetainerStep::named(kind, name, class, id)
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
    fn a_listener_leak_is_named_by_the_emitters_variable_not_the_event() {
        // A closure in `_events.message` of the bus: the anchor is the listener array.
        let p = path(vec![
            step("context", "res", "system / Context", 20),
            step("internal", "context", "(closure)", 21),
            step("element", "251", "Array", 7),
            step("property", "message", "Object", 6),
            step("property", "_events", "EventEmitter", 5),
            step("context", "topicBus", "system / Context", 4),
        ]);
        assert_eq!(culprit(&p, 7, "Array").as_deref(), Some("topicBus"));
        assert_eq!(user_name_above(&p, 3).as_deref(), Some("topicBus"));
        let (emitter, event) = listener_table(&p).unwrap();
        assert_eq!((emitter.as_str(), event.as_deref()), ("EventEmitter @5", Some("message")));
    }

    #[test]
    fn a_path_cut_just_above_the_anchor_is_continued_with_the_anchors_own() {
        // A deep listener closure: the cut falls right after the event's key.
        let mut cut = path(vec![
            step("property", "on", "Socket", 40),
            step("element", "354", "Array", 7),
            step("property", "message", "Object", 6),
        ]);
        cut.elided = 9;
        assert_eq!(culprit(&cut, 7, "Array").as_deref(), Some("message"), "all it can see");
        let above = || {
            let mut p = path(vec![
                step("property", "message", "Object", 6),
                step("property", "_events", "EventEmitter", 5),
                step("context", "topicBus", "system / Context", 4),
            ]);
            p.elided = 2;
            p
        };
        let whole = continued(&cut, 7, above).unwrap();
        assert_eq!(whole.steps.len(), 5);
        assert_eq!(whole.elided, 2);
        assert_eq!(culprit(&whole, 7, "Array").as_deref(), Some("topicBus"));
        assert!(pattern_hint(&whole, 7, Some("Array")).unwrap().contains("`message`"));
        // Not cut, or cut far above the anchor: nothing to continue.
        cut.elided = 0;
        assert!(continued(&cut, 7, above).is_none());
    }

    #[test]
    fn a_timer_leak_is_named_by_what_its_callback_captured() {
        let p = path(vec![
            step("property", "client", "{client, status}", 30),
            step("context", "beat", "system / Context", 31),
            step("internal", "context", "(closure)", 32),
            step("property", "_onTimeout", "Timeout", 33),
            step("property", "_idlePrev", "Timeout", 34),
            step("property", "_idlePrev", "Timeout", 35),
        ]);
        // The anchor (the timer list) lies past the cut.
        assert_eq!(culprit(&p, 99, "TimersList").as_deref(), Some("beat"));
        // With the timers' linked list folded into one step, the list and the runtime's
        // variable above it are on the path: still the callback's variable.
        let mut folded = p.clone();
        folded.steps.truncate(4);
        folded.steps[3].repeat = 40;
        folded.steps.push(step("property", "_idleNext", "TimersList", 99));
        folded.steps.push(step("context", "timerListMap", "system / Context", 98));
        assert_eq!(culprit(&folded, 99, "TimersList").as_deref(), Some("beat"));
        // Above the object's own field, the callback's variable is the first name met.
        assert_eq!(user_name_above(&p, 1).as_deref(), Some("beat"));
        // The timer itself: nothing of the service's holds it, only the runtime's list.
        let timer = path(vec![
            step("property", "_idleNext", "Timeout", 11),
            step("property", "_idleNext", "Timeout", 12),
            step("context", "timerListMap", "system / Context", 13),
        ]);
        assert_eq!(culprit(&timer, 99, "TimersList"), None);
        assert_eq!(user_name_above(&timer, 0), None);
    }

    #[test]
    fn a_librarys_private_field_gives_way_to_the_variable_holding_the_library() {
        let p = path(vec![
            step("element", "236", "Array", 8),
            step("property", "#t", "c", 7),
            step("context", "quoteCache", "system / Context", 4),
        ]);
        assert_eq!(culprit(&p, 8, "Array").as_deref(), Some("quoteCache"));
        let own =
            path(vec![step("element", "2", "Array", 8), step("property", "#log", "Audit", 7)]);
        assert_eq!(culprit(&own, 8, "Array").as_deref(), Some("#log"), "the only name there is");
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
