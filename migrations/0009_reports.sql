-- Managers' reports (issue 15, `activities.reports`): what they need, derived once as the record is written, so
-- a report over 100,000 complaints reads narrow rows instead of parsing JSON or walking a million events.
--
-- On the snapshot, generated columns from the current cycle's state:
--   * its own working days (the calendar its deadlines were computed with: a later calendar change never moves a
--     promise, nor how long a complaint took), sorted, so `width_bucket` counts them by binary search;
--   * the instant it was answered (`resolved_at` stays in the state after a reopen, so an answer older than the
--     cycle's receipt is an earlier cycle's), its local receipt date, hours to first response, working days to
--     the answer.
-- Kept by a trigger on the timeline: the time spent in each stage (`complaint_stage_clock`) and the lessons
-- learned register (`complaint_closes`).

-- An ISO-8601 instant with its offset, as pydantic writes them: its meaning depends on no setting, so the cast
-- (marked stable in general, for inputs without an offset) is immutable for these values.
CREATE FUNCTION report_instant(value text) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT value::timestamptz $$;

CREATE FUNCTION report_working_days(state jsonb) RETURNS date[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(day::date ORDER BY day::date), '{}'::date[])
    FROM jsonb_array_elements_text(coalesce(state->'working_days', '[]'::jsonb)) AS day
$$;

-- Monday to Friday from 27 December 1999 (a Monday) up to and including `day`: weekdays between two dates by
-- arithmetic, no subquery, so the function below stays a plain expression PostgreSQL inlines into each report.
CREATE FUNCTION report_weekdays_through(day date) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ((day - DATE '1999-12-27') / 7) * 5 + least((day - DATE '1999-12-27') % 7 + 1, 5)
$$;

-- Working days after `since` up to and including `until` (the deadline's own convention: the day of receipt is not
-- counted, the due date is the 20th), counted in the cycle's own sorted list by binary search (`width_bucket`).
-- Past the end of the list (60 days after the due date) Monday to Friday stand in, as for the workflow's reminders.
CREATE FUNCTION complaint_working_days_between(days date[], since date, until date) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN until <= since THEN 0
        WHEN cardinality(days) = 0 OR since >= days[cardinality(days)] THEN
            report_weekdays_through(until) - report_weekdays_through(since)
        WHEN until <= days[cardinality(days)] THEN width_bucket(until, days) - width_bucket(since, days)
        ELSE cardinality(days) - width_bucket(since, days)
            + report_weekdays_through(until) - report_weekdays_through(days[cardinality(days)])
    END
$$;

-- The state JSON (a few kilobytes: the cycle's working days, the intake) goes out of line into the TOAST table, so
-- a scan of the snapshot's own columns (a report over a year of complaints, the inbox's counts) reads rows of a
-- few hundred bytes instead of two kilobytes; a complaint's page still reads its state in one look-up. What the
-- inbox searches (subject, customer) stays in line. Set before the columns below, whose rewrite applies it.
ALTER TABLE complaints SET (toast_tuple_target = 256);
ALTER TABLE complaints ALTER COLUMN subject SET STORAGE MAIN, ALTER COLUMN customer SET STORAGE MAIN;

ALTER TABLE complaints
    ADD COLUMN cycle_working_days date[] GENERATED ALWAYS AS (report_working_days(state)) STORED,
    ADD COLUMN cycle_resolved_at timestamptz GENERATED ALWAYS AS (
        CASE WHEN report_instant(state->>'resolved_at') >= received_at THEN report_instant(state->>'resolved_at') END
    ) STORED,
    ADD COLUMN receipt_date date GENERATED ALWAYS AS ((received_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date) STORED,
    ADD COLUMN first_response_hours double precision GENERATED ALWAYS AS (
        extract(epoch FROM first_responded_at - received_at) / 3600
    ) STORED,
    ADD COLUMN resolution_working_days int GENERATED ALWAYS AS (
        CASE WHEN report_instant(state->>'resolved_at') >= received_at THEN complaint_working_days_between(
            report_working_days(state),
            (received_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date,
            (report_instant(state->>'resolved_at') AT TIME ZONE 'Asia/Ho_Chi_Minh')::date
        ) END
    ) STORED;

COMMENT ON COLUMN complaints.cycle_working_days IS
    'The current cycle''s working days (from its receipt to 60 days past due), sorted: reports count with them.';
COMMENT ON COLUMN complaints.cycle_resolved_at IS
    'When the current cycle was answered (send_resolution or resolve_on_first_contact); NULL while unanswered.';
COMMENT ON COLUMN complaints.receipt_date IS 'The local (Asia/Ho_Chi_Minh) date the current cycle was received.';
COMMENT ON COLUMN complaints.first_response_hours IS 'Clock hours from the cycle''s receipt to its first response.';
COMMENT ON COLUMN complaints.resolution_working_days IS
    'Working days from the cycle''s receipt to its answer, in its own working days (receipt day not counted).';

-- Reports select a period of receipts (SLA, where the time goes) and the open complaints (work in progress).
CREATE INDEX complaints_received_at ON complaints (received_at);
-- Volume counts events of a few kinds in a period, per complaint: with the complaint in the index, an index-only
-- scan (the old index on the same columns serves nothing this one does not).
CREATE INDEX complaint_events_kind_at_complaint ON complaint_events (kind, at) INCLUDE (complaint_id);
DROP INDEX complaint_events_kind_at;
CREATE INDEX complaints_open_by_due ON complaints (resolution_due)
    WHERE stage IN ('received', 'analysing', 'awaiting_customer', 'cause_identified', 'awaiting_approval',
                    'approved', 'answered');

-- Where the time goes, kept as the timeline is written: one row per complaint, for its current cycle, with the
-- seconds spent and the times entered per stage (arrays in the order of `report_stages()`), the stage it is in
-- and since when, and the cause last recorded. A report then reads one narrow row per complaint instead of
-- walking a million events. Stages follow the events by the rules of `domain.lifecycle.apply_action`.
CREATE FUNCTION report_stages() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY['received', 'analysing', 'awaiting_customer', 'cause_identified', 'awaiting_approval', 'approved',
                 'answered', 'closed', 'merged', 'withdrawn']
$$;

CREATE TABLE complaint_stage_clock (
    complaint_id     text             PRIMARY KEY,
    cycle            int              NOT NULL,
    stage            text             NOT NULL,
    entered_at       timestamptz      NOT NULL,
    seconds          double precision[] NOT NULL,
    visits           int[]            NOT NULL,
    cause            text,
    company_at_fault boolean
);

-- The lessons learned register: one row per close, with the cause on record when it was written.
CREATE TABLE complaint_closes (
    complaint_id     text        NOT NULL,
    seq              int         NOT NULL,
    closed_at        timestamptz NOT NULL,
    cycle            int         NOT NULL,
    summary          text        NOT NULL,
    lessons_learned  text        NOT NULL,
    cause            text,
    company_at_fault boolean,
    PRIMARY KEY (complaint_id, seq)
);
CREATE INDEX complaint_closes_closed_at ON complaint_closes (closed_at);

CREATE FUNCTION report_event_applied(e complaint_events) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    clock complaint_stage_clock%ROWTYPE;
    next_stage text;
    here int;
BEGIN
    IF e.kind = 'received' THEN
        INSERT INTO complaint_stage_clock (complaint_id, cycle, stage, entered_at, seconds, visits)
        VALUES (e.complaint_id, e.cycle, 'received', e.at, array_fill(0::double precision, ARRAY[10]),
                ARRAY[1, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        ON CONFLICT (complaint_id) DO NOTHING;
        RETURN;
    END IF;
    SELECT * INTO clock FROM complaint_stage_clock WHERE complaint_id = e.complaint_id FOR UPDATE;
    IF e.kind = 'cause_identified' THEN
        clock.cause := e.data->>'cause';
        clock.company_at_fault := (e.data->>'company_at_fault')::boolean;
    ELSIF e.kind = 'close' THEN
        INSERT INTO complaint_closes
        VALUES (e.complaint_id, e.seq, e.at, e.cycle, coalesce(e.data->>'summary', ''),
                coalesce(e.data->>'lessons_learned', ''), clock.cause, clock.company_at_fault)
        ON CONFLICT DO NOTHING;
    END IF;
    IF clock.complaint_id IS NULL THEN
        RETURN;  -- a timeline without its receipt (rows loaded by hand): nothing to time
    END IF;
    next_stage := CASE e.kind
        WHEN 'reopen' THEN 'received'
        WHEN 'acknowledge' THEN 'analysing'
        WHEN 'request_info' THEN 'awaiting_customer'
        WHEN 'customer_info_received' THEN
            CASE WHEN clock.cause IS NOT NULL THEN 'cause_identified' ELSE 'analysing' END
        WHEN 'cause_identified' THEN 'cause_identified'
        WHEN 'propose_plan' THEN 'awaiting_approval'
        WHEN 'manager_approval' THEN
            CASE WHEN coalesce((e.data->>'approved')::boolean, false) THEN 'approved' ELSE 'cause_identified' END
        WHEN 'send_resolution' THEN 'answered'
        WHEN 'resolve_on_first_contact' THEN 'answered'
        WHEN 'close' THEN 'closed'
        WHEN 'merge_into' THEN 'merged'
        WHEN 'withdraw' THEN 'withdrawn'
    END;
    IF next_stage IS NOT NULL THEN
        IF e.cycle <> clock.cycle THEN  -- a reopen: the new cycle's clock starts afresh
            clock.cycle := e.cycle;
            clock.seconds := array_fill(0::double precision, ARRAY[10]);
            clock.visits := array_fill(0, ARRAY[10]);
        ELSE
            here := array_position(report_stages(), clock.stage);
            clock.seconds[here] := clock.seconds[here] + greatest(0, extract(epoch FROM e.at - clock.entered_at));
        END IF;
        here := array_position(report_stages(), next_stage);
        clock.visits[here] := clock.visits[here] + 1;
        clock.stage := next_stage;
        clock.entered_at := e.at;
    END IF;
    UPDATE complaint_stage_clock
    SET cycle = clock.cycle, stage = clock.stage, entered_at = clock.entered_at, seconds = clock.seconds,
        visits = clock.visits, cause = clock.cause, company_at_fault = clock.company_at_fault
    WHERE complaint_id = e.complaint_id;
END;
$$;

CREATE FUNCTION complaint_events_reported() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM report_event_applied(NEW);
    RETURN NULL;
END;
$$;

-- Events already on record, in timeline order; then every new one as it is written.
DO $$
DECLARE
    e complaint_events;
BEGIN
    FOR e IN SELECT * FROM complaint_events ORDER BY complaint_id, seq LOOP
        PERFORM report_event_applied(e);
    END LOOP;
END;
$$;

CREATE TRIGGER complaint_events_reported AFTER INSERT ON complaint_events
    FOR EACH ROW EXECUTE FUNCTION complaint_events_reported();
