"""The one error tree: each error names the object at fault and what to check.

    DigestError                      exit 1 unless a subclass says otherwise; the CLI prints it
    ├── ConfigError                  exit 2: the config file is missing, unreadable or invalid
    │   └── SemanticUnavailableError   [ranking] semantic asks for an extra that is not installed
    ├── SourceError                  one source could not be fetched or parsed; the run goes on
    │   └── SourceReportedError        the server answered with a well-formed error document
    ├── DeliveryError                a message was not accepted for a recipient
    ├── MailboxError                 the bounce mailbox (IMAP) cannot be read
    └── StoreError                   the state store cannot be opened, migrated or locked
        └── AlreadyRunningError        another run holds the store's run lock

Only the CLI turns these into words on a terminal and an exit code; the library raises them.
"""

from __future__ import annotations


class DigestError(Exception):
    """Base of every error the library raises on purpose; the CLI prints its message."""

    exit_code = 1


class ConfigError(DigestError):
    """The config file is missing, unreadable or invalid; exit 2."""

    exit_code = 2

    def __init__(self, message: str, *, path: str = "", key: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.key = key


class SemanticUnavailableError(ConfigError):
    """The config asks for semantic ranking but the [semantic] extra is not installed."""


class SourceError(DigestError):
    """A source could not be fetched or parsed; the run goes on without it."""

    def __init__(self, message: str, *, source: str = "", url: str = "") -> None:
        super().__init__(message)
        self.source = source
        self.url = url


class SourceReportedError(SourceError):
    """The server answered with a well-formed error document (arXiv's "Feed error", the API's
    "Error" entry) instead of a listing."""


class DeliveryError(DigestError):
    """A message was not accepted for a recipient; `permanent` tells whether a retry may help;
    `bounce` is the status code when the server refused the recipient at RCPT TO (the address
    bounced: hard when permanent, else soft)."""

    def __init__(
        self,
        message: str,
        *,
        recipient: str = "",
        permanent: bool = False,
        bounce: str | None = None,
    ) -> None:
        super().__init__(message)
        self.recipient = recipient
        self.permanent = permanent
        self.bounce = bounce


class MailboxError(DigestError):
    """The bounce mailbox ([bounces], IMAP) cannot be reached, logged into or read."""


class StoreError(DigestError):
    """The state store cannot be opened, migrated or is locked by another run."""


class AlreadyRunningError(StoreError):
    """Another run holds the store's run lock; this one did nothing."""
