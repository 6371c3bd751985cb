-- Unread customer mail (issue 13): agents see at once that a customer wrote. The record write keeps, on the
-- snapshot, the timeline position of the latest message the customer sent themselves (`customer_wrote`, or an
-- answer that came through a system door such as the mail ingress); what staff have seen is UI state, kept apart
-- from the record and never in the workflow. A complaint has unread customer mail while the first is past the second.
-- No backfill: answers recorded before this migration were read where they were recorded.
ALTER TABLE complaints ADD COLUMN customer_wrote_seq int;

COMMENT ON COLUMN complaints.customer_wrote_seq IS
    'Timeline position of the customer''s latest own message (NULL: none), kept by the record write.';

-- The inbox's "unread" filter and count walk only the complaints a customer ever wrote to.
CREATE INDEX complaints_customer_wrote ON complaints (customer_wrote_seq) WHERE customer_wrote_seq IS NOT NULL;

-- One row per complaint: the customer's messages up to `seen_seq` were on a page staff opened. Per complaint, not
-- per user: the team shares the inbox, and one agent reading the mail is the team having seen it.
CREATE TABLE customer_mail_seen (
    complaint_id text        PRIMARY KEY REFERENCES complaints (complaint_id),
    seen_seq     int         NOT NULL CHECK (seen_seq >= 1),
    seen_by      text        NOT NULL,
    seen_at      timestamptz NOT NULL DEFAULT now()
);
