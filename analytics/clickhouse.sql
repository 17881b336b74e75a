-- The interruptions output topic as a ClickHouse table.
--
-- The output topic is an upsert stream keyed by interruptionId: every record
-- is one revision of an interruption (channel.interruptionended.v0) or its
-- retraction (channel.interruptionretracted.v0, the next revision). The
-- recipe: keep the highest revision per interruptionId and drop the
-- interruption while that revision is a retraction. ReplacingMergeTree with
-- version = revision and is_deleted = 1 for a retraction is that recipe;
-- read it with FINAL (merges apply it in the background, FINAL at once).
--
-- Statements are separated by "-- @name" lines (integration/analytics_test.go
-- runs this file through chDB, section by section):
--   @table             the table, fed by any loader or by the views below
--   @load-ndjson       a loader: structured CloudEvents as NDJSON (one per line)
--   @kafka-structured  Kafka engine table + view, --output-mode structured
--   @kafka-binary      Kafka engine table + view, --output-mode binary (the default)
--   @query-*           example queries, reading FINAL
-- Edit the broker list, topic and group of the Kafka tables. Use one pair of
-- Kafka table + view, matching the processor's --output-mode.

-- @table
CREATE TABLE IF NOT EXISTS interruptions
(
    interruptionId UUID,                        -- data.interruptionId (also the Kafka key)
    revision       UInt32,                      -- data.revision: the version
    is_deleted     UInt8,                       -- 1: type = channel.interruptionretracted.v0
    id             String,                      -- CloudEvent id: one per (interruptionId, revision)
    type           LowCardinality(String),      -- CloudEvent type
    time           DateTime64(3, 'UTC'),        -- CloudEvent time: closedAt (a retraction: interruptedAt)
    channelId      String,
    conversationId String,                      -- '' on a retraction
    interactionId  String,                      -- '' on a retraction
    role           LowCardinality(String),      -- data.party.role ('' when VCC sent none, or a retraction)
    agentId        String,                      -- data.party.agentId, '' when absent
    userId         String,                      -- data.party.userId, '' when absent
    outcome        LowCardinality(String),      -- resumed, ended or expired; '' on a retraction
    interruptedAt  DateTime64(3, 'UTC'),
    closedAt       DateTime64(3, 'UTC'),        -- 1970-01-01 on a retraction
    durationMs     Int64,                       -- closedAt - interruptedAt; 0 on a retraction
    openedById     String,
    openedByType   LowCardinality(String),
    closedById     String,                      -- '' when expired (no closing event) or a retraction
    closedByType   LowCardinality(String),
    reason         LowCardinality(String)       -- a retraction's reason; '' otherwise
)
ENGINE = ReplacingMergeTree(revision, is_deleted)
ORDER BY interruptionId;

-- @load-ndjson
-- Any loader will do as long as it fills these columns; this one reads
-- structured CloudEvents, one per line (the record values of
-- --output-mode structured, e.g. from kcat, or `interruptions replay`'s
-- output). With clickhouse-client use input('json String') and pipe the file.
INSERT INTO interruptions
SELECT
    toUUID(JSONExtractString(json, 'data', 'interruptionId'))                     AS interruptionId,
    JSONExtractUInt(json, 'data', 'revision')                                     AS revision,
    JSONExtractString(json, 'type') = 'channel.interruptionretracted.v0'          AS is_deleted,
    JSONExtractString(json, 'id')                                                 AS id,
    JSONExtractString(json, 'type')                                               AS type,
    parseDateTime64BestEffort(JSONExtractString(json, 'time'), 3, 'UTC')          AS time,
    JSONExtractString(json, 'data', 'channelId')                                  AS channelId,
    JSONExtractString(json, 'data', 'conversationId')                             AS conversationId,
    JSONExtractString(json, 'data', 'interactionId')                              AS interactionId,
    JSONExtractString(json, 'data', 'party', 'role')                              AS role,
    JSONExtractString(json, 'data', 'party', 'agentId')                           AS agentId,
    JSONExtractString(json, 'data', 'party', 'userId')                            AS userId,
    JSONExtractString(json, 'data', 'outcome')                                    AS outcome,
    parseDateTime64BestEffort(JSONExtractString(json, 'data', 'interruptedAt'), 3, 'UTC') AS interruptedAt,
    parseDateTime64BestEffortOrZero(JSONExtractString(json, 'data', 'closedAt'), 3, 'UTC') AS closedAt,
    JSONExtractInt(json, 'data', 'durationMs')                                    AS durationMs,
    JSONExtractString(json, 'data', 'openedBy', 'id')                             AS openedById,
    JSONExtractString(json, 'data', 'openedBy', 'type')                           AS openedByType,
    JSONExtractString(json, 'data', 'closedBy', 'id')                             AS closedById,
    JSONExtractString(json, 'data', 'closedBy', 'type')                           AS closedByType,
    JSONExtractString(json, 'data', 'reason')                                     AS reason
FROM file('interruptions.ndjson', 'JSONAsString', 'json String');

-- @kafka-structured
-- --output-mode structured: the record value is the whole CloudEvent as JSON
-- (type, id, time and data inside it); no header is needed. JSONAsString puts
-- each value in the one String column.
CREATE TABLE IF NOT EXISTS interruptions_kafka_structured
(
    json String
)
ENGINE = Kafka
SETTINGS kafka_broker_list = 'kafka:9092',
         kafka_topic_list = 'interruptions',
         kafka_group_name = 'clickhouse-interruptions',
         kafka_format = 'JSONAsString';

CREATE MATERIALIZED VIEW IF NOT EXISTS interruptions_kafka_structured_mv TO interruptions AS
SELECT
    toUUID(JSONExtractString(json, 'data', 'interruptionId'))                     AS interruptionId,
    JSONExtractUInt(json, 'data', 'revision')                                     AS revision,
    JSONExtractString(json, 'type') = 'channel.interruptionretracted.v0'          AS is_deleted,
    JSONExtractString(json, 'id')                                                 AS id,
    JSONExtractString(json, 'type')                                               AS type,
    parseDateTime64BestEffort(JSONExtractString(json, 'time'), 3, 'UTC')          AS time,
    JSONExtractString(json, 'data', 'channelId')                                  AS channelId,
    JSONExtractString(json, 'data', 'conversationId')                             AS conversationId,
    JSONExtractString(json, 'data', 'interactionId')                              AS interactionId,
    JSONExtractString(json, 'data', 'party', 'role')                              AS role,
    JSONExtractString(json, 'data', 'party', 'agentId')                           AS agentId,
    JSONExtractString(json, 'data', 'party', 'userId')                            AS userId,
    JSONExtractString(json, 'data', 'outcome')                                    AS outcome,
    parseDateTime64BestEffort(JSONExtractString(json, 'data', 'interruptedAt'), 3, 'UTC') AS interruptedAt,
    parseDateTime64BestEffortOrZero(JSONExtractString(json, 'data', 'closedAt'), 3, 'UTC') AS closedAt,
    JSONExtractInt(json, 'data', 'durationMs')                                    AS durationMs,
    JSONExtractString(json, 'data', 'openedBy', 'id')                             AS openedById,
    JSONExtractString(json, 'data', 'openedBy', 'type')                           AS openedByType,
    JSONExtractString(json, 'data', 'closedBy', 'id')                             AS closedById,
    JSONExtractString(json, 'data', 'closedBy', 'type')                           AS closedByType,
    JSONExtractString(json, 'data', 'reason')                                     AS reason
FROM interruptions_kafka_structured;

-- @kafka-binary
-- --output-mode binary (the default): the record value is the CloudEvent's
-- data JSON; the attributes are ce_* headers, which the Kafka engine exposes
-- as the virtual columns _headers.name and _headers.value (parallel arrays):
--   type      <- header ce_type   (is_deleted = ce_type is the retraction type)
--   id        <- header ce_id
--   time      <- header ce_time
--   (ce_specversion, ce_source, ce_subject = channelId, content-type: not stored)
-- Every other column comes from the value (the data JSON), as in structured mode.
CREATE TABLE IF NOT EXISTS interruptions_kafka_binary
(
    json String
)
ENGINE = Kafka
SETTINGS kafka_broker_list = 'kafka:9092',
         kafka_topic_list = 'interruptions',
         kafka_group_name = 'clickhouse-interruptions',
         kafka_format = 'JSONAsString';

CREATE MATERIALIZED VIEW IF NOT EXISTS interruptions_kafka_binary_mv TO interruptions AS
SELECT
    toUUID(JSONExtractString(json, 'interruptionId'))                             AS interruptionId,
    JSONExtractUInt(json, 'revision')                                             AS revision,
    _headers.value[indexOf(_headers.name, 'ce_type')] = 'channel.interruptionretracted.v0' AS is_deleted,
    _headers.value[indexOf(_headers.name, 'ce_id')]                               AS id,
    _headers.value[indexOf(_headers.name, 'ce_type')]                             AS type,
    parseDateTime64BestEffort(_headers.value[indexOf(_headers.name, 'ce_time')], 3, 'UTC') AS time,
    JSONExtractString(json, 'channelId')                                          AS channelId,
    JSONExtractString(json, 'conversationId')                                     AS conversationId,
    JSONExtractString(json, 'interactionId')                                      AS interactionId,
    JSONExtractString(json, 'party', 'role')                                      AS role,
    JSONExtractString(json, 'party', 'agentId')                                   AS agentId,
    JSONExtractString(json, 'party', 'userId')                                    AS userId,
    JSONExtractString(json, 'outcome')                                            AS outcome,
    parseDateTime64BestEffort(JSONExtractString(json, 'interruptedAt'), 3, 'UTC') AS interruptedAt,
    parseDateTime64BestEffortOrZero(JSONExtractString(json, 'closedAt'), 3, 'UTC') AS closedAt,
    JSONExtractInt(json, 'durationMs')                                            AS durationMs,
    JSONExtractString(json, 'openedBy', 'id')                                     AS openedById,
    JSONExtractString(json, 'openedBy', 'type')                                   AS openedByType,
    JSONExtractString(json, 'closedBy', 'id')                                     AS closedById,
    JSONExtractString(json, 'closedBy', 'type')                                   AS closedByType,
    JSONExtractString(json, 'reason')                                             AS reason
FROM interruptions_kafka_binary;

-- @query-by-role
-- Duration percentiles of the current interruptions by party role.
-- quantilesExact: for level p over n sorted durations, the element at index
-- floor(p * n) (0-based; the last for p = 1): a real duration, no interpolation.
SELECT
    role,
    count()                                          AS interruptions,
    quantilesExact(0.5, 0.9, 0.99)(durationMs)       AS p50_p90_p99_ms
FROM interruptions FINAL
GROUP BY role
ORDER BY role;

-- @query-by-agent
-- Duration percentiles of the current interruptions by agent.
SELECT
    agentId,
    count()                                          AS interruptions,
    quantilesExact(0.5, 0.9, 0.99)(durationMs)       AS p50_p90_p99_ms
FROM interruptions FINAL
WHERE role = 'agent'
GROUP BY agentId
ORDER BY agentId;

-- ---------------------------------------------------------------------------
-- The phases topic (--phases-topic) as a ClickHouse table.
--
-- The same recipe as above, for the channel.phase.v0 records: an upsert
-- stream keyed by phaseId, each record one revision of one phase period of a
-- channel (alerting, connected, held, parked, interrupted or wrap), or its
-- retraction (channel.phaseretracted.v0, the next revision). Keep the
-- highest revision per phaseId and drop the phase while that revision is a
-- retraction: ReplacingMergeTree with version = revision and the deletion
-- flag `retracted` = 1 for a retraction (the role is_deleted plays above),
-- read with FINAL.
--
-- Sections (chdb_load.py's phases-* routes run them):
--   @phases-table             the table
--   @phases-load-ndjson       a loader: structured CloudEvents as NDJSON
--   @phases-kafka-structured  Kafka engine table + view, --output-mode structured
--   @phases-kafka-binary      Kafka engine table + view, --output-mode binary
--   @phases-query-*           example queries, reading FINAL
-- Edit the broker list, topic (the processor's --phases-topic) and group of
-- the Kafka tables, and use the pair matching --output-mode.

-- @phases-table
CREATE TABLE IF NOT EXISTS phases
(
    phaseId        UUID,                        -- data.phaseId (also the Kafka key)
    revision       UInt32,                      -- data.revision: the version
    retracted      UInt8,                       -- 1: type = channel.phaseretracted.v0 (the deletion flag)
    id             String,                      -- CloudEvent id: one per (phaseId, revision)
    type           LowCardinality(String),      -- CloudEvent type
    time           DateTime64(3, 'UTC'),        -- CloudEvent time: endedAt (a retraction: startedAt)
    phase          LowCardinality(String),      -- alerting, connected, held, parked, interrupted or wrap
    channelId      String,
    conversationId String,                      -- '' on a retraction
    interactionId  String,                      -- '' on a retraction
    role           LowCardinality(String),      -- data.party.role ('' when VCC sent none, or a retraction)
    agentId        String,                      -- data.party.agentId, '' when absent
    userId         String,                      -- data.party.userId, '' when absent
    outcome        LowCardinality(String),      -- connected, failed, wrap, retrieved, unparked, resumed,
                                                -- ended, disconnected or expired; '' on a retraction
    startedAt      DateTime64(3, 'UTC'),
    endedAt        DateTime64(3, 'UTC'),        -- 1970-01-01 on a retraction
    durationMs     Int64,                       -- endedAt - startedAt; 0 on a retraction
    openedById     String,
    openedByType   LowCardinality(String),
    closedById     String,                      -- '' when expired (no closing event) or a retraction
    closedByType   LowCardinality(String),
    reason         LowCardinality(String)       -- a retraction's reason; '' otherwise
)
ENGINE = ReplacingMergeTree(revision, retracted)
ORDER BY phaseId;

-- @phases-load-ndjson
-- As @load-ndjson: structured CloudEvents, one per line (the record values
-- of the phases topic with --output-mode structured, or the file of
-- `interruptions replay --phases-output FILE`).
INSERT INTO phases
SELECT
    toUUID(JSONExtractString(json, 'data', 'phaseId'))                            AS phaseId,
    JSONExtractUInt(json, 'data', 'revision')                                     AS revision,
    JSONExtractString(json, 'type') = 'channel.phaseretracted.v0'                 AS retracted,
    JSONExtractString(json, 'id')                                                 AS id,
    JSONExtractString(json, 'type')                                               AS type,
    parseDateTime64BestEffort(JSONExtractString(json, 'time'), 3, 'UTC')          AS time,
    JSONExtractString(json, 'data', 'phase')                                      AS phase,
    JSONExtractString(json, 'data', 'channelId')                                  AS channelId,
    JSONExtractString(json, 'data', 'conversationId')                             AS conversationId,
    JSONExtractString(json, 'data', 'interactionId')                              AS interactionId,
    JSONExtractString(json, 'data', 'party', 'role')                              AS role,
    JSONExtractString(json, 'data', 'party', 'agentId')                           AS agentId,
    JSONExtractString(json, 'data', 'party', 'userId')                            AS userId,
    JSONExtractString(json, 'data', 'outcome')                                    AS outcome,
    parseDateTime64BestEffort(JSONExtractString(json, 'data', 'startedAt'), 3, 'UTC') AS startedAt,
    parseDateTime64BestEffortOrZero(JSONExtractString(json, 'data', 'endedAt'), 3, 'UTC') AS endedAt,
    JSONExtractInt(json, 'data', 'durationMs')                                    AS durationMs,
    JSONExtractString(json, 'data', 'openedBy', 'id')                             AS openedById,
    JSONExtractString(json, 'data', 'openedBy', 'type')                           AS openedByType,
    JSONExtractString(json, 'data', 'closedBy', 'id')                             AS closedById,
    JSONExtractString(json, 'data', 'closedBy', 'type')                           AS closedByType,
    JSONExtractString(json, 'data', 'reason')                                     AS reason
FROM file('phases.ndjson', 'JSONAsString', 'json String');

-- @phases-kafka-structured
-- --output-mode structured: the record value is the whole CloudEvent.
CREATE TABLE IF NOT EXISTS phases_kafka_structured
(
    json String
)
ENGINE = Kafka
SETTINGS kafka_broker_list = 'kafka:9092',
         kafka_topic_list = 'phases',
         kafka_group_name = 'clickhouse-phases',
         kafka_format = 'JSONAsString';

CREATE MATERIALIZED VIEW IF NOT EXISTS phases_kafka_structured_mv TO phases AS
SELECT
    toUUID(JSONExtractString(json, 'data', 'phaseId'))                            AS phaseId,
    JSONExtractUInt(json, 'data', 'revision')                                     AS revision,
    JSONExtractString(json, 'type') = 'channel.phaseretracted.v0'                 AS retracted,
    JSONExtractString(json, 'id')                                                 AS id,
    JSONExtractString(json, 'type')                                               AS type,
    parseDateTime64BestEffort(JSONExtractString(json, 'time'), 3, 'UTC')          AS time,
    JSONExtractString(json, 'data', 'phase')                                      AS phase,
    JSONExtractString(json, 'data', 'channelId')                                  AS channelId,
    JSONExtractString(json, 'data', 'conversationId')                             AS conversationId,
    JSONExtractString(json, 'data', 'interactionId')                              AS interactionId,
    JSONExtractString(json, 'data', 'party', 'role')                              AS role,
    JSONExtractString(json, 'data', 'party', 'agentId')                           AS agentId,
    JSONExtractString(json, 'data', 'party', 'userId')                            AS userId,
    JSONExtractString(json, 'data', 'outcome')                                    AS outcome,
    parseDateTime64BestEffort(JSONExtractString(json, 'data', 'startedAt'), 3, 'UTC') AS startedAt,
    parseDateTime64BestEffortOrZero(JSONExtractString(json, 'data', 'endedAt'), 3, 'UTC') AS endedAt,
    JSONExtractInt(json, 'data', 'durationMs')                                    AS durationMs,
    JSONExtractString(json, 'data', 'openedBy', 'id')                             AS openedById,
    JSONExtractString(json, 'data', 'openedBy', 'type')                           AS openedByType,
    JSONExtractString(json, 'data', 'closedBy', 'id')                             AS closedById,
    JSONExtractString(json, 'data', 'closedBy', 'type')                           AS closedByType,
    JSONExtractString(json, 'data', 'reason')                                     AS reason
FROM phases_kafka_structured;

-- @phases-kafka-binary
-- --output-mode binary: the record value is the data JSON; type, id and time
-- come from the ce_type, ce_id and ce_time headers, as in @kafka-binary.
CREATE TABLE IF NOT EXISTS phases_kafka_binary
(
    json String
)
ENGINE = Kafka
SETTINGS kafka_broker_list = 'kafka:9092',
         kafka_topic_list = 'phases',
         kafka_group_name = 'clickhouse-phases',
         kafka_format = 'JSONAsString';

CREATE MATERIALIZED VIEW IF NOT EXISTS phases_kafka_binary_mv TO phases AS
SELECT
    toUUID(JSONExtractString(json, 'phaseId'))                                    AS phaseId,
    JSONExtractUInt(json, 'revision')                                             AS revision,
    _headers.value[indexOf(_headers.name, 'ce_type')] = 'channel.phaseretracted.v0' AS retracted,
    _headers.value[indexOf(_headers.name, 'ce_id')]                               AS id,
    _headers.value[indexOf(_headers.name, 'ce_type')]                             AS type,
    parseDateTime64BestEffort(_headers.value[indexOf(_headers.name, 'ce_time')], 3, 'UTC') AS time,
    JSONExtractString(json, 'phase')                                              AS phase,
    JSONExtractString(json, 'channelId')                                          AS channelId,
    JSONExtractString(json, 'conversationId')                                     AS conversationId,
    JSONExtractString(json, 'interactionId')                                      AS interactionId,
    JSONExtractString(json, 'party', 'role')                                      AS role,
    JSONExtractString(json, 'party', 'agentId')                                   AS agentId,
    JSONExtractString(json, 'party', 'userId')                                    AS userId,
    JSONExtractString(json, 'outcome')                                            AS outcome,
    parseDateTime64BestEffort(JSONExtractString(json, 'startedAt'), 3, 'UTC')     AS startedAt,
    parseDateTime64BestEffortOrZero(JSONExtractString(json, 'endedAt'), 3, 'UTC') AS endedAt,
    JSONExtractInt(json, 'durationMs')                                            AS durationMs,
    JSONExtractString(json, 'openedBy', 'id')                                     AS openedById,
    JSONExtractString(json, 'openedBy', 'type')                                   AS openedByType,
    JSONExtractString(json, 'closedBy', 'id')                                     AS closedById,
    JSONExtractString(json, 'closedBy', 'type')                                   AS closedByType,
    JSONExtractString(json, 'reason')                                             AS reason
FROM phases_kafka_binary;

-- @phases-query-handle-time
-- Handle time and its parts per agent and day, from the current phases
-- (FINAL; retracted phases excluded) of the channels whose party is an agent.
-- A phase counts wholly on the UTC day of its startedAt (one across midnight
-- is not split), whatever its outcome (an expired phase counts its maximum).
--   ring_ms         the alerting phases
--   connected_ms    the connected phases: connected until wrapstarted (or the
--                   end), any hold, park or interruption inside included
--   hold_ms, park_ms, interrupted_ms   the held, parked, interrupted phases
--   talk_ms         connected_ms - hold_ms - park_ms - interrupted_ms of the
--                   agent-day: every such phase is subtracted, overlapping
--                   ones each (a hold during an interruption twice), so talk
--                   can come out below the time truly talked, even negative
--   wrap_ms         the wrap phases
--   handle_ms       handle time, defined as connected_ms + wrap_ms
--                   (= talk + hold + park + interrupted + wrap); ringing is
--                   not handle time
SELECT
    agentId,
    toDate(startedAt, 'UTC')                                    AS day,
    sumIf(durationMs, phase = 'alerting')                       AS ring_ms,
    sumIf(durationMs, phase = 'connected')                      AS connected_ms,
    sumIf(durationMs, phase = 'held')                           AS hold_ms,
    sumIf(durationMs, phase = 'parked')                         AS park_ms,
    sumIf(durationMs, phase = 'interrupted')                    AS interrupted_ms,
    connected_ms - hold_ms - park_ms - interrupted_ms           AS talk_ms,
    sumIf(durationMs, phase = 'wrap')                           AS wrap_ms,
    connected_ms + wrap_ms                                      AS handle_ms
FROM phases FINAL
WHERE retracted = 0 AND role = 'agent'
GROUP BY agentId, day
ORDER BY agentId, day;
