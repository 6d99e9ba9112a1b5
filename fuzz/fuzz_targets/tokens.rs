//! The dashboard's session cookies and CSRF tokens and the install flow's OAuth state:
//! nothing is accepted that the code did not issue. Each input is checked as sent, and as
//! an edit of a genuine token (a byte replaced, inserted or cut), which must be refused
//! unless the edit changed nothing.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use hubspot::ClientSecret;
use libfuzzer_sys::fuzz_target;
use server::config::OperatorToken;
use server::dashboard::session::{Sessions, LOGIN_SECONDS, SESSION_SECONDS};
use server::oauth::state::{StateSigner, STATE_TTL_MS};

const NOW_S: i64 = 1_780_000_000;

#[derive(Debug, Arbitrary)]
enum Edit {
    Replace { at: usize, byte: u8 },
    Insert { at: usize, byte: u8 },
    Cut { at: usize, len: u8 },
}

impl Edit {
    /// `genuine` with the edit applied, if it is still text.
    fn apply(&self, genuine: &str) -> Option<String> {
        let mut bytes = genuine.as_bytes().to_vec();
        let at = |at: usize, len: usize| at % (len + 1);
        match *self {
            Edit::Replace { at: i, byte } if !bytes.is_empty() => {
                let i = i % bytes.len();
                bytes[i] = byte;
            }
            Edit::Replace { .. } => return None,
            Edit::Insert { at: i, byte } => bytes.insert(at(i, bytes.len()), byte),
            Edit::Cut { at: i, len } => {
                let start = at(i, bytes.len());
                let end = (start + usize::from(len)).min(bytes.len());
                bytes.drain(start..end);
            }
        }
        String::from_utf8(bytes).ok()
    }
}

#[derive(Debug, Arbitrary)]
struct Input {
    presented: String,
    edit: Edit,
    /// How far into a token's life it is presented (a share of its lifetime).
    age: u16,
}

struct Issuers {
    sessions: Sessions,
    states: StateSigner,
}

fn issuers() -> &'static Issuers {
    static ISSUERS: OnceLock<Issuers> = OnceLock::new();
    ISSUERS.get_or_init(|| Issuers {
        sessions: Sessions::new(
            &OperatorToken::new("fuzz-operator-token-4f1c9a2b7d3e8f60").expect("a token"),
        ),
        states: StateSigner::new(&ClientSecret::new("fuzz-client-secret")),
    })
}

fuzz_target!(|input: Input| {
    let issuers = issuers();
    let within = |lifetime: i64| NOW_S + i64::from(input.age) * lifetime / i64::from(u16::MAX);
    sessions_are_ours(&issuers.sessions, &input, within(SESSION_SECONDS - 1));
    login_forms_are_ours(&issuers.sessions, &input, within(LOGIN_SECONDS - 1));
    let state_now_ms = NOW_S * 1_000 + i64::from(input.age) * STATE_TTL_MS / i64::from(u16::MAX);
    install_states_are_ours(&issuers.states, &input, state_now_ms);
});

fn sessions_are_ours(sessions: &Sessions, input: &Input, now_s: i64) {
    let genuine = sessions.open(NOW_S);
    let session = sessions
        .check(&genuine, now_s)
        .expect("a fresh session holds");
    let csrf = sessions.csrf(&session);
    for presented in candidates(&genuine, input) {
        assert_eq!(
            sessions.check(&presented, now_s).is_some(),
            presented == genuine,
            "session cookie {presented:?}"
        );
    }
    for presented in candidates(&csrf, input) {
        assert_eq!(
            sessions.csrf_ok(&session, &presented),
            presented == csrf,
            "CSRF token {presented:?}"
        );
    }
}

fn login_forms_are_ours(sessions: &Sessions, input: &Input, now_s: i64) {
    let (cookie, csrf) = sessions.login_form(NOW_S);
    assert!(sessions.login_ok(&cookie, &csrf, now_s));
    for presented in candidates(&cookie, input) {
        assert_eq!(
            sessions.login_ok(&presented, &csrf, now_s),
            presented == cookie,
            "login cookie {presented:?}"
        );
    }
    for presented in candidates(&csrf, input) {
        assert_eq!(
            sessions.login_ok(&cookie, &presented, now_s),
            presented == csrf,
            "login CSRF token {presented:?}"
        );
    }
}

fn install_states_are_ours(states: &StateSigner, input: &Input, now_ms: i64) {
    let (genuine, _) = states.issue(NOW_S * 1_000);
    for presented in candidates(&genuine, input) {
        assert_eq!(
            states.verify(&presented, now_ms).is_ok(),
            presented == genuine,
            "install state {presented:?}"
        );
    }
}

/// What an attacker presents: the fuzzer's text as it is, and the genuine token edited.
fn candidates(genuine: &str, input: &Input) -> Vec<String> {
    let mut candidates = vec![input.presented.clone()];
    candidates.extend(input.edit.apply(genuine));
    candidates
}
