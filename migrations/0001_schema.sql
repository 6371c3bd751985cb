-- The record and read model of the complaint lifecycle. The workflow is the source of truth for the process;
-- these tables are what it has done, written one transition per transaction by the record_transition activity.

-- Case numbers (KN-<local year>-<6 digits>) are human-facing and come from one sequence, so they are unique
-- across all years and never reused; a year's numbers simply continue from the previous year's.
CREATE SEQUENCE complaint_case_number_seq AS bigint START 1;

-- The snapshot: one row per complaint, the state after its latest recorded transition.
CREATE TABLE complaints (
    complaint_id            text        PRIMARY KEY,
    case_number             text        NOT NULL UNIQUE,
    workflow_id             text        NOT NULL,
    stage                   text        NOT NULL,
    department              text        NOT NULL,
    channel                 text        NOT NULL,
    subject                 text        NOT NULL,
    cycle                   int         NOT NULL CHECK (cycle >= 1),
    received_at             timestamptz NOT NULL,
    first_response_due      timestamptz NOT NULL,
    first_responded_at      timestamptz,
    resolution_due          timestamptz NOT NULL,
    resolution_due_date     date        NOT NULL,
    first_response_breached boolean     NOT NULL DEFAULT false,
    resolution_breached     boolean     NOT NULL DEFAULT false,
    escalation_level        int         NOT NULL DEFAULT 0,
    last_seq                int         NOT NULL CHECK (last_seq >= 1),
    state                   jsonb       NOT NULL,
    customer                jsonb       NOT NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);

COMMENT ON COLUMN complaints.last_seq IS 'Timeline position of the snapshot: an older transition never overwrites it.';
COMMENT ON COLUMN complaints.customer IS 'Name and contacts: personal data, kept only in Postgres (never in Temporal).';

CREATE INDEX complaints_stage_due ON complaints (stage, resolution_due);
CREATE INDEX complaints_department_due ON complaints (department, resolution_due);
CREATE INDEX complaints_resolution_due ON complaints (resolution_due);
-- Prefix search ("KN-2026-0001") by case number; the UNIQUE index already serves exact look-ups.
CREATE INDEX complaints_case_number_prefix ON complaints (case_number text_pattern_ops);

-- The timeline: append-only, keyed by the event's position so a retried activity inserts nothing twice.
CREATE TABLE complaint_events (
    complaint_id text        NOT NULL REFERENCES complaints (complaint_id),
    seq          int         NOT NULL CHECK (seq >= 1),
    at           timestamptz NOT NULL,
    kind         text        NOT NULL,
    actor        text        NOT NULL,
    role         text        NOT NULL,
    door         text        NOT NULL,
    cycle        int         NOT NULL,
    summary      text        NOT NULL,
    data         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (complaint_id, seq)
);

CREATE INDEX complaint_events_kind_at ON complaint_events (kind, at);

-- An audit trail that can be edited is not one: refuse UPDATE, DELETE and TRUNCATE for every role that
-- does not first drop the trigger (which itself leaves a trace in the DDL).
CREATE FUNCTION complaint_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'complaint_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'integrity_constraint_violation',
              HINT = 'Record a new event instead of changing the timeline.';
END;
$$;

CREATE TRIGGER complaint_events_no_update_delete
    BEFORE UPDATE OR DELETE ON complaint_events
    FOR EACH ROW EXECUTE FUNCTION complaint_events_append_only();

CREATE TRIGGER complaint_events_no_truncate
    BEFORE TRUNCATE ON complaint_events
    FOR EACH STATEMENT EXECUTE FUNCTION complaint_events_append_only();

-- Messages to customers and staff, written in the transition's transaction and delivered later by the sender.
-- `recipient` is the kind (customer, supervisor, ...); `address` the resolved e-mail, phone or postal address.
CREATE TABLE outbox (
    id              bigserial   PRIMARY KEY,
    complaint_id    text        NOT NULL,
    event_seq       int         NOT NULL,
    recipient       text        NOT NULL,
    department      text,
    template        text        NOT NULL,
    medium          text        NOT NULL CHECK (medium IN ('email', 'phone', 'post')),
    address         text        NOT NULL,
    subject         text        NOT NULL,
    body            text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    delivered_via   text,
    attempts        int         NOT NULL DEFAULT 0,
    last_error      text,
    FOREIGN KEY (complaint_id, event_seq) REFERENCES complaint_events (complaint_id, seq),
    -- NULLS NOT DISTINCT: customer and staff rows have no department and must still collide on a retry.
    CONSTRAINT outbox_once UNIQUE NULLS NOT DISTINCT (complaint_id, event_seq, recipient, department, template)
);

CREATE INDEX outbox_pending ON outbox (next_attempt_at, id) WHERE sent_at IS NULL;

-- Rendered documents: one of each kind per cycle (a reopen starts a new cycle with its own papers).
CREATE TABLE documents (
    complaint_id text        NOT NULL,
    kind         text        NOT NULL,
    cycle        int         NOT NULL,
    event_seq    int         NOT NULL,
    title        text        NOT NULL,
    body         text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (complaint_id, kind, cycle),
    FOREIGN KEY (complaint_id, event_seq) REFERENCES complaint_events (complaint_id, seq)
);
