-- Each provision matrix computed, as recorded: the event's data is the matrix, its inputs and its result.
CREATE TABLE provision_matrices (
    matrix_id   text PRIMARY KEY,
    month_end   date        NOT NULL,
    method      text        NOT NULL,
    computed_at timestamptz NOT NULL,
    data        jsonb       NOT NULL
);
