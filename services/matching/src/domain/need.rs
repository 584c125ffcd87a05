//! Residents' needs (需求征集): categories with deadlines, and the state
//! machine from submission to resolution. Every change carries a public note.

use chrono::{DateTime, Duration, Utc};

/// A need category: an Open311 service with its deadline (SLA) in days and
/// the specialties that fit it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Category {
    pub code: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub sla_days: i64,
    pub specialties: &'static [&'static str],
}

pub const CATEGORIES: &[Category] = &[
    Category {
        code: "house-safety",
        name: "房屋安全",
        description: "房屋裂缝、渗漏、结构隐患等",
        sla_days: 3,
        specialties: &["房屋安全鉴定", "建筑结构安全", "抗震加固"],
    },
    Category {
        code: "pipes",
        name: "管网设施",
        description: "给排水、燃气、电力管线问题",
        sla_days: 7,
        specialties: &["给排水", "燃气", "电气"],
    },
    Category {
        code: "elevator",
        name: "加装电梯",
        description: "既有住宅加装电梯咨询与协调",
        sla_days: 30,
        specialties: &["加装电梯", "建筑结构安全"],
    },
    Category {
        code: "ageing",
        name: "适老化与无障碍",
        description: "适老化改造、无障碍设施",
        sla_days: 30,
        specialties: &["适老化改造", "无障碍设计"],
    },
    Category {
        code: "parking",
        name: "停车",
        description: "停车位规划、非机动车停放与充电",
        sla_days: 20,
        specialties: &["停车设施", "城市设计"],
    },
    Category {
        code: "public-space",
        name: "公共空间",
        description: "口袋公园、活动场地、绿化景观",
        sla_days: 30,
        specialties: &["公共空间设计", "景观设计", "儿童友好空间"],
    },
    Category {
        code: "environment",
        name: "环境整治",
        description: "楼道、立面、环境卫生与微更新",
        sla_days: 14,
        specialties: &["老旧小区改造", "社区营造"],
    },
    Category {
        code: "other",
        name: "其他",
        description: "其他规划建设相关需求",
        sla_days: 14,
        specialties: &["城市更新", "社区规划"],
    },
];

/// Support requested by another province's platform (federation): not an
/// Open311 service, never submitted by residents.
pub const FEDERATION: Category = Category {
    code: "federation",
    name: "跨省支援",
    description: "其他省份平台请求的专家支援",
    sla_days: 30,
    specialties: &[],
};

/// A category by code, the federation kind included.
pub fn category(code: &str) -> Option<&'static Category> {
    CATEGORIES
        .iter()
        .chain(std::iter::once(&FEDERATION))
        .find(|c| c.code == code)
}

/// What another province's support request maps to on its side: open until
/// someone is assigned, then assigned until it is closed either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SupportState {
    Open,
    Assigned,
    Resolved,
    Declined,
}

pub fn support_state(state: NeedState) -> SupportState {
    match state {
        NeedState::Submitted | NeedState::Triaged | NeedState::Reopened => SupportState::Open,
        NeedState::Assigned | NeedState::InProgress => SupportState::Assigned,
        NeedState::Resolved => SupportState::Resolved,
        NeedState::ClosedNotResolved | NeedState::Duplicate | NeedState::NotApplicable => SupportState::Declined,
    }
}

/// When a need submitted at `requested` in `category` is due.
pub fn expected_at(category: &Category, requested: DateTime<Utc>) -> DateTime<Utc> {
    requested + Duration::days(category.sla_days)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeedState {
    Submitted,
    Triaged,
    Assigned,
    InProgress,
    Resolved,
    ClosedNotResolved,
    Duplicate,
    NotApplicable,
    Reopened,
}

impl NeedState {
    pub const ALL: [NeedState; 9] = [
        NeedState::Submitted,
        NeedState::Triaged,
        NeedState::Assigned,
        NeedState::InProgress,
        NeedState::Resolved,
        NeedState::ClosedNotResolved,
        NeedState::Duplicate,
        NeedState::NotApplicable,
        NeedState::Reopened,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NeedState::Submitted => "submitted",
            NeedState::Triaged => "triaged",
            NeedState::Assigned => "assigned",
            NeedState::InProgress => "in_progress",
            NeedState::Resolved => "resolved",
            NeedState::ClosedNotResolved => "closed_not_resolved",
            NeedState::Duplicate => "duplicate",
            NeedState::NotApplicable => "not_applicable",
            NeedState::Reopened => "reopened",
        }
    }

    pub fn parse(s: &str) -> Option<NeedState> {
        NeedState::ALL.into_iter().find(|state| state.as_str() == s)
    }

    /// Closed needs are neither overdue nor worked on.
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            NeedState::Resolved | NeedState::ClosedNotResolved | NeedState::Duplicate | NeedState::NotApplicable
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            NeedState::Submitted => "已提交",
            NeedState::Triaged => "已分拣",
            NeedState::Assigned => "已派单",
            NeedState::InProgress => "处理中",
            NeedState::Resolved => "已解决",
            NeedState::ClosedNotResolved => "未解决关闭",
            NeedState::Duplicate => "重复",
            NeedState::NotApplicable => "不适用",
            NeedState::Reopened => "已重新打开",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeedAction {
    Triage,
    Assign,
    Start,
    Resolve,
    CloseNotResolved,
    MarkDuplicate,
    MarkNotApplicable,
    Reopen,
}

impl NeedAction {
    pub fn as_str(self) -> &'static str {
        match self {
            NeedAction::Triage => "triage",
            NeedAction::Assign => "assign",
            NeedAction::Start => "start",
            NeedAction::Resolve => "resolve",
            NeedAction::CloseNotResolved => "close_not_resolved",
            NeedAction::MarkDuplicate => "mark_duplicate",
            NeedAction::MarkNotApplicable => "mark_not_applicable",
            NeedAction::Reopen => "reopen",
        }
    }

    pub fn parse(s: &str) -> Option<NeedAction> {
        use NeedAction::*;
        [
            Triage,
            Assign,
            Start,
            Resolve,
            CloseNotResolved,
            MarkDuplicate,
            MarkNotApplicable,
            Reopen,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// Who acts on a need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// A community worker or an admin whose region covers the community.
    Community,
    /// The assigned professional, or a member of the assigned team.
    Assignee,
    /// The resident who submitted it.
    Submitter,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NeedError {
    #[error("需求当前状态为{}，不能{}", .0.name(), action_name(*.1))]
    IllegalTransition(NeedState, NeedAction),
    #[error("无权对该需求执行{}", action_name(*.0))]
    NotAllowed(NeedAction),
    #[error("请填写公开的处理说明")]
    NoteRequired,
    #[error("处理说明不超过 500 个字")]
    NoteTooLong,
}

fn action_name(action: NeedAction) -> &'static str {
    match action {
        NeedAction::Triage => "分拣",
        NeedAction::Assign => "派单",
        NeedAction::Start => "开始处理",
        NeedAction::Resolve => "办结",
        NeedAction::CloseNotResolved => "关闭",
        NeedAction::MarkDuplicate => "标记重复",
        NeedAction::MarkNotApplicable => "标记不适用",
        NeedAction::Reopen => "重新打开",
    }
}

/// The state `action` leads to from `from`, if legal at all.
pub fn next_state(from: NeedState, action: NeedAction) -> Option<NeedState> {
    use NeedAction as A;
    use NeedState as S;
    Some(match (action, from) {
        (A::Triage, S::Submitted | S::Reopened) => S::Triaged,
        (A::Assign, S::Triaged | S::Reopened | S::Assigned | S::InProgress) => S::Assigned,
        (A::Start, S::Assigned) => S::InProgress,
        (A::Resolve, S::InProgress) => S::Resolved,
        (A::CloseNotResolved, S::Triaged | S::Assigned | S::InProgress | S::Reopened) => S::ClosedNotResolved,
        (A::MarkDuplicate, S::Submitted | S::Triaged | S::Reopened) => S::Duplicate,
        (A::MarkNotApplicable, S::Submitted | S::Triaged | S::Reopened) => S::NotApplicable,
        (A::Reopen, S::Resolved | S::ClosedNotResolved | S::Duplicate | S::NotApplicable) => S::Reopened,
        _ => return None,
    })
}

/// Who may take `action`.
pub fn allowed(action: NeedAction, actor: Actor) -> bool {
    match action {
        NeedAction::Start | NeedAction::Resolve => matches!(actor, Actor::Community | Actor::Assignee),
        NeedAction::Reopen => matches!(actor, Actor::Community | Actor::Submitter),
        _ => actor == Actor::Community,
    }
}

/// Checks a status change and returns the new state. `actors` are every
/// capacity in which the caller acts (a worker may also be the submitter).
pub fn transition(from: NeedState, action: NeedAction, actors: &[Actor], note: &str) -> Result<NeedState, NeedError> {
    let to = next_state(from, action).ok_or(NeedError::IllegalTransition(from, action))?;
    if !actors.iter().any(|a| allowed(action, *a)) {
        return Err(NeedError::NotAllowed(action));
    }
    let note = note.trim();
    if note.is_empty() {
        return Err(NeedError::NoteRequired);
    }
    if note.chars().count() > 500 {
        return Err(NeedError::NoteTooLong);
    }
    Ok(to)
}

/// How long a repeated change counts as a retry of the first.
pub const RETRY_WINDOW: Duration = Duration::hours(1);

/// A change in a need's history, as stored.
#[derive(Debug, Clone, Copy)]
pub struct PastChange<'a> {
    pub action: Option<NeedAction>,
    pub actor: &'a str,
    pub note: &'a str,
    pub to: NeedState,
    pub at: DateTime<Utc>,
}

/// A status change as asked. `same_target`: its assignee (ASSIGN) or
/// original (MARK_DUPLICATE) is the need's current one; true for other actions.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    pub action: NeedAction,
    pub actor: &'a str,
    pub note: &'a str,
    pub same_target: bool,
}

/// Whether `asked` repeats the newest change of `history` (oldest first) on
/// a need now in `state` (a retry whose answer was lost): same action, actor,
/// note and target, within [`RETRY_WINDOW`], and the need still where that
/// change left it. It is answered with the need, applied nothing again. An
/// assignment the assignee has started since is still the same assignment:
/// a retry neither announces it again nor takes the work back to ASSIGNED.
pub fn repeats(history: &[PastChange], state: NeedState, asked: &Asked, now: DateTime<Utc>) -> bool {
    let mut newest_first = history.iter().rev();
    let Some(mut last) = newest_first.next() else {
        return false;
    };
    if asked.action == NeedAction::Assign && state == NeedState::InProgress && last.action == Some(NeedAction::Start) {
        match newest_first.next() {
            Some(before) if before.to == NeedState::Assigned => last = before,
            _ => return false,
        }
    } else if last.to != state {
        return false;
    }
    last.action == Some(asked.action)
        && last.actor == asked.actor
        && last.note == asked.note.trim()
        && asked.same_target
        && now - last.at <= RETRY_WINDOW
}

/// Whether an evaluation repeats the one the need has (only its submitter
/// evaluates, once): answered with the need, not announced again.
pub fn evaluation_repeats(stored_satisfaction: i32, stored_comment: &str, satisfaction: i32, comment: &str) -> bool {
    stored_satisfaction != 0 && stored_satisfaction == satisfaction && stored_comment == comment.trim()
}

/// Whether a need is past its deadline and still open.
pub fn is_overdue(state: NeedState, expected: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    !state.is_closed() && now > expected
}

/// Only the submitter rates, and only a closed-out need.
pub fn can_evaluate(state: NeedState) -> bool {
    matches!(state, NeedState::Resolved | NeedState::ClosedNotResolved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use NeedAction as A;
    use NeedState as S;

    #[test]
    fn federation_kind_is_a_category_but_not_an_open311_service() {
        assert_eq!(category("federation"), Some(&FEDERATION));
        assert!(CATEGORIES.iter().all(|c| c.code != FEDERATION.code));
    }

    #[test]
    fn support_states_follow_the_need() {
        assert_eq!(support_state(S::Submitted), SupportState::Open);
        assert_eq!(support_state(S::Reopened), SupportState::Open);
        assert_eq!(support_state(S::InProgress), SupportState::Assigned);
        assert_eq!(support_state(S::Resolved), SupportState::Resolved);
        assert_eq!(support_state(S::NotApplicable), SupportState::Declined);
        assert_eq!(support_state(S::ClosedNotResolved), SupportState::Declined);
    }

    const ACTIONS: [NeedAction; 8] = [
        A::Triage,
        A::Assign,
        A::Start,
        A::Resolve,
        A::CloseNotResolved,
        A::MarkDuplicate,
        A::MarkNotApplicable,
        A::Reopen,
    ];

    #[test]
    fn the_happy_path_and_a_reopening() {
        let mut state = S::Submitted;
        for (action, actor, expected) in [
            (A::Triage, Actor::Community, S::Triaged),
            (A::Assign, Actor::Community, S::Assigned),
            (A::Start, Actor::Assignee, S::InProgress),
            (A::Resolve, Actor::Assignee, S::Resolved),
            (A::Reopen, Actor::Submitter, S::Reopened),
            (A::Assign, Actor::Community, S::Assigned),
        ] {
            state = transition(state, action, &[actor], "说明").unwrap();
            assert_eq!(state, expected);
        }
    }

    #[test]
    fn the_transition_table_is_exactly_the_documented_one() {
        let legal: Vec<(NeedState, NeedAction)> = S::ALL
            .into_iter()
            .flat_map(|s| ACTIONS.into_iter().map(move |a| (s, a)))
            .filter(|(s, a)| next_state(*s, *a).is_some())
            .collect();
        assert_eq!(legal.len(), 2 + 4 + 1 + 1 + 4 + 3 + 3 + 4);
        // Illegal examples.
        for (s, a) in [
            (S::Submitted, A::Assign),
            (S::Submitted, A::Resolve),
            (S::Triaged, A::Start),
            (S::Assigned, A::Resolve),
            (S::Resolved, A::Assign),
            (S::Duplicate, A::Triage),
            (S::InProgress, A::MarkDuplicate),
            (S::Reopened, A::Reopen),
        ] {
            assert_eq!(
                transition(s, a, &[Actor::Community], "x"),
                Err(NeedError::IllegalTransition(s, a))
            );
        }
        // Every closed state can be reopened, and nothing else can.
        for s in S::ALL {
            assert_eq!(next_state(s, A::Reopen).is_some(), s.is_closed());
        }
    }

    #[test]
    fn who_may_do_what() {
        assert_eq!(
            transition(S::Submitted, A::Triage, &[Actor::Submitter], "x"),
            Err(NeedError::NotAllowed(A::Triage))
        );
        assert_eq!(
            transition(S::Triaged, A::Assign, &[Actor::Assignee], "x"),
            Err(NeedError::NotAllowed(A::Assign))
        );
        assert_eq!(
            transition(S::Resolved, A::Reopen, &[Actor::Assignee], "x"),
            Err(NeedError::NotAllowed(A::Reopen))
        );
        assert!(transition(S::Assigned, A::Start, &[Actor::Submitter, Actor::Community], "x").is_ok());
    }

    #[test]
    fn a_public_note_is_required() {
        assert_eq!(
            transition(S::Submitted, A::Triage, &[Actor::Community], " "),
            Err(NeedError::NoteRequired)
        );
        assert_eq!(
            transition(S::Submitted, A::Triage, &[Actor::Community], &"字".repeat(501)),
            Err(NeedError::NoteTooLong)
        );
    }

    #[test]
    fn a_retried_change_repeats_the_newest_entry_only() {
        let now = Utc::now();
        let entry = |action: NeedAction, actor: &'static str, note: &'static str, to: NeedState| PastChange {
            action: Some(action),
            actor,
            note,
            to,
            at: now,
        };
        let asked = |action: NeedAction, actor: &'static str, note: &'static str| Asked {
            action,
            actor,
            note,
            same_target: true,
        };
        let submitted = PastChange {
            action: None,
            actor: "resident",
            note: "已收到",
            to: S::Submitted,
            at: now,
        };
        let triaged = [submitted, entry(A::Triage, "w1", "已受理", S::Triaged)];
        assert!(repeats(&triaged, S::Triaged, &asked(A::Triage, "w1", " 已受理 "), now));
        assert!(
            !repeats(&triaged, S::Triaged, &asked(A::Triage, "w2", "已受理"), now),
            "another actor"
        );
        assert!(
            !repeats(&triaged, S::Triaged, &asked(A::Triage, "w1", "另一说明"), now),
            "another note"
        );
        assert!(
            !repeats(&triaged, S::Triaged, &asked(A::MarkDuplicate, "w1", "已受理"), now),
            "another action"
        );
        assert!(
            !repeats(&triaged, S::Duplicate, &asked(A::Triage, "w1", "已受理"), now),
            "changed since"
        );
        assert!(
            !repeats(
                &triaged,
                S::Triaged,
                &asked(A::Triage, "w1", "已受理"),
                now + RETRY_WINDOW + Duration::seconds(1)
            ),
            "long after"
        );
        assert!(!repeats(
            &[submitted],
            S::Submitted,
            &asked(A::Triage, "resident", "已收到"),
            now
        ));
        assert!(!repeats(&[], S::Triaged, &asked(A::Triage, "w1", "已受理"), now));

        // An assignment: the same assignee only, even once started.
        let assigned = [
            submitted,
            entry(A::Triage, "w1", "已受理", S::Triaged),
            entry(A::Assign, "w1", "派给王工", S::Assigned),
        ];
        let assign = asked(A::Assign, "w1", "派给王工");
        assert!(repeats(&assigned, S::Assigned, &assign, now));
        let elsewhere = Asked {
            same_target: false,
            ..assign
        };
        assert!(!repeats(&assigned, S::Assigned, &elsewhere, now), "another assignee");
        let started = [
            submitted,
            entry(A::Triage, "w1", "已受理", S::Triaged),
            entry(A::Assign, "w1", "派给王工", S::Assigned),
            entry(A::Start, "pro", "已到现场", S::InProgress),
        ];
        assert!(repeats(&started, S::InProgress, &assign, now));
        assert!(!repeats(&started, S::InProgress, &elsewhere, now));
        assert!(repeats(
            &started,
            S::InProgress,
            &asked(A::Start, "pro", "已到现场"),
            now
        ));
        assert!(!repeats(
            &started,
            S::InProgress,
            &asked(A::Triage, "w1", "已受理"),
            now
        ));
    }

    #[test]
    fn a_retried_evaluation_is_the_same_stars_and_words() {
        assert!(evaluation_repeats(5, "很专业", 5, " 很专业 "));
        assert!(!evaluation_repeats(5, "很专业", 4, "很专业"));
        assert!(!evaluation_repeats(5, "很专业", 5, "一般"));
        assert!(!evaluation_repeats(0, "", 0, ""));
    }

    #[test]
    fn deadlines_and_overdue() {
        let t = Utc::now();
        let safety = category("house-safety").unwrap();
        let due = expected_at(safety, t);
        assert_eq!(due - t, Duration::days(3));
        assert!(!is_overdue(S::Assigned, due, due));
        assert!(is_overdue(S::Assigned, due, due + Duration::seconds(1)));
        assert!(!is_overdue(S::Resolved, due, due + Duration::days(9)));
        assert!(can_evaluate(S::Resolved) && !can_evaluate(S::InProgress));
        let mut codes: Vec<_> = CATEGORIES.iter().map(|c| c.code).collect();
        codes.dedup();
        assert_eq!(codes.len(), CATEGORIES.len());
        for s in S::ALL {
            assert_eq!(NeedState::parse(s.as_str()), Some(s));
        }
        for a in ACTIONS {
            assert_eq!(NeedAction::parse(a.as_str()), Some(a));
        }
    }
}
