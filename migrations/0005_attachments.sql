-- Customers' files (screenshots, invoices), kept outside Temporal: a workflow carries only an AttachmentRef.
-- One row per file per complaint, found again by its SHA-256, so the same file delivered twice is kept once.
-- `sealed` is AES-256-GCM ciphertext under `key_id` of the payload key ring (nonce + ciphertext + tag): a copy of
-- this table reads nothing without the key. Names, types and sizes are in clear for the complaint page.
-- No foreign key to `complaints`: the mail ingress keeps a message's files before the workflow records the complaint.
CREATE TABLE attachments (
    attachment_id text        PRIMARY KEY CHECK (attachment_id ~ '^[0-9a-f]{32}$'),
    complaint_id  text        NOT NULL,
    sha256        text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    name          text        NOT NULL,
    content_type  text        NOT NULL,
    size          bigint      NOT NULL CHECK (size > 0),
    key_id        text        NOT NULL,
    sealed        bytea       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (complaint_id, sha256)
);
