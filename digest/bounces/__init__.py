"""Bounces: VERP envelope senders, reading bounce messages (flufl.bounce) from an IMAP
mailbox, and the pauses they lead to."""
