"""Load interruption or phase records into chDB through analytics/clickhouse.sql.

Driven by integration/analytics_test.go and
integration/analytics_phases_test.go (the checks are there); usable by hand
too. It creates the table of the @table section in a fresh chDB session,
loads the records by one route, and prints one JSON object: the table read
with FINAL ("final", one object per row, times in Unix milliseconds) and the
rows of every @query-* section ("query-by-role", ...).

Routes:
  loader      the @load-ndjson statement over RECORDS, structured
              CloudEvents as NDJSON.
  structured  the @kafka-structured view, its Kafka table replaced by a Null
              table with the same columns: RECORDS as for loader.
  binary      the @kafka-binary view, its Kafka table replaced by a Null table
              with the same columns plus the Kafka engine's virtual columns
              _headers.name and _headers.value: RECORDS is JSON lines
              {"value": "<data JSON>", "names": [...], "values": [...]}.
  phases-loader, phases-structured, phases-binary
              the same for the phases table: the @phases-* sections in
              place of the sections above (@phases-table, @phases-load-ndjson
              reading 'phases.ndjson', @phases-kafka-*), RECORDS of
              channel.phase.v0 and channel.phaseretracted.v0 records; the
              output is the phases table read with FINAL and the rows of every
              @phases-query-* section ("phases-query-handle-time", ...).

Every Kafka engine statement is also parsed with formatQuery: chDB knows
the Kafka engine but cannot create a Kafka table ("Shutdown was called":
its background pools do not run in process), so for the Kafka table itself
the parse is the strongest check it gives; its view is created and fed
through the Null stand-in.

With --pretty, it prints the example queries' results as tables instead.

usage: chdb_load.py SQL_FILE ROUTE RECORDS [--pretty]
"""

import json
import re
import sys
import tempfile

from chdb import session


def sections(text):
    """Split the SQL file into {name: [statement, ...]} on "-- @name" lines."""
    out, name, buf = {}, None, []
    for line in text.splitlines():
        m = re.match(r"^-- @([a-z0-9-]+)\s*$", line)
        if m:
            if name:
                out[name] = statements("\n".join(buf))
            name, buf = m.group(1), []
        elif name:
            buf.append(line)
    if name:
        out[name] = statements("\n".join(buf))
    return out


def statements(text):
    """Split on ';' at a line's end; drop comment-only pieces."""
    out = []
    for part in re.split(r";[ \t]*$", text, flags=re.M):
        code = "\n".join(l for l in part.splitlines() if not l.strip().startswith("--")).strip()
        if code:
            out.append(code)
    return out


def stand_in(stmt, virtual_headers):
    """A Kafka engine CREATE TABLE as a Null table with the same columns."""
    new, n = re.subn(r"ENGINE\s*=\s*Kafka\b.*\Z", "ENGINE = Null", stmt, flags=re.S)
    if n != 1:
        raise SystemExit("no Kafka engine clause in: " + stmt[:200])
    if virtual_headers:
        new, n = re.subn(r"\n\)\s*\nENGINE",
                         ",\n    `_headers.name` Array(String),\n    `_headers.value` Array(String)\n)\nENGINE",
                         new, count=1)
        if n != 1:
            raise SystemExit("no column list in: " + stmt[:200])
    return new


def quote(text):
    """text as the inside of a ClickHouse string literal."""
    return text.replace("\\", "\\\\").replace("'", "\\'")


def rows(s, sql):
    sql = sql.rstrip().rstrip(";")
    res = s.query(sql + "\nSETTINGS output_format_json_quote_64bit_integers = 0", "JSONEachRow")
    return [json.loads(l) for l in res.bytes().decode().splitlines() if l.strip()]


# What a route prefix stands for: the section name prefix, the table, the
# file name its loader reads, and the table read with FINAL.
TABLES = {
    "": {
        "table": "interruptions",
        "ndjson": "'interruptions.ndjson'",
        "final": """
            SELECT toString(interruptionId) AS interruptionId, revision, is_deleted, id, type,
                   toUnixTimestamp64Milli(time) AS time, channelId, conversationId, interactionId,
                   role, agentId, userId, outcome,
                   toUnixTimestamp64Milli(interruptedAt) AS interruptedAt,
                   toUnixTimestamp64Milli(closedAt) AS closedAt, durationMs,
                   openedById, openedByType, closedById, closedByType, reason
            FROM interruptions FINAL ORDER BY interruptionId""",
    },
    "phases-": {
        "table": "phases",
        "ndjson": "'phases.ndjson'",
        "final": """
            SELECT toString(phaseId) AS phaseId, revision, retracted, id, type,
                   toUnixTimestamp64Milli(time) AS time, phase, channelId, conversationId,
                   interactionId, role, agentId, userId, outcome,
                   toUnixTimestamp64Milli(startedAt) AS startedAt,
                   toUnixTimestamp64Milli(endedAt) AS endedAt, durationMs,
                   openedById, openedByType, closedById, closedByType, reason
            FROM phases FINAL ORDER BY phaseId""",
    },
}


def main(argv):
    pretty = argv[4:] == ["--pretty"]
    if len(argv) != 4 and not pretty:
        raise SystemExit(__doc__)
    sql_file, route, records = argv[1:4]
    prefix = "phases-" if route.startswith("phases-") else ""
    route = route[len(prefix):]
    tab = TABLES[prefix]
    with open(sql_file, encoding="utf-8") as f:
        sec = sections(f.read())
    with tempfile.TemporaryDirectory(prefix="chdb-") as tmp:
        s = session.Session(tmp)
        s.query("CREATE DATABASE IF NOT EXISTS analytics ENGINE = Atomic")
        s.query("USE analytics")
        for name in ("kafka-structured", "kafka-binary"):
            for stmt in sec[prefix + name]:
                s.query("SELECT formatQuery('%s')" % quote(stmt))
        for stmt in sec[prefix + "table"]:
            s.query(stmt)
        path = quote(records)
        if route == "loader":
            (stmt,) = sec[prefix + "load-ndjson"]
            if tab["ndjson"] not in stmt:
                raise SystemExit("the loader does not read " + tab["ndjson"])
            s.query(stmt.replace(tab["ndjson"], "'" + path + "'"))
        elif route in ("structured", "binary"):
            create, view = sec[prefix + "kafka-" + route]
            s.query(stand_in(create, route == "binary"))
            s.query(view)
            if route == "structured":
                s.query("INSERT INTO %s_kafka_structured SELECT json FROM file('%s', 'JSONAsString', 'json String')" % (tab["table"], path))
            else:
                s.query("INSERT INTO %s_kafka_binary (json, `_headers.name`, `_headers.value`) "
                        "SELECT value, names, values FROM file('%s', 'JSONEachRow', "
                        "'value String, names Array(String), values Array(String)')" % (tab["table"], path))
        else:
            raise SystemExit("unknown route " + prefix + route)
        if pretty:
            for name, stmts in sec.items():
                if name.startswith(prefix + "query-"):
                    (stmt,) = stmts
                    print("-- @" + name)
                    print(s.query(stmt.rstrip().rstrip(";"), "PrettyCompactMonoBlock").bytes().decode())
            s.close()
            return
        out = {"final": rows(s, tab["final"])}
        for name, stmts in sec.items():
            if name.startswith(prefix + "query-"):
                (stmt,) = stmts
                out[name] = rows(s, stmt)
        s.close()
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv)
