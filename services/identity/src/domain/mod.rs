//! Identity's rules, free of I/O.

pub mod account;
pub mod audit;
pub mod lockout;
pub mod password;
pub mod phone_code;
pub mod region;

/// How long to wait, as people read it: "40 秒" under a minute, else whole
/// minutes rounded up ("2 分钟" for 61 s); never less than 1 秒.
pub fn wait_in_words(wait: chrono::Duration) -> String {
    let seconds = ((wait.num_milliseconds() + 999) / 1000).max(1);
    if seconds < 60 {
        format!("{seconds} 秒")
    } else {
        format!("{} 分钟", (seconds + 59) / 60)
    }
}
