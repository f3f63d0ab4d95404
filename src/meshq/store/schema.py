"""The store's schema, as numbered migrations.

Migration ``n`` moves a database from ``PRAGMA user_version = n - 1`` to
``n``. A fresh database runs them all, so the migrated schema and a fresh one
can never differ. Never edit a released migration: append a new one.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: queues, jobs, their history, and the host inventory
    """
    CREATE TABLE queues (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        experiment  TEXT NOT NULL,
        created     REAL NOT NULL
    );
    CREATE TABLE jobs (
        id          INTEGER PRIMARY KEY,
        queue_id    INTEGER NOT NULL REFERENCES queues(id) ON DELETE CASCADE,
        name        TEXT NOT NULL,
        "index"     TEXT NOT NULL,
        command     TEXT NOT NULL,
        shell       TEXT NOT NULL,
        directory   TEXT,
        input       TEXT,
        output      TEXT NOT NULL,
        log         TEXT NOT NULL,
        gpu         TEXT,
        pyenv       TEXT,
        user        TEXT,
        host        TEXT,
        timeout     REAL,
        status      TEXT NOT NULL,
        exit_code   INTEGER,
        pid         INTEGER,
        pstart      TEXT,
        attempts    INTEGER NOT NULL DEFAULT 0,
        submitted   REAL NOT NULL,
        started     REAL,
        ended       REAL,
        error       TEXT,
        UNIQUE (queue_id, name)
    );
    -- queue order is id order; this index serves claims, counts and filters
    CREATE INDEX jobs_by_status ON jobs (queue_id, status, id);
    CREATE TABLE events (
        id          INTEGER PRIMARY KEY,
        job_id      INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        time        REAL NOT NULL,
        old         TEXT,
        new         TEXT NOT NULL,
        attempt     INTEGER NOT NULL,
        detail      TEXT
    );
    CREATE INDEX events_by_job ON events (job_id, id);
    CREATE TABLE hosts (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        kind        TEXT NOT NULL,
        address     TEXT,
        user        TEXT,
        port        INTEGER,
        max_jobs    INTEGER NOT NULL DEFAULT 1,
        cpus        INTEGER,
        gpus        TEXT,
        pyenv       TEXT,
        status      TEXT NOT NULL DEFAULT 'active',
        last_probe  REAL,
        last_error  TEXT
    );
    """,
    # 2: SSH hosts and GPUs: a job may ask for a number of GPUs; a job's host
    # may be one the scheduler chose (placed) rather than one the user pinned;
    # a host may opt out of host key checks; active jobs are counted per host
    """
    ALTER TABLE jobs ADD COLUMN gpus INTEGER;
    ALTER TABLE jobs ADD COLUMN placed INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE hosts ADD COLUMN check_host_key INTEGER NOT NULL DEFAULT 1;
    CREATE INDEX jobs_by_host ON jobs (status, host);
    """,
    # 3: runs hold a lease on the jobs they claim, so another run (or a
    # refresh) can tell a job being launched right now from one whose run died
    """
    CREATE TABLE runs (
        id          INTEGER PRIMARY KEY,
        queue_id    INTEGER NOT NULL REFERENCES queues(id) ON DELETE CASCADE,
        pid         INTEGER NOT NULL,
        hostname    TEXT NOT NULL,
        started     REAL NOT NULL,
        heartbeat   REAL NOT NULL,
        ended       REAL
    );
    ALTER TABLE jobs ADD COLUMN run_id INTEGER;
    """,
    # 4: retries, dependencies, pausing and queue-wide defaults; each history
    # line keeps the host and exit code of the attempt it closes
    """
    ALTER TABLE jobs ADD COLUMN retries INTEGER;
    CREATE TABLE deps (
        job_id      INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        dep_id      INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        PRIMARY KEY (job_id, dep_id)
    ) WITHOUT ROWID;
    CREATE INDEX deps_by_dep ON deps (dep_id);
    ALTER TABLE queues ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE queues ADD COLUMN default_timeout REAL;
    ALTER TABLE queues ADD COLUMN default_retries INTEGER;
    ALTER TABLE events ADD COLUMN host TEXT;
    ALTER TABLE events ADD COLUMN exit_code INTEGER;
    """,
    # 5: where and as whom each attempt ran (kill, logs and reset reach the
    # host the same way), and the signal that ended a command
    """
    ALTER TABLE jobs ADD COLUMN run_user TEXT;
    ALTER TABLE jobs ADD COLUMN run_address TEXT;
    ALTER TABLE jobs ADD COLUMN run_port INTEGER;
    ALTER TABLE jobs ADD COLUMN signal INTEGER;
    """,
    # 6: the cloudmesh seed's vocabulary: a stored scheduler policy per queue;
    # fields of the seed's YAML files that meshq keeps but does not use (JSON
    # objects, written back on export); store-wide settings (the current jobset)
    """
    ALTER TABLE queues ADD COLUMN policy TEXT;
    ALTER TABLE queues ADD COLUMN extra TEXT;
    ALTER TABLE jobs ADD COLUMN extra TEXT;
    ALTER TABLE hosts ADD COLUMN extra TEXT;
    CREATE TABLE settings (
        name        TEXT PRIMARY KEY,
        value       TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
    # 7: hosts that queue jobs themselves (Slurm clusters): a job's id there
    # and its state there; a host's kind-specific settings (JSON: a list of
    # [key, value] pairs) and what it said of itself at its last probe
    """
    ALTER TABLE jobs ADD COLUMN remote_id TEXT;
    ALTER TABLE jobs ADD COLUMN remote_state TEXT;
    ALTER TABLE hosts ADD COLUMN options TEXT;
    ALTER TABLE hosts ADD COLUMN info TEXT;
    """,
    # 8: the parameters of a job made by a sweep (a JSON object of name →
    # value text), exported to its command as MESHQ_PARAM_<NAME>
    """
    ALTER TABLE jobs ADD COLUMN params TEXT;
    """,
    # 9: each queue's job count per state, kept by triggers on every write
    # to jobs, so that a count costs a few rows however big the queue is
    # (a million-job queue's GROUP BY walked a million index entries)
    """
    CREATE TABLE job_counts (
        queue_id    INTEGER NOT NULL,
        status      TEXT NOT NULL,
        n           INTEGER NOT NULL,
        PRIMARY KEY (queue_id, status)
    ) WITHOUT ROWID;
    INSERT INTO job_counts (queue_id, status, n)
        SELECT queue_id, status, count(*) FROM jobs GROUP BY queue_id, status;
    CREATE TRIGGER jobs_counted_on_insert AFTER INSERT ON jobs BEGIN
        INSERT INTO job_counts (queue_id, status, n) VALUES (NEW.queue_id, NEW.status, 1)
            ON CONFLICT (queue_id, status) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER jobs_counted_on_delete AFTER DELETE ON jobs BEGIN
        UPDATE job_counts SET n = n - 1 WHERE queue_id = OLD.queue_id AND status = OLD.status;
    END;
    CREATE TRIGGER jobs_counted_on_update AFTER UPDATE OF status, queue_id ON jobs
    WHEN OLD.status IS NOT NEW.status OR OLD.queue_id IS NOT NEW.queue_id BEGIN
        UPDATE job_counts SET n = n - 1 WHERE queue_id = OLD.queue_id AND status = OLD.status;
        INSERT INTO job_counts (queue_id, status, n) VALUES (NEW.queue_id, NEW.status, 1)
            ON CONFLICT (queue_id, status) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER queues_uncounted_on_delete AFTER DELETE ON queues BEGIN
        DELETE FROM job_counts WHERE queue_id = OLD.id;
    END;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
