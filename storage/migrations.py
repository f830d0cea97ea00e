"""Schema migrations: (version, name, SQL), applied in order by `storage.db.migrate`.

Never edit a migration that has shipped; add a new one. Version ranges are reserved per area so
that parallel work does not collide: 1-9 foundation and imports, 10-14 sessions and auth, 15-19
the label screen, 20-29 judges, 30-39 analysis, 40-49 router, 50-59 export, 60-69 reliability,
70-79 review and adjudication, 80-89 studies.

`annotators.kind` says what a rater is: 'account' (a person who logs in), 'imported' (a rater
whose labels came from a file; never a login), 'gold' (a reference label per item, e.g. a
benchmark's answer key) or 'participant' (a crowd worker who came through a study link; the
platform's id is kept in study_participants, never in the name). Label `source` is 'app', 'import:FILE' or 'adjudicated' (a researcher's
final label on the review page).

Conventions: ids come from sequences; label events are append-only (an edit is a new event whose
`supersedes` names the old one), each carrying its values as a list in one row, so that writing a
label is a single INSERT (the `label_values` view unnests them, and `current_label_events` is
the one definition of the current labels: 'label' events that no later event supersedes); values are stored in canonical order (response index 0 is
"A", index 1 is "B"), with the order shown on screen kept in `presented_order` ('AB' or 'BA').
Pairwise values are signed: negative means A is better, 0 a tie, positive B is better, and the
magnitude is the strength on the project's scale.
"""

INITIAL = """
CREATE SEQUENCE project_ids START 1;
CREATE SEQUENCE item_ids START 1;
CREATE SEQUENCE annotator_ids START 1;
CREATE SEQUENCE label_event_ids START 1;
CREATE SEQUENCE judge_ids START 1;
CREATE SEQUENCE judge_run_ids START 1;
CREATE SEQUENCE judgment_ids START 1;
CREATE SEQUENCE routing_ids START 1;

CREATE TABLE projects (
    id BIGINT PRIMARY KEY DEFAULT nextval('project_ids'),
    name TEXT NOT NULL UNIQUE,
    task_type TEXT NOT NULL CHECK (task_type IN ('pairwise', 'rubric')),
    config JSON NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE items (
    id BIGINT PRIMARY KEY DEFAULT nextval('item_ids'),
    project_id BIGINT NOT NULL,
    external_id TEXT NOT NULL,
    prompt TEXT NOT NULL,
    context TEXT,
    reference TEXT,
    metadata JSON,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    UNIQUE (project_id, external_id)
);

CREATE TABLE responses (
    item_id BIGINT NOT NULL,
    idx SMALLINT NOT NULL,
    text TEXT NOT NULL,
    model TEXT,
    PRIMARY KEY (item_id, idx)
);

CREATE TABLE annotators (
    id BIGINT PRIMARY KEY DEFAULT nextval('annotator_ids'),
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('annotator', 'researcher', 'admin')),
    token_hash TEXT,
    is_active BOOLEAN NOT NULL DEFAULT true,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE label_events (
    id BIGINT NOT NULL DEFAULT nextval('label_event_ids'),
    project_id BIGINT NOT NULL,
    item_id BIGINT NOT NULL,
    annotator_id BIGINT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('label', 'skip', 'flag')),
    presented_order TEXT CHECK (presented_order IN ('AB', 'BA')),
    both_bad BOOLEAN NOT NULL DEFAULT false,
    justification TEXT,
    confidence SMALLINT,
    seconds DOUBLE,
    note TEXT,
    supersedes BIGINT,
    source TEXT NOT NULL DEFAULT 'app',
    values_list STRUCT(aspect TEXT, response_idx SMALLINT, value DOUBLE)[],
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- One row per (event, aspect or criterion, response): the tidy form of label_events.values_list.
CREATE VIEW label_values AS
    SELECT e.id AS event_id, v.aspect, v.response_idx, v.value
    FROM label_events e, unnest(e.values_list) AS u(v);

CREATE TABLE judges (
    id BIGINT PRIMARY KEY DEFAULT nextval('judge_ids'),
    name TEXT NOT NULL,
    backend TEXT NOT NULL,
    config JSON NOT NULL,
    config_hash TEXT NOT NULL UNIQUE,
    template_hash TEXT,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE judge_runs (
    id BIGINT PRIMARY KEY DEFAULT nextval('judge_run_ids'),
    judge_id BIGINT NOT NULL,
    project_id BIGINT NOT NULL,
    status TEXT NOT NULL,
    n_total INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    finished_at TIMESTAMP
);

CREATE TABLE judgments (
    id BIGINT NOT NULL DEFAULT nextval('judgment_ids'),
    judge_id BIGINT NOT NULL,
    run_id BIGINT,
    item_id BIGINT NOT NULL,
    aspect TEXT NOT NULL DEFAULT 'overall',
    response_idx SMALLINT,
    presented_order TEXT CHECK (presented_order IN ('AB', 'BA')),
    verdict TEXT,
    score DOUBLE,
    probs DOUBLE[],
    is_parsed BOOLEAN NOT NULL,
    rationale TEXT,
    raw_output TEXT,
    latency_ms DOUBLE,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    cost DOUBLE,
    source TEXT NOT NULL DEFAULT 'run',
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE routing_decisions (
    id BIGINT NOT NULL DEFAULT nextval('routing_ids'),
    project_id BIGINT NOT NULL,
    item_id BIGINT NOT NULL,
    route TEXT NOT NULL CHECK (route IN ('human', 'ai')),
    priority DOUBLE NOT NULL DEFAULT 0,
    strategy TEXT NOT NULL,
    model_version TEXT,
    judge_id BIGINT,
    is_calibration BOOLEAN NOT NULL DEFAULT false,
    features JSON,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
"""

# PostgreSQL runs every migration above through storage.pg.postgres_ddl (DOUBLE -> DOUBLE PRECISION,
# the label values' STRUCT list -> JSONB); the migrations whose text differs beyond that are here.
_LABEL_VALUES_DUCKDB = """CREATE VIEW label_values AS
    SELECT e.id AS event_id, v.aspect, v.response_idx, v.value
    FROM label_events e, unnest(e.values_list) AS u(v);"""
_LABEL_VALUES_POSTGRES = """CREATE VIEW label_values AS
    SELECT e.id AS event_id, v->>'aspect' AS aspect, (v->>'response_idx')::SMALLINT AS response_idx,
           (v->>'value')::DOUBLE PRECISION AS value
    FROM label_events e, jsonb_array_elements(e.values_list) AS u(v);"""
assert _LABEL_VALUES_DUCKDB in INITIAL

POSTGRES: dict[int, str] = {
    1: INITIAL.replace(_LABEL_VALUES_DUCKDB, _LABEL_VALUES_POSTGRES),
}

MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "initial schema", INITIAL),
    (2, "current label events: the one definition of an item's current labels", """
        CREATE VIEW current_label_events AS
        SELECT e.* FROM label_events e
        WHERE e.kind = 'label'
          AND e.id NOT IN (SELECT supersedes FROM label_events WHERE supersedes IS NOT NULL);"""),
    (3, "kinds of rater: login accounts, raters imported from files, gold references", """
        ALTER TABLE annotators ADD COLUMN kind TEXT DEFAULT 'account';
        UPDATE annotators SET kind = 'imported' WHERE token_hash IS NULL AND NOT is_active;"""),
    (4, "imported raters are named import:NAME, apart from login accounts", """
        UPDATE annotators SET name = 'import:' || name
        WHERE kind = 'imported' AND NOT starts_with(name, 'import:');"""),
    (5, "archived projects and the history of project configs", """
        ALTER TABLE projects ADD COLUMN archived_at TIMESTAMP;
        CREATE TABLE project_config_versions (
            project_id BIGINT NOT NULL,
            version INTEGER NOT NULL,
            config JSON NOT NULL,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            PRIMARY KEY (project_id, version));
        INSERT INTO project_config_versions (project_id, version, config, created_at)
            SELECT id, 1, config, created_at FROM projects;"""),
    (10, "assignment leases and login failures", """
        CREATE TABLE leases (
            project_id BIGINT NOT NULL, item_id BIGINT NOT NULL, annotator_id BIGINT NOT NULL,
            shown_at TIMESTAMP NOT NULL, expires_at TIMESTAMP NOT NULL);
        CREATE TABLE login_failures (client TEXT NOT NULL, failed_at TIMESTAMP NOT NULL);"""),
    (11, "login sessions that survive a reload and a restart; failed logins per token prefix", """
        CREATE TABLE sessions (
            key_hash TEXT PRIMARY KEY,
            annotator_id BIGINT NOT NULL,
            created_at TIMESTAMP NOT NULL,
            expires_at TIMESTAMP NOT NULL,
            client TEXT);
        ALTER TABLE login_failures ADD COLUMN target TEXT;"""),
    (20, "judge run progress and cancellation", """
        ALTER TABLE judge_runs ADD COLUMN n_done INTEGER DEFAULT 0;
        ALTER TABLE judge_runs ADD COLUMN n_unparsed INTEGER DEFAULT 0;
        ALTER TABLE judge_runs ADD COLUMN n_errors INTEGER DEFAULT 0;
        ALTER TABLE judge_runs ADD COLUMN cancel_requested BOOLEAN DEFAULT false;
        ALTER TABLE judge_runs ADD COLUMN options JSON;"""),
    (21, "judge runs: the most common request error and how often it happened", """
        ALTER TABLE judge_runs ADD COLUMN common_error TEXT;
        ALTER TABLE judge_runs ADD COLUMN common_error_count INTEGER DEFAULT 0;"""),
    (40, "routing runs, AI labels on routing decisions", """
        CREATE SEQUENCE routing_run_ids START 1;
        CREATE TABLE routing_runs (
            id BIGINT PRIMARY KEY DEFAULT nextval('routing_run_ids'),
            project_id BIGINT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('apply', 'rerank')),
            judge_id BIGINT,
            strategy TEXT NOT NULL,
            settings JSON NOT NULL,
            model_version TEXT,
            n_labels INTEGER NOT NULL,
            every_n INTEGER,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp);
        ALTER TABLE routing_decisions ADD COLUMN run_id BIGINT;
        ALTER TABLE routing_decisions ADD COLUMN ai_verdict TEXT;
        ALTER TABLE routing_decisions ADD COLUMN ai_source TEXT;"""),
    (41, "text embedding cache", """
        CREATE TABLE text_embeddings (
            text_hash TEXT NOT NULL,
            model TEXT NOT NULL,
            vector FLOAT[] NOT NULL,
            PRIMARY KEY (text_hash, model));"""),
    (70, "review actions: resolved flags and skips, re-queue requests", """
        CREATE SEQUENCE review_action_ids START 1;
        CREATE TABLE review_actions (
            id BIGINT PRIMARY KEY DEFAULT nextval('review_action_ids'),
            project_id BIGINT NOT NULL,
            item_id BIGINT NOT NULL,
            researcher_id BIGINT NOT NULL,
            action TEXT NOT NULL CHECK (action IN ('resolve', 'requeue')),
            last_event_id BIGINT,
            extra_labels INTEGER,
            note TEXT,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp);"""),
    (71, "labels that count toward k: human labels (not adjudications) less re-queue requests", """
        CREATE VIEW labels_toward_k AS
        SELECT c.project_id, c.item_id, greatest(c.n - coalesce(r.extra, 0), 0)::BIGINT AS n
        FROM (SELECT project_id, item_id, count(*) AS n FROM current_label_events
              WHERE source <> 'adjudicated' GROUP BY project_id, item_id) c
        LEFT JOIN (SELECT item_id, sum(extra_labels) AS extra FROM review_actions
                   WHERE action = 'requeue' GROUP BY item_id) r ON r.item_id = c.item_id;"""),
    (80, "crowd studies: study links, participants, check items and check answers", """
        CREATE SEQUENCE study_link_ids START 1;
        CREATE TABLE study_links (
            id BIGINT PRIMARY KEY DEFAULT nextval('study_link_ids'),
            project_id BIGINT NOT NULL,
            secret_hash TEXT NOT NULL UNIQUE,
            created_at TIMESTAMP NOT NULL,
            revoked_at TIMESTAMP);
        CREATE TABLE study_participants (
            annotator_id BIGINT PRIMARY KEY,
            project_id BIGINT NOT NULL,
            participant_id TEXT NOT NULL,
            platform TEXT NOT NULL CHECK (platform IN ('prolific', 'mturk', 'generic')),
            study_id TEXT,
            session_id TEXT,
            assignment_id TEXT,
            hit_id TEXT,
            link_id BIGINT,
            status TEXT NOT NULL DEFAULT 'active' CHECK (status IN
                ('active', 'completed', 'failed_qualification', 'stopped_attention', 'excluded')),
            started_at TIMESTAMP NOT NULL,
            last_seen_at TIMESTAMP,
            consented_at TIMESTAMP,
            instructions_at TIMESTAMP,
            finished_at TIMESTAMP,
            completion_code TEXT,
            code_issued_at TIMESTAMP,
            redirect_url TEXT,
            excluded BOOLEAN NOT NULL DEFAULT false,
            excluded_reason TEXT,
            excluded_at TIMESTAMP,
            current_item_id BIGINT,
            current_purpose TEXT,
            current_shown_at TIMESTAMP,
            UNIQUE (project_id, participant_id));
        CREATE TABLE study_check_items (
            item_id BIGINT PRIMARY KEY,
            project_id BIGINT NOT NULL,
            purpose TEXT NOT NULL CHECK (purpose IN ('attention', 'training')),
            expected JSON NOT NULL,
            explanation TEXT,
            source TEXT NOT NULL,
            created_at TIMESTAMP NOT NULL);
        CREATE SEQUENCE study_check_answer_ids START 1;
        CREATE TABLE study_check_answers (
            id BIGINT PRIMARY KEY DEFAULT nextval('study_check_answer_ids'),
            project_id BIGINT NOT NULL,
            annotator_id BIGINT NOT NULL,
            item_id BIGINT NOT NULL,
            purpose TEXT NOT NULL CHECK (purpose IN ('attention', 'training')),
            presented_order TEXT CHECK (presented_order IN ('AB', 'BA')),
            answer JSON NOT NULL,
            passed BOOLEAN NOT NULL,
            seconds DOUBLE,
            created_at TIMESTAMP NOT NULL,
            UNIQUE (annotator_id, item_id));"""),
    (81, "labels toward k leave out excluded study participants (their items go back to the queue)", """
        CREATE OR REPLACE VIEW labels_toward_k AS
        SELECT c.project_id, c.item_id, greatest(c.n - coalesce(r.extra, 0), 0)::BIGINT AS n
        FROM (SELECT e.project_id, e.item_id, count(*) AS n FROM current_label_events e
              WHERE e.source <> 'adjudicated'
                AND NOT EXISTS (SELECT 1 FROM study_participants s
                                WHERE s.annotator_id = e.annotator_id AND s.excluded)
              GROUP BY e.project_id, e.item_id) c
        LEFT JOIN (SELECT item_id, sum(extra_labels) AS extra FROM review_actions
                   WHERE action = 'requeue' GROUP BY item_id) r ON r.item_id = c.item_id;"""),
    (82, "who excluded a study participant (a researcher's name; NULL when the study stopped them)", """
        ALTER TABLE study_participants ADD COLUMN excluded_by TEXT;"""),
    (90, "job leases: background work (judge runs, re-ranking) runs on one server at a time", """
        CREATE TABLE job_leases (
            job_key TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            acquired_at TIMESTAMP NOT NULL,
            heartbeat_at TIMESTAMP NOT NULL,
            expires_at TIMESTAMP NOT NULL);"""),
    (95, "label events by project and by item: the labeling queue's reads without a scan (PostgreSQL)",
     "SELECT 1  -- DuckDB: its zone maps serve these reads; an index would only slow bulk imports"),
]

# Several app servers read label events per project (the queue's fingerprint and catch-up) and per
# item and annotator (the check before every label) on each request: index them on PostgreSQL.
POSTGRES[95] = """
    CREATE INDEX label_events_by_project ON label_events (project_id, id);
    CREATE INDEX label_events_by_item ON label_events (item_id, annotator_id);"""
