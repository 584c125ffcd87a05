//! The application's life cycle: which action is allowed in which state.
//!
//! ```text
//! DRAFT ─submit→ SUBMITTED ─start_review→ UNDER_REVIEW ─approve→ APPROVED
//!   ↑ edit                                  │ reject→ REJECTED
//!   RETURNED_FOR_CHANGES ←return_for_changes┘
//!   (edit, submit → SUBMITTED)
//! APPROVED ─suspend→ SUSPENDED ─reinstate→ APPROVED | ─revoke→ REVOKED
//! APPROVED ─expire→ EXPIRED;  APPROVED | EXPIRED ─renew→ APPROVED
//! ```
//!
//! [`transition`] is the only place the rules live; the service loads the
//! state, asks here, and stores the answer in the same transaction. REJECTED
//! and REVOKED are final: the person starts a new application.

/// Where an application stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    Draft,
    Submitted,
    UnderReview,
    Approved,
    Rejected,
    ReturnedForChanges,
    Suspended,
    Revoked,
    Expired,
}

impl State {
    pub const ALL: &[State] = &[
        Self::Draft,
        Self::Submitted,
        Self::UnderReview,
        Self::Approved,
        Self::Rejected,
        Self::ReturnedForChanges,
        Self::Suspended,
        Self::Revoked,
        Self::Expired,
    ];

    /// Stable snake_case id, as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Submitted => "submitted",
            Self::UnderReview => "under_review",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::ReturnedForChanges => "returned_for_changes",
            Self::Suspended => "suspended",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|state| state.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Draft => "草稿",
            Self::Submitted => "已提交",
            Self::UnderReview => "审核中",
            Self::Approved => "已通过",
            Self::Rejected => "未通过",
            Self::ReturnedForChanges => "退回修改",
            Self::Suspended => "已暂停",
            Self::Revoked => "已撤销",
            Self::Expired => "已过期",
        }
    }

    /// The applicant may change the application's content.
    pub fn is_editable(self) -> bool {
        matches!(self, Self::Draft | Self::ReturnedForChanges)
    }

    /// The holder may serve as a qualified professional (and holds the
    /// professional role). Only APPROVED: a suspended or expired
    /// qualification does not count even though it may come back.
    pub fn is_qualified(self) -> bool {
        self == Self::Approved
    }

    /// No action leads anywhere from here.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Rejected | Self::Revoked)
    }
}

/// Who takes an action; the service checks the caller against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Actor {
    /// The professional who owns the application.
    Applicant,
    /// A reviewer whose scope covers the application.
    Reviewer,
    /// The platform itself (the expiry sweep).
    System,
}

/// Something done to an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    Edit,
    Submit,
    StartReview,
    Approve,
    Reject,
    ReturnForChanges,
    Suspend,
    Reinstate,
    Revoke,
    Expire,
    Renew,
}

impl Action {
    pub const ALL: &[Action] = &[
        Self::Edit,
        Self::Submit,
        Self::StartReview,
        Self::Approve,
        Self::Reject,
        Self::ReturnForChanges,
        Self::Suspend,
        Self::Reinstate,
        Self::Revoke,
        Self::Expire,
        Self::Renew,
    ];

    /// Stable snake_case id, as recorded in the application's history.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Edit => "edit",
            Self::Submit => "submit",
            Self::StartReview => "start_review",
            Self::Approve => "approve",
            Self::Reject => "reject",
            Self::ReturnForChanges => "return_for_changes",
            Self::Suspend => "suspend",
            Self::Reinstate => "reinstate",
            Self::Revoke => "revoke",
            Self::Expire => "expire",
            Self::Renew => "renew",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|action| action.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Edit => "编辑",
            Self::Submit => "提交",
            Self::StartReview => "开始审核",
            Self::Approve => "通过",
            Self::Reject => "不予通过",
            Self::ReturnForChanges => "退回修改",
            Self::Suspend => "暂停资格",
            Self::Reinstate => "恢复资格",
            Self::Revoke => "撤销资格",
            Self::Expire => "到期失效",
            Self::Renew => "续期",
        }
    }

    pub fn actor(self) -> Actor {
        match self {
            Self::Edit | Self::Submit => Actor::Applicant,
            Self::StartReview
            | Self::Approve
            | Self::Reject
            | Self::ReturnForChanges
            | Self::Suspend
            | Self::Reinstate
            | Self::Revoke
            | Self::Renew => Actor::Reviewer,
            Self::Expire => Actor::System,
        }
    }

    /// Reviewer decisions must say why: the applicant reads the reason, and
    /// the history must show on what grounds a qualification changed.
    /// Starting a review decides nothing, so it needs none.
    pub fn needs_reason(self) -> bool {
        matches!(
            self,
            Self::Approve
                | Self::Reject
                | Self::ReturnForChanges
                | Self::Suspend
                | Self::Reinstate
                | Self::Revoke
                | Self::Renew
        )
    }

    /// Submitting freezes the edited content as a new numbered version, so
    /// a reviewer's decision always refers to content that cannot change
    /// under them.
    pub fn freezes_version(self) -> bool {
        self == Self::Submit
    }

    /// The action starts a new validity period ([`super::dates::expiry`]
    /// from the day it is taken). Reinstating keeps the old expiry: a
    /// suspension does not extend a qualification.
    pub fn starts_validity(self) -> bool {
        matches!(self, Self::Approve | Self::Renew)
    }
}

/// An action not allowed in the current state. Maps to FAILED_PRECONDITION.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("当前状态（{}）不允许此操作（{}）", from.label(), action.label())]
pub struct IllegalTransition {
    pub from: State,
    pub action: Action,
}

/// The newest decision on an application, as stored.
#[derive(Debug, Clone, Copy)]
pub struct PastDecision<'a> {
    pub action: &'a str,
    pub actor: &'a str,
    pub reason: &'a str,
    pub to_state: &'a str,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// How long a repeated decision counts as a retry of the first.
pub const RETRY_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// Whether `action` by `actor` with `reason` repeats the newest decision on
/// an application still in the state that decision left (a retry whose
/// answer was lost): it is answered with the application as it is, not
/// applied again (no second event, no second renewal).
pub fn repeats(
    newest: Option<PastDecision>,
    action: Action,
    actor: &str,
    reason: &str,
    state: State,
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    newest.is_some_and(|d| {
        d.action == action.as_str()
            && d.actor == actor
            && d.reason == reason
            && d.to_state == state.as_str()
            && now - d.at <= RETRY_WINDOW
    })
}

/// The state after `action`, or why it is not allowed.
pub fn transition(from: State, action: Action) -> Result<State, IllegalTransition> {
    use Action as A;
    use State as S;
    let to = match (from, action) {
        (S::Draft, A::Edit) => S::Draft,
        (S::ReturnedForChanges, A::Edit) => S::ReturnedForChanges,
        (S::Draft | S::ReturnedForChanges, A::Submit) => S::Submitted,
        (S::Submitted, A::StartReview) => S::UnderReview,
        (S::UnderReview, A::Approve) => S::Approved,
        (S::UnderReview, A::Reject) => S::Rejected,
        (S::UnderReview, A::ReturnForChanges) => S::ReturnedForChanges,
        (S::Approved, A::Suspend) => S::Suspended,
        (S::Suspended, A::Reinstate) => S::Approved,
        (S::Suspended, A::Revoke) => S::Revoked,
        (S::Approved, A::Expire) => S::Expired,
        (S::Approved | S::Expired, A::Renew) => S::Approved,
        _ => return Err(IllegalTransition { from, action }),
    };
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    use Action as A;
    use State as S;

    #[test]
    fn a_repeated_decision_is_a_retry_only_while_nothing_changed() {
        let now = chrono::Utc::now();
        let approved = PastDecision {
            action: A::Approve.as_str(),
            actor: "r1",
            reason: "材料齐全",
            to_state: S::Approved.as_str(),
            at: now,
        };
        assert!(repeats(Some(approved), A::Approve, "r1", "材料齐全", S::Approved, now));
        assert!(
            !repeats(Some(approved), A::Approve, "r2", "材料齐全", S::Approved, now),
            "another reviewer"
        );
        assert!(
            !repeats(Some(approved), A::Renew, "r1", "材料齐全", S::Approved, now),
            "another action"
        );
        assert!(
            !repeats(Some(approved), A::Approve, "r1", "材料齐全", S::Suspended, now),
            "changed since"
        );
        let later = now + RETRY_WINDOW + chrono::TimeDelta::seconds(1);
        assert!(
            !repeats(Some(approved), A::Approve, "r1", "材料齐全", S::Approved, later),
            "long after"
        );
        assert!(!repeats(None, A::Approve, "r1", "材料齐全", S::Approved, now));
    }

    /// Every (state, action) pair, written out: `Some(target)` where legal,
    /// `None` where not. Reading a row answers "what can happen in this state".
    #[rustfmt::skip]
    const TABLE: &[(State, Action, Option<State>)] = &[
        (S::Draft, A::Edit, Some(S::Draft)),
        (S::Draft, A::Submit, Some(S::Submitted)),
        (S::Draft, A::StartReview, None),
        (S::Draft, A::Approve, None),
        (S::Draft, A::Reject, None),
        (S::Draft, A::ReturnForChanges, None),
        (S::Draft, A::Suspend, None),
        (S::Draft, A::Reinstate, None),
        (S::Draft, A::Revoke, None),
        (S::Draft, A::Expire, None),
        (S::Draft, A::Renew, None),

        (S::Submitted, A::Edit, None),
        (S::Submitted, A::Submit, None),
        (S::Submitted, A::StartReview, Some(S::UnderReview)),
        (S::Submitted, A::Approve, None),
        (S::Submitted, A::Reject, None),
        (S::Submitted, A::ReturnForChanges, None),
        (S::Submitted, A::Suspend, None),
        (S::Submitted, A::Reinstate, None),
        (S::Submitted, A::Revoke, None),
        (S::Submitted, A::Expire, None),
        (S::Submitted, A::Renew, None),

        (S::UnderReview, A::Edit, None),
        (S::UnderReview, A::Submit, None),
        (S::UnderReview, A::StartReview, None),
        (S::UnderReview, A::Approve, Some(S::Approved)),
        (S::UnderReview, A::Reject, Some(S::Rejected)),
        (S::UnderReview, A::ReturnForChanges, Some(S::ReturnedForChanges)),
        (S::UnderReview, A::Suspend, None),
        (S::UnderReview, A::Reinstate, None),
        (S::UnderReview, A::Revoke, None),
        (S::UnderReview, A::Expire, None),
        (S::UnderReview, A::Renew, None),

        (S::Approved, A::Edit, None),
        (S::Approved, A::Submit, None),
        (S::Approved, A::StartReview, None),
        (S::Approved, A::Approve, None),
        (S::Approved, A::Reject, None),
        (S::Approved, A::ReturnForChanges, None),
        (S::Approved, A::Suspend, Some(S::Suspended)),
        (S::Approved, A::Reinstate, None),
        (S::Approved, A::Revoke, None),
        (S::Approved, A::Expire, Some(S::Expired)),
        (S::Approved, A::Renew, Some(S::Approved)),

        (S::Rejected, A::Edit, None),
        (S::Rejected, A::Submit, None),
        (S::Rejected, A::StartReview, None),
        (S::Rejected, A::Approve, None),
        (S::Rejected, A::Reject, None),
        (S::Rejected, A::ReturnForChanges, None),
        (S::Rejected, A::Suspend, None),
        (S::Rejected, A::Reinstate, None),
        (S::Rejected, A::Revoke, None),
        (S::Rejected, A::Expire, None),
        (S::Rejected, A::Renew, None),

        (S::ReturnedForChanges, A::Edit, Some(S::ReturnedForChanges)),
        (S::ReturnedForChanges, A::Submit, Some(S::Submitted)),
        (S::ReturnedForChanges, A::StartReview, None),
        (S::ReturnedForChanges, A::Approve, None),
        (S::ReturnedForChanges, A::Reject, None),
        (S::ReturnedForChanges, A::ReturnForChanges, None),
        (S::ReturnedForChanges, A::Suspend, None),
        (S::ReturnedForChanges, A::Reinstate, None),
        (S::ReturnedForChanges, A::Revoke, None),
        (S::ReturnedForChanges, A::Expire, None),
        (S::ReturnedForChanges, A::Renew, None),

        (S::Suspended, A::Edit, None),
        (S::Suspended, A::Submit, None),
        (S::Suspended, A::StartReview, None),
        (S::Suspended, A::Approve, None),
        (S::Suspended, A::Reject, None),
        (S::Suspended, A::ReturnForChanges, None),
        (S::Suspended, A::Suspend, None),
        (S::Suspended, A::Reinstate, Some(S::Approved)),
        (S::Suspended, A::Revoke, Some(S::Revoked)),
        (S::Suspended, A::Expire, None),
        (S::Suspended, A::Renew, None),

        (S::Revoked, A::Edit, None),
        (S::Revoked, A::Submit, None),
        (S::Revoked, A::StartReview, None),
        (S::Revoked, A::Approve, None),
        (S::Revoked, A::Reject, None),
        (S::Revoked, A::ReturnForChanges, None),
        (S::Revoked, A::Suspend, None),
        (S::Revoked, A::Reinstate, None),
        (S::Revoked, A::Revoke, None),
        (S::Revoked, A::Expire, None),
        (S::Revoked, A::Renew, None),

        (S::Expired, A::Edit, None),
        (S::Expired, A::Submit, None),
        (S::Expired, A::StartReview, None),
        (S::Expired, A::Approve, None),
        (S::Expired, A::Reject, None),
        (S::Expired, A::ReturnForChanges, None),
        (S::Expired, A::Suspend, None),
        (S::Expired, A::Reinstate, None),
        (S::Expired, A::Revoke, None),
        (S::Expired, A::Expire, None),
        (S::Expired, A::Renew, Some(S::Approved)),
    ];

    #[test]
    fn every_state_action_pair() {
        for &(from, action, expected) in TABLE {
            let got = transition(from, action);
            match expected {
                Some(to) => assert_eq!(got, Ok(to), "{from:?} + {action:?}"),
                None => assert_eq!(got, Err(IllegalTransition { from, action }), "{from:?} + {action:?}"),
            }
        }
    }

    #[test]
    fn table_lists_each_pair_exactly_once() {
        let listed: HashSet<_> = TABLE.iter().map(|&(s, a, _)| (s, a)).collect();
        assert_eq!(listed.len(), TABLE.len(), "a pair is listed twice");
        assert_eq!(TABLE.len(), State::ALL.len() * Action::ALL.len());
        for &s in State::ALL {
            for &a in Action::ALL {
                assert!(listed.contains(&(s, a)), "{s:?} + {a:?} missing");
            }
        }
    }

    #[test]
    fn illegal_transition_message_names_both_in_chinese() {
        let err = transition(S::Approved, A::Submit).unwrap_err();
        assert_eq!(err.to_string(), "当前状态（已通过）不允许此操作（提交）");
        let err = transition(S::Revoked, A::Reinstate).unwrap_err();
        assert_eq!(err.to_string(), "当前状态（已撤销）不允许此操作（恢复资格）");
    }

    #[test]
    fn ids_round_trip_and_are_unique() {
        let states: HashSet<_> = State::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(states.len(), State::ALL.len());
        for &s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
        let labels: HashSet<_> = State::ALL.iter().map(|s| s.label()).collect();
        assert_eq!(labels.len(), State::ALL.len());
        let actions: HashSet<_> = Action::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(actions.len(), Action::ALL.len());
        for &a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(a));
        }
        assert_eq!(State::parse("APPROVED"), None, "ids are lower case");
        assert_eq!(Action::parse(""), None);
    }

    #[test]
    fn reviewer_decisions_need_a_reason() {
        let with_reason: Vec<_> = Action::ALL.iter().filter(|a| a.needs_reason()).copied().collect();
        assert_eq!(
            with_reason,
            [
                A::Approve,
                A::Reject,
                A::ReturnForChanges,
                A::Suspend,
                A::Reinstate,
                A::Revoke,
                A::Renew
            ]
        );
        assert!(with_reason.iter().all(|a| a.actor() == Actor::Reviewer));
        assert_eq!(A::StartReview.actor(), Actor::Reviewer);
        assert!(!A::StartReview.needs_reason());
        assert_eq!(A::Submit.actor(), Actor::Applicant);
        assert_eq!(A::Expire.actor(), Actor::System);
    }

    #[test]
    fn editable_states_are_exactly_those_that_accept_edit() {
        for &s in State::ALL {
            assert_eq!(s.is_editable(), transition(s, A::Edit).is_ok(), "{s:?}");
            assert_eq!(s.is_editable(), transition(s, A::Submit).is_ok(), "{s:?}");
        }
    }

    #[test]
    fn final_states_accept_nothing() {
        for &s in State::ALL {
            let any = Action::ALL.iter().any(|&a| transition(s, a).is_ok());
            assert_eq!(s.is_final(), !any, "{s:?}");
        }
        let qualified: Vec<_> = State::ALL.iter().filter(|s| s.is_qualified()).collect();
        assert_eq!(qualified, [&S::Approved]);
    }

    #[test]
    fn validity_restarts_on_approve_and_renew_only() {
        let starts: Vec<_> = Action::ALL.iter().filter(|a| a.starts_validity()).copied().collect();
        assert_eq!(starts, [A::Approve, A::Renew]);
        for &a in &starts {
            let lands_approved = State::ALL.iter().any(|&s| transition(s, a) == Ok(S::Approved));
            assert!(lands_approved, "{a:?}");
        }
        assert!(A::Submit.freezes_version());
        assert_eq!(Action::ALL.iter().filter(|a| a.freezes_version()).count(), 1);
    }
}
