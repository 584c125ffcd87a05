//! Every resource route of `/api/v1` and the RPC it calls. The dispatcher
//! and the OpenAPI document are both made from this table, so a route that
//! exists is documented and a documented route exists.
//!
//! A request message is filled from, in order: the JSON body (when the route
//! takes one), the path's parameters, the query string, and the route's
//! fixed fields (e.g. the decision of `:approve`).

/// One route.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    /// `{name}` segments fill the request field of that name; a segment may
    /// end in a custom action, as `{id}:approve`.
    pub path: &'static str,
    /// `package.Service/Method`.
    pub rpc: &'static str,
    pub body: bool,
    /// Request fields the route sets itself (enum values by name).
    pub fixed: &'static [(&'static str, &'static str)],
    /// The OpenAPI tag (one per service area) and summary (Chinese, for people).
    pub tag: &'static str,
    pub summary: &'static str,
    /// Answer with this field of the response (e.g. a login's `tokens`) instead of all of it.
    pub answer: Option<&'static str>,
    /// The HTTP status of success: 200, 201 (created) or 204 (no body).
    pub status: u16,
}

const fn get(path: &'static str, rpc: &'static str, tag: &'static str, summary: &'static str) -> Route {
    Route {
        method: "GET",
        path,
        rpc,
        body: false,
        fixed: &[],
        tag,
        summary,
        answer: None,
        status: 200,
    }
}

const fn post(path: &'static str, rpc: &'static str, tag: &'static str, summary: &'static str) -> Route {
    Route {
        method: "POST",
        path,
        rpc,
        body: true,
        fixed: &[],
        tag,
        summary,
        answer: None,
        status: 200,
    }
}

const fn patch(path: &'static str, rpc: &'static str, tag: &'static str, summary: &'static str) -> Route {
    Route {
        method: "PATCH",
        path,
        rpc,
        body: true,
        fixed: &[],
        tag,
        summary,
        answer: None,
        status: 200,
    }
}

const fn action(
    path: &'static str,
    rpc: &'static str,
    fixed: &'static [(&'static str, &'static str)],
    tag: &'static str,
    summary: &'static str,
) -> Route {
    Route {
        method: "POST",
        path,
        rpc,
        body: true,
        fixed,
        tag,
        summary,
        answer: None,
        status: 200,
    }
}

pub const ROUTES: &[Route] = &[
    // identity: the caller
    Route {
        status: 201,
        ..post(
            "/api/v1/auth/register",
            "sanshi.identity.v1.AccountService/RegisterAccount",
            "auth",
            "居民注册",
        )
    },
    post(
        "/api/v1/auth/phone-codes",
        "sanshi.identity.v1.AuthService/RequestPhoneCode",
        "auth",
        "获取手机验证码",
    ),
    Route {
        answer: Some("tokens"),
        ..post(
            "/api/v1/auth/login",
            "sanshi.identity.v1.AuthService/Login",
            "auth",
            "登录",
        )
    },
    Route {
        answer: Some("tokens"),
        ..post(
            "/api/v1/auth/refresh",
            "sanshi.identity.v1.AuthService/RefreshToken",
            "auth",
            "刷新令牌",
        )
    },
    Route {
        status: 204,
        ..post(
            "/api/v1/auth/logout",
            "sanshi.identity.v1.AuthService/Logout",
            "auth",
            "退出登录",
        )
    },
    Route {
        fixed: &[("id", "me")],
        ..get(
            "/api/v1/me",
            "sanshi.identity.v1.AccountService/GetAccount",
            "accounts",
            "当前账号",
        )
    },
    // identity
    get(
        "/api/v1/regions",
        "sanshi.identity.v1.RegionService/ListRegions",
        "regions",
        "下级行政区划",
    ),
    get(
        "/api/v1/regions/{code}",
        "sanshi.identity.v1.RegionService/GetRegion",
        "regions",
        "行政区划",
    ),
    get(
        "/api/v1/regions/{code}/ancestors",
        "sanshi.identity.v1.RegionService/ListRegionAncestors",
        "regions",
        "上级行政区划",
    ),
    post(
        "/api/v1/accounts",
        "sanshi.identity.v1.AccountService/CreateAccount",
        "accounts",
        "创建账号",
    ),
    get(
        "/api/v1/accounts",
        "sanshi.identity.v1.AccountService/ListAccounts",
        "accounts",
        "账号列表",
    ),
    get(
        "/api/v1/accounts/{id}",
        "sanshi.identity.v1.AccountService/GetAccount",
        "accounts",
        "账号详情",
    ),
    patch(
        "/api/v1/accounts/{account.id}",
        "sanshi.identity.v1.AccountService/UpdateAccount",
        "accounts",
        "修改账号",
    ),
    action(
        "/api/v1/accounts/{account_id}/roles:grant",
        "sanshi.identity.v1.AccountService/GrantRole",
        &[],
        "accounts",
        "授予角色",
    ),
    action(
        "/api/v1/accounts/{account_id}/roles:revoke",
        "sanshi.identity.v1.AccountService/RevokeRole",
        &[],
        "accounts",
        "撤销角色",
    ),
    post(
        "/api/v1/auth/password",
        "sanshi.identity.v1.AuthService/ChangePassword",
        "auth",
        "修改密码",
    ),
    get(
        "/api/v1/auth/jwks",
        "sanshi.identity.v1.AuthService/GetJwks",
        "auth",
        "令牌验证公钥",
    ),
    action(
        "/api/v1/auth/signing-keys:rotate",
        "sanshi.identity.v1.AuthService/RotateSigningKey",
        &[],
        "auth",
        "轮换签名密钥",
    ),
    get(
        "/api/v1/audit-entries",
        "sanshi.identity.v1.AuditService/ListAuditEntries",
        "audit",
        "审计日志",
    ),
    get(
        "/api/v1/audit-entries:verify",
        "sanshi.identity.v1.AuditService/VerifyAuditChain",
        "audit",
        "校验审计链",
    ),
    // qualification
    post(
        "/api/v1/applications",
        "sanshi.qualification.v1.QualificationService/CreateApplication",
        "applications",
        "创建入库申请",
    ),
    get(
        "/api/v1/applications",
        "sanshi.qualification.v1.QualificationService/ListApplications",
        "applications",
        "入库申请列表",
    ),
    get(
        "/api/v1/applications:count",
        "sanshi.qualification.v1.QualificationService/CountApplications",
        "applications",
        "入库申请统计",
    ),
    get(
        "/api/v1/applications/{id}",
        "sanshi.qualification.v1.QualificationService/GetApplication",
        "applications",
        "入库申请详情",
    ),
    patch(
        "/api/v1/applications/{application.id}",
        "sanshi.qualification.v1.QualificationService/UpdateApplication",
        "applications",
        "修改入库申请",
    ),
    action(
        "/api/v1/applications/{id}:submit",
        "sanshi.qualification.v1.QualificationService/SubmitApplication",
        &[],
        "applications",
        "提交入库申请",
    ),
    action(
        "/api/v1/applications/{id}:verify-employer",
        "sanshi.qualification.v1.QualificationService/VerifyEmployer",
        &[],
        "applications",
        "核验工作单位",
    ),
    action(
        "/api/v1/applications/{id}:start-review",
        "sanshi.qualification.v1.QualificationService/DecideApplication",
        &[("decision", "DECISION_START_REVIEW")],
        "applications",
        "开始审核",
    ),
    action(
        "/api/v1/applications/{id}:approve",
        "sanshi.qualification.v1.QualificationService/DecideApplication",
        &[("decision", "DECISION_APPROVE")],
        "applications",
        "审核通过",
    ),
    action(
        "/api/v1/applications/{id}:reject",
        "sanshi.qualification.v1.QualificationService/DecideApplication",
        &[("decision", "DECISION_REJECT")],
        "applications",
        "审核不通过",
    ),
    action(
        "/api/v1/applications/{id}:return",
        "sanshi.qualification.v1.QualificationService/DecideApplication",
        &[("decision", "DECISION_RETURN_FOR_CHANGES")],
        "applications",
        "退回修改",
    ),
    action(
        "/api/v1/applications/{id}:suspend",
        "sanshi.qualification.v1.QualificationService/DecideApplication",
        &[("decision", "DECISION_SUSPEND")],
        "applications",
        "暂停资格",
    ),
    action(
        "/api/v1/applications/{id}:reinstate",
        "sanshi.qualification.v1.QualificationService/DecideApplication",
        &[("decision", "DECISION_REINSTATE")],
        "applications",
        "恢复资格",
    ),
    action(
        "/api/v1/applications/{id}:revoke",
        "sanshi.qualification.v1.QualificationService/DecideApplication",
        &[("decision", "DECISION_REVOKE")],
        "applications",
        "撤销资格",
    ),
    action(
        "/api/v1/applications/{id}:renew",
        "sanshi.qualification.v1.QualificationService/DecideApplication",
        &[("decision", "DECISION_RENEW")],
        "applications",
        "资格续期",
    ),
    // matching: communities and professionals
    get(
        "/api/v1/communities",
        "sanshi.matching.v1.CommunityService/ListCommunities",
        "communities",
        "社区列表",
    ),
    get(
        "/api/v1/communities/{code}",
        "sanshi.matching.v1.CommunityService/GetCommunity",
        "communities",
        "社区详情",
    ),
    patch(
        "/api/v1/communities/{code}",
        "sanshi.matching.v1.CommunityService/UpdateCommunityProfile",
        "communities",
        "修改社区画像",
    ),
    get(
        "/api/v1/communities/{community_code}/recommendations",
        "sanshi.matching.v1.MatchService/RecommendProfessionals",
        "communities",
        "为社区推荐专业人员",
    ),
    get(
        "/api/v1/professionals",
        "sanshi.matching.v1.ProfessionalService/ListProfessionals",
        "professionals",
        "专业人员列表",
    ),
    get(
        "/api/v1/professionals/{account_id}",
        "sanshi.matching.v1.ProfessionalService/GetProfessional",
        "professionals",
        "专业人员详情",
    ),
    get(
        "/api/v1/professionals/{professional_account_id}/recommendations",
        "sanshi.matching.v1.MatchService/RecommendCommunities",
        "professionals",
        "为专业人员推荐社区",
    ),
    patch(
        "/api/v1/me/availability",
        "sanshi.matching.v1.ProfessionalService/UpdateAvailability",
        "professionals",
        "修改本人服务容量",
    ),
    // matching: invitations, applications, matches
    post(
        "/api/v1/invitations",
        "sanshi.matching.v1.MatchService/InviteProfessional",
        "matches",
        "社区邀请专业人员",
    ),
    post(
        "/api/v1/applications-to-serve",
        "sanshi.matching.v1.MatchService/ApplyToCommunity",
        "matches",
        "专业人员申请服务社区",
    ),
    get(
        "/api/v1/matches",
        "sanshi.matching.v1.MatchService/ListMatches",
        "matches",
        "匹配列表",
    ),
    get(
        "/api/v1/matches/{id}",
        "sanshi.matching.v1.MatchService/GetMatch",
        "matches",
        "匹配详情",
    ),
    action(
        "/api/v1/matches/{id}:respond",
        "sanshi.matching.v1.MatchService/RespondToMatch",
        &[],
        "matches",
        "答复邀请或申请",
    ),
    action(
        "/api/v1/matches/{id}:withdraw",
        "sanshi.matching.v1.MatchService/WithdrawMatch",
        &[],
        "matches",
        "撤回邀请或申请",
    ),
    action(
        "/api/v1/matches/{id}:end",
        "sanshi.matching.v1.MatchService/EndMatch",
        &[],
        "matches",
        "结束服务对接",
    ),
    post(
        "/api/v1/assignments",
        "sanshi.matching.v1.AssignmentService/ProposeAssignment",
        "assignments",
        "生成批量匹配方案",
    ),
    get(
        "/api/v1/assignments/{id}",
        "sanshi.matching.v1.AssignmentService/GetAssignment",
        "assignments",
        "批量匹配方案",
    ),
    action(
        "/api/v1/assignments/{id}:apply",
        "sanshi.matching.v1.AssignmentService/ApplyAssignment",
        &[],
        "assignments",
        "执行批量匹配",
    ),
    // matching: teams
    post(
        "/api/v1/teams",
        "sanshi.matching.v1.TeamService/CreateTeam",
        "teams",
        "创建团队",
    ),
    get(
        "/api/v1/teams",
        "sanshi.matching.v1.TeamService/ListTeams",
        "teams",
        "团队列表",
    ),
    get(
        "/api/v1/teams/{id}",
        "sanshi.matching.v1.TeamService/GetTeam",
        "teams",
        "团队详情",
    ),
    action(
        "/api/v1/teams/{team_id}/members:add",
        "sanshi.matching.v1.TeamService/AddTeamMember",
        &[],
        "teams",
        "添加团队成员",
    ),
    action(
        "/api/v1/teams/{team_id}/members:remove",
        "sanshi.matching.v1.TeamService/RemoveTeamMember",
        &[],
        "teams",
        "移除团队成员",
    ),
    get(
        "/api/v1/matching-stats",
        "sanshi.matching.v1.MatchService/GetMatchingStats",
        "stats",
        "社区、匹配与需求统计",
    ),
    get(
        "/api/v1/stats/overview",
        "sanshi.gateway.v1.StatsService/GetOverview",
        "stats",
        "项目统计概览",
    ),
    get(
        "/api/v1/stats/by-region",
        "sanshi.gateway.v1.StatsService/GetByRegion",
        "stats",
        "分区域项目统计",
    ),
    // matching: needs
    post(
        "/api/v1/channel-keys",
        "sanshi.matching.v1.NeedService/IssueChannelKey",
        "needs",
        "签发渠道接入密钥（Open311 api_key）",
    ),
    get(
        "/api/v1/channel-keys",
        "sanshi.matching.v1.NeedService/ListChannelKeys",
        "needs",
        "渠道接入密钥列表",
    ),
    action(
        "/api/v1/channel-keys/{id}:revoke",
        "sanshi.matching.v1.NeedService/RevokeChannelKey",
        &[],
        "needs",
        "撤销渠道接入密钥",
    ),
    get(
        "/api/v1/need-categories",
        "sanshi.matching.v1.NeedService/ListNeedCategories",
        "needs",
        "需求类别",
    ),
    post(
        "/api/v1/needs",
        "sanshi.matching.v1.NeedService/SubmitNeed",
        "needs",
        "提交居民需求",
    ),
    get(
        "/api/v1/needs",
        "sanshi.matching.v1.NeedService/ListNeeds",
        "needs",
        "需求列表",
    ),
    get(
        "/api/v1/needs/{id}",
        "sanshi.matching.v1.NeedService/GetNeed",
        "needs",
        "需求详情",
    ),
    action(
        "/api/v1/needs/{id}:update-status",
        "sanshi.matching.v1.NeedService/UpdateNeedStatus",
        &[],
        "needs",
        "处理需求",
    ),
    action(
        "/api/v1/needs/{id}:evaluate",
        "sanshi.matching.v1.NeedService/EvaluateNeed",
        &[],
        "needs",
        "评价需求办理",
    ),
    // records
    get(
        "/api/v1/record-stats",
        "sanshi.records.v1.RecordService/GetRecordStats",
        "stats",
        "服务记录与满意度统计",
    ),
    get(
        "/api/v1/service-types",
        "sanshi.records.v1.RecordService/ListServiceTypes",
        "records",
        "服务类型",
    ),
    post(
        "/api/v1/service-types",
        "sanshi.records.v1.RecordService/AddServiceType",
        "records",
        "新增区县服务类型",
    ),
    post(
        "/api/v1/records",
        "sanshi.records.v1.RecordService/SubmitRecord",
        "records",
        "提交服务记录",
    ),
    get(
        "/api/v1/records",
        "sanshi.records.v1.RecordService/ListRecords",
        "records",
        "服务记录列表",
    ),
    get(
        "/api/v1/records/{id}",
        "sanshi.records.v1.RecordService/GetRecord",
        "records",
        "服务记录详情",
    ),
    action(
        "/api/v1/records/{id}:confirm",
        "sanshi.records.v1.RecordService/ConfirmRecord",
        &[],
        "records",
        "社区确认服务记录",
    ),
    action(
        "/api/v1/records/{id}:dispute",
        "sanshi.records.v1.RecordService/DisputeRecord",
        &[],
        "records",
        "社区对服务记录提出异议",
    ),
    action(
        "/api/v1/records/{id}:resubmit",
        "sanshi.records.v1.RecordService/ResubmitRecord",
        &[],
        "records",
        "重新提交服务记录",
    ),
    action(
        "/api/v1/records/{id}:amend",
        "sanshi.records.v1.RecordService/AmendRecord",
        &[],
        "records",
        "申请更正服务记录",
    ),
    action(
        "/api/v1/records/{id}:decide-amendment",
        "sanshi.records.v1.RecordService/DecideAmendment",
        &[],
        "records",
        "审核更正申请",
    ),
    action(
        "/api/v1/records/{id}:rate",
        "sanshi.records.v1.RecordService/RateRecord",
        &[],
        "records",
        "社区评价服务",
    ),
    action(
        "/api/v1/records/{record_id}:issue-rating-code",
        "sanshi.records.v1.RecordService/IssueRatingCode",
        &[],
        "records",
        "生成居民评价码",
    ),
    post(
        "/api/v1/resident-ratings",
        "sanshi.records.v1.RecordService/SubmitResidentRating",
        "records",
        "居民评价服务",
    ),
    post(
        "/api/v1/attachments",
        "sanshi.records.v1.AttachmentService/UploadAttachment",
        "records",
        "上传附件",
    ),
    get(
        "/api/v1/attachments/{id}",
        "sanshi.records.v1.AttachmentService/GetAttachment",
        "records",
        "下载附件",
    ),
    // records: surveys and the wellbeing index
    post(
        "/api/v1/surveys",
        "sanshi.records.v1.SurveyService/CreateSurvey",
        "surveys",
        "创建问卷",
    ),
    get(
        "/api/v1/surveys",
        "sanshi.records.v1.SurveyService/ListSurveys",
        "surveys",
        "问卷列表",
    ),
    get(
        "/api/v1/surveys/{id}",
        "sanshi.records.v1.SurveyService/GetSurvey",
        "surveys",
        "问卷详情",
    ),
    action(
        "/api/v1/surveys/{survey_id}:answer",
        "sanshi.records.v1.SurveyService/SubmitAnswers",
        &[],
        "surveys",
        "填写问卷",
    ),
    get(
        "/api/v1/surveys/{survey_id}/results",
        "sanshi.records.v1.SurveyService/GetSurveyResults",
        "surveys",
        "问卷结果",
    ),
    get(
        "/api/v1/wellbeing-index",
        "sanshi.records.v1.SurveyService/GetWellbeingIndex",
        "surveys",
        "居民幸福指数",
    ),
    // incentive
    get(
        "/api/v1/points/balance",
        "sanshi.incentive.v1.IncentiveService/GetBalance",
        "points",
        "积分余额",
    ),
    get(
        "/api/v1/points/entries",
        "sanshi.incentive.v1.IncentiveService/ListEntries",
        "points",
        "积分明细",
    ),
    get(
        "/api/v1/points/entries/{entry_id}/explanation",
        "sanshi.incentive.v1.IncentiveService/ExplainPoints",
        "points",
        "积分计算说明",
    ),
    post(
        "/api/v1/points/adjustments",
        "sanshi.incentive.v1.IncentiveService/AdjustPoints",
        "points",
        "积分奖惩",
    ),
    action(
        "/api/v1/points/entries/{entry_id}:reverse",
        "sanshi.incentive.v1.IncentiveService/ReverseEntry",
        &[],
        "points",
        "冲正积分",
    ),
    get(
        "/api/v1/leaderboards",
        "sanshi.incentive.v1.IncentiveService/GetLeaderboard",
        "points",
        "积分排行",
    ),
    action(
        "/api/v1/years/{year}:close",
        "sanshi.incentive.v1.IncentiveService/CloseYear",
        &[],
        "stars",
        "年度结算",
    ),
    get(
        "/api/v1/years/{year}/closing",
        "sanshi.incentive.v1.IncentiveService/GetYearClosing",
        "stars",
        "年度结算进度",
    ),
    get(
        "/api/v1/star-ratings/{account_id}",
        "sanshi.incentive.v1.IncentiveService/GetStarRating",
        "stars",
        "星级评定",
    ),
    get(
        "/api/v1/star-distribution",
        "sanshi.incentive.v1.IncentiveService/GetStarDistribution",
        "stars",
        "星级分布",
    ),
    get(
        "/api/v1/policies",
        "sanshi.incentive.v1.IncentiveService/ListPolicies",
        "stars",
        "激励政策",
    ),
    post(
        "/api/v1/expert-team-proposals",
        "sanshi.incentive.v1.IncentiveService/ProposeExpertTeam",
        "stars",
        "推荐市级专家团队",
    ),
    get(
        "/api/v1/expert-team-proposals/{id}",
        "sanshi.incentive.v1.IncentiveService/GetExpertTeamProposal",
        "stars",
        "专家团队推荐",
    ),
    action(
        "/api/v1/expert-team-proposals/{id}:confirm",
        "sanshi.incentive.v1.IncentiveService/ConfirmExpertTeam",
        &[],
        "stars",
        "确认专家团队",
    ),
    // notification
    get(
        "/api/v1/inbox",
        "sanshi.notification.v1.NotificationService/ListNotifications",
        "inbox",
        "我的通知",
    ),
    get(
        "/api/v1/inbox/unread-count",
        "sanshi.notification.v1.NotificationService/GetUnreadCount",
        "inbox",
        "未读通知数",
    ),
    action(
        "/api/v1/inbox:mark-read",
        "sanshi.notification.v1.NotificationService/MarkRead",
        &[],
        "inbox",
        "标记已读",
    ),
    post(
        "/api/v1/webhooks",
        "sanshi.notification.v1.NotificationService/RegisterWebhook",
        "inbox",
        "注册推送地址",
    ),
    get(
        "/api/v1/deliveries",
        "sanshi.notification.v1.NotificationService/ListDeliveries",
        "inbox",
        "推送记录",
    ),
    action(
        "/api/v1/deliveries/{id}:retry",
        "sanshi.notification.v1.NotificationService/RetryDelivery",
        &[],
        "inbox",
        "重新推送",
    ),
    get(
        "/api/v1/me/preferences",
        "sanshi.notification.v1.NotificationService/GetPreferences",
        "inbox",
        "我的通知偏好",
    ),
    Route {
        method: "PUT",
        ..post(
            "/api/v1/me/preferences",
            "sanshi.notification.v1.NotificationService/UpdatePreferences",
            "inbox",
            "修改通知偏好",
        )
    },
    post(
        "/api/v1/announcements",
        "sanshi.notification.v1.NotificationService/CreateAnnouncement",
        "announcements",
        "起草公告",
    ),
    get(
        "/api/v1/announcements",
        "sanshi.notification.v1.NotificationService/ListAnnouncements",
        "announcements",
        "公告列表",
    ),
    action(
        "/api/v1/announcements/{id}:publish",
        "sanshi.notification.v1.NotificationService/PublishAnnouncement",
        &[],
        "announcements",
        "发布公告",
    ),
    action(
        "/api/v1/announcements/{id}:withdraw",
        "sanshi.notification.v1.NotificationService/WithdrawAnnouncement",
        &[],
        "announcements",
        "撤回公告",
    ),
];

/// RPCs that are not for people and have no route: the event streams,
/// service credentials, and what the federation port asks of matching.
pub const INTERNAL_RPCS: &[&str] = &[
    "sanshi.events.v1.EventStreamService/Subscribe",
    "sanshi.identity.v1.AuthService/IssueServiceToken",
    "sanshi.identity.v1.AuthService/ListRevocations",
    "sanshi.matching.v1.FederationSupportService/SearchPublicExperts",
    "sanshi.matching.v1.FederationSupportService/CreateSupportNeed",
    "sanshi.matching.v1.FederationSupportService/GetSupportNeed",
    "sanshi.matching.v1.FederationSupportService/ListSupportNeeds",
];
