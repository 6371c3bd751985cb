-- The reports' derivations take what the domain decided (issue 15, second pass).
--
-- Migration 0009 kept the stage clock and the lessons register by a trigger that re-derived each event's next
-- stage from its kind in PL/pgSQL: a second copy of `domain.lifecycle.apply_action`'s rules, and a PL/pgSQL call
-- with a locked read and an update on every recorded event. The record write (`activities.records`,
-- `_RECORD_TRANSITION`) now keeps both in the same statement as the event, from the transition's own state (its
-- stage, cycle, cause), and only when the event is new. The snapshot's report columns were generated from the
-- state JSON (parsing and sorting some 80 dates on every write); they are now plain columns the write fills from
-- the state (`activities.records.report_columns`). Their values on record are kept.
--
-- The narrow per-complaint tables also carry what the reports filter and group by (the cycle's receipt, the
-- department, the channel, the case number), so a report over a year reads them without joining the snapshot.

DROP TRIGGER complaint_events_reported ON complaint_events;
DROP FUNCTION complaint_events_reported();
DROP FUNCTION report_event_applied(complaint_events);

ALTER TABLE complaints
    ALTER COLUMN cycle_working_days DROP EXPRESSION,
    ALTER COLUMN cycle_resolved_at DROP EXPRESSION,
    ALTER COLUMN receipt_date DROP EXPRESSION,
    ALTER COLUMN first_response_hours DROP EXPRESSION,
    ALTER COLUMN resolution_working_days DROP EXPRESSION;
DROP FUNCTION report_working_days(jsonb);
DROP FUNCTION report_instant(text);

COMMENT ON COLUMN complaints.cycle_working_days IS
    'The current cycle''s working days (from its receipt to 60 days past due), sorted: reports count with them. '
    'Written with the state (activities.records.report_columns).';

-- `values` with `amount` added at the position of `stage` in `report_stages()`: the stage clock's arrays, updated
-- in the record write. A plain expression PostgreSQL inlines.
CREATE FUNCTION report_stage_added(counts double precision[], stage text, amount double precision)
RETURNS double precision[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT counts[:array_position(report_stages(), stage) - 1]
        || (counts[array_position(report_stages(), stage)] + amount)
        || counts[array_position(report_stages(), stage) + 1:]
$$;

CREATE FUNCTION report_stage_added(counts int[], stage text, amount int) RETURNS int[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT counts[:array_position(report_stages(), stage) - 1]
        || (counts[array_position(report_stages(), stage)] + amount)
        || counts[array_position(report_stages(), stage) + 1:]
$$;

ALTER TABLE complaint_stage_clock
    ADD COLUMN received_at   timestamptz,
    ADD COLUMN registered_at timestamptz,
    ADD COLUMN department    text,
    ADD COLUMN channel       text,
    SET (fillfactor = 85);
COMMENT ON TABLE complaint_stage_clock IS
    'One row per complaint, its current cycle: seconds spent and times entered per stage (in the order of '
    'report_stages()), the stage it is in since entered_at, the cause on record; the cycle''s receipt '
    '(received_at), the instant it was first recorded (registered_at, its "received" event), its current '
    'department and channel. Written by the record write from the transition''s state.';

UPDATE complaint_stage_clock k
SET received_at = c.received_at, department = c.department, channel = c.channel,
    registered_at = (SELECT min(e.at) FROM complaint_events e WHERE e.complaint_id = k.complaint_id
                     AND e.kind = 'received')
FROM complaints c
WHERE c.complaint_id = k.complaint_id;

CREATE INDEX complaint_stage_clock_received_at ON complaint_stage_clock (received_at);
CREATE INDEX complaint_stage_clock_registered_at ON complaint_stage_clock (registered_at);

ALTER TABLE complaint_closes
    ADD COLUMN case_number text,
    ADD COLUMN department  text,
    ADD COLUMN channel     text;
COMMENT ON TABLE complaint_closes IS
    'The lessons learned register: one row per close, with the cause on record and the complaint''s case number '
    'department and channel when it was written.';

UPDATE complaint_closes k SET case_number = c.case_number, department = c.department, channel = c.channel
FROM complaints c
WHERE c.complaint_id = k.complaint_id;
