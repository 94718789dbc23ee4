//! The machinery both protocol clients share, written once: feeding a response into its
//! reader, ending it at the peer's close, settling an internal step (a caller-side error ends
//! the client), and the advance loop of `poll` (prepare the next request, process a complete
//! response, wake for a due retry). Each client says where its reader and buffer are and what
//! its stages mean ([`Core`]); its public `handle_response_*` and `poll` call these.

use crate::error::{ClientError, HttpError};
use crate::http::ResponseReader;
use crate::time::Instant;

/// What a client's stage calls for in `poll` before it has a step for the caller.
pub(crate) enum Due {
    /// Decide and prepare the next request.
    Prepare,
    /// The awaited response is complete: process it.
    Response,
    /// A retry's time has come (SCEP: the next CertPoll; EST: the same request again).
    Retry,
    /// Nothing without the caller: the client has a step for it.
    Nothing,
}

/// Where a client's response goes.
pub(crate) enum Reading<'a> {
    /// A response is awaited: its reader and the buffer it fills.
    Awaiting(&'a mut ResponseReader, &'a mut [u8]),
    /// The client has ended (bytes fed after that are ignored).
    Ended,
    /// No response is awaited: feeding one is the caller's mistake.
    NotAwaiting,
}

/// A protocol client's stages, as the shared machinery sees them.
pub(crate) trait Core {
    /// Where a response goes now.
    fn reading(&mut self) -> Reading<'_>;
    /// The awaited response's reader (`None` when none is awaited).
    fn reader(&self) -> Option<&ResponseReader>;
    /// Ends the client with a malformed response (`Outcome::Http`).
    fn malformed(&mut self, error: HttpError);
    /// Ends the client with a caller-side error (and logs it).
    fn fail(&mut self, error: ClientError);
    /// Called before the first bytes of a response are fed (EST wipes the request's
    /// credentials there).
    fn response_starts(&mut self) {}
    /// What `poll` has to do before it has a step for the caller.
    fn due(&self, now: Instant) -> Due;
    /// Decides and prepares the next request (or key operation).
    fn prepare(&mut self, now: Instant) -> Result<(), ClientError>;
    /// Processes the complete response.
    fn process(&mut self, now: Instant) -> Result<(), ClientError>;
    /// Wakes for a due retry.
    fn retry(&mut self, now: Instant);
}

/// Feeds response bytes as they arrive; returns how many were used. A malformed response
/// ends the client (`Outcome::Http`) and uses all of `data`; after the end, bytes are
/// ignored (0 used).
pub(crate) fn feed<C: Core>(client: &mut C, data: &[u8]) -> Result<usize, ClientError> {
    if matches!(client.reading(), Reading::Awaiting(..)) {
        client.response_starts();
    }
    let r = match client.reading() {
        Reading::Awaiting(reader, io) => reader.feed(io, data),
        Reading::Ended => return Ok(0),
        Reading::NotAwaiting => return Err(ClientError::UnexpectedCall),
    };
    match r {
        Ok(n) => Ok(n),
        Err(e) => {
            client.malformed(e);
            Ok(data.len())
        }
    }
}

/// The peer closed the connection: ends a close-delimited body (or finds the response cut
/// short, `Outcome::Http`).
pub(crate) fn end<C: Core>(client: &mut C) -> Result<(), ClientError> {
    let r = match client.reading() {
        Reading::Awaiting(reader, _) if reader.is_done() => return Ok(()),
        Reading::Awaiting(reader, io) => reader.finish(io),
        Reading::Ended => return Ok(()),
        Reading::NotAwaiting => return Err(ClientError::UnexpectedCall),
    };
    if let Err(e) = r {
        client.malformed(e);
    }
    Ok(())
}

/// Whether the response being read is complete (true when none is awaited).
pub(crate) fn complete<C: Core>(client: &C) -> bool {
    client.reader().is_none_or(ResponseReader::is_done)
}

/// Applies the result of an internal step: a caller-side error ends the client (a call out of
/// order leaves it as it was).
pub(crate) fn settle<C: Core>(client: &mut C, r: Result<(), ClientError>) -> Result<(), ClientError> {
    match r {
        Ok(()) | Err(ClientError::UnexpectedCall) => r,
        Err(e) => {
            client.fail(e);
            Err(e)
        }
    }
}

/// `poll`'s advance: everything that needs no input from the caller, at most `rounds` times.
pub(crate) fn advance<C: Core>(client: &mut C, now: Instant, rounds: usize) -> Result<(), ClientError> {
    for _ in 0..rounds {
        let r = match client.due(now) {
            Due::Prepare => client.prepare(now),
            Due::Response => client.process(now),
            Due::Retry => {
                client.retry(now);
                continue;
            }
            Due::Nothing => break,
        };
        settle(client, r)?;
    }
    Ok(())
}

/// The [`Core`] methods a client's stages answer alike, written once: for a `Stage` with
/// `Ready`, `Awaiting { reader, .. }`, `Waiting { until }`, `Done(Outcome)` (an `Outcome::Http`
/// among them) and `Failed(ClientError)`, in a client with `stage`, `bufs.io` and (with
/// logging) `log_end`. Used inside each client's `impl Core`.
macro_rules! stage_core {
    () => {
        fn reading(&mut self) -> $crate::client_core::Reading<'_> {
            match &mut self.stage {
                Stage::Awaiting { reader, .. } => $crate::client_core::Reading::Awaiting(reader, self.bufs.io),
                Stage::Done(_) => $crate::client_core::Reading::Ended,
                _ => $crate::client_core::Reading::NotAwaiting,
            }
        }
        fn reader(&self) -> Option<&$crate::http::ResponseReader> {
            match &self.stage {
                Stage::Awaiting { reader, .. } => Some(reader),
                _ => None,
            }
        }
        fn malformed(&mut self, error: $crate::error::HttpError) {
            self.stage = Stage::Done(Outcome::Http(error));
        }
        fn fail(&mut self, error: $crate::error::ClientError) {
            self.stage = Stage::Failed(error);
            #[cfg(any(feature = "log", feature = "defmt"))]
            self.log_end();
        }
        fn due(&self, now: $crate::time::Instant) -> $crate::client_core::Due {
            match &self.stage {
                Stage::Ready => $crate::client_core::Due::Prepare,
                Stage::Awaiting { reader, .. } if reader.is_done() => $crate::client_core::Due::Response,
                Stage::Waiting { until } if now >= *until => $crate::client_core::Due::Retry,
                _ => $crate::client_core::Due::Nothing,
            }
        }
    };
}
pub(crate) use stage_core;
