//! Opinion collections and surveys: their questions, residents' answers and
//! results.

use kit::error::Violations;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKind {
    SingleChoice,
    MultipleChoice,
    Scale,
    Text,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Question {
    pub id: String,
    pub kind: QuestionKind,
    pub text: String,
    pub options: Vec<String>,
    pub dimension: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Answer {
    pub question_id: String,
    pub choices: Vec<String>,
    pub scale: i32,
    pub text: String,
}

pub const MAX_QUESTIONS: usize = 30;
pub const MAX_OPTIONS: usize = 10;
pub const MAX_TEXT_ANSWER: usize = 500;

/// Checks an opinion survey's questions.
pub fn check_questions(questions: &[Question]) -> Violations {
    let mut v = Violations::new();
    if questions.is_empty() || questions.len() > MAX_QUESTIONS {
        v.add("questions", format!("问题数应为 1 到 {MAX_QUESTIONS} 个"));
    }
    let mut ids = HashSet::new();
    for (i, q) in questions.iter().enumerate() {
        let field = |f: &str| format!("questions[{i}].{f}");
        if q.id.trim().is_empty() || q.id.len() > 32 || !ids.insert(q.id.as_str()) {
            v.add(field("id"), "问题编号不能为空、不超过 32 个字符且不能重复");
        }
        if !(1..=200).contains(&q.text.trim().chars().count()) {
            v.add(field("text"), "问题内容应为 1 到 200 个字");
        }
        match q.kind {
            QuestionKind::SingleChoice | QuestionKind::MultipleChoice => {
                let unique: HashSet<&str> = q.options.iter().map(|o| o.trim()).collect();
                if !(2..=MAX_OPTIONS).contains(&q.options.len())
                    || unique.len() != q.options.len()
                    || unique.contains("")
                {
                    v.add(
                        field("options"),
                        format!("选择题应有 2 到 {MAX_OPTIONS} 个不重复的选项"),
                    );
                }
            }
            QuestionKind::Scale | QuestionKind::Text => {
                if !q.options.is_empty() {
                    v.add(field("options"), "量表题和文字题没有选项");
                }
            }
        }
    }
    v
}

/// Checks a respondent's answers against the questions: every answer to a
/// known question, once, of the right shape. Unanswered questions are allowed.
pub fn check_answers(questions: &[Question], answers: &[Answer]) -> Violations {
    let mut v = Violations::new();
    if answers.is_empty() {
        v.add("answers", "请至少回答一个问题");
    }
    let mut seen = HashSet::new();
    for (i, a) in answers.iter().enumerate() {
        let field = |f: &str| format!("answers[{i}].{f}");
        let Some(q) = questions.iter().find(|q| q.id == a.question_id) else {
            v.add(field("question_id"), "没有这个问题");
            continue;
        };
        if !seen.insert(a.question_id.as_str()) {
            v.add(field("question_id"), "同一问题只能回答一次");
            continue;
        }
        match q.kind {
            QuestionKind::SingleChoice if a.choices.len() != 1 || !q.options.contains(&a.choices[0]) => {
                v.add(field("choices"), "请选择一个选项");
            }
            QuestionKind::MultipleChoice
                if a.choices.is_empty()
                    || a.choices.iter().any(|c| !q.options.contains(c))
                    || a.choices.iter().collect::<HashSet<_>>().len() != a.choices.len() =>
            {
                v.add(field("choices"), "请选择一个或多个不重复的选项");
            }
            QuestionKind::Scale if !(1..=5).contains(&a.scale) => v.add(field("scale"), "请打 1 到 5 分"),
            QuestionKind::Text if !(1..=MAX_TEXT_ANSWER).contains(&a.text.trim().chars().count()) => {
                v.add(field("text"), format!("请填写 1 到 {MAX_TEXT_ANSWER} 个字"));
            }
            _ => {}
        }
    }
    v
}

/// Results of one question over many respondents' answers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QuestionResult {
    pub question_id: String,
    pub choice_counts: BTreeMap<String, i32>,
    pub scale_mean: f64,
    pub answered: i32,
    pub texts: Vec<String>,
}

pub fn results(questions: &[Question], responses: &[Vec<Answer>]) -> Vec<QuestionResult> {
    questions
        .iter()
        .map(|q| {
            let mut r = QuestionResult {
                question_id: q.id.clone(),
                ..Default::default()
            };
            for o in &q.options {
                r.choice_counts.insert(o.clone(), 0);
            }
            let mut scale_sum = 0i64;
            for a in responses.iter().flatten().filter(|a| a.question_id == q.id) {
                r.answered += 1;
                for c in &a.choices {
                    *r.choice_counts.entry(c.clone()).or_default() += 1;
                }
                scale_sum += i64::from(a.scale);
                if !a.text.trim().is_empty() {
                    r.texts.push(a.text.trim().to_string());
                }
            }
            if q.kind == QuestionKind::Scale && r.answered > 0 {
                r.scale_mean = scale_sum as f64 / f64::from(r.answered);
            }
            r
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(v: Violations) -> Vec<String> {
        match v.into_result() {
            Err(kit::ServiceError::InvalidArgument(list)) => list.into_iter().map(|f| f.field).collect(),
            _ => vec![],
        }
    }

    fn q(id: &str, kind: QuestionKind, options: &[&str]) -> Question {
        Question {
            id: id.into(),
            kind,
            text: "问题".into(),
            options: options.iter().map(|o| o.to_string()).collect(),
            dimension: String::new(),
        }
    }

    fn questions() -> Vec<Question> {
        vec![
            q("where", QuestionKind::SingleChoice, &["东门", "西门"]),
            q("what", QuestionKind::MultipleChoice, &["电梯", "停车", "绿化"]),
            q("how", QuestionKind::Scale, &[]),
            q("say", QuestionKind::Text, &[]),
        ]
    }

    #[test]
    fn questions_are_checked() {
        assert!(check_questions(&questions()).is_empty());
        let bad = vec![
            q("a", QuestionKind::SingleChoice, &["只有一个"]),
            q("a", QuestionKind::Scale, &["x"]),
        ];
        assert_eq!(
            fields(check_questions(&bad)),
            ["questions[0].options", "questions[1].id", "questions[1].options"]
        );
        assert_eq!(fields(check_questions(&[])), ["questions"]);
    }

    #[test]
    fn answers_are_checked_and_counted() {
        let a = |id: &str, choices: &[&str], scale: i32, text: &str| Answer {
            question_id: id.into(),
            choices: choices.iter().map(|c| c.to_string()).collect(),
            scale,
            text: text.into(),
        };
        let bad = vec![
            a("where", &["北门"], 0, ""),
            a("what", &["电梯", "电梯"], 0, ""),
            a("how", &[], 6, ""),
            a("say", &[], 0, " "),
            a("nope", &[], 0, ""),
            a("how", &[], 3, ""),
        ];
        assert_eq!(
            fields(check_answers(&questions(), &bad)),
            [
                "answers[0].choices",
                "answers[1].choices",
                "answers[2].scale",
                "answers[3].text",
                "answers[4].question_id",
                "answers[5].question_id"
            ]
        );
        let one = vec![
            a("where", &["东门"], 0, ""),
            a("what", &["电梯", "停车"], 0, ""),
            a("how", &[], 4, ""),
        ];
        let two = vec![
            a("where", &["西门"], 0, ""),
            a("how", &[], 2, ""),
            a("say", &[], 0, "希望加装电梯"),
        ];
        assert!(check_answers(&questions(), &one).is_empty() && check_answers(&questions(), &two).is_empty());
        let r = results(&questions(), &[one, two]);
        assert_eq!(r[0].choice_counts.get("东门"), Some(&1));
        assert_eq!(r[1].choice_counts.get("绿化"), Some(&0));
        assert_eq!((r[2].answered, r[2].scale_mean), (2, 3.0));
        assert_eq!(r[3].texts, ["希望加装电梯"]);
    }
}
