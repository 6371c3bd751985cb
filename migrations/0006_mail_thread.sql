-- Threaded mail out: each e-mailed outbox row keeps the Message-ID it went out with, so the next message of the
-- complaint names it in In-Reply-To / References, and a reply naming it finds its complaint.
ALTER TABLE outbox ADD COLUMN message_id text;

CREATE UNIQUE INDEX outbox_message_id ON outbox (message_id) WHERE message_id IS NOT NULL;

-- The hook for mail in (a later slice): the Message-ID of the customer's own first mail, the root of the thread.
ALTER TABLE complaints ADD COLUMN customer_message_id text;

COMMENT ON COLUMN outbox.message_id IS 'The Message-ID the row was mailed with (NULL until mailed, or not mailed).';
COMMENT ON COLUMN complaints.customer_message_id IS
    'Message-ID of the customer''s first mail, when the complaint came by mail: the root of its thread.';
