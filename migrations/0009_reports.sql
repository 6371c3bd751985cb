-- Managers' reports (issue 15, `activities.reports`): what they need from the snapshot, derived once per write.
--
-- The snapshot keeps the current cycle's whole state as JSON. Two things the reports need from it are kept as
-- generated columns, so reading 100,000 complaints never parses 100,000 JSON documents:
--   * the cycle's own working days (the calendar its deadlines were computed with: a later calendar change never
--     moves a promise, nor how long a complaint took), sorted, so `width_bucket` counts them by binary search;
--   * the instant the current cycle was answered (`resolved_at` stays in the state after a reopen, so an answer
--     older than the cycle's receipt is an earlier cycle's and not this one's).

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

ALTER TABLE complaints
    ADD COLUMN cycle_working_days date[] GENERATED ALWAYS AS (report_working_days(state)) STORED,
    ADD COLUMN cycle_resolved_at timestamptz GENERATED ALWAYS AS (
        CASE WHEN report_instant(state->>'resolved_at') >= received_at THEN report_instant(state->>'resolved_at') END
    ) STORED;

COMMENT ON COLUMN complaints.cycle_working_days IS
    'The current cycle''s working days (from its receipt to 60 days past due), sorted: reports count with them.';
COMMENT ON COLUMN complaints.cycle_resolved_at IS
    'When the current cycle was answered (send_resolution or resolve_on_first_contact); NULL while unanswered.';

-- Reports select a period of receipts (SLA, where the time goes) and the open complaints (work in progress).
CREATE INDEX complaints_received_at ON complaints (received_at);
CREATE INDEX complaints_open_by_due ON complaints (resolution_due)
    WHERE stage IN ('received', 'analysing', 'awaiting_customer', 'cause_identified', 'awaiting_approval',
                    'approved', 'answered');
