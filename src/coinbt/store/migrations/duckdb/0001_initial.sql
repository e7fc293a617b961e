-- coinbt schema 1 (DuckDB): pairs, candles, rollups, series versions, dashboard, runs.
CREATE SEQUENCE crypto_id_seq START 1;
CREATE SEQUENCE run_id_seq START 1;

CREATE TABLE cryptocurrencies (
    id INTEGER PRIMARY KEY DEFAULT nextval('crypto_id_seq'),
    symbol VARCHAR NOT NULL UNIQUE,
    base VARCHAR NOT NULL,
    quote VARCHAR NOT NULL,
    exchange VARCHAR NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE candles (
    crypto_id INTEGER NOT NULL,
    interval VARCHAR NOT NULL,
    open_time BIGINT NOT NULL,
    open DOUBLE NOT NULL,
    high DOUBLE NOT NULL,
    low DOUBLE NOT NULL,
    close DOUBLE NOT NULL,
    volume DOUBLE NOT NULL,
    PRIMARY KEY (crypto_id, interval, open_time)
);

CREATE TABLE rollups (
    crypto_id INTEGER NOT NULL,
    interval VARCHAR NOT NULL,
    open_time BIGINT NOT NULL,
    open DOUBLE NOT NULL,
    high DOUBLE NOT NULL,
    low DOUBLE NOT NULL,
    close DOUBLE NOT NULL,
    volume DOUBLE NOT NULL,
    bars INTEGER NOT NULL,
    source VARCHAR NOT NULL,
    PRIMARY KEY (crypto_id, interval, open_time)
);

CREATE TABLE series (
    crypto_id INTEGER NOT NULL,
    interval VARCHAR NOT NULL,
    rollup BOOLEAN NOT NULL,
    first_time BIGINT NOT NULL,
    last_time BIGINT NOT NULL,
    candles BIGINT NOT NULL,
    data_version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (crypto_id, interval, rollup)
);

CREATE TABLE known_gaps (
    crypto_id INTEGER NOT NULL,
    interval VARCHAR NOT NULL,
    start_time BIGINT NOT NULL,
    end_time BIGINT NOT NULL,
    reason VARCHAR NOT NULL,
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (crypto_id, interval, start_time)
);

CREATE TABLE dashboard (
    crypto_id INTEGER PRIMARY KEY,
    current_price DOUBLE NOT NULL,
    change_24h_percent DOUBLE,
    high_7d DOUBLE NOT NULL,
    low_7d DOUBLE NOT NULL,
    volume_7d DOUBLE NOT NULL,
    high_30d DOUBLE NOT NULL,
    low_30d DOUBLE NOT NULL,
    volume_30d DOUBLE NOT NULL,
    all_time_high DOUBLE NOT NULL,
    all_time_low DOUBLE NOT NULL,
    total_days INTEGER NOT NULL,
    last_updated BIGINT NOT NULL,
    refreshed_at BIGINT NOT NULL
);

CREATE TABLE backtest_runs (
    id BIGINT PRIMARY KEY DEFAULT nextval('run_id_seq'),
    created_at BIGINT NOT NULL,
    crypto_id INTEGER,
    symbol VARCHAR NOT NULL,
    interval VARCHAR NOT NULL,
    strategy VARCHAR NOT NULL,
    spec VARCHAR NOT NULL,
    metrics VARCHAR NOT NULL,
    trades VARCHAR NOT NULL,
    equity_time BLOB NOT NULL,
    equity BLOB NOT NULL
);
