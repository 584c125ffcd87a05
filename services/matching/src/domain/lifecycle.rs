//! The life cycle of a match. One side proposes (a community invites, a
//! professional applies); the match is active only once the other side
//! accepts. Pending matches expire; active ones end with a reason, or are
//! suspended while the professional's qualification is.

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchState {
    Pending,
    Active,
    Declined,
    Expired,
    Withdrawn,
    Ended,
    Suspended,
}

impl MatchState {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchState::Pending => "pending",
            MatchState::Active => "active",
            MatchState::Declined => "declined",
            MatchState::Expired => "expired",
            MatchState::Withdrawn => "withdrawn",
            MatchState::Ended => "ended",
            MatchState::Suspended => "suspended",
        }
    }

    pub fn parse(s: &str) -> Option<MatchState> {
        Some(match s {
            "pending" => MatchState::Pending,
            "active" => MatchState::Active,
            "declined" => MatchState::Declined,
            "expired" => MatchState::Expired,
            "withdrawn" => MatchState::Withdrawn,
            "ended" => MatchState::Ended,
            "suspended" => MatchState::Suspended,
            _ => return None,
        })
    }

    /// Pending, active and suspended matches block a second one for the same pair.
    pub fn is_open(self) -> bool {
        matches!(self, MatchState::Pending | MatchState::Active | MatchState::Suspended)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Community,
    Professional,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Community => "community",
            Side::Professional => "professional",
        }
    }

    pub fn parse(s: &str) -> Option<Side> {
        match s {
            "community" => Some(Side::Community),
            "professional" => Some(Side::Professional),
            _ => None,
        }
    }

    pub fn other(self) -> Side {
        match self {
            Side::Community => Side::Professional,
            Side::Professional => Side::Community,
        }
    }
}

/// Why a change to a match is refused; shown to people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("该匹配当前状态为{0}，不能执行此操作")]
    WrongState(&'static str),
    #[error("只能由另一方确认或拒绝")]
    NotTheOtherSide,
    #[error("只能由发起方撤回")]
    NotTheInitiator,
    #[error("该邀请或申请已过期")]
    Expired,
    #[error("该专业人员服务的社区数已达上限（{0} 个）")]
    AtCapacity(i32),
    #[error("请填写结束原因")]
    ReasonRequired,
    #[error("结束原因不超过 200 个字")]
    ReasonTooLong,
}

fn state_name(state: MatchState) -> &'static str {
    match state {
        MatchState::Pending => "待确认",
        MatchState::Active => "已建立",
        MatchState::Declined => "已拒绝",
        MatchState::Expired => "已过期",
        MatchState::Withdrawn => "已撤回",
        MatchState::Ended => "已结束",
        MatchState::Suspended => "已暂停",
    }
}

/// The facts a decision needs.
#[derive(Debug, Clone, Copy)]
pub struct MatchFacts {
    pub state: MatchState,
    pub initiated_by: Side,
    pub expires_at: DateTime<Utc>,
}

impl MatchFacts {
    fn pending(&self, now: DateTime<Utc>) -> Result<(), LifecycleError> {
        if self.state != MatchState::Pending {
            return Err(LifecycleError::WrongState(state_name(self.state)));
        }
        if now >= self.expires_at {
            return Err(LifecycleError::Expired);
        }
        Ok(())
    }

    /// The other side answers. Accepting activates the match unless the
    /// professional is at capacity (`active` of `capacity` in use).
    pub fn respond(
        &self,
        by: Side,
        accept: bool,
        now: DateTime<Utc>,
        active: i32,
        capacity: i32,
    ) -> Result<MatchState, LifecycleError> {
        self.pending(now)?;
        if by != self.initiated_by.other() {
            return Err(LifecycleError::NotTheOtherSide);
        }
        if !accept {
            return Ok(MatchState::Declined);
        }
        if active >= capacity {
            return Err(LifecycleError::AtCapacity(capacity));
        }
        Ok(MatchState::Active)
    }

    pub fn withdraw(&self, by: Side, now: DateTime<Utc>) -> Result<MatchState, LifecycleError> {
        self.pending(now)?;
        if by != self.initiated_by {
            return Err(LifecycleError::NotTheInitiator);
        }
        Ok(MatchState::Withdrawn)
    }

    /// Either side ends an active (or suspended) match, saying why.
    pub fn end(&self, reason: &str) -> Result<MatchState, LifecycleError> {
        if !matches!(self.state, MatchState::Active | MatchState::Suspended) {
            return Err(LifecycleError::WrongState(state_name(self.state)));
        }
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(LifecycleError::ReasonRequired);
        }
        if reason.chars().count() > 200 {
            return Err(LifecycleError::ReasonTooLong);
        }
        Ok(MatchState::Ended)
    }
}

/// How long a repeated answer or ending counts as a retry of the first.
pub const RETRY_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// A change asked of a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    /// The other side accepts (`true`) or declines.
    Respond {
        by: Side,
        accept: bool,
    },
    Withdraw {
        by: Side,
    },
    End {
        by: Side,
        reason: &'a str,
    },
}

/// What a match records of the change that left it in its state.
#[derive(Debug, Clone, Copy)]
pub struct Settled<'a> {
    pub state: MatchState,
    pub initiated_by: Side,
    pub responded_at: Option<DateTime<Utc>>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub ended_by: Option<Side>,
    pub end_reason: &'a str,
}

/// Whether `change` is the one that left the match as it is (a retry whose
/// answer was lost): it is answered with the match, and nothing is applied
/// again. Answers and endings count within [`RETRY_WINDOW`] of being made,
/// by the same side (and, for an ending, with the same reason); a
/// withdrawal, which only the initiator makes, by the initiator.
pub fn repeats(m: &Settled, change: Change, now: DateTime<Utc>) -> bool {
    let recent = |at: Option<DateTime<Utc>>| at.is_some_and(|at| now - at <= RETRY_WINDOW);
    match change {
        Change::Respond { by, accept } => {
            let answered = if accept {
                m.state == MatchState::Active && m.confirmed_at.is_some()
            } else {
                m.state == MatchState::Declined
            };
            by == m.initiated_by.other() && answered && recent(m.responded_at)
        }
        Change::Withdraw { by } => by == m.initiated_by && m.state == MatchState::Withdrawn,
        Change::End { by, reason } => {
            m.state == MatchState::Ended
                && m.ended_by == Some(by)
                && m.end_reason == reason.trim()
                && recent(m.ended_at)
        }
    }
}

/// Whether a professional with `active` matches may take another.
pub fn has_room(active: i32, capacity: i32) -> bool {
    active < capacity
}

/// Hours between a proposal and its answer.
pub fn response_hours(created: DateTime<Utc>, responded: DateTime<Utc>) -> f64 {
    (responded - created).num_seconds().max(0) as f64 / 3600.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn invitation(now: DateTime<Utc>) -> MatchFacts {
        MatchFacts {
            state: MatchState::Pending,
            initiated_by: Side::Community,
            expires_at: now + Duration::days(7),
        }
    }

    #[test]
    fn only_the_other_side_confirms_and_only_the_initiator_withdraws() {
        let now = Utc::now();
        let m = invitation(now);
        assert_eq!(
            m.respond(Side::Community, true, now, 0, 3),
            Err(LifecycleError::NotTheOtherSide)
        );
        assert_eq!(m.respond(Side::Professional, true, now, 0, 3), Ok(MatchState::Active));
        assert_eq!(
            m.respond(Side::Professional, false, now, 3, 3),
            Ok(MatchState::Declined)
        );
        assert_eq!(
            m.withdraw(Side::Professional, now),
            Err(LifecycleError::NotTheInitiator)
        );
        assert_eq!(m.withdraw(Side::Community, now), Ok(MatchState::Withdrawn));
    }

    #[test]
    fn capacity_blocks_acceptance() {
        let now = Utc::now();
        let m = invitation(now);
        assert_eq!(
            m.respond(Side::Professional, true, now, 3, 3),
            Err(LifecycleError::AtCapacity(3))
        );
        assert_eq!(m.respond(Side::Professional, true, now, 2, 3), Ok(MatchState::Active));
        assert!(has_room(2, 3) && !has_room(3, 3) && !has_room(0, 0));
    }

    #[test]
    fn expired_and_closed_matches_cannot_be_answered() {
        let now = Utc::now();
        let m = invitation(now);
        let later = now + Duration::days(7);
        assert_eq!(
            m.respond(Side::Professional, true, later, 0, 3),
            Err(LifecycleError::Expired)
        );
        assert_eq!(m.withdraw(Side::Community, later), Err(LifecycleError::Expired));
        let ended = MatchFacts {
            state: MatchState::Ended,
            ..m
        };
        assert!(matches!(
            ended.respond(Side::Professional, true, now, 0, 3),
            Err(LifecycleError::WrongState(_))
        ));
    }

    #[test]
    fn ending_needs_an_active_match_and_a_reason() {
        let now = Utc::now();
        let active = MatchFacts {
            state: MatchState::Active,
            ..invitation(now)
        };
        assert_eq!(active.end("  "), Err(LifecycleError::ReasonRequired));
        assert_eq!(active.end(&"长".repeat(201)), Err(LifecycleError::ReasonTooLong));
        assert_eq!(active.end("项目完成"), Ok(MatchState::Ended));
        assert!(matches!(invitation(now).end("x"), Err(LifecycleError::WrongState(_))));
    }

    #[test]
    fn retried_answers_withdrawals_and_endings_are_recognised() {
        let now = Utc::now();
        let settled = |state: MatchState| Settled {
            state,
            initiated_by: Side::Community,
            responded_at: Some(now),
            confirmed_at: (state == MatchState::Active).then_some(now),
            ended_at: None,
            ended_by: None,
            end_reason: "",
        };
        let accept = Change::Respond {
            by: Side::Professional,
            accept: true,
        };
        let decline = Change::Respond {
            by: Side::Professional,
            accept: false,
        };
        let active = settled(MatchState::Active);
        assert!(repeats(&active, accept, now));
        assert!(!repeats(&active, decline, now), "the opposite answer");
        assert!(
            !repeats(
                &active,
                Change::Respond {
                    by: Side::Community,
                    accept: true
                },
                now
            ),
            "the initiator"
        );
        assert!(
            !repeats(&active, accept, now + RETRY_WINDOW + chrono::TimeDelta::seconds(1)),
            "long after"
        );
        assert!(
            !repeats(
                &Settled {
                    confirmed_at: None,
                    ..active
                },
                accept,
                now
            ),
            "never confirmed"
        );
        let declined = settled(MatchState::Declined);
        assert!(repeats(&declined, decline, now));
        assert!(!repeats(&declined, accept, now));
        assert!(!repeats(&settled(MatchState::Pending), accept, now));
        assert!(!repeats(&settled(MatchState::Suspended), accept, now));

        let withdrawn = settled(MatchState::Withdrawn);
        assert!(repeats(&withdrawn, Change::Withdraw { by: Side::Community }, now));
        assert!(!repeats(&withdrawn, Change::Withdraw { by: Side::Professional }, now));
        assert!(!repeats(&declined, Change::Withdraw { by: Side::Community }, now));

        let ended = Settled {
            ended_at: Some(now),
            ended_by: Some(Side::Community),
            end_reason: "项目已完成",
            ..settled(MatchState::Ended)
        };
        let end = |by: Side, reason: &'static str| Change::End { by, reason };
        assert!(repeats(&ended, end(Side::Community, " 项目已完成 "), now));
        assert!(
            !repeats(&ended, end(Side::Professional, "项目已完成"), now),
            "the other side"
        );
        assert!(
            !repeats(&ended, end(Side::Community, "另有安排"), now),
            "another reason"
        );
        assert!(
            !repeats(
                &ended,
                end(Side::Community, "项目已完成"),
                now + RETRY_WINDOW + chrono::TimeDelta::seconds(1)
            ),
            "long after"
        );
        assert!(!repeats(&active, end(Side::Community, "项目已完成"), now));
    }

    #[test]
    fn response_hours_are_measured_from_the_proposal() {
        let t = Utc::now();
        assert_eq!(response_hours(t, t + Duration::minutes(90)), 1.5);
        assert_eq!(response_hours(t, t - Duration::minutes(5)), 0.0);
        for s in [
            "pending",
            "active",
            "declined",
            "expired",
            "withdrawn",
            "ended",
            "suspended",
        ] {
            assert_eq!(MatchState::parse(s).map(MatchState::as_str), Some(s));
        }
    }
}
