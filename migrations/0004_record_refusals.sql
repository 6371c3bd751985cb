-- Transitions PostgreSQL refused for good (a data error that retrying cannot fix): the workflow carries on without
-- them (an action is refused, a clock's effect kept), and admins see each one here (`complaints refusals`).
-- Only kinds and error names: the refused data itself may be what the customer wrote.
CREATE TABLE record_refusals (
    id           bigserial   PRIMARY KEY,
    complaint_id text        NOT NULL,
    workflow_id  text        NOT NULL,
    seq          int         NOT NULL,
    kind         text        NOT NULL,
    error        text        NOT NULL,
    sqlstate     text,
    refused_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX record_refusals_refused_at ON record_refusals (refused_at DESC);
