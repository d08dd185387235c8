//! The CLI's one error type: what kind of failure it is (which decides the exit status), the
//! message, and hints saying what to do, printed as `hint: ...` lines.
//!
//! Commands return `anyhow::Result`; at the top, [`CommandError::from`] reads the kind from the
//! error itself (an API answer's code, a daemon that cannot be reached, a reader that went away)
//! unless a command built a `CommandError` with its own kind and hints.

use std::process::ExitCode;

use dotsync_api::ErrorCode;

use crate::client::{ApiFailure, Unreachable};

/// What kind of failure, and so the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The input was wrong (an unknown config, a bad flag value, a path no config syncs): exit 1.
    User,
    /// Something needs the person before it can go on (a conflict, a rewound remote, a remote
    /// that refuses us, something in the way in the home): exit 1.
    NeedsYou,
    /// The daemon holds the state but cannot be reached: exit 69 (`EX_UNAVAILABLE`).
    Unreachable,
    /// dotsync itself failed: exit 70 (`EX_SOFTWARE`).
    Internal,
    /// The reader of stdout went away (`| head`): not an error, exit 0 quietly.
    BrokenPipe,
}

impl Kind {
    pub fn exit_code(self) -> ExitCode {
        match self {
            Kind::User | Kind::NeedsYou => ExitCode::FAILURE,
            Kind::Unreachable => ExitCode::from(69),
            Kind::Internal => ExitCode::from(70),
            Kind::BrokenPipe => ExitCode::SUCCESS,
        }
    }
}

#[derive(Debug)]
pub struct CommandError {
    pub kind: Kind,
    pub error: anyhow::Error,
    pub hints: Vec<String>,
}

impl CommandError {
    pub fn new(kind: Kind, error: impl Into<anyhow::Error>) -> Self {
        Self {
            kind,
            error: error.into(),
            hints: Vec::new(),
        }
    }

    /// Bad input, with `message`.
    pub fn user(message: impl Into<String>) -> Self {
        Self::new(Kind::User, anyhow::Error::msg(message.into()))
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for CommandError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

impl From<anyhow::Error> for CommandError {
    fn from(error: anyhow::Error) -> Self {
        let error = match error.downcast::<CommandError>() {
            Ok(e) => return e,
            Err(e) => e,
        };
        let broken_pipe = error.chain().any(|c| {
            c.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        });
        let kind = if broken_pipe {
            Kind::BrokenPipe
        } else if error.downcast_ref::<Unreachable>().is_some() {
            Kind::Unreachable
        } else if let Some(f) = error.downcast_ref::<ApiFailure>() {
            api_kind(f)
        } else {
            Kind::User
        };
        let mut hints = Vec::new();
        if let Some(u) = error.downcast_ref::<Unreachable>() {
            hints.push(u.hint());
        }
        CommandError { kind, error, hints }
    }
}

impl From<std::io::Error> for CommandError {
    fn from(e: std::io::Error) -> Self {
        anyhow::Error::from(e).into()
    }
}

/// The kind of an API error, from its code.
fn api_kind(f: &ApiFailure) -> Kind {
    match f.code {
        ErrorCode::Conflict
        | ErrorCode::Offline
        | ErrorCode::Auth
        | ErrorCode::RemoteNotFound
        | ErrorCode::Rejected
        | ErrorCode::RemoteLocked
        | ErrorCode::DiskFull
        | ErrorCode::Unavailable => Kind::NeedsYou,
        ErrorCode::Internal | ErrorCode::Unknown => Kind::Internal,
        ErrorCode::BadRequest
        | ErrorCode::Invalid
        | ErrorCode::DuplicateName
        | ErrorCode::NotFound
        | ErrorCode::Unauthorized
        | ErrorCode::Forbidden
        | ErrorCode::MethodNotAllowed
        | ErrorCode::UnsupportedMediaType
        | ErrorCode::PayloadTooLarge => Kind::User,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_the_error() {
        let pipe = anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            .context("writing the listing");
        assert_eq!(CommandError::from(pipe).kind, Kind::BrokenPipe);
        let api = anyhow::Error::from(ApiFailure {
            status: 409,
            code: ErrorCode::Conflict,
            message: "in the way".into(),
            field: None,
        });
        assert_eq!(CommandError::from(api).kind, Kind::NeedsYou);
        let own = anyhow::Error::from(CommandError::user("no").hint("try yes"));
        let back = CommandError::from(own);
        assert_eq!((back.kind, back.hints.len()), (Kind::User, 1));
        assert_eq!(Kind::BrokenPipe.exit_code(), ExitCode::SUCCESS);
    }
}
