"""ClickHouse's HTTP interface in front of chDB (an embedded current ClickHouse).

The machines this project is built on have no Docker and only Debian's ClickHouse 18.16, yet
the schema and queries must also work on current ClickHouse releases. chDB ships a current
ClickHouse engine as a Python package (PyPI), but its embedding cannot open ClickHouse's own
HTTP listener, so this shim answers the small part of the HTTP interface the service's
`clickhouse` client uses, and hands the statements to that engine:

- `POST /` with the statement in the body (or in `query`), `database`, `default_format` and
  settings as URL parameters: the statement runs as sent (a trailing `FORMAT X` becomes the
  output format) with the settings applied for this request only, and the answer is its
  output in that format.
- `POST /?query=INSERT INTO t(a, b) FORMAT RowBinary` with the rows in the body: the rows are
  written to a file and inserted with `INSERT INTO t(a, b) SELECT * FROM file(...)` (same
  rows, same materialized views), typed by `DESCRIBE TABLE`.
- `GET /ping` answers `Ok.`.

Errors come back with ClickHouse's body, `Code: N. DB::Exception: ...`, and the code in
`X-ClickHouse-Exception-Code`, always with status 500 (a server picks 400 or 404 for some;
the client reads the body either way). Not emulated: `query_id` (so `system.processes` does
not show the service's tags), query parameters (`param_*`), compression, sessions.

Usage: python http_shim.py <port> <data directory> [connections]

`connections` (default 1) engine connections are opened once and serve requests in turn;
they are never closed while the shim runs, because in chDB 3 closing any connection closes
the engine under all of them. Concurrent queries on several connections are documented from
chDB 4 on.
"""

import contextlib
import os
import queue
import re
import sys
import tempfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import chdb

# URL parameters that are not settings.
NOT_SETTINGS = {"query", "database", "default_format", "query_id", "decompress", "role",
                "user", "password", "session_id", "compress"}
INSERT = re.compile(
    r"^\s*INSERT\s+INTO\s+(?P<table>[\w.`\"]+)\s*(?:\((?P<columns>[^)]*)\))?\s*"
    r"FORMAT\s+(?P<format>\w+)\s*$",
    re.IGNORECASE | re.DOTALL,
)
TRAILING_FORMAT = re.compile(r"\s+FORMAT\s+(?P<format>\w+)\s*;?\s*$", re.IGNORECASE)
ERROR_CODE = re.compile(r"Code:\s*(\d+)")
SETTING_NAME = re.compile(r"^\w+$")

DATA_PATH = None
# Engine connections, each used by one request at a time: `USE` and `SET` are per
# connection, so a request holds its connection from its first statement to its last.
POOL = queue.Queue()


@contextlib.contextmanager
def connection():
    conn = POOL.get()
    try:
        yield conn
    finally:
        POOL.put(conn)


def run(conn, sql, output_format="TabSeparated"):
    result = conn.query(sql, output_format)
    if hasattr(result, "has_error") and result.has_error():
        raise RuntimeError(result.error_message())
    return result.bytes() if hasattr(result, "bytes") else bytes(result)


def sql_string(text):
    """`text` as a single-quoted SQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote_identifier(name):
    name = name.strip().strip("`\"")
    return "`" + name.replace("`", "\\`") + "`"


def table_structure(conn, database, table, columns):
    described = run(conn, f"DESCRIBE TABLE {qualified(database, table)}", "TabSeparatedRaw")
    types = {}
    for line in described.decode().splitlines():
        fields = line.split("\t")
        types[fields[0]] = fields[1]
    wanted = [c.strip().strip("`\"") for c in columns.split(",")] if columns else list(types)
    return ", ".join(f"{quote_identifier(c)} {types[c]}" for c in wanted), wanted


def qualified(database, table):
    parts = table.split(".")
    if len(parts) == 2:
        return f"{quote_identifier(parts[0])}.{quote_identifier(parts[1])}"
    return f"{quote_identifier(database)}.{quote_identifier(parts[0])}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the service logs what matters
        pass

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path in ("/ping", "/"):
            params = dict(parse_qsl(url.query, keep_blank_values=True))
            if "query" not in params:
                return self.answer(200, b"Ok.\n")
        self.handle_query(b"")

    def do_POST(self):
        try:
            body = self.read_body()
        except (ValueError, OSError) as error:  # a malformed or cut-off body
            self.close_connection = True
            return self.fail(f"the request body could not be read: {error}")
        self.handle_query(body)

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size < 0:
                    raise ValueError("negative chunk size")
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunk = self.rfile.read(size)
                if len(chunk) != size:
                    raise ValueError("the body ended inside a chunk")
                chunks.append(chunk)
                self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def answer(self, status, body, headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_query(self, body):
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        database = params.get("database", "default")
        with connection() as conn:
            self.execute(conn, params, database, body)

    def execute(self, conn, params, database, body):
        applied = []
        try:
            for name, value in params.items():
                if name not in NOT_SETTINGS and not name.startswith("param_"):
                    if not SETTING_NAME.match(name):
                        raise ValueError(f"not a setting name: {name!r}")
                    run(conn, f"SET {name} = {sql_string(value)}")
                    applied.append(name)
            if "query" in params:
                sql = params["query"]
                insert = INSERT.match(sql)
                if insert:
                    return self.insert(conn, database, insert, body)
                sql = sql + (" " + body.decode() if body else "")
            else:
                sql = body.decode()
            self.select(conn, database, sql, params.get("default_format", "TabSeparated"))
        except Exception as error:  # every engine error goes back to the client
            self.fail(str(error))
        finally:
            # Settings belong to the request, not to the pooled connection.
            for name in applied:
                run(conn, f"SET {name} = DEFAULT")

    def fail(self, message):
        print(f"error: {message[:500]}", file=sys.stderr, flush=True)
        code = ERROR_CODE.search(message)
        if not message.startswith("Code:"):
            message = f"Code: {code.group(1) if code else 1000}. DB::Exception: {message}"
        self.answer(500, (message + "\n").encode(),
                    [("X-ClickHouse-Exception-Code", code.group(1) if code else "1000")])

    def select(self, conn, database, sql, default_format):
        run(conn, f"USE {quote_identifier(database)}")
        output_format = default_format
        trailing = TRAILING_FORMAT.search(sql)
        if trailing:
            output_format = trailing.group("format")
            sql = sql[: trailing.start()]
        self.answer(200, run(conn, sql, output_format))

    def insert(self, conn, database, insert, body):
        if body:
            structure, columns = table_structure(
                conn, database, insert.group("table"), insert.group("columns"))
            with tempfile.NamedTemporaryFile(dir=DATA_PATH, suffix=".rows", delete=False) as f:
                f.write(body)
                path = f.name
            try:
                column_list = ", ".join(quote_identifier(c) for c in columns)
                run(conn,
                    f"INSERT INTO {qualified(database, insert.group('table'))} ({column_list}) "
                    f"SELECT * FROM file({sql_string(path)}, {sql_string(insert.group('format'))}, "
                    f"{sql_string(structure)})")
            finally:
                os.unlink(path)
        self.answer(200, b"")


def main():
    global DATA_PATH
    port = int(sys.argv[1])
    DATA_PATH = os.path.abspath(sys.argv[2])
    connections = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    os.makedirs(DATA_PATH, exist_ok=True)
    for _ in range(connections):
        POOL.put(chdb.connect(f"file:{DATA_PATH}"))
    with connection() as conn:
        version = run(conn, "SELECT version()").decode().strip()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(f"ClickHouse {version} (chDB) answering on http://127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
