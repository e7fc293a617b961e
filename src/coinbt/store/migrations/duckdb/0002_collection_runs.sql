-- coinbt schema 2 (DuckDB): what every collection or import run did.
CREATE SEQUENCE ingest_run_id_seq START 1;

CREATE TABLE ingest_runs (
    id BIGINT PRIMARY KEY DEFAULT nextval('ingest_run_id_seq'),
    kind VARCHAR NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT NOT NULL,
    status VARCHAR NOT NULL,
    pairs INTEGER NOT NULL,
    candles_added BIGINT NOT NULL,
    candles_revised BIGINT NOT NULL,
    gaps INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    detail VARCHAR NOT NULL
);
