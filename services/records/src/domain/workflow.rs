//! The record workflow. SUBMITTED → CONFIRMED | DISPUTED (with a reason);
//! a disputed record is corrected and submitted again. A confirmed record
//! never changes in place: a correction is an amendment the community accepts
//! or rejects, with history. Ratings are taken until the rating window
//! closes; then the record is SCORED and counts.

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Submitted,
    Confirmed,
    Disputed,
    Scored,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Submitted => "submitted",
            State::Confirmed => "confirmed",
            State::Disputed => "disputed",
            State::Scored => "scored",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        [State::Submitted, State::Confirmed, State::Disputed, State::Scored]
            .into_iter()
            .find(|state| state.as_str() == s)
    }

    fn name(self) -> &'static str {
        match self {
            State::Submitted => "待确认",
            State::Confirmed => "已确认",
            State::Disputed => "有异议",
            State::Scored => "已计分",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Confirm,
    Dispute,
    Resubmit,
    ProposeAmendment,
    DecideAmendment,
    Rate,
    Score,
}

/// Who acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Professional,
    Community,
    System,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    #[error("记录当前状态为{}，不能执行此操作", .0.name())]
    WrongState(State),
    #[error("无权执行此操作")]
    NotAllowed,
    #[error("请填写原因")]
    ReasonRequired,
    #[error("已有待处理的更正")]
    AmendmentPending,
    #[error("没有待处理的更正")]
    NoAmendment,
    #[error("评价期已结束")]
    WindowClosed,
    #[error("社区已评价过该记录")]
    AlreadyRated,
    #[error("评价期尚未结束")]
    WindowOpen,
}

/// The facts a decision needs.
#[derive(Debug, Clone, Copy)]
pub struct Facts {
    pub state: State,
    pub amendment_pending: bool,
    pub community_rated: bool,
    /// When ratings close (set on confirmation).
    pub rating_closes_at: Option<DateTime<Utc>>,
}

/// The state after `action` by `actor`, or why not. `reason` is the
/// dispute's or amendment's reason where one is needed.
pub fn apply(
    facts: &Facts,
    action: Action,
    actor: Actor,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<State, WorkflowError> {
    use Action as A;
    use State as S;
    let who = match action {
        A::Confirm | A::Dispute | A::DecideAmendment | A::Rate => Actor::Community,
        A::Resubmit | A::ProposeAmendment => Actor::Professional,
        A::Score => Actor::System,
    };
    if actor != who {
        return Err(WorkflowError::NotAllowed);
    }
    let window_open = facts.rating_closes_at.is_some_and(|closes| now < closes);
    let next = match (action, facts.state) {
        (A::Confirm, S::Submitted) => S::Confirmed,
        (A::Dispute, S::Submitted) => S::Disputed,
        (A::Resubmit, S::Disputed) => S::Submitted,
        (A::ProposeAmendment, S::Confirmed | S::Scored) => {
            if facts.amendment_pending {
                return Err(WorkflowError::AmendmentPending);
            }
            facts.state
        }
        (A::DecideAmendment, S::Confirmed | S::Scored) => {
            if !facts.amendment_pending {
                return Err(WorkflowError::NoAmendment);
            }
            facts.state
        }
        (A::Rate, S::Confirmed) => {
            if facts.community_rated {
                return Err(WorkflowError::AlreadyRated);
            }
            if !window_open {
                return Err(WorkflowError::WindowClosed);
            }
            S::Confirmed
        }
        (A::Score, S::Confirmed) => {
            if window_open {
                return Err(WorkflowError::WindowOpen);
            }
            S::Scored
        }
        (_, state) => return Err(WorkflowError::WrongState(state)),
    };
    let needs_reason = matches!(action, A::Dispute | A::ProposeAmendment);
    if needs_reason && reason.trim().is_empty() {
        return Err(WorkflowError::ReasonRequired);
    }
    Ok(next)
}

/// Whether a record in `state` already shows `action` applied, so that a
/// client retrying it (its first answer lost) gets the record, not an error.
/// Only actions whose target state no other action reaches qualify.
pub fn already_applied(state: State, action: Action) -> bool {
    match action {
        // Scoring follows confirmation without any other step.
        Action::Confirm => matches!(state, State::Confirmed | State::Scored),
        Action::Dispute => state == State::Disputed,
        _ => false,
    }
}

/// Residents rate while the window is open on a confirmed record.
pub fn resident_may_rate(facts: &Facts, now: DateTime<Utc>) -> bool {
    facts.state == State::Confirmed && facts.rating_closes_at.is_some_and(|closes| now < closes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn facts(state: State) -> Facts {
        Facts {
            state,
            amendment_pending: false,
            community_rated: false,
            rating_closes_at: None,
        }
    }

    #[test]
    fn confirm_and_dispute_are_recognised_as_already_applied() {
        assert!(already_applied(State::Confirmed, Action::Confirm));
        assert!(already_applied(State::Scored, Action::Confirm));
        assert!(already_applied(State::Disputed, Action::Dispute));
        assert!(!already_applied(State::Disputed, Action::Confirm));
        assert!(!already_applied(State::Confirmed, Action::Dispute));
        assert!(!already_applied(State::Submitted, Action::Resubmit));
    }

    #[test]
    fn submission_is_confirmed_or_disputed_then_corrected() {
        let now = Utc::now();
        let f = facts(State::Submitted);
        assert_eq!(
            apply(&f, Action::Confirm, Actor::Community, "", now),
            Ok(State::Confirmed)
        );
        assert_eq!(
            apply(&f, Action::Confirm, Actor::Professional, "", now),
            Err(WorkflowError::NotAllowed)
        );
        assert_eq!(
            apply(&f, Action::Dispute, Actor::Community, " ", now),
            Err(WorkflowError::ReasonRequired)
        );
        assert_eq!(
            apply(&f, Action::Dispute, Actor::Community, "时间不符", now),
            Ok(State::Disputed)
        );
        assert_eq!(
            apply(&facts(State::Disputed), Action::Resubmit, Actor::Professional, "", now),
            Ok(State::Submitted)
        );
        assert_eq!(
            apply(&facts(State::Confirmed), Action::Resubmit, Actor::Professional, "", now),
            Err(WorkflowError::WrongState(State::Confirmed))
        );
    }

    #[test]
    fn confirmed_records_change_only_by_amendment() {
        let now = Utc::now();
        let confirmed = facts(State::Confirmed);
        for action in [Action::Confirm, Action::Dispute] {
            assert_eq!(
                apply(&confirmed, action, Actor::Community, "x", now),
                Err(WorkflowError::WrongState(State::Confirmed))
            );
        }
        assert_eq!(
            apply(&confirmed, Action::ProposeAmendment, Actor::Professional, "", now),
            Err(WorkflowError::ReasonRequired)
        );
        assert_eq!(
            apply(
                &confirmed,
                Action::ProposeAmendment,
                Actor::Professional,
                "人数填错",
                now
            ),
            Ok(State::Confirmed)
        );
        assert_eq!(
            apply(&confirmed, Action::DecideAmendment, Actor::Community, "", now),
            Err(WorkflowError::NoAmendment)
        );
        let pending = Facts {
            amendment_pending: true,
            ..confirmed
        };
        assert_eq!(
            apply(&pending, Action::ProposeAmendment, Actor::Professional, "再改", now),
            Err(WorkflowError::AmendmentPending)
        );
        assert_eq!(
            apply(&pending, Action::DecideAmendment, Actor::Community, "", now),
            Ok(State::Confirmed)
        );
        let scored = Facts {
            state: State::Scored,
            ..pending
        };
        assert_eq!(
            apply(&scored, Action::DecideAmendment, Actor::Community, "", now),
            Ok(State::Scored)
        );
    }

    #[test]
    fn the_rating_window() {
        let now = Utc::now();
        let open = Facts {
            rating_closes_at: Some(now + Duration::days(14)),
            ..facts(State::Confirmed)
        };
        assert_eq!(
            apply(&open, Action::Rate, Actor::Community, "", now),
            Ok(State::Confirmed)
        );
        assert!(resident_may_rate(&open, now));
        assert_eq!(
            apply(&open, Action::Score, Actor::System, "", now),
            Err(WorkflowError::WindowOpen)
        );
        let rated = Facts {
            community_rated: true,
            ..open
        };
        assert_eq!(
            apply(&rated, Action::Rate, Actor::Community, "", now),
            Err(WorkflowError::AlreadyRated)
        );
        let later = now + Duration::days(14);
        assert_eq!(
            apply(&open, Action::Rate, Actor::Community, "", later),
            Err(WorkflowError::WindowClosed)
        );
        assert!(!resident_may_rate(&open, later));
        assert_eq!(apply(&open, Action::Score, Actor::System, "", later), Ok(State::Scored));
        assert_eq!(
            apply(&facts(State::Submitted), Action::Score, Actor::System, "", later),
            Err(WorkflowError::WrongState(State::Submitted))
        );
        assert!(!resident_may_rate(&facts(State::Submitted), now));
    }
}
